"""Maps and helpers on the golden model: the kernel's semantics and error codes."""

import errno
import struct

import pytest

from firmware.ebpf import isa
from firmware.ebpf.asm import assemble
from firmware.ebpf.machine import map_value_address, prandom_next
from firmware.ebpf.maps import MapSpec, MapType
from firmware.ebpf.model_helpers import EngineState, csum_diff, format_trace
from firmware.ebpf.model_maps import (BPF_ANY, BPF_EXIST, BPF_NOEXIST, MapError, MapSet,
                                      ModelMap)
from firmware.ebpf.xdp import Disposition, run_frame

u32 = lambda v: struct.pack("<I", v)        # noqa: E731
u64 = lambda v: struct.pack("<Q", v)        # noqa: E731
FRAME = bytes(range(60))


def spec(type_, key=4, value=8, entries=4, name="m", flags=0):
    return MapSpec(name, type_, key, value, entries, flags)


def test_array_update_lookup_and_errors():
    m = ModelMap(spec(MapType.ARRAY), 0)
    assert m.lookup(u32(3)) == 3 and m.value(3) == bytes(8)
    assert m.update(u32(3), u64(7), BPF_ANY) == 0 and m.value(3) == u64(7)
    assert m.update(u32(3), u64(8), BPF_EXIST) == 0
    assert m.update(u32(3), u64(9), BPF_NOEXIST) == -errno.EEXIST
    assert m.update(u32(4), u64(9), BPF_ANY) == -errno.E2BIG
    assert m.update(u32(0), u64(9), 3) == -errno.EINVAL
    assert m.lookup(u32(4)) is None
    assert m.delete(u32(0)) == -errno.EINVAL
    assert [m.next_key(None), m.next_key(u32(2)), m.next_key(u32(3)), m.next_key(u32(9))] == \
        [u32(0), u32(3), None, u32(0)]


def test_hash_full_answers_e2big_and_delete_frees_a_slot():
    m = ModelMap(spec(MapType.HASH, entries=2), 0)
    assert m.update(b"aaaa", u64(1), BPF_ANY) == 0
    assert m.update(b"bbbb", u64(2), BPF_NOEXIST) == 0
    assert m.update(b"cccc", u64(3), BPF_ANY) == -errno.E2BIG
    assert m.update(b"aaaa", u64(4), BPF_ANY) == 0           # an existing key still updates
    assert m.update(b"zzzz", u64(4), BPF_EXIST) == -errno.ENOENT
    assert m.update(b"bbbb", u64(4), BPF_NOEXIST) == -errno.EEXIST
    assert m.delete(b"cccc") == -errno.ENOENT
    assert m.delete(b"aaaa") == 0
    assert m.update(b"cccc", u64(5), BPF_ANY) == 0
    assert m.value(m.lookup(b"cccc")) == u64(5)
    assert m.lookup(b"aaaa") is None
    # The freed lowest slot is taken again, and iteration is in slot order (as the CAM).
    assert m.find(b"cccc") == 0 and m.find(b"bbbb") == 1
    assert [e["key"] for e in m.dump()["entries"]] == [b"cccc".hex(), b"bbbb".hex()]


def test_lru_hash_evicts_the_least_recently_used():
    m = ModelMap(spec(MapType.LRU_HASH, entries=3), 0)
    for k in (b"aaaa", b"bbbb", b"cccc"):
        assert m.update(k, u64(1), BPF_ANY) == 0
    assert m.lookup(b"aaaa") is not None            # a is now the most recently used
    assert m.update(b"dddd", u64(2), BPF_ANY) == 0  # evicts b
    assert m.lookup(b"bbbb") is None
    assert m.update(b"cccc", u64(3), BPF_EXIST) == 0    # c used: a is now the oldest
    assert m.update(b"eeee", u64(4), BPF_ANY) == 0
    assert [m.find(k) is not None for k in (b"aaaa", b"cccc", b"dddd", b"eeee")] == \
        [False, True, True, True]


def lpm_key(prefixlen, *octets):
    return u32(prefixlen) + bytes(octets)


def test_lpm_trie_longest_prefix_wins_and_host_bits_are_ignored():
    m = ModelMap(spec(MapType.LPM_TRIE, key=8, value=4, entries=3, flags=1), 0)
    assert m.update(lpm_key(8, 10, 9, 9, 9), u32(8), BPF_ANY) == 0      # stored as 10/8
    assert m.update(lpm_key(16, 10, 1, 0, 0), u32(16), BPF_ANY) == 0
    assert m.update(lpm_key(0, 0, 0, 0, 0), u32(0), BPF_ANY) == 0
    assert m.update(lpm_key(24, 10, 1, 2, 0), u32(24), BPF_ANY) == -errno.ENOSPC
    assert m.update(lpm_key(33, 10, 1, 2, 0), u32(33), BPF_ANY) == -errno.EINVAL
    assert m.update(lpm_key(16, 10, 1, 7, 7), u32(17), BPF_NOEXIST) == -errno.EEXIST
    hit = lambda *o: m.value(m.lookup(lpm_key(32, *o)))      # noqa: E731
    assert hit(10, 1, 2, 3) == u32(16)
    assert hit(10, 2, 2, 3) == u32(8)
    assert hit(11, 1, 2, 3) == u32(0)
    assert m.lookup(lpm_key(12, 10, 1, 2, 3)) == m.find(lpm_key(8, 10, 0, 0, 0))
    assert m.delete(lpm_key(16, 10, 1, 0, 0)) == 0
    assert hit(10, 1, 2, 3) == u32(8)


def test_lpm_trie_prefix_longer_than_the_key_and_host_bits_on_delete():
    m = ModelMap(spec(MapType.LPM_TRIE, key=8, value=4, entries=2, flags=1), 0)
    assert m.update(lpm_key(8, 10, 0, 0, 0), u32(8), BPF_ANY) == 0
    assert m.lookup(lpm_key(33, 10, 0, 0, 0)) is None
    assert m.delete(lpm_key(33, 10, 0, 0, 0)) == -errno.EINVAL
    assert m.delete(lpm_key(8, 10, 1, 0, 0)) == 0       # same prefix 10/8
    assert m.lookup(lpm_key(32, 10, 0, 0, 1)) is None


def test_f_lock_is_refused_after_the_other_checks():
    a = ModelMap(spec(MapType.ARRAY), 0)
    assert a.update(u32(7), u64(1), 4) == -errno.E2BIG
    assert a.update(u32(1), u64(1), 5) == -errno.EEXIST
    assert a.update(u32(1), u64(1), 4) == -errno.EINVAL
    h = ModelMap(spec(MapType.HASH), 0)
    assert h.update(u32(1), u64(1), 4) == -errno.EINVAL
    assert h.update(u32(1), u64(1), 3) == -errno.EINVAL


@pytest.mark.parametrize("bad, message", [
    (spec(MapType.RINGBUF), "type RINGBUF is not supported"),
    (spec(MapType.ARRAY, key=8), "needs a 4-byte key"),
    (spec(MapType.HASH, entries=0), "must be positive"),
    (spec(MapType.ARRAY, value=1 << 20, entries=2), "exceed the 1048576-byte window"),
    (spec(MapType.LPM_TRIE, key=4), "LPM_TRIE keys"),
])
def test_unsupported_maps_are_refused_by_name(bad, message):
    with pytest.raises(MapError, match=message):
        ModelMap(bad, 0)


COUNTER_PROG = """
    mov %r6, %r1
    stw [%r10-4], 0
    lddw %r1, map_idx 0
    mov %r2, %r10
    add %r2, -4
    call 1                      # bpf_map_lookup_elem(&counters, &key)
    jeq %r0, 0, out
    mov %r1, 1
    lock add [%r0+0], %r1       # atomic add through the returned pointer
    ldxdw %r1, [%r0+0]
    stxdw [%r0+8], %r1          # plain store through it too
out:
    mov %r0, 1
    exit
"""


def test_counter_through_lookup_pointer_across_back_to_back_frames():
    maps = MapSet([spec(MapType.ARRAY, value=16, entries=1)])
    prog = assemble(COUNTER_PROG)
    for _ in range(3):
        assert run_frame(prog, FRAME, maps=maps).disposition == Disposition.DROP
    assert maps[0].value(0) == u64(3) + u64(3)


def test_percpu_array_keeps_one_copy_per_engine():
    maps = MapSet([spec(MapType.PERCPU_ARRAY, value=16, entries=1)], engines=2)
    prog = assemble(COUNTER_PROG)
    run_frame(prog, FRAME, maps=maps, engine=EngineState(engine=0))
    run_frame(prog, FRAME, maps=maps, engine=EngineState(engine=1))
    run_frame(prog, FRAME, maps=maps, engine=EngineState(engine=1))
    assert [maps[0].value(0, c)[:8] for c in (0, 1)] == [u64(1), u64(2)]
    assert maps[0].dump()["entries"][0]["value"] == [(u64(1) * 2).hex(), (u64(2) * 2).hex()]


def test_update_and_delete_helpers_return_the_kernels_errors():
    maps = MapSet([spec(MapType.HASH, entries=1)])
    text = """
        stw [%r10-4], {key}
        stdw [%r10-16], 42
        lddw %r1, map_idx 0
        mov %r2, %r10
        add %r2, -4
        mov %r3, %r10
        add %r3, -16
        mov %r4, {flags}
        call {helper}
        exit"""
    def call(key, flags, helper=2):
        return run_frame(assemble(text.format(key=key, flags=flags, helper=helper)), FRAME,
                         maps=maps).r0
    neg = lambda e: -e & isa.MASK64     # noqa: E731
    assert call(1, BPF_EXIST) == neg(errno.ENOENT)
    assert call(1, BPF_NOEXIST) == 0
    assert call(2, BPF_ANY) == neg(errno.E2BIG)
    assert call(1, 7) == neg(errno.EINVAL)
    assert maps[0].value(maps[0].lookup(u32(1))) == u64(42)
    assert call(2, 0, helper=3) == neg(errno.ENOENT)
    assert call(1, 0, helper=3) == 0
    assert maps[0].lookup(u32(1)) is None


def test_lookup_returns_null_for_a_missing_key_and_the_value_address_for_a_hit():
    maps = MapSet([spec(MapType.HASH), spec(MapType.HASH, name="n")])
    maps[1].update(u32(5), u64(1), BPF_ANY)
    text = "stw [%r10-4], {k}\nlddw %r1, map_idx 1\nmov %r2, %r10\nadd %r2, -4\ncall 1\nexit"
    assert run_frame(assemble(text.format(k=4)), FRAME, maps=maps).r0 == 0
    assert run_frame(assemble(text.format(k=5)), FRAME, maps=maps).r0 == \
        map_value_address(1, 0)


def test_redirect_map_through_a_devmap():
    maps = MapSet([spec(MapType.DEVMAP, value=4, entries=4)])
    maps[0].update(u32(1), u32(2), BPF_ANY)         # slot 1 -> ifindex 2 = port 1
    text = "lddw %r1, map_idx 0\nmov %r2, {key}\nmov %r3, {flags}\ncall 51\nexit"
    hit = run_frame(assemble(text.format(key=1, flags=0)), FRAME, maps=maps)
    assert (hit.disposition, hit.egress_port, hit.frame) == (Disposition.REDIRECT, 1, FRAME)
    miss = run_frame(assemble(text.format(key=2, flags=2)), FRAME, maps=maps)
    assert (miss.disposition, miss.r0) == (Disposition.PASS, 2)     # the fallback verdict
    bad = run_frame(assemble(text.format(key=1, flags=8)), FRAME, maps=maps)
    assert (bad.disposition, bad.r0) == (Disposition.ABORTED, 0)
    # Only the slot with a device is an entry (bpftool's view of the kernel's devmap).
    assert maps[0].dump()["entries"] == [{"key": u32(1).hex(), "value": u32(2).hex()}]


def test_global_data_map_starts_with_the_sections_bytes():
    data = MapSpec(".data", MapType.ARRAY, 4, 8, 1, initial=u64(0x1122))
    maps = MapSet([data])
    r = run_frame(assemble("lddw %r1, map_idx_value 0 + 0\nldxdw %r0, [%r1+0]\nexit"), FRAME,
                  maps=maps)
    assert r.r0 == 0x1122


def test_csum_diff_matches_a_hand_computed_ones_complement_sum():
    # Linux 6.12+ folds the result to 16 bits.  An IPv4 header's folded sum, complemented,
    # is its checksum (here the well-known example header, checksum b861).
    header = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    assert (~csum_diff(b"", header, 0) & 0xFFFF).to_bytes(2, "little") == bytes.fromhex("b861")
    assert csum_diff(b"\x01\x00\x00\x00", b"\x03\x00\x00\x00", 0) == 2
    # Any size is accepted; removing "ab" (0x6261) and "c" (0x63) gives -(0x62c4).
    assert csum_diff(b"abc", b"", 0) == ~0x62C4 & 0xFFFF
    assert csum_diff(b"", b"", 0) == 0
    assert csum_diff(bytes(256), bytes(260), 0) == 0xFFFF    # 0 + ~0, one's-complement -0


def test_prandom_ktime_and_engine_id_helpers():
    state = EngineState(engine=3, now_ns=12345, prandom_state=1)
    prog = assemble("call 7\nmov %r6, %r0\ncall 7\nmov %r7, %r0\ncall 5\nmov %r8, %r0\n"
                    "call 8\nexit")
    from firmware.ebpf import model, model_helpers
    r = model.run(prog, helpers=model_helpers.misc_helpers(state))
    assert r.regs[6:9] == [prandom_next(1), prandom_next(prandom_next(1)), 12345]
    assert r.r0 == 3


def test_trace_printk_formats_like_the_kernel():
    assert format_trace(b"x=%d u=%u h=%x %%", [2**32 - 1, 2**32 - 1, 255],
                        None) == "x=-1 u=4294967295 h=ff %"
    assert format_trace(b"l=%lld %llu %c", [2**64 - 2, 2**64 - 2, 65], None) == \
        "l=-2 18446744073709551614 A"
    assert format_trace(b"%5d|%-3x|", [7, 10], None) == "    7|a  |"
    assert format_trace(b"%d %d %d %d", [1, 2, 3], None) is None      # four conversions
    assert format_trace(b"%q", [1], None) is None
    fmt = b"hi %d\n\0"
    text = f"""
        {''.join(f'stb [%r10-{8 - i}], {c}' + chr(10) for i, c in enumerate(fmt))}
        mov %r1, %r10
        add %r1, -8
        mov %r2, {len(fmt)}
        mov %r3, 42
        call 6
        exit"""
    state = EngineState()
    r = run_frame(assemble(text), FRAME, engine=state)
    assert state.trace == ["hi 42\n"] and r.r0 == 6
