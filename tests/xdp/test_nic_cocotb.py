"""The whole NIC as Verilog under cocotb (Verilator), fed scapy frames through cocotbext-axi:
every verdict, egress and output frame compared with the golden model (xdp.run_frame), and
the NIC's counters (read over AXI4-Lite) with the model's tally.

The Verilog is built once per configuration and reused (sim/nic_run.py); the first run after a
hardware change pays the Verilator build (minutes), later runs only the simulation.
"""

import random
import shutil

import pytest

from firmware.ebpf.machine import XDP_MAX_FRAME
from hw import regs

from . import programs
from .test_datapath import DEMO, NAMES, assert_same, model_results

pytestmark = pytest.mark.rtl


@pytest.fixture(scope="module")
def nic():
    if shutil.which("verilator") is None and not (
            __import__("pathlib").Path(__import__("sys").executable).parent / "verilator"
    ).exists():
        pytest.skip("verilator is not installed (scripts/setup.sh puts it in .venv/bin)")
    from sim import nic_run
    return nic_run


def scapy_frames(seed: int) -> list:
    """Ethernet II, 802.1Q, IPv4/IPv6, TCP/UDP/ICMP, random payloads and lengths 60..1518,
    jumbo frames up to and past the buffer, runts, a zero-length and MAC-error frames."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Dot1Q, Ether
    rng = random.Random(seed)
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    ip = IP(src="10.0.0.1", dst="10.0.0.2")
    kinds = [
        lambda: eth / ip / ICMP(type=8) / b"ping",
        lambda: eth / ip / UDP(sport=1000, dport=9),
        lambda: eth / ip / UDP(sport=1000, dport=53),
        lambda: eth / ip / TCP(sport=1000, dport=80, flags="S"),
        lambda: eth / IPv6(src="fd00::1", dst="fd00::2") / UDP(dport=9),
        lambda: eth / IPv6(src="fd00::1", dst="fd00::2") / TCP(dport=443),
        lambda: eth / Dot1Q(vlan=rng.randrange(1, 4095)) / ip / ICMP(),
        lambda: eth / Dot1Q(vlan=5) / ip / UDP(dport=9),
        lambda: eth / IP(src="10.0.0.1", dst="10.0.0.2", options=b"\x01\x01\x01\x00") / ICMP(),
    ]
    frames = []
    for i in range(36):
        frame = bytes(kinds[i % len(kinds)]())
        length = rng.choice([60, 64, 61, 127, 128, 1518, rng.randrange(60, 1519)])
        frames.append(frame + bytes(rng.randrange(256) for _ in range(max(0, length - len(frame)))))
    frames += [bytes(rng.randrange(256) for _ in range(n)) for n in (XDP_MAX_FRAME, 9000)]
    frames += [bytes(13), b"", (frames[0], True), (frames[3], True), bytes(14),
               bytes(XDP_MAX_FRAME + 1), frames[0]]
    rng.shuffle(frames)
    return frames


def check_nic_counters(counters, model, ports, ingress_port=0):
    per = {name: counters[f"PORT{ingress_port}_{name}"] for name in NAMES}
    assert per["RX_FRAMES"] == len(model)
    for name, disp in (("DROP", "drop"), ("ABORTED", "aborted"), ("PASS", "pass"),
                       ("TX", "tx"), ("REDIRECT", "redirect")):
        assert per[name] == sum(1 for m in model if m.disposition == disp), name
    for name, reason in (("DISCARD_RUNT", "runt"), ("DISCARD_OVERSIZE", "oversize"),
                         ("DISCARD_MAC_ERROR", "mac-error")):
        assert per[name] == sum(1 for m in model if m.reason == reason), name
    assert per["RX_FRAMES"] == sum(per[n] for n in NAMES[1:10])
    for p in range(ports):
        assert counters[f"PORT{p}_EGRESS_FRAMES"] == sum(1 for m in model if m.egress_port == p)
    assert counters["HOST_FRAMES"] == sum(1 for m in model if m.disposition == "pass")
    assert counters["ID"] == regs.ID_MAGIC
    assert counters["STATUS"] & 1 << regs.STATUS.IDLE


def test_mixed_scapy_traffic_back_to_back_matches_the_model(nic):
    frames = scapy_frames(1)
    run = nic.run_nic(DEMO, frames, seed=1)
    model = model_results(DEMO, frames)
    assert_same(run.results, model, frames)
    check_nic_counters(run.counters, model, 2)
    assert run.counters["CONFIG"] == 2 | 8 << 8 | 12 << 16 | 1 << 24   # one engine
    assert {m.disposition for m in model} == {"drop", "pass", "tx", "discard"}


def test_random_pauses_and_long_egress_backpressure_lose_nothing(nic):
    frames = scapy_frames(2)
    run = nic.run_nic(DEMO, frames, seed=2, in_pause=0.3, out_pause=0.9, out_burst=50)
    model = model_results(DEMO, frames)
    assert_same(run.results, model, frames)
    check_nic_counters(run.counters, model, 2)


def test_packet_helpers_and_redirect_match_the_model(nic):
    rng = random.Random(3)
    frames = programs.adjust_frames(rng, 40)
    run = nic.run_nic(programs.ADJUST_PROGRAM, frames, seed=3, out_pause=0.5)
    model = model_results(programs.ADJUST_PROGRAM, frames)
    assert_same(run.results, model, frames)
    frames = programs.redirect_frames(rng, 30, 2)
    run = nic.run_nic(programs.REDIRECT_PROGRAM, frames, ingress_port=1, seed=4, in_pause=0.2)
    model = model_results(programs.REDIRECT_PROGRAM, frames, ingress_port=1)
    assert_same(run.results, model, frames)
    check_nic_counters(run.counters, model, 2, ingress_port=1)


def test_verdicts_traps_and_budget_match_the_model(nic):
    rng = random.Random(5)
    frames = programs.verdict_frames(rng, 40)
    frames.append(programs.ether(rng) + bytes(8) + bytes([4, 0]) + bytes(40))   # budget
    run = nic.run_nic(programs.VERDICT_PROGRAM, frames, budget=400, seed=5)
    model = model_results(programs.VERDICT_PROGRAM, frames, budget=400)
    assert_same(run.results, model, frames)
    check_nic_counters(run.counters, model, 2)
    for cause in ("OUT_OF_BOUNDS", "UNKNOWN_HELPER", "BUDGET"):
        assert run.counters[f"TRAP_{cause}"] == sum(1 for m in model if m.trap.name == cause)


def test_icarus_runs_the_same_traffic(nic):
    if shutil.which("iverilog") is None:
        pytest.skip("iverilog is not installed")
    frames = scapy_frames(6)
    run = nic.run_nic(DEMO, frames, sim="icarus")
    assert_same(run.results, model_results(DEMO, frames), frames)


@pytest.mark.slow
def test_512_bit_nic_matches_the_model(nic):
    frames = scapy_frames(7)
    run = nic.run_nic(DEMO, frames, data_width=512, seed=7, in_pause=0.2, out_pause=0.5)
    model = model_results(DEMO, frames)
    assert_same(run.results, model, frames)
    check_nic_counters(run.counters, model, 2)


@pytest.mark.slow
def test_soak_thousand_frames_with_backpressure(nic):
    from sim.traffic import random_frames
    frames = random_frames(1000, seed=8, max_len=1600)
    run = nic.run_nic(DEMO, frames, seed=8, in_pause=0.1, out_pause=0.5, out_burst=8)
    model = model_results(DEMO, frames)
    assert_same(run.results, model, frames)
    check_nic_counters(run.counters, model, 2)
