"""The fast Verilator harness (sim/fast.py): the same verdict records and egress bytes as the
cocotb path, job-file errors by line, the generated port header, and line-rate pacing."""

import pathlib

import pytest

from perf.linerate import wire_bytes
from perf.throughput import arrival_cycles, first_beat_cycle
from sim import fast
from tests.conftest import require_verilator

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEMO = ROOT / "firmware" / "progs" / "asm" / "xdp_demo.s"


def _demo():
    from firmware.program import load_program
    return load_program(DEMO).insns


def _traffic():
    """Every kind the demo tells apart, runts, an oversize frame, a MAC error, random mixes,
    and an empty frame."""
    from sim.traffic import demo_frames, random_frames
    frames = [(f, 0, 0, False) for f in demo_frames() + random_frames(10, 7)]
    frames.insert(3, (demo_frames()[0], 0, 0, True))        # tuser: MAC error
    frames.append((b"", 0, 0, False))
    return frames


def test_io_header_follows_configuration():
    text = fast.io_header(3, 128, 250)
    assert "#define NIC_PORTS 3" in text and "#define DATA_BYTES 16" in text
    assert "#define VERDICT_WORDS 8" in text
    # Verilator's C++ names escape the second underscore of '__'; wide data is a word array.
    assert "t->rx2___05Ftdata[i] = v;" in text and "rx0__t" not in text
    assert "case 3: return t->host___05Ftvalid;" in text
    assert "for (int i = 0; i < 8; i++) w[i] = t->verdict[i];" in text
    narrow = fast.io_header(2, 64, 40)
    assert "t->rx1___05Ftdata = v;" in narrow and "uint64_t v = t->verdict;" in narrow


def test_arrival_cycles_pace_at_line_rate():
    # 64-byte frames (60 + FCS) take 84 bytes = 672 bits: 67.2 ns at 10G, 16.8 cycles at 250 MHz.
    assert wire_bytes(60) == 84 and wire_bytes(10) == 84 and wire_bytes(1514) == 1538
    assert arrival_cycles([60] * 6, 10, 250) == [0, 17, 34, 51, 68, 84]
    assert arrival_cycles([60, 1514, 60], 100, 200) == [0, 2, 26]   # at 1.344, 25.952 cycles
    assert arrival_cycles([60] * 3, None, 250) == [0, 0, 0]


def test_job_text_dedups_payloads():
    job = fast.Job()
    job.frame(b"\x01\x02", 1, 5)
    job.frame(b"\x01\x02", 0, 9, True)
    job.frame(b"", 0)
    assert job.lines[4:] == ["data 0 0102", "frame 1 5 0 0", "frame 0 9 0 1", "data 1 -",
                             "frame 0 0 1 0"]
    assert job.frame_count == 3


@pytest.mark.rtl
def test_fast_matches_cocotb():
    """The same frames through cocotb (sim.nic_run) and the fast harness: equal verdict
    records (cycles included), egress bytes and counters."""
    require_verilator()
    from sim.nic_run import run_nic
    insns, frames = _demo(), _traffic()
    slow = run_nic(insns, [(f, tuser) for f, _p, _s, tuser in frames])
    quick = fast.run_frames(insns, frames)
    assert len(quick.verdicts) == len(frames)
    assert quick.results() == slow.results
    for name, value in quick.counters.items():
        if name.startswith("PORT") or name in ("HOST_FRAMES",) or name.startswith("TRAP_"):
            assert slow.counters[name] == value, name
    # Every frame went in once, in order, and the egress stream carried what the records say.
    assert [f.index for f in quick.frames] == list(range(len(frames)))
    decoded = quick.decoded()
    leaving = [v for v in decoded if v["disposition"] in ("pass", "tx", "redirect")]
    assert [e.length for e in quick.egress] == [v["out_length"] + (
        v["meta_length"] if v["disposition"] == "pass" else 0) for v in leaving]
    # Each verdict names its frame: first beat + cycles + 1 (2 for a discard) = its cycle.
    firsts = [first_beat_cycle(cycle, v["cycles"], v["disposition"])
              for (cycle, _raw), v in zip(quick.verdicts, decoded)]
    assert firsts == [f.first for f in quick.frames]


@pytest.mark.rtl
def test_paced_frames_wait_for_their_start_and_two_ports():
    require_verilator()
    from sim.traffic import demo_frames
    frame = demo_frames()[1]                    # UDP to port 9: XDP_DROP
    run = fast.run_frames(_demo(), [(frame, 0, 0), (frame, 1, 0), (frame, 0, 1000),
                                    (frame, 1, 1000)])
    t0 = run.traffic_start
    by_index = {f.index: f for f in run.frames}
    assert by_index[0].offered == t0 and by_index[1].offered == t0
    assert by_index[2].offered == t0 + 1000 and by_index[3].offered == t0 + 1000
    assert run.counters["PORT0_DROP"] == 2 and run.counters["PORT1_DROP"] == 2
    assert sorted(v["ingress"] for v in run.decoded()) == [0, 0, 1, 1]


@pytest.mark.rtl
@pytest.mark.parametrize("lines, message", [
    (["bogus 1"], "job.txt:5: unknown op 'bogus'"),
    (["write 0x3 1"], "job.txt:5: write: offset not a word"),
    (["write 0x8 0x100000000"], "job.txt:5: write: value wider than 32 bits"),
    (["read"], "job.txt:5: 'read' takes 1 argument(s), not 0"),
    (["frame 0 0 0 0"], "job.txt:5: data id 0 is not defined above"),
    (["data 0 00", "frame 7 0 0 0"], "job.txt:6: port 7: the NIC has ports 0..1"),
    (["data 0 0g"], "job.txt:5: data: not hexadecimal"),
    (["data 1 00"], "job.txt:5: data ids must count up from 0"),
    (["data 0 00", "frame 0 0 0 0"], "frames listed but no traffic op"),
    (["wait x"], "job.txt:5: cycles: 'x' is not an unsigned number"),
    (["reset 3", "poll 0xc 1 0 100"], "job.txt:6: poll 0xc: value 0x1 & mask 0x1 never "
                                      "equalled 0x0 within 100 cycles"),
    (["reset 3", "data 0 00", "frame 0 0 0 0", "traffic 50"],
     "job.txt:8: traffic: frames still unsent after 50 cycles"),
    (["limit 10", "reset 3", "wait 20"], "job.txt:7: cycle limit of 10 reached"),
])
def test_job_errors_name_the_line(tmp_path, lines, message):
    require_verilator()
    job = fast.Job()
    job.lines.extend(lines)
    with pytest.raises(fast.FastError) as info:
        fast.run_job(job, keep=tmp_path)
    assert message in str(info.value)


@pytest.mark.rtl
def test_job_header_and_configuration_checked(tmp_path):
    require_verilator()
    job = fast.Job()
    job.lines[0] = "something else"
    with pytest.raises(fast.FastError, match="job.txt:1: not a job file"):
        fast.run_job(job, keep=tmp_path)
    job = fast.Job()
    job.lines[1] = "config 4 64"
    with pytest.raises(fast.FastError, match="job is for 4 ports x 64 bits; this harness was "
                                             "built for 2 x 64"):
        fast.run_job(job, keep=tmp_path)


@pytest.mark.rtl
@pytest.mark.parametrize("flow_hash", [False, True], ids=["round-robin", "flow-hash"])
def test_two_engines_match_the_amaranth_datapath_and_the_model(flow_hash):
    """Two engines on the Verilated NIC: the records (engine, cycles included) equal the
    Amaranth simulation of the same datapath, and the results the model's with each frame on
    the engine the dispatch rule names."""
    require_verilator()
    from firmware.ebpf import machine
    from sim.nic_results import match_outputs
    from tests.xdp import programs
    from tests.xdp.harness import run_datapath
    from tests.xdp.test_engines import cpu_frame, model_on_engines
    from sim.traffic import random_frames
    frames = [cpu_frame(i, sport=1000 + i % 5) for i in range(10)] + random_frames(8, 3)
    insns = programs.VERDICT_PROGRAM
    quick = fast.run_frames(insns, frames, engines=2, flow_hash=flow_hash)
    verdicts, outputs, _state = run_datapath(insns, frames, engines=2, flow_hash=flow_hash,
                                             raw=True)
    assert quick.decoded() == verdicts
    mode = machine.Dispatch.FLOW_HASH if flow_hash else machine.Dispatch.ROUND_ROBIN
    assert [v["engine"] for v in verdicts] == machine.dispatch_engines(frames, 2, mode)
    model = model_on_engines(insns, frames, 2, mode)
    assert [(r.disposition, r.egress_port, r.frame, r.r0) for r in quick.results()] == \
        [(r.disposition, r.egress_port, r.frame, r.r0) for r in model]
    assert quick.results() == match_outputs(verdicts, outputs)


@pytest.mark.rtl
def test_session_answers_reads_at_once():
    """The interactive session the driver uses: reads answered as they come, then a job."""
    require_verilator()
    from hw import regs
    session = fast.Session()
    try:
        session.reset()
        assert session.read(regs.register("ID").offset) == regs.ID_MAGIC
        session.write(regs.register("BUDGET").offset, 1234)
        assert session.read(regs.register("BUDGET").offset) == 1234
        job = fast.Job()
        job.read(regs.register("BUDGET").offset, "budget")
        run = session.finish(job)
    finally:
        session.close()
    # the session's own reads are recorded too, under their line numbers
    assert run.counters == {"6": regs.ID_MAGIC, "8": 1234, "budget": 1234}
    session = fast.Session()
    try:
        with pytest.raises(fast.FastError, match="stdin:5: unknown op 'bogus'"):
            session._send(["bogus"])
            session.read(0)
    finally:
        session.close()
