"""Driver scenarios where the program and the host use the same maps at the same time, and
where a clang program's global data (.rodata, .data, .bss) lives in map values.

Each scenario is ``async def scenario(nic)`` and runs unchanged on the model transport and on
the NIC's Verilog under cocotb (tests/xdp/test_nic_maps.py).
"""

import pathlib
import struct
import tempfile

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from firmware.build import compile_c
from firmware.ebpf.asm import assemble
from firmware.ebpf.maps import MapSpec, MapType
from firmware.ebpf.model_maps import MapSet
from firmware.ebpf.xdp import run_frame
from firmware.program import ProgramImage, load_program
from firmware.progs.build import INCLUDE_DIR

FRAMES = 40


def udp_frame(dport: int, size: int) -> bytes:
    """A UDP frame of ``size`` bytes (without FCS)."""
    head = bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=4000, dport=dport))
    return head + bytes(size - len(head))

# counts[0] = two u64 counters, each bumped by an atomic add per frame; the verdict is
# verdicts{0} when the host has put one there, else XDP_DROP.
ATOMIC_COUNTS = """
    stw [%r10-4], 0
    mov %r2, %r10
    add %r2, -4
    lddw %r1, map_idx 0
    call 1
    jeq %r0, 0, verdict
    mov %r1, 1
    lock add [%r0+0], %r1
    lock add [%r0+8], %r1
verdict:
    stw [%r10-8], 0
    mov %r2, %r10
    add %r2, -8
    lddw %r1, map_idx 1
    call 1
    mov %r7, 1
    jeq %r0, 0, out
    ldxw %r7, [%r0+0]
out:
    mov %r0, %r7
    exit
"""


def atomic_counts_image() -> ProgramImage:
    return ProgramImage("atomic_counts", assemble(ATOMIC_COUNTS),
                        [MapSpec("counts", MapType.ARRAY, 4, 16, 1),
                         MapSpec("verdicts", MapType.HASH, 4, 4, 4)])


async def atomics_while_the_host_updates(nic):
    """Back-to-back frames add atomically to a map value while the host reads that value and
    rewrites the verdict map: no add is lost, every host read sees a consistent pair."""
    await nic.load(atomic_counts_image(), clear_counters=True)
    counts, verdicts = nic.maps["counts"], nic.maps["verdicts"]
    key0 = struct.pack("<I", 0)
    for i in range(FRAMES):
        await nic.send(udp_frame(dport=1000 + i, size=64), 0)
    seen = []
    for turn in range(6):
        await verdicts.update(key0, struct.pack("<I", 2 if turn % 2 else 1))
        first, second = struct.unpack("<QQ", await counts.lookup(key0))
        seen.append((first, second))
    await nic.drain()
    assert await counts.lookup(key0) == struct.pack("<QQ", FRAMES, FRAMES)
    for first, second in seen:        # the two adds of one frame are two instructions
        assert 0 <= first - second <= 1 and first <= FRAMES, seen
    assert [a for a, _b in seen] == sorted(a for a, _b in seen), seen
    c = await nic.counters()
    assert c.ports[0]["RX_FRAMES"] == FRAMES
    assert c.ports[0]["DROP"] + c.ports[0]["PASS"] == FRAMES
    passed = 0
    while await nic.receive("pass", timeout=10) is not None:
        passed += 1
    assert passed == c.ports[0]["PASS"]


GLOBALS_C = r"""
#include "xdpnic.h"

static volatile const __u32 base_verdict = XDP_DROP;   /* .rodata */
__u64 frames;                                          /* .bss */
__u32 last_length = 7;                                 /* .data */

SEC("xdp")
int globals(struct xdp_md *ctx)
{
    __u32 length = ctx->data_end - ctx->data;

    __sync_fetch_and_add(&frames, 1);
    last_length = length;
    return base_verdict + (length & 1);
}

char _license[] SEC("license") = "GPL";
"""


def globals_image() -> ProgramImage:
    """The C program above, built with clang (the test checks that clang is there)."""
    with tempfile.TemporaryDirectory() as tmp:
        source = pathlib.Path(tmp) / "globals.c"
        source.write_text(GLOBALS_C)
        obj = pathlib.Path(tmp) / "globals.o"
        compile_c(source, obj, (f"-I{INCLUDE_DIR}",))
        return load_program(obj)


async def global_data(nic):
    """.rodata, .data and .bss are single-entry arrays: initial values in, updates out."""
    image = globals_image()
    assert sorted(m.name for m in image.maps) == [".bss", ".data", ".rodata"]
    await nic.load(image, clear_counters=True)
    model = MapSet(image.maps)
    for size in (60, 61, 64, 99):
        frame = udp_frame(dport=7, size=size)
        got = await nic.run(frame, 0)
        want = run_frame(image.insns, frame, maps=model)
        assert (got.counter, got.last.r0) == ({1: "drop", 2: "pass"}[want.r0], want.r0), \
            (size, got)
    key0 = struct.pack("<I", 0)
    for m in image.maps:
        assert await nic.maps[m.name].lookup(key0) == model.by_name(m.name).value(0), m.name
    assert await nic.maps[".bss"].lookup(key0) == struct.pack("<Q", 4)
    assert await nic.maps[".data"].lookup(key0) == struct.pack("<I", 99)


SCENARIOS = ["atomics_while_the_host_updates", "global_data"]
