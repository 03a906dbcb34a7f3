"""XDP test programs whose behaviour the frame chooses, so that one simulator run covers many
cases: each frame carries, after its Ethernet header, the operands the program uses."""

import random
import struct

from firmware.ebpf.asm import assemble

# Frame bytes 14..: helper id (u32), delta (s32), metadata delta (s32).  The program adjusts
# the metadata first (when its delta is not 0, writing a marker word into the metadata), then
# calls the helper with the delta, then writes the helper's return value at the (new) data + 14
# when the frame is still long enough, and passes the frame.
ADJUST_PROGRAM = assemble("""
    mov %r6, %r1
    ldxw %r2, [%r6+0]
    ldxw %r3, [%r6+4]
    mov %r4, %r2
    add %r4, 26
    jgt %r4, %r3, out
    ldxw %r8, [%r2+14]
    ldxw %r9, [%r2+18]
    ldxw %r3, [%r2+22]
    jeq %r3, 0, nometa
    mov %r1, %r6
    mov %r2, %r3
    lsh %r2, 32
    arsh %r2, 32
    call 54
    jne %r0, 0, nometa
    ldxw %r2, [%r6+8]
    stw [%r2+0], 0x44332211
nometa:
    mov %r1, %r6
    mov %r2, %r9
    lsh %r2, 32
    arsh %r2, 32
    mov %r7, -1
    jeq %r8, 44, head
    jeq %r8, 65, tail
    jeq %r8, 54, meta
    ja result
head:
    call 44
    ja done
tail:
    call 65
    ja done
meta:
    call 54
done:
    mov %r7, %r0
result:
    ldxw %r2, [%r6+0]
    ldxw %r3, [%r6+4]
    mov %r4, %r2
    add %r4, 22
    jgt %r4, %r3, out
    stxw [%r2+14], %r7
    stxw [%r2+18], %r7
out:
    mov %r0, 2
    exit
""")

# Frame bytes 14..: ifindex (u32), flags (u64 low/high), forced action (u32, 0xffffffff: keep
# bpf_redirect's return).
REDIRECT_PROGRAM = assemble("""
    ldxw %r2, [%r1+0]
    ldxw %r3, [%r1+4]
    mov %r4, %r2
    add %r4, 30
    jgt %r4, %r3, short
    ldxw %r6, [%r2+26]
    ldxw %r1, [%r2+14]
    ldxdw %r5, [%r2+18]
    mov %r2, %r5
    call 23
    jeq %r6, -1, keep
    mov %r0, %r6
keep:
    exit
short:
    mov %r0, 2
    exit
""")

# Frame bytes 14..21: the value returned (u64): every action, invalid ones, u32 truncation.
# Byte 22 selects a trap instead: 1 out-of-bounds load, 2 unknown helper, 3 map-value access
# (no map unit: out of bounds), 4 budget (an endless loop), 5 division then XDP_TX,
# 6 bpf_get_smp_processor_id + 2 (PASS), 7 store past the buffer, 8 write to the context.
VERDICT_PROGRAM = assemble("""
    ldxw %r2, [%r1+0]
    ldxw %r3, [%r1+4]
    mov %r4, %r2
    add %r4, 23
    jgt %r4, %r3, short
    ldxb %r5, [%r2+22]
    jeq %r5, 1, oob
    jeq %r5, 2, unknown
    jeq %r5, 3, mapval
    jeq %r5, 4, spin
    jeq %r5, 5, divide
    jeq %r5, 6, cpu
    jeq %r5, 7, store
    jeq %r5, 8, ctxw
    ldxdw %r0, [%r2+14]
    exit
oob:
    ldxw %r0, [%r2+4000]
    exit
unknown:
    call 99
    exit
mapval:
    lddw %r6, 0x40000000
    ldxw %r0, [%r6+0]
    exit
spin:
    ja spin
divide:
    ldxb %r6, [%r2+23]
    mov %r0, 1000
    div %r0, %r6
    mov %r0, 3
    exit
cpu:
    call 8
    add %r0, 2
    exit
store:
    stxdw [%r2+3900], %r5
    mov %r0, 2
    exit
ctxw:
    stw [%r1+0], 0
    mov %r0, 2
    exit
short:
    mov %r0, 2
    exit
""")


def ether(rng: random.Random, ethertype: int = 0x88B5) -> bytes:
    return bytes(rng.randrange(256) for _ in range(12)) + ethertype.to_bytes(2, "big")


def adjust_frames(rng: random.Random, count: int) -> list[bytes]:
    """Frames for ADJUST_PROGRAM: deltas at and around every limit, and random ones."""
    interesting = [0, 1, -1, 4, -4, 13, -14, -216, -217, -220, -255, 255, 3000, -3000,
                   50, -50, 46, -46, 3520, -3520, 2 ** 31 - 1, -2 ** 31]
    frames = []
    for i in range(count):
        helper = rng.choice([44, 65, 54, 44, 65, 7])
        length = rng.randrange(26, 300)
        delta = rng.choice(interesting + [rng.randrange(-length, length)])
        if helper == 65 and rng.random() < 0.3:
            delta = rng.randrange(0, 3500 - length)                   # a big grow, zeros
        meta = rng.choice([0, 0, -4, -8, -16, -212, -216, -3, 4, -256])
        body = struct.pack("<Iii", helper, delta, meta)
        payload = bytes(rng.randrange(256) for _ in range(max(0, length - 26)))
        frames.append(ether(rng) + body + payload)
    return frames


def redirect_frames(rng: random.Random, count: int, ports: int) -> list[bytes]:
    frames = []
    for _ in range(count):
        ifindex = rng.choice([0, 1, 2, ports, ports + 1, 0xFFFFFFFF, 2 ** 31])
        flags = rng.choice([0, 0, 0, 1, 1 << 40])
        action = rng.choice([0xFFFFFFFF, 0xFFFFFFFF, 4, 2])
        length = rng.randrange(30, 200)
        frames.append(ether(rng) + struct.pack("<IQI", ifindex, flags, action)
                      + bytes(rng.randrange(256) for _ in range(length - 30)))
    return frames


def verdict_frames(rng: random.Random, count: int) -> list[bytes]:
    frames = []
    for i in range(count):
        value = rng.choice([0, 1, 2, 3, 4, 5, 0xFFFFFFFF, 0x100000002, 0x200000003,
                            rng.randrange(2 ** 64)])
        trap = rng.choice([0, 0, 0, 1, 2, 3, 5, 6, 7, 8])
        divisor = rng.choice([0, 7])
        length = rng.randrange(24, 120)
        frames.append(ether(rng) + struct.pack("<QBB", value, trap, divisor)
                      + bytes(rng.randrange(256) for _ in range(length - 24)))
    return frames
