"""``python -m firmware.ebpf.verifier.bench``: our processed-instruction count on firmware
objects beside the kernel's (the kernel is the reference), and its bad-input exits."""

import json

from firmware.build import compile_c
from firmware.ebpf.verifier.bench import main
from firmware.kernel.bpf import bpf_unavailable_reason
from firmware.progs.build import INCLUDE_DIR, source_path
from tests.conftest import require_tool


def test_counts_beside_the_kernels(tmp_path, capsys):
    require_tool("clang")
    for name in ("xdp_tx", "xdp_lb"):
        compile_c(source_path(name), tmp_path / f"{name}.o", extra_flags=(f"-I{INCLUDE_DIR}",))
    assert main(["--objects", str(tmp_path), "--repeat", "1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = {r["program"]: r for r in doc["rows"]}
    assert set(rows) == {"xdp_tx", "xdp_lb"} and all(r["accepted"] for r in rows.values())
    if bpf_unavailable_reason() is None:
        # the kernel explores the same paths: our count stays within 2x of its own
        assert all(r["kernel_processed"] and r["ratio"] <= 2 for r in rows.values()), rows


def test_missing_directory_exits_2(tmp_path, capsys):
    assert main(["--objects", str(tmp_path / "nope")]) == 2
    assert "no such directory" in capsys.readouterr().err
