"""``xdpnic bench``: line-rate arithmetic, the RTL's steady-state cycles against sim.nic_run
directly, the kernel column, map programs refused per row on the RTL, and bad input."""

import csv
import json
import pathlib
import shutil

import pytest

from firmware.cli import main
from firmware.commands import bench

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEMO = ROOT / "firmware" / "progs" / "asm" / "xdp_demo.s"


def _verilator_or_skip():
    from sim import rtl
    try:
        rtl.check_tool("verilator")
    except rtl.BuildError as exc:
        pytest.skip(f"verilator is not available: {exc}")


def _kernel_reason():
    from firmware.kernel.bpf import bpf_unavailable_reason
    return bpf_unavailable_reason()


def test_line_rate_arithmetic():
    # 64-byte frames (with FCS) take 84 bytes of wire time each.
    assert round(bench.line_rate_mpps(64, 10), 6) == 14.880952
    assert round(bench.line_rate_mpps(64, 25), 6) == 37.202381
    assert round(bench.line_rate_mpps(64, 100), 6) == 148.809524
    assert bench.line_rate_mpps(18, 10) == bench.line_rate_mpps(64, 10)    # padded on the wire
    assert round(bench.line_rate_mpps(1518, 10), 6) == round(1e4 / (1538 * 8), 6) == 0.812744


def test_parse_sizes():
    assert bench.parse_sizes("64, 128,1518") == [64, 128, 1518]
    with pytest.raises(ValueError, match="'abc' is not a whole number"):
        bench.parse_sizes("64,abc")
    with pytest.raises(ValueError, match="63 is outside 64..1518"):
        bench.parse_sizes("63")


def test_udp_frame_sizes():
    for size in (64, 100, 1518):
        frame = bench.udp_frame(size)
        assert len(frame) == size - 4
        assert frame[12:14] == b"\x08\x00" and frame[23] == 17 and frame[36:38] == b"\x00\x09"


@pytest.mark.parametrize("argv, message", [
    (["bench", "/nonexistent/prog.s"], "cannot read program"),
    (["bench", str(DEMO), "--traffic", "/nonexistent/in.pcap"], "/nonexistent/in.pcap"),
    (["bench", str(DEMO), "--sizes", "64,x"], "--sizes: 'x'"),
    (["bench", str(DEMO), "--sizes", "9000"], "outside 64..1518"),
    (["bench", str(DEMO), "--target", "fpga"], "--target: fpga"),
    (["bench", str(DEMO), "--packets", "0"], "--packets must be at least 1"),
])
def test_bad_input_exits_2(argv, message, capsys, tmp_path):
    assert main(argv + ["--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.rtl
def test_rtl_cycles_match_run_nic(tmp_path, capsys):
    _verilator_or_skip()
    from firmware.program import load_program
    from sim.nic_run import run_nic
    out = tmp_path / "out"
    assert main(["bench", str(DEMO), "--sizes", "64", "--packets", "4", "--target", "rtl",
                 "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "udp64" in table and "14.88" in table
    result = json.loads((out / "result.json").read_text())
    row = result["rows"][0]
    insns = load_program(DEMO).insns
    frame = bench.udp_frame(64)
    one, two = run_nic(insns, [frame] * 4), run_nic(insns, [frame] * 8)
    assert row["rtl"]["cycles_n"] == one.clock_cycles
    assert row["rtl"]["cycles_2n"] == two.clock_cycles
    assert row["rtl"]["cycles_per_frame"] == (two.clock_cycles - one.clock_cycles) / 4
    assert row["rtl"]["mpps"] == 250 / row["rtl"]["cycles_per_frame"]
    assert row["rtl"]["action"] == "drop" and row["rtl"]["latency_cycles"] == one.results[0].cycles
    assert "kernel" not in row
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and float(rows[0]["rtl_cycles_per_frame"]) == row["rtl"]["cycles_per_frame"]
    assert rows[0]["line_10G_mpps"].startswith("14.880952")


def test_kernel_column(tmp_path, capsys):
    reason = _kernel_reason()
    out = tmp_path / "out"
    assert main(["bench", str(DEMO), "--sizes", "64,128", "--target", "kernel",
                 "--kernel-repeat", "1000", "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == json.loads((out / "result.json").read_text())
    assert [r["size"] for r in result["rows"]] == [64, 128]
    assert result["kernel_jit"] in ("on", "on (debug)", "off (interpreter)", "unknown")
    for row in result["rows"]:
        if reason is not None:
            assert row["kernel"] == {"skipped": reason}
            continue
        k = row["kernel"]
        assert k["action"] == "DROP" and k["repeat"] == 1000 and not k["rewrites_frame"]
        assert k["ns_per_packet"] >= 0


def test_kernel_notes_frame_rewrite(tmp_path, capsys):
    """xdp_demo reflects ICMP (MACs swapped): the output says repeated runs saw it swapped;
    a runt too short for the kernel's test run is skipped on its row, with the reason."""
    if _kernel_reason() is not None:
        pytest.skip(f"bpf() unavailable: {_kernel_reason()}")
    from scapy.layers.inet import ICMP, IP
    from scapy.layers.l2 import Ether

    from sim.pcap import PcapWriter
    pcap = tmp_path / "icmp.pcap"
    with PcapWriter(pcap) as w:
        w.write(bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                      / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP()).ljust(60, b"\0"))
        w.write(bytes(14))              # just an Ethernet header: the kernel runs it
        w.write(bytes(10))              # a runt the kernel's test run refuses: the row says why
    assert main(["bench", str(DEMO), "--traffic", str(pcap), "--target", "kernel",
                 "--kernel-repeat", "100", "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    assert "#0: kernel: the program rewrites the frame" in text
    assert "#2: kernel skipped: frame of 10 bytes" in text


def test_rtl_refuses_maps_per_row(tmp_path, capsys):
    """A program with a map: the RTL column says why per row instead of failing."""
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    from firmware.progs.build import build_program
    obj = build_program("xdp1", tmp_path)
    out = tmp_path / "out"
    assert main(["bench", str(obj), "--sizes", "64", "--target", "rtl", "--out", str(out)]) == 0
    row = json.loads((out / "result.json").read_text())["rows"][0]
    assert "no map unit" in row["rtl"]["skipped"]
    assert "udp64: rtl skipped:" in capsys.readouterr().out
