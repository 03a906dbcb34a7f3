"""KernelXdp: an XDP program with a map, frames through BPF_PROG_TEST_RUN, exact bytes and
counters; the same program on the golden model's XDP hook gives the same results."""

import os
import struct

import pytest

from firmware.ebpf.asm import assemble
from firmware.ebpf.maps import MapSpec, MapType
from firmware.kernel.bpf import KernelError
from firmware.kernel.xdp import KernelXdp, XdpAction, relocate_maps

pytestmark = pytest.mark.usefixtures("bpf")

# Swap the Ethernet addresses and send the frame back (XDP_TX), except frames of EtherType
# 0x88b5 (IEEE local experimental), which are dropped.  stats[0] counts transmitted frames
# and their bytes, stats[1] dropped ones: value = (u64 packets, u64 bytes).
SWAP_AND_COUNT = """
    ldxw %r2, [%r1+0]           # data
    ldxw %r3, [%r1+4]           # data_end
    mov %r4, %r2
    add %r4, 14
    jgt %r4, %r3, aborted       # shorter than an Ethernet header
    mov %r6, %r3
    sub %r6, %r2                # frame length
    mov %r7, 3                  # XDP_TX
    stw [%r10-4], 0             # stats key
    ldxh %r5, [%r2+12]
    jne %r5, 0xb588, swap       # EtherType 0x88b5, read little-endian
    mov %r7, 1                  # XDP_DROP
    stw [%r10-4], 1
    ja count
swap:
    ldxw %r5, [%r2+0]
    ldxh %r8, [%r2+4]
    ldxw %r9, [%r2+6]
    ldxh %r0, [%r2+10]
    stxw [%r2+0], %r9
    stxh [%r2+4], %r0
    stxw [%r2+6], %r5
    stxh [%r2+10], %r8
count:
    mov %r2, %r10
    add %r2, -4
    lddw %r1, map_idx 0
    call 1                      # bpf_map_lookup_elem
    jeq %r0, 0, out
    mov %r1, 1
    lock add [%r0+0], %r1
    lock add [%r0+8], %r6
out:
    mov %r0, %r7
    exit
aborted:
    mov %r0, 0
    exit
"""

STATS = MapSpec("stats", MapType.ARRAY, 4, 16, 2)
DST = bytes.fromhex("020000000001")
SRC = bytes.fromhex("02000000000a")


def frame(ethertype: int, payload: bytes) -> bytes:
    return DST + SRC + struct.pack(">H", ethertype) + payload


def stats(xdp: KernelXdp, key: int) -> tuple[int, int]:
    return struct.unpack("<QQ", xdp.lookup("stats", struct.pack("<I", key)))


def test_swap_macs_and_tx_with_counters():
    program = assemble(SWAP_AND_COUNT, "swap_and_count")
    with KernelXdp(program, [STATS], name="swap_count") as xdp:
        ipv4 = frame(0x0800, bytes(range(46)))
        run = xdp.run(ipv4)
        assert run.action == XdpAction.TX and run.action_name == "TX"
        assert run.frame == SRC + DST + ipv4[12:]
        assert stats(xdp, 0) == (1, 60)

        dropped = frame(0x88B5, b"\xff" * 50)
        run = xdp.run(dropped)
        assert run.action == XdpAction.DROP
        assert stats(xdp, 1) == (1, 64)

        # Counters can be written from the host between runs.
        xdp.update("stats", struct.pack("<I", 0), struct.pack("<QQ", 100, 1000))
        xdp.run(ipv4)
        assert stats(xdp, 0) == (101, 1060)
        assert xdp.map_contents(0) == {struct.pack("<I", 0): struct.pack("<QQ", 101, 1060),
                                       struct.pack("<I", 1): struct.pack("<QQ", 1, 64)}


def test_repeat_runs_the_program_n_times_and_times_it():
    program = assemble(SWAP_AND_COUNT, "swap_and_count")
    with KernelXdp(program, [STATS], name="swap_count") as xdp:
        ipv4 = frame(0x0800, bytes(46))
        run = xdp.run(ipv4, repeat=1000)
        assert run.repeat == 1000
        assert stats(xdp, 0) == (1000, 60_000)
        # Each repeated run sees the frame as the previous one left it: an even number of
        # swaps gives the frame back, an odd number swaps it.
        assert run.frame == ipv4
        assert xdp.run(ipv4, repeat=3).frame == SRC + DST + ipv4[12:]
        assert 0 < run.duration_ns < 100_000
        assert xdp.info().jited_prog_len > 0 or xdp.info().xlated_prog_len > 0


def test_model_and_kernel_agree_on_the_same_frames():
    from firmware.ebpf.model_maps import MapSet
    from firmware.ebpf.xdp import run_frame
    program = assemble(SWAP_AND_COUNT, "swap_and_count")
    frames = [frame(0x0800, bytes(range(46))), frame(0x88B5, bytes(50)),
              frame(0x86DD, os.urandom(100)), frame(0x88B5, b"x" * 1000)]
    maps = MapSet([STATS])
    with KernelXdp(program, [STATS], name="swap_count") as xdp:
        for f in frames:
            kernel = xdp.run(f)
            modelled = run_frame(program, f, maps=maps)
            assert modelled.r0 == kernel.action
            if kernel.action == XdpAction.TX:
                assert modelled.frame == kernel.frame
        for key in (0, 1):
            k = struct.pack("<I", key)
            assert maps[0].value(maps[0].lookup(k)) == xdp.lookup("stats", k)
        assert stats(xdp, 0) == (2, 60 + 114)
        assert stats(xdp, 1) == (2, 64 + 1014)


def test_refused_program_reports_the_verifier_log_and_leaves_no_fds():
    before = set(os.listdir("/proc/self/fd"))
    # Reads the EtherType without checking the frame's length first.
    program = assemble("ldxw %r2, [%r1+0]\nldxh %r0, [%r2+12]\nexit", "unchecked")
    with pytest.raises(KernelError) as info:
        KernelXdp(program, [STATS], name="unchecked")
    assert info.value.errno_name == "EACCES"
    assert info.value.reason.startswith("invalid access to packet")
    assert "(69) r0 = *(u16 *)(r2 +12)" in info.value.log
    assert set(os.listdir("/proc/self/fd")) == before


def test_map_reference_outside_the_map_list_is_refused_before_the_kernel():
    program = assemble("lddw %r1, map_idx 3\nmov %r0, 2\nexit", "badmap")
    with pytest.raises(ValueError, match="instruction 0: lddw refers to map 3, but the"
                                         " program has 1 map"):
        relocate_maps(program, [7])


def test_runt_frame_is_refused_with_a_clear_message():
    program = assemble("mov %r0, 2\nexit", "pass")
    with KernelXdp(program, name="pass") as xdp:
        with pytest.raises(ValueError, match="frame of 10 bytes"):
            xdp.run(bytes(10))
    assert xdp.program is None


def test_kernel_verdict_accepts_and_refuses_with_reason():
    from firmware.kernel.xdp import kernel_verdict
    good = kernel_verdict(assemble(SWAP_AND_COUNT, "swap_and_count"), [STATS])
    assert good.accepted and good.reason == ""
    # A store through the map pointer itself (not through a looked-up value).
    bad = kernel_verdict(assemble("lddw %r1, map_idx 0\nstdw [%r1+0], 1\nmov %r0, 2\nexit",
                                  "store_to_map"), [STATS])
    assert not bad.accepted
    assert bad.errno_name == "EACCES"
    assert bad.reason == "only read from bpf_array is supported"
    assert "(7a) *(u64 *)(r1 +0) = 1" in bad.log


def test_interrupt_during_a_run_leaves_no_program_or_map_behind(monkeypatch):
    from firmware.kernel import bpf
    from firmware.kernel.runner import run_wrapped
    before = set(os.listdir("/proc/self/fd"))

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bpf.BpfProgram, "test_run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        with KernelXdp(assemble(SWAP_AND_COUNT, "swap_and_count"), [STATS]) as xdp:
            xdp.run(frame(0x0800, bytes(46)))
    with pytest.raises(KeyboardInterrupt):
        run_wrapped(assemble("mov %r0, 1\nexit", "one"), b"\x01\x02")
    assert set(os.listdir("/proc/self/fd")) == before
