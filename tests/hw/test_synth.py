"""Verilog of the core is emitted and accepted by yosys; the full synthesis is a slow test."""

import pytest

from hw.synth import emit_verilog, synthesize

from ..conftest import require_tool


def test_core_verilog_passes_yosys_checks(tmp_path):
    yosys = require_tool("yosys")
    import subprocess
    path = emit_verilog("core", tmp_path)
    assert "module ebpf_core" in path.read_text()
    proc = subprocess.run([yosys, "-q", "-p", f"read_verilog {path}; hierarchy -check -top "
                           "ebpf_core; proc; check -assert"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.slow
def test_core_synthesizes_for_xilinx_7_series(tmp_path):
    require_tool("yosys")
    path = emit_verilog("core", tmp_path)
    result = synthesize(path, "ebpf_core", "xilinx", tmp_path / "synth.log")
    summary = result["summary"]
    assert summary["block_rams"] >= 8          # the 4096 x 64 instruction memory at least
    assert summary["dsps"] > 0                 # the 64-bit multiplier
    assert 1000 < summary["luts"] < 50_000
