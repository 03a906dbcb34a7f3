"""``xdpnic bench``: line-rate arithmetic, the RTL figures against the fast harness's own
records, losses under overload, Fmax from synthesis results, traffic profiles, the kernel
column, a map program loaded by the driver, and bad input."""

import csv
import json
import pathlib
import shutil

import pytest

from firmware.cli import main
from firmware.commands import bench
from perf import bench_runs, bench_table, linerate, synthesis
from perf.throughput import udp_frame
from tests.conftest import require_verilator

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEMO = ROOT / "firmware" / "progs" / "asm" / "xdp_demo.s"


def _kernel_reason():
    from firmware.kernel.bpf import bpf_unavailable_reason
    return bpf_unavailable_reason()


def test_line_rate_arithmetic():
    # 64-byte frames (with FCS) take 84 bytes of wire time each.
    assert round(linerate.line_rate_mpps(64, 10), 6) == 14.880952
    assert round(linerate.line_rate_mpps(64, 25), 6) == 37.202381
    assert round(linerate.line_rate_mpps(64, 100), 6) == 148.809524
    # padded on the wire
    assert linerate.line_rate_mpps(18, 10) == linerate.line_rate_mpps(64, 10)
    assert round(linerate.line_rate_mpps(1518, 10), 6) == round(1e4 / (1538 * 8), 6) == 0.812744


def test_parse_sizes():
    assert bench.parse_sizes("64, 128,1518") == [64, 128, 1518]
    with pytest.raises(ValueError, match="'abc' is not a whole number"):
        bench.parse_sizes("64,abc")
    with pytest.raises(ValueError, match="63 is outside 64..1518"):
        bench.parse_sizes("63")


def test_udp_frame_sizes():
    for size in (64, 100, 1518):
        frame = udp_frame(size)
        assert len(frame) == size - 4
        assert frame[12:14] == b"\x08\x00" and frame[23] == 17 and frame[36:38] == b"\x00\x09"


@pytest.mark.parametrize("argv, message", [
    (["bench", "/nonexistent/prog.s"], "cannot read program"),
    (["bench", str(DEMO), "--traffic", "/nonexistent/in.pcap"], "/nonexistent/in.pcap"),
    (["bench", str(DEMO), "--sizes", "64,x"], "--sizes: 'x'"),
    (["bench", str(DEMO), "--sizes", "9000"], "outside 64..1518"),
    (["bench", str(DEMO), "--target", "fpga"], "--target: fpga"),
    (["bench", str(DEMO), "--packets", "0"], "--packets must be at least 1"),
    (["bench", str(DEMO), "--rate", "40G"], "--rate: '40G' is not one of 10G, 25G, 100G, max"),
    (["bench", str(DEMO), "--engines", "1,x"], "--engines: 'x' is not a whole number"),
    (["bench", str(DEMO), "--engines", "0"], "--engines: 0 is outside 1..8 (the engines "
                                             "hw.top.NIC builds, machine.MAX_ENGINES)"),
    (["bench", str(DEMO), "--engines", "1,9"], "--engines: 9 is outside 1..8"),
    (["bench", str(DEMO), "--traffic", "bogus"], "'bogus': not a capture file nor a profile"),
    (["bench", str(DEMO), "--traffic", "flows:0"], "flows must be 1..65536, not 0"),
    (["bench", str(DEMO), "--traffic", "flows:x"], "'x' is not a number of flows"),
])
def test_bad_input_exits_2(argv, message, capsys, tmp_path):
    assert main(argv + ["--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.rtl
def test_rtl_row_matches_the_harness_records(tmp_path, capsys):
    """A small run: every JSON figure follows from a direct sim.fast run of the same frames,
    and the CSV holds exactly the JSON's values."""
    require_verilator()
    from firmware.program import load_program
    from sim import fast
    out = tmp_path / "out"
    assert main(["bench", str(DEMO), "--sizes", "64", "--packets", "20", "--target", "rtl",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "udp64" in text and "14.88" in text and "no synthesis result" in text
    assert "M simulated cycles per CPU second" in text
    result = json.loads((out / "result.json").read_text())
    assert result["rate"] == "max" and result["engines"] == [1]
    row = result["rows"][0]
    r = row["rtl"]
    insns = load_program(DEMO).insns
    run = fast.run_frames(insns, [udp_frame(64)] * 20)
    cycles = [c for c, _raw in run.verdicts]
    assert r["processed"] == 20 and r["lost_buffer_full"] == 0 and r["loss_ratio"] == 0
    assert r["dispositions"] == {"drop": 20}
    assert r["cycles_per_packet"] == (cycles[-1] - cycles[0]) / 19
    assert r["packets_per_cycle"] == 1 / r["cycles_per_packet"]
    assert r["mpps"] == 250 / r["cycles_per_packet"]
    offered = {f.first: f.offered for f in run.frames}
    latencies = sorted(c - offered[c - v["cycles"] - 1]
                       for c, v in zip(cycles, run.decoded()))
    assert r["latency"]["cycles"]["min"] == latencies[0]
    assert r["latency"]["cycles"]["max"] == latencies[-1]
    assert r["latency"]["cycles"]["median"] == latencies[9]
    assert r["latency"]["cycles"]["p99"] == latencies[19]
    assert r["latency"]["ns"]["max"] == latencies[-1] * 4.0
    assert r["counters"]["PORT0_RX_FRAMES"] == 20 and r["counters"]["PORT0_DROP"] == 20
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1
    line = rows[0]
    assert line["label"] == "udp64" and line["size"] == "64" and line["engines"] == "1"
    assert line["rate"] == "max" and line["packets"] == "20" and line["processed"] == "20"
    assert float(line["cycles_per_packet"]) == r["cycles_per_packet"]
    assert float(line["mpps"]) == r["mpps"]
    assert int(line["latency_p99_cycles"]) == latencies[19]
    assert float(line["latency_p99_ns"]) == latencies[19] * 4.0
    assert line["line_10G_mpps"].startswith("14.880952")
    assert line["rtl_skipped"] == "" and line["kernel_ns_per_packet"] == ""
    assert (out / "mpps_vs_size.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "mpps_vs_engines.png").exists()


@pytest.mark.rtl
def test_overload_losses_add_up(tmp_path):
    """64-byte frames at 10G (one per 16.8 cycles) against a ~50-cycle program: most are lost
    as buffer-full, and verdicts + losses = frames sent."""
    require_verilator()
    out = tmp_path / "out"
    assert main(["bench", str(DEMO), "--sizes", "64", "--packets", "300", "--rate", "10G",
                 "--target", "rtl", "--no-plots", "--out", str(out)]) == 0
    r = json.loads((out / "result.json").read_text())["rows"][0]["rtl"]
    assert r["drop_when_busy"] and r["rate"] == "10G"
    assert r["lost_buffer_full"] > 150
    assert r["processed"] + r["lost_buffer_full"] == 300
    assert r["counters"]["PORT0_DISCARD_BUFFER_FULL"] == r["lost_buffer_full"]
    assert r["dispositions"] == {"drop": r["processed"]}
    # paced: the first frame is offered at once, the last at ceil(299 * 16.8) cycles
    assert r["offered_cycles_per_packet"] == 5024 / 299


def test_synth_fmax_reads_nic_results(tmp_path):
    (tmp_path / "nic-ecp5-85k").mkdir()
    (tmp_path / "nic-ecp5-85k" / "synth.json").write_text(json.dumps(
        {"top": "nic", "device": "ecp5-85k", "unit_parameters": {"ports": 2},
         "pnr": {"fmax_mhz": 61.5}}))
    (tmp_path / "core-ecp5-85k").mkdir()
    (tmp_path / "core-ecp5-85k" / "synth.json").write_text(json.dumps(
        {"top": "core", "device": "ecp5-85k", "pnr": {"fmax_mhz": 90}}))
    (tmp_path / "nic-xilinx7").mkdir()
    (tmp_path / "nic-xilinx7" / "synth.json").write_text(json.dumps(
        {"top": "nic", "device": "xilinx7", "pnr": None}))
    found = synthesis.synth_fmax(1, tmp_path)
    assert found == {"ecp5-85k": {"fmax_mhz": 61.5,
                                  "file": str(tmp_path / "nic-ecp5-85k" / "synth.json")}}
    assert synthesis.synth_fmax(2, tmp_path) == {}
    assert synthesis.synth_fmax(1, tmp_path / "nowhere") == {}


def test_traffic_profiles():
    rows = bench_runs.traffic_rows("udp", [64, 128])
    assert [(label, size, len(frames)) for label, size, frames in rows] == [
        ("udp64", 64, 1), ("udp128", 128, 1)]
    (label, size, frames), = bench_runs.traffic_rows("flows:5", [64])
    assert label == "flows5-64" and size == 64 and len(frames) == 5
    assert len(set(frames)) == 5 and all(len(f) == 60 for f in frames)
    assert len({(f[26:30], f[34:36]) for f in frames}) == 5        # source address and port
    (label, size, frames), = bench_runs.traffic_rows("imix", [64])
    assert label == "imix" and size is None
    assert sorted(len(f) + 4 for f in frames) == [64] * 7 + [594] * 4 + [1518]


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
    """xdp_demo reflects ICMP (MACs swapped): the output says repeated runs saw it swapped.
    A capture is one row; the kernel column times its first frame, and a runt too short for
    the kernel's test run is skipped with the reason."""
    if _kernel_reason() is not None:
        pytest.skip(f"bpf() unavailable: {_kernel_reason()}")
    from scapy.layers.inet import ICMP, IP
    from scapy.layers.l2 import Ether

    from sim.pcap import PcapWriter
    icmp = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                 / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP()).ljust(60, b"\0")
    with PcapWriter(tmp_path / "icmp.pcap") as w:
        w.write(icmp)
        w.write(bytes(14))
    with PcapWriter(tmp_path / "runt.pcap") as w:
        w.write(bytes(10))
        w.write(icmp)
    for name in ("icmp.pcap", "runt.pcap"):
        assert main(["bench", str(DEMO), "--traffic", str(tmp_path / name), "--target",
                     "kernel", "--kernel-repeat", "100", "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    assert "icmp.pcap: kernel: the program rewrites the frame" in text
    assert "runt.pcap: kernel skipped: frame of 10 bytes" in text


@pytest.mark.rtl
def test_map_program_loaded_by_the_driver(tmp_path):
    """xdp1 (a per-CPU array map): the host driver creates the map over MAP_CMD in an
    interactive harness session, then the frames run (xdp1 drops every frame)."""
    require_verilator()
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    from firmware.progs.build import build_program
    obj = build_program("xdp1", tmp_path)
    out = tmp_path / "out"
    assert main(["bench", str(obj), "--sizes", "64", "--packets", "30", "--target", "rtl",
                 "--no-plots", "--out", str(out)]) == 0
    r = json.loads((out / "result.json").read_text())["rows"][0]["rtl"]
    assert r["processed"] == 30 and r["dispositions"] == {"drop": 30}
    assert r["counters"]["PORT0_RX_FRAMES"] == 30 and r["counters"]["PORT0_DROP"] == 30


@pytest.mark.rtl
def test_two_engines_by_flow_hash(tmp_path):
    """``--engines 1,2 --flow-hash`` on four flows: every frame processed on both rows, the
    dispatch named in result.json, and two engines faster than one."""
    require_verilator()
    out = tmp_path / "out"
    assert main(["bench", str(DEMO), "--traffic", "flows:4", "--sizes", "64", "--packets", "40",
                 "--engines", "1,2", "--flow-hash", "--target", "rtl", "--no-plots",
                 "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["dispatch"] == "flow-hash" and result["engines"] == [1, 2]
    one, two = (row["rtl"] for row in result["rows"])
    assert one["processed"] == two["processed"] == 40
    assert one["dispositions"] == two["dispositions"]
    assert two["cycles_per_packet"] < one["cycles_per_packet"]


def test_summary_gives_simulation_speed_per_engine_count():
    # Two one-engine rows: 3,000,000 cycles in 1.5 CPU s together is 2.00 M per CPU second.
    def row(engines, cycles, cpu):
        return {"engines": engines, "rtl": {"sim": {"clock_cycles": cycles, "cpu_seconds": cpu}}}
    result = {"rows": [row(1, 1_000_000, 0.5), row(1, 2_000_000, 1.0), row(8, 500_000, 2.0),
                       {"engines": 2, "rtl": {"skipped": "rtl: no build"}}]}
    assert bench_table.simulation_speed(result) == [
        "simulation, 1 engine(s): 3,000,000 cycles in 1.50 CPU s, 2.00 M simulated cycles "
        "per CPU second",
        "simulation, 8 engine(s): 500,000 cycles in 2.00 CPU s, 0.25 M simulated cycles per "
        "CPU second"]
