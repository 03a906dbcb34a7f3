"""Several engines in the datapath (Amaranth simulator) against the golden model: which engine
each frame meets (round robin, flow hash), per-engine state (processor id), results in ingress
order, counters, and the throughput the extra engines buy (exact cycles)."""

import random
import struct

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from firmware.ebpf import machine
from firmware.ebpf.model_helpers import EngineState
from firmware.ebpf.xdp import run_frame
from firmware.program import load_program
from hw.regs import PORT_COUNTERS
from hw.xdp.dispatch import flow_engine_value
from sim.nic_results import match_outputs
from sim.traffic import demo_frames, random_frames

from . import programs
from .harness import run_datapath
from .test_datapath import assert_same, check_counters

DEMO = load_program("firmware/progs/asm/xdp_demo.s").insns


def model_on_engines(insns, frames, engines, mode, ports=2):
    """The model's results with each frame on the engine the dispatcher gives it, each engine
    keeping its own helper state."""
    states = [EngineState(engine=e) for e in range(engines)]
    plain = [f if isinstance(f, bytes) else f[0] for f in frames]
    out = []
    for item, e in zip(frames, machine.dispatch_engines(plain, engines, mode)):
        frame, flag = item if isinstance(item, tuple) else (item, False)
        out.append(run_frame(insns, frame, ports=ports, error_flag=flag, engine=states[e]))
    return out


def udp(sport: int, dport: int, size: int = 64, src: str = "10.0.0.1") -> bytes:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    pkt = Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02") / IP(src=src, dst="10.0.0.2") \
        / UDP(sport=sport, dport=dport)
    raw = bytes(pkt)
    return raw + bytes(max(0, size - len(raw)))


def cpu_frame(seq: int, sport: int = 1000) -> bytes:
    """A frame for VERDICT_PROGRAM that makes it return processor id + 2 (byte 22 = 6)."""
    frame = bytearray(udp(sport, 7, 64))
    frame[22] = 6
    frame[40:44] = struct.pack("<I", seq)
    return bytes(frame)


def test_flow_hash_in_hardware_equals_the_model():
    rng = random.Random(3)
    heads = [udp(rng.randrange(65536), rng.randrange(65536), 64,
                 f"10.{rng.randrange(256)}.{rng.randrange(256)}.1") for _ in range(40)]
    heads += [bytes(rng.randrange(256) for _ in range(n)) for n in (0, 5, 13, 30, 33, 34, 37, 38, 60)]
    tcp_short = bytearray(udp(1, 2, 64))
    tcp_short[23] = 6
    heads += [bytes(tcp_short[:36]), bytes(tcp_short[:38])]
    other_ip = bytearray(udp(1, 2, 64))
    other_ip[23] = 1
    heads += [bytes(other_ip), bytes(udp(1, 2, 64))[:34]]
    m = Module()
    head = Signal(8 * machine.FLOW_HEADER_BYTES)
    have = Signal(range(machine.FLOW_HEADER_BYTES + 1))
    outs = {n: flow_engine_value(m, head, have, n) for n in (2, 3, 4, 8)}
    sim = Simulator(m)

    async def bench(ctx):
        for frame in heads:
            part = frame[:machine.FLOW_HEADER_BYTES]
            ctx.set(head, int.from_bytes(part.ljust(machine.FLOW_HEADER_BYTES, b"\0"), "little"))
            ctx.set(have, len(part))
            for n, sig in outs.items():
                assert ctx.get(sig) == machine.flow_engine(frame, n), (frame.hex(), n)

    sim.add_testbench(bench)
    sim.run()


def test_flow_engine_keeps_a_flow_together_and_spreads_flows():
    flows = [udp(1000 + i, 53) for i in range(64)]
    spread = [machine.flow_engine(f, 4) for f in flows]
    assert sorted(set(spread)) == [0, 1, 2, 3]
    # Fields that change from packet to packet (IP id, TTL, checksum, payload) do not matter.
    other = bytearray(flows[0])
    other[18:20] = b"\x12\x34"
    other[22] ^= 0xFF
    other[50] ^= 0xFF
    assert machine.flow_engine(bytes(other), 4) == spread[0]
    assert machine.dispatch_engines(flows[:5], 3, machine.Dispatch.ROUND_ROBIN) == [0, 1, 2, 0, 1]


@pytest.mark.parametrize("engines", [2, 3])
def test_round_robin_engines_match_the_model_in_ingress_order(engines):
    frames = demo_frames() + random_frames(14, seed=9) + [cpu_frame(i) for i in range(6)]
    verdicts, outputs, state = run_datapath(DEMO, frames, seed=4, in_pause=0.2,
                                            out_pause=0.3, engines=engines, raw=True)
    assert [v["engine"] for v in verdicts] == [k % engines for k in range(len(frames))]
    hw = match_outputs(verdicts, outputs)
    model = model_on_engines(DEMO, frames, engines, machine.Dispatch.ROUND_ROBIN)
    assert_same(hw, model, frames)
    check_counters(state, model, 2)


def test_each_engine_answers_its_own_processor_id():
    frames = [cpu_frame(i) for i in range(9)]
    verdicts, outputs, _state = run_datapath(programs.VERDICT_PROGRAM, frames, engines=3,
                                             raw=True)
    # id 0 -> XDP_PASS, 1 -> XDP_TX, 2 -> XDP_REDIRECT with no target (aborted)
    assert [(v["engine"], v["disposition"], v["r0"]) for v in verdicts] == \
        [(k % 3, ("pass", "tx", "aborted")[k % 3], 2 + k % 3) for k in range(9)]
    model = model_on_engines(programs.VERDICT_PROGRAM, frames, 3, machine.Dispatch.ROUND_ROBIN)
    assert_same(match_outputs(verdicts, outputs), model, frames)


def test_flow_hash_sends_each_flow_to_its_engine_and_keeps_order():
    rng = random.Random(8)
    flows = [1000 + i for i in range(6)]
    frames = []
    for seq in range(24):
        frames.append(cpu_frame(seq, sport=rng.choice(flows)))
    frames.append(b"\x01" * 10)                     # a runt is hashed (and discarded) too
    verdicts, outputs, state = run_datapath(programs.VERDICT_PROGRAM, frames, engines=4,
                                            flow_hash=True, in_pause=0.1, raw=True)
    assert [v["engine"] for v in verdicts] == [machine.flow_engine(f, 4) for f in frames]
    hw = match_outputs(verdicts, outputs)
    model = model_on_engines(programs.VERDICT_PROGRAM, frames, 4, machine.Dispatch.FLOW_HASH)
    assert_same(hw, model, frames)
    check_counters(state, model, 2)
    # Every frame left in ingress order: the sequence numbers on each egress only increase.
    for name, out in outputs.items():
        seqs = [struct.unpack("<I", f[40:44])[0] for f in out]
        assert seqs == sorted(seqs), name


def test_drop_when_busy_with_engines_counts_every_frame():
    frames = [udp(2000 + i, 9, 64) for i in range(30)]
    verdicts, outputs, state = run_datapath(DEMO, {0: frames, 1: frames}, engines=2,
                                            drop_when_busy=True, raw=True)
    c = state["counters"]
    names = [n for n, _d in PORT_COUNTERS]
    for p in range(2):
        per = {n: c[p * len(names) + k] for k, n in enumerate(names)}
        assert per["RX_FRAMES"] == 30
        assert per["RX_FRAMES"] == sum(per[n] for n in names[1:10])
    full = sum(c[p * len(names) + names.index("DISCARD_BUFFER_FULL")] for p in range(2))
    assert len(verdicts) + full == 60 and full > 0


def steady_interval(engines, frame, count=24, flow_hash=False):
    """Cycles between verdicts once the pipeline is full, frames back to back."""
    _v, _o, state = run_datapath(DEMO, [frame] * count, engines=engines, flow_hash=flow_hash,
                                 raw=True)
    at = state["verdict_cycles"][count // 2:]
    return (at[-1] - at[0]) / (len(at) - 1)


def test_engines_overlap_frames_exact_cycles():
    """Back-to-back 64-byte frames (64-bit beats): cycles from the 12th to the 24th verdict.
    One engine serializes receive, program and transmit; more engines overlap them, bounded
    by the one dispatcher and the one egress (8 beats each per frame)."""
    icmp, drop = demo_frames()[0], demo_frames()[1]
    window = {e: (steady_interval(e, icmp), steady_interval(e, drop)) for e in (1, 2, 4)}
    assert {e: (round(t * 11), round(d * 11)) for e, (t, d) in window.items()} == \
        {1: (715, 495), 2: (334, 234), 4: (157, 117)}
    # One flow under flow hash stays on one engine: no gain, and no reordering.
    assert round(steady_interval(4, icmp, flow_hash=True) * 11) == 715


@pytest.mark.parametrize("data_width", [256, 512])
def test_flow_hash_with_wide_beats_and_frames_shorter_than_the_header(data_width):
    """The header is 2 beats at 256 bits and 1 at 512; frames of 0, 13, 34 and 37 bytes end
    inside it and are hashed on what they have."""
    frames = [cpu_frame(i, sport=1000 + i % 5) for i in range(8)]
    frames += [b"", b"\x01" * 13, bytes(34), bytes(37)]
    verdicts, outputs, _state = run_datapath(programs.VERDICT_PROGRAM, frames, engines=3,
                                             flow_hash=True, data_width=data_width, raw=True)
    assert [v["engine"] for v in verdicts] == [machine.flow_engine(f, 3) for f in frames]
    model = model_on_engines(programs.VERDICT_PROGRAM, frames, 3, machine.Dispatch.FLOW_HASH)
    assert_same(match_outputs(verdicts, outputs), model, frames)


def test_units_refuse_sizes_they_cannot_build():
    from hw.core.helper import HelperRequest, HelperResponse
    from hw.xdp.arbiter import TransactionArbiter
    from hw.xdp.datapath import Datapath
    from hw.xdp.dispatch import Dispatcher
    from hw.xdp.trace import TraceMerge
    with pytest.raises(ValueError, match="engines must be an integer 1..8, not 9"):
        Datapath(2, 64, engines=9)
    with pytest.raises(ValueError, match="ports must be 1..16 and engines 1..8, not 2 and 0"):
        Dispatcher(2, 64, 0)
    with pytest.raises(ValueError, match="requesters must be a whole number >= 1, not 0"):
        TransactionArbiter(0, HelperRequest, HelperResponse)
    with pytest.raises(ValueError, match="inputs must be a whole number >= 1, not 0"):
        TraceMerge(0)
    with pytest.raises(ValueError, match="engines must be 1..8, not 0"):
        machine.DispatchRule(0)
    rule = machine.DispatchRule(3)
    frame = udp(1, 2)
    # The turn survives flow-hash hand-overs, as the hardware's pointer does.
    assert [rule.engine(frame, machine.Dispatch.ROUND_ROBIN),
            rule.engine(frame, machine.Dispatch.FLOW_HASH),
            rule.engine(frame, machine.Dispatch.ROUND_ROBIN)] == \
        [0, machine.flow_engine(frame, 3), 1]
