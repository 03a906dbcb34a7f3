"""The firmware build CLI and the measurement behind docs/firmware.md."""

import json

import pytest

from firmware.build import find_clang
from firmware.progs import build, measure

pytestmark = pytest.mark.skipif(find_clang() is None,
                                reason="clang is not installed (scripts/setup.sh installs it)")


def test_build_cli_builds_and_verifies(tmp_path, capsys):
    assert build.main(["-o", str(tmp_path), "--verify", "--json", "xdp_pass", "xdp_tx"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["ok"], r["verified"]) for r in report] == \
        [("xdp_pass", True, True), ("xdp_tx", True, True)]
    assert (tmp_path / "xdp_tx.o").read_bytes().startswith(b"\x7fELF")


def test_build_cli_names_an_unknown_program(tmp_path, capsys):
    assert build.main(["-o", str(tmp_path), "nosuch"]) == 1
    assert "no program 'nosuch' (have: xdp_drop, xdp_pass" in capsys.readouterr().err


def test_measure_scenarios_take_the_paths_they_name():
    records = {r["program"]: r for r in measure.measure(["xdp_drop", "xdp_fw", "xdp_lb"])}
    assert records["xdp_drop"]["insns"] == 2
    assert records["xdp_drop"]["packets"][0]["insns_executed"] == 2
    fw = [(p["verdict"]) for p in records["xdp_fw"]["packets"]]
    assert fw == ["PASS", "PASS", "DROP"]
    lb = records["xdp_lb"]["packets"]
    assert [p["verdict"] for p in lb] == ["TX", "TX"]
    # The connection-table hit skips the hash and the ring lookup.
    assert lb[1]["insns_executed"] < lb[0]["insns_executed"]
    assert records["xdp_lb"]["hxdp_insns"] == 268
