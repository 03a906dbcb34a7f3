"""``xdpnic disasm`` on clang objects: programs as the loader relocates them, and their maps."""

import json
import pathlib

import pytest

from firmware.build import compile_c, find_clang
from firmware.cli import main

PROGS = pathlib.Path(__file__).resolve().parent.parent / "firmware" / "progs" / "tests"


@pytest.fixture(scope="module")
def calls_object(tmp_path_factory):
    if find_clang() is None:
        pytest.skip("clang is not installed (scripts/setup.sh installs it)")
    out = tmp_path_factory.mktemp("obj") / "calls.o"
    compile_c(PROGS / "calls.c", out)
    return out


def test_every_program_is_listed_with_its_section(calls_object, capsys):
    assert main(["disasm", str(calls_object)]) == 0
    out = capsys.readouterr().out
    assert "; program xdp_calls (section xdp)" in out
    assert "; program xdp_other (section xdp/other)" in out
    assert "call local" in out


def test_one_program_by_section_as_json(calls_object, capsys):
    assert main(["disasm", str(calls_object), "--section", "xdp/other", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in doc["programs"]] == ["xdp_other"]
    assert doc["programs"][0]["listing"][-1] == "exit"


def test_unknown_section_names_what_is_there(calls_object, capsys):
    assert main(["disasm", str(calls_object), "--section", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no program or section named 'nope'" in err and "xdp_calls (section 'xdp')" in err
