# amaranth: UnusedElaboratable=no
"""The map unit (hw/maps/unit.py) in the Amaranth simulator against the golden model's maps.

Random sequences of host commands and helper calls run on both; every result (errno, value
bytes, the pointer a lookup returns, the keys get-next-key walks) must be equal.  Then the
corners the issue names: a full map, delete and reinsert, LRU eviction order, longest-prefix
ties, updates through the returned pointer, atomics, bpf_redirect_map, bad input.
"""

import dataclasses
import errno
import random
import struct

import pytest
from amaranth.sim import Simulator

from firmware.ebpf import machine
from firmware.ebpf.helpers import HelperId
from firmware.ebpf.maps import MapSpec, MapType
from firmware.ebpf.model_maps import BPF_ANY, BPF_EXIST, BPF_NOEXIST, ModelMap
from firmware.driver.model_transport import MODEL_FEATURES, ModelTransport
from hw import regs
from hw.maps.unit import MapUnit
from tests.hw.mapbench import MapBench, u32, u64

MASK64 = (1 << 64) - 1
CAM_SLOTS = 16
VALUE_BYTES = 1024


def simulate(body, **params):
    """Run ``await body(bench)`` on a fresh MapUnit (small CAM and value memory)."""
    params = {"cam_slots": CAM_SLOTS, "value_bytes": VALUE_BYTES, **params}
    dut = MapUnit(**params)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    result = {}

    async def bench(ctx):
        result["value"] = await body(MapBench(dut, ctx))

    sim.add_testbench(bench)
    sim.run()
    return result["value"]


def spec(map_type, key_size, value_size, entries, name="m"):
    return MapSpec(name=name, type=map_type, key_size=key_size, value_size=value_size,
                   max_entries=entries)


def neg(code):
    return -code & MASK64


# --- random differential runs ---------------------------------------------------------------

def random_ops(rng, map_type, key_size, value_size, entries, count):
    """Operations over a small key universe so that hits, misses and full maps all happen."""
    if map_type in (MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.DEVMAP):
        universe = [u32(i) for i in range(entries + 2)] + [u32(0xFFFFFFFF)]
    elif map_type == MapType.LPM_TRIE:
        bits = 8 * (key_size - 4)
        universe = []
        for _ in range(8):
            plen = rng.choice([0, 1, 4, 8, bits // 2, bits - 1, bits, bits + 1])
            universe.append(struct.pack("<I", plen) + bytes(rng.choice([0x0A, 0x0B, 0xFF])
                                                            for _ in range(key_size - 4)))
    else:
        universe = [bytes(rng.randrange(3) for _ in range(key_size)) for _ in range(entries + 3)]
    ops = []
    for _ in range(count):
        kind = rng.choice(["update", "update", "lookup", "delete", "h_lookup", "h_update",
                           "h_delete", "keys"])
        key = rng.choice(universe)
        value = bytes(rng.randrange(256) for _ in range(value_size))
        if map_type == MapType.DEVMAP:
            value = u32(rng.choice([0, 1, 2, 3])) + value[4:]
        flags = rng.choice([BPF_ANY, BPF_ANY, BPF_NOEXIST, BPF_EXIST, 4, 3])
        ops.append((kind, key, value, flags))
    return ops


def model_run(map_spec, ops):
    m = ModelMap(map_spec, 0)
    out = []
    for kind, key, value, flags in ops:
        if kind == "update":
            out.append(m.update(key, value, flags, None) & 0xFFFFFFFF)
        elif kind == "lookup":
            slot = m.find(key)
            if m.spec.type == MapType.DEVMAP and slot is not None and not m._devmap_ifindex(slot):
                slot = None
            out.append(m.value(slot) if slot is not None else (-errno.ENOENT & 0xFFFFFFFF))
        elif kind == "delete":
            out.append(m.delete(key) & 0xFFFFFFFF)
        elif kind == "h_lookup":
            slot = m.lookup(key)
            out.append(0 if slot is None else m.slot_address(slot))
        elif kind == "h_update":
            out.append(m.update(key, value, flags, None) & MASK64)
        elif kind == "h_delete":
            out.append(m.delete(key) & MASK64)
        else:
            keys, k = [], m.next_key(None)
            while k is not None:
                keys.append(bytes(k))
                k = m.next_key(k)
            out.append(keys)
    return out


async def hardware_run(b, map_spec, ops):
    map_id = await b.create(map_spec.type, map_spec.key_size, map_spec.value_size,
                            map_spec.max_entries)
    assert map_id == 0
    ks, vs = map_spec.key_size, map_spec.value_size
    out = []
    for kind, key, value, flags in ops:
        if kind == "update":
            out.append(await b.host_update(map_id, key, value, flags) & 0xFFFFFFFF)
        elif kind == "lookup":
            r = await b.host_lookup(map_id, key, vs)
            out.append(r if isinstance(r, bytes) else r & 0xFFFFFFFF)
        elif kind == "delete":
            out.append(await b.host_delete(map_id, key) & 0xFFFFFFFF)
        elif kind == "h_lookup":
            out.append((await b.helper(HelperId.MAP_LOOKUP_ELEM, map_id, b.put(64, key)))[0])
        elif kind == "h_update":
            out.append((await b.helper(HelperId.MAP_UPDATE_ELEM, map_id, b.put(64, key),
                                       b.put(256, value), flags))[0])
        elif kind == "h_delete":
            out.append((await b.helper(HelperId.MAP_DELETE_ELEM, map_id, b.put(64, key)))[0])
        else:
            out.append(await b.host_keys(map_id, ks))
    return out


CASES = [
    (MapType.ARRAY, 4, 8, 4),
    (MapType.ARRAY, 4, 5, 3),
    (MapType.PERCPU_ARRAY, 4, 12, 2),
    (MapType.DEVMAP, 4, 4, 4),
    (MapType.HASH, 4, 8, 4),
    (MapType.HASH, 13, 3, 3),
    (MapType.PERCPU_HASH, 8, 8, 3),
    (MapType.LRU_HASH, 4, 8, 3),
    (MapType.LPM_TRIE, 8, 4, 4),
    (MapType.LPM_TRIE, 5, 8, 3),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{t.name}-k{k}-v{v}-n{n}" for t, k, v, n in CASES])
def test_random_operations_match_the_model(case):
    map_type, ks, vs, entries = case
    rng = random.Random(f"{case}")
    ops = random_ops(rng, map_type, ks, vs, entries, 40)
    map_spec = spec(map_type, ks, vs, entries)
    expected = model_run(map_spec, ops)
    got = simulate(lambda b: hardware_run(b, map_spec, ops))
    for i, (op, want, have) in enumerate(zip(ops, expected, got)):
        assert have == want, f"op {i} {op[0]} key={op[1].hex()} flags={op[3]}"


@pytest.mark.parametrize("case", [CASES[5], CASES[7], CASES[8]],
                         ids=lambda c: f"{c[0].name}-k{c[1]}")
def test_a_key_table_of_96_slots_matches_the_model(case):
    """Table slots need not be a power of two: 96 (three bitmap words, 64 buckets a way)."""
    map_type, ks, vs, entries = case
    rng = random.Random(f"96 {case}")
    ops = random_ops(rng, map_type, ks, vs, entries, 40)
    map_spec = spec(map_type, ks, vs, entries)
    got = simulate(lambda b: hardware_run(b, map_spec, ops), cam_slots=96)
    assert got == model_run(map_spec, ops)


# --- the corners -------------------------------------------------------------------------------

def test_create_refusals_and_limits():
    async def body(b):
        results = [
            await b.create(MapType.PROG_ARRAY, 4, 4, 4),      # type not offered
            await b.create(MapType.ARRAY, 8, 4, 4),           # array keys are 4 bytes
            await b.create(MapType.DEVMAP, 4, 5, 4),          # devmap values 4 or 8
            await b.create(MapType.HASH, 0, 4, 4),
            await b.create(MapType.HASH, 25, 4, 4),           # longer than the CAM's key
            await b.create(MapType.LPM_TRIE, 4, 4, 4),        # no data after the prefix
            await b.create(MapType.HASH, 4, 4, CAM_SLOTS + 1),  # more than the CAM has
            await b.create(MapType.ARRAY, 4, 8, VALUE_BYTES // 8 + 1),  # more than the memory
            await b.create(MapType.HASH, 4, 4, CAM_SLOTS),    # fits: id 0
            await b.create(MapType.HASH, 4, 4, 1),            # the CAM is used up now
            await b.create(MapType.ARRAY, 4, 8, 4),           # id 1
        ]
        await b.command(regs.MapOp.RESET)
        results.append(await b.create(MapType.HASH, 4, 4, 2))  # after a reset: id 0 again
        return results
    assert simulate(body) == [-errno.EINVAL, -errno.EINVAL, -errno.EINVAL, -errno.EINVAL,
                              -errno.E2BIG, -errno.EINVAL, -errno.ENOMEM, -errno.ENOMEM,
                              0, -errno.ENOMEM, 1, 0]


def test_hash_full_delete_and_reinsert():
    async def body(b):
        h = await b.create(MapType.HASH, 4, 8, 2)
        r = [await b.host_update(h, b"aaaa", u64(1)), await b.host_update(h, b"bbbb", u64(2)),
             await b.host_update(h, b"cccc", u64(3)),           # full: -E2BIG, nothing lost
             await b.host_lookup(h, b"aaaa", 8), await b.host_lookup(h, b"bbbb", 8),
             await b.host_delete(h, b"aaaa"), await b.host_update(h, b"cccc", u64(3)),
             await b.host_keys(h, 4)]
        return r
    assert simulate(body) == [0, 0, -errno.E2BIG, u64(1), u64(2), 0, 0, [b"cccc", b"bbbb"]]


def test_lru_evicts_the_least_recently_used():
    async def body(b):
        m = await b.create(MapType.LRU_HASH, 4, 8, 3)
        for k in (b"aaaa", b"bbbb", b"cccc"):
            await b.host_update(m, k, u64(1))
        await b.helper(HelperId.MAP_LOOKUP_ELEM, m, b.put(0, b"aaaa"))  # a used: b is oldest
        await b.host_update(m, b"dddd", u64(2))                          # evicts b
        await b.host_update(m, b"cccc", u64(3), BPF_EXIST)               # c used: a oldest
        await b.host_update(m, b"eeee", u64(4))                          # evicts a
        return await b.host_keys(m, 4)
    # d took b's slot (1), e took a's slot (0).
    assert simulate(body) == [b"eeee", b"dddd", b"cccc"]


def test_lpm_longest_prefix_wins_and_ties_on_the_exact_key():
    def key(plen, *octets):
        return struct.pack("<I", plen) + bytes(octets)

    async def body(b):
        m = await b.create(MapType.LPM_TRIE, 8, 4, 8)
        for plen, net, value in ((8, (10, 0, 0, 0), 1), (16, (10, 1, 0, 0), 2),
                                 (24, (10, 1, 2, 0), 3), (0, (0, 0, 0, 0), 9)):
            assert await b.host_update(m, key(plen, *net), u32(value)) == 0
        # The same prefix given with host bits set is the same entry (the kernel clears them).
        same = await b.host_update(m, key(16, 10, 1, 99, 99), u32(5), BPF_NOEXIST)
        out = [same]
        for addr in ((10, 1, 2, 3), (10, 1, 3, 3), (10, 2, 0, 0), (11, 0, 0, 0)):
            ptr = (await b.helper(HelperId.MAP_LOOKUP_ELEM, m, b.put(0, key(32, *addr))))[0]
            out.append((await b.access(ptr, 4))[0] if ptr else None)
        return out
    assert simulate(body) == [-errno.EEXIST, 3, 2, 1, 9]


def test_values_change_through_the_returned_pointer_and_atomics_add():
    async def body(b):
        a = await b.create(MapType.ARRAY, 4, 16, 2)
        ptr = (await b.helper(HelperId.MAP_LOOKUP_ELEM, a, b.put(0, u32(1))))[0]
        assert ptr == machine.map_value_address(a, 16)
        await b.access(ptr + 8, 8, write=True, wdata=0x1122334455667788)
        for _ in range(3):         # lock add: a locked read then the write, as the LSU does
            old, _ = await b.access(ptr, 8, lock=True)
            await b.access(ptr, 8, write=True, wdata=old + 5)
        beyond = await b.access(ptr + 16, 1)          # past the map's values
        return await b.host_lookup(a, u32(1), 16), beyond
    value, beyond = simulate(body)
    assert value == u64(15) + u64(0x1122334455667788)
    assert beyond == (0, 1)


def test_host_command_waits_for_a_locked_atomic():
    async def body(b):
        a = await b.create(MapType.ARRAY, 4, 8, 1)
        await b.access(machine.map_value_address(a, 0), 8, lock=True)   # read half
        # A host update written now must not land between the read and the write.
        await b.write_window("key", u32(0))
        await b.write_window("value", u64(1000))
        d, ctx = b.dut, b.ctx
        ctx.set(d.cmd, regs.MapOp.UPDATE | a << regs.MAP_CMD.MAP_ID)
        ctx.set(d.cmd_wr, 1)
        await b.tick()
        ctx.set(d.cmd_wr, 0)
        await b.tick(20)
        assert ctx.get(d.busy) == 1                      # held off by the lock
        await b.access(machine.map_value_address(a, 0), 8, write=True, wdata=7)
        while ctx.get(d.busy):
            await b.tick()
        return await b.host_lookup(a, u32(0), 8)
    assert simulate(body) == u64(1000)                  # the host's write came after


def test_redirect_map():
    async def body(b):
        d = await b.create(MapType.DEVMAP, 4, 4, 4)
        h = await b.create(MapType.HASH, 4, 4, 2)
        await b.host_update(d, u32(1), u32(3))
        out = []
        for handle, key, flags in ((d, 1, 0), (d, 2, 2), (d, 9, 1), (d, 1, 8), (h, 1, 0)):
            out.append((await b.helper(HelperId.REDIRECT_MAP, handle, key, flags))[0])
        return out
    assert simulate(body) == [machine.XdpAction.REDIRECT, machine.XdpAction.PASS,
                              machine.XdpAction.DROP, machine.XdpAction.ABORTED,
                              machine.XdpAction.ABORTED]


def test_bad_handles_and_pointers_fault_and_other_helpers_are_unknown():
    async def body(b):
        a = await b.create(MapType.HASH, 8, 8, 2)
        stack_end = b.put(4096 - 4, b"abcd")
        return [
            await b.helper(HelperId.MAP_LOOKUP_ELEM, 5, b.put(0, u64(1))),     # no map 5
            await b.helper(HelperId.MAP_LOOKUP_ELEM, a, stack_end),           # key past stack
            await b.helper(HelperId.MAP_UPDATE_ELEM, a, b.put(0, u64(1)), 0x1000_0000, 0),
            await b.helper(HelperId.KTIME_GET_NS),
            await b.host_update(7, u64(1), u64(1)),
        ]
    assert simulate(body) == [(0, 1, 0), (0, 1, 0), (0, 1, 0), (0, 0, 1), -errno.EBADF]


def test_cycle_counts():
    """The costs docs/maps.md quotes, from request to response, with this bench's memory
    (it answers a read the cycle after taking it)."""
    def lpm_key(plen, *octets):
        return struct.pack("<I", plen) + bytes(octets)

    async def body(b):
        costs = {}
        a = await b.create(MapType.ARRAY, 4, 8, 4)
        h4 = await b.create(MapType.HASH, 4, 8, 4)
        h16 = await b.create(MapType.HASH, 16, 8, 8)
        lpm = await b.create(MapType.LPM_TRIE, 8, 4, 4)
        lru = await b.create(MapType.LRU_HASH, 4, 8, 4)
        dev = await b.create(MapType.DEVMAP, 4, 4, 2)
        assert [a, h4, h16, lpm, lru, dev] == list(range(6))

        async def call(name, *args):
            await b.helper(*args)
            costs[name] = b.last_helper_cycles

        lookup, update = HelperId.MAP_LOOKUP_ELEM, HelperId.MAP_UPDATE_ELEM
        await call("array lookup", lookup, a, b.put(0, u32(1)))
        await call("array update", update, a, b.put(0, u32(1)), b.put(32, u64(5)), 0)
        await call("hash insert", update, h4, b.put(0, b"abcd"), b.put(32, u64(5)), 0)
        await call("hash update", update, h4, b.put(0, b"abcd"), b.put(32, u64(6)), 0)
        await call("hash lookup hit", lookup, h4, b.put(0, b"abcd"))
        await call("hash lookup miss", lookup, h4, b.put(0, b"zzzz"))
        await call("hash delete", HelperId.MAP_DELETE_ELEM, h4, b.put(0, b"abcd"))
        await b.host_update(h16, bytes(range(16)), u64(1))
        await call("hash lookup 16B key", lookup, h16, b.put(0, bytes(range(16))))
        await b.host_update(lpm, lpm_key(8, 10, 0, 0, 0), u32(1))
        await b.host_update(lpm, lpm_key(32, 10, 0, 0, 0), u32(2))
        await call("lpm /32 hit", lookup, lpm, b.put(0, lpm_key(32, 10, 0, 0, 0)))
        await call("lpm /8 hit", lookup, lpm, b.put(0, lpm_key(32, 10, 1, 0, 0)))
        for k in range(4):
            await b.host_update(lru, u32(k), u64(k))
        await call("lru evicting insert", update, lru, b.put(0, u32(9)), b.put(32, u64(5)), 0)
        await b.host_update(dev, u32(0), u32(2))
        await call("redirect_map", HelperId.REDIRECT_MAP, dev, 0, 0)
        start = b.cycles
        await b.access(machine.map_value_address(a, 8), 8)
        costs["core load"] = b.cycles - start
        return costs

    # An insert (and an LRU eviction's insert) waits 2 cycles more than a lookup miss for the
    # slot bitmap's search (pick the word, then the bit: hw/maps/slots.py).
    assert simulate(body, cam_slots=32) == {
        "array lookup": 9, "array update": 13, "hash insert": 17 + 2, "hash update": 15,
        "hash lookup hit": 11, "hash lookup miss": 11, "hash delete": 11,
        "hash lookup 16B key": 14, "lpm /32 hit": 11, "lpm /8 hit": 59,
        "lru evicting insert": 23 + 2, "redirect_map": 6, "core load": 3}


def test_a_faulting_locked_read_locks_nothing():
    """An atomic whose read faults (the core traps) must not leave the unit locked."""
    async def body(b):
        a = await b.create(MapType.ARRAY, 4, 8, 1)
        beyond = await b.access(machine.map_value_address(a, 8), 8, lock=True)
        return beyond, await b.host_update(a, u32(0), u64(5)), await b.host_lookup(a, u32(0), 8)
    assert simulate(body) == ((0, 1), 0, u64(5))


def test_update_from_an_overlapping_value_below_reads_it_whole_first():
    """memmove semantics, as the model (it reads the whole value, then writes)."""
    async def body(b):
        a = await b.create(MapType.ARRAY, 4, 16, 2)
        await b.host_update(a, u32(0), bytes(range(16)))
        await b.host_update(a, u32(1), bytes(range(16, 32)))
        source = machine.map_value_address(a, 8)          # slot 0's upper half + slot 1's lower
        r0, fault, _ = await b.helper(HelperId.MAP_UPDATE_ELEM, a, b.put(0, u32(1)), source, 0)
        return r0, fault, await b.host_lookup(a, u32(1), 16)
    assert simulate(body) == (0, 0, bytes(range(8, 24)))


def test_lpm_prefix_lengths_beyond_255_keep_their_own_tags():
    def key(plen):
        return struct.pack("<I", plen) + bytes(32)

    async def body(b):
        m = await b.create(MapType.LPM_TRIE, 36, 4, 4)
        return [await b.host_update(m, key(0), u32(1)),
                await b.host_update(m, key(256), u32(2), BPF_NOEXIST),
                len(await b.host_keys(m, 36))]
    assert simulate(body, key_bytes=32) == [0, 0, 2]


# --- several engines: per-CPU copies ------------------------------------------------------------

def run_sync(coroutine):
    """The result of a coroutine that never waits (the model transport's bus accesses)."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the model transport waited on something")


class ModelSide:
    """The golden model behind MapBench's interface, so one scenario runs on both: the map
    mailbox of a ModelTransport with the unit's limits (driven register by register, as the
    bench drives the unit), the model's map helpers on a given engine (reading their arguments
    from the bench's stack), and loads and stores in the model's map values."""

    def __init__(self, engines, bench, cam_slots=CAM_SLOTS, value_bytes=VALUE_BYTES):
        features = dataclasses.replace(MODEL_FEATURES, engines=engines, map_slots=cam_slots,
                                       map_bytes=value_bytes)
        self.t = ModelTransport(features=features)
        self.bench = bench
        self.offsets = regs.offsets(0)

    # --- the mailbox ---
    def _write(self, offset, value):
        run_sync(self.t.write(offset, value))

    def _window(self, window, data):
        data = bytes(data) + bytes(-len(data) % 4)
        for at in range(0, len(data), 4):
            self._write(window.offset + at, int.from_bytes(data[at:at + 4], "little"))

    async def command(self, op, map_id=0, flags=0):
        self._write(self.offsets["MAP_CMD"], op << regs.MAP_CMD.OP
                    | map_id << regs.MAP_CMD.MAP_ID | flags << regs.MAP_CMD.FLAGS)
        result = run_sync(self.t.read(self.offsets["MAP_RESULT"]))
        return result - (1 << 32) if result >> 31 else result

    async def create(self, map_type, key_size, value_size, entries):
        for name, value in (("MAP_CREATE_TYPE", map_type), ("MAP_CREATE_KEY_SIZE", key_size),
                            ("MAP_CREATE_VALUE_SIZE", value_size),
                            ("MAP_CREATE_MAX_ENTRIES", entries)):
            self._write(self.offsets[name], value)
        return await self.command(regs.MapOp.CREATE)

    async def host_update(self, map_id, key, value, flags=0):
        self._window(regs.MAP_KEY_WINDOW, key)
        self._window(regs.MAP_VALUE_WINDOW, value)
        return await self.command(regs.MapOp.UPDATE, map_id, flags)

    async def host_lookup(self, map_id, key, nbytes):
        self._window(regs.MAP_KEY_WINDOW, key)
        result = await self.command(regs.MapOp.LOOKUP, map_id)
        return result if result else bytes(self.t.windows["MAP_VALUE"][:nbytes])

    async def host_delete(self, map_id, key):
        self._window(regs.MAP_KEY_WINDOW, key)
        return await self.command(regs.MapOp.DELETE, map_id)

    # --- the program's side ---
    async def helper(self, helper_id, *args, engine=0):
        """(r0, fault, unknown) as the bench gives them; r0 from the model's helper."""
        args = list(args) + [0] * (5 - len(args))
        return self.t.maps.helpers(engine=engine)[helper_id](self.bench, *args), 0, 0

    def _value_bytes(self, addr, size):
        map_id = addr >> machine.MAP_ID_SHIFT & 0xFF
        at = addr & machine.MAP_OFFSET_MASK
        values = self.t.maps[map_id].values
        assert addr >> machine.REGION_SHIFT == machine.Region.MAP_VALUE
        assert at + size <= len(values), f"{addr:#x}: beyond map {map_id}'s values"
        return values, at

    async def access(self, addr, size, write=False, wdata=0):
        values, at = self._value_bytes(addr, size)
        if write:
            values[at:at + size] = (wdata & (1 << 8 * size) - 1).to_bytes(size, "little")
            return 0, 0
        return int.from_bytes(values[at:at + size], "little"), 0

    async def read_values(self, map_id, nbytes):
        return bytes(self.t.maps[map_id].values[:nbytes])

    def put(self, offset, data):
        return self.bench.put(offset, data)


def on_both(scenario, engines, **params):
    """``await scenario(side)`` on the unit (MapUnit(engines=...) in the simulator) and then
    on the golden model with the same limits: (the unit's result, the model's)."""
    def body_for(b):
        async def both():
            unit = await scenario(b)
            model = ModelSide(engines, b, cam_slots=params.get("cam_slots", CAM_SLOTS),
                              value_bytes=params.get("value_bytes", VALUE_BYTES))
            return unit, await scenario(model)
        return both()
    return simulate(body_for, engines=engines, **params)


PERCPU_CASES = [(engines, map_type, ks, vs, entries)
                for engines in (2, 4)
                for map_type, ks, vs, entries in ((MapType.PERCPU_ARRAY, 4, 12, 3),
                                                  (MapType.PERCPU_HASH, 8, 8, 3))]


def percpu_ops(rng, engines, map_type, ks, vs, entries, count, engine_range=None):
    """Random host commands, helper calls from random engines (0 .. ``engine_range`` - 1)
    and stores through returned pointers, over a small key universe."""
    if map_type == MapType.PERCPU_ARRAY:
        universe = [u32(i) for i in range(entries + 1)]
    else:
        universe = [bytes(rng.randrange(3) for _ in range(ks)) for _ in range(entries + 2)]
    return [(rng.choice(["h_update", "h_update", "h_lookup", "h_delete", "update", "lookup",
                         "delete", "store", "plain"]),
             rng.choice(universe), rng.randrange(engine_range or engines),
             rng.choice([BPF_ANY, BPF_ANY, BPF_ANY, BPF_NOEXIST, BPF_EXIST]),
             bytes(rng.randrange(1, 256) for _ in range(engines * vs)), rng.randrange(vs))
            for _ in range(count)]


def percpu_scenario(engines, map_type, ks, vs, entries, ops):
    """The ops on a per-CPU map (id 1, after a plain hash map, id 0, which "plain" ops use):
    every answer, then both maps' value bytes (read by loads)."""
    async def scenario(side):
        out = []
        plain = await side.create(MapType.HASH, 4, 8, 2)
        m = await side.create(map_type, ks, vs, entries)
        assert (plain, m) == (0, 1)
        lookup, update = HelperId.MAP_LOOKUP_ELEM, HelperId.MAP_UPDATE_ELEM
        for kind, key, engine, flags, value, at in ops:
            k, v = side.put(0, key), side.put(64, value[:vs])
            if kind == "h_update":
                out.append(await side.helper(update, m, k, v, flags, engine=engine))
            elif kind == "h_lookup":
                out.append(await side.helper(lookup, m, k, engine=engine))
            elif kind == "h_delete":
                out.append(await side.helper(HelperId.MAP_DELETE_ELEM, m, k, engine=engine))
            elif kind == "update":
                out.append(await side.host_update(m, key, value, flags))
            elif kind == "lookup":
                out.append(await side.host_lookup(m, key, engines * vs))
            elif kind == "delete":
                out.append(await side.host_delete(m, key))
            elif kind == "store":
                # A store through the pointer this engine's lookup returns: its copy changes.
                ptr = (await side.helper(lookup, m, k, engine=engine))[0]
                out.append(ptr)
                if ptr:
                    await side.access(ptr + at, 1, write=True, wdata=value[0])
            else:
                # A plain map is the same for every engine.
                pk, pv = side.put(0, key[:4]), side.put(64, value[:8])
                out.append([await side.helper(update, plain, pk, pv, 0, engine=engine),
                            await side.helper(lookup, plain, pk, engine=engine)])
        out.append(await side.read_values(plain, 2 * 8))
        out.append(await side.read_values(m, engines * entries * vs))
        return out
    return scenario


def assert_same(ops, unit, model):
    names = [op[0] for op in ops] + ["values of map 0", "values of map 1"]
    assert len(unit) == len(model) == len(names)
    for i, (name, have, want) in enumerate(zip(names, unit, model)):
        assert have == want, f"op {i} {name}: {ops[i] if i < len(ops) else ''}"


@pytest.mark.parametrize("case", PERCPU_CASES,
                         ids=[f"e{e}-{t.name}-k{k}-v{v}-n{n}" for e, t, k, v, n in PERCPU_CASES])
def test_percpu_maps_on_several_engines_match_the_model(case):
    ops = percpu_ops(random.Random(f"percpu {case}"), *case, count=60)
    unit, model = on_both(percpu_scenario(*case, ops), engines=case[0])
    assert_same(ops, unit, model)


def test_an_engine_beyond_the_engine_count_wraps_as_the_model():
    """Three engines (not a power of two), engine numbers 0..7: engine e uses copy e % 3."""
    case = (3, MapType.PERCPU_HASH, 4, 4, 3)
    ops = percpu_ops(random.Random("wrap"), *case, count=40, engine_range=8)
    unit, model = on_both(percpu_scenario(*case, ops), engines=3)
    assert_same(ops, unit, model)


def test_a_new_percpu_entry_is_zero_on_the_other_engines():
    four = u64(1) + u64(2) + u64(3) + u64(4)

    async def scenario(side):
        h = await side.create(MapType.PERCPU_HASH, 4, 8, 2)
        update, delete = HelperId.MAP_UPDATE_ELEM, HelperId.MAP_DELETE_ELEM
        return [
            await side.host_update(h, b"aaaa", four),
            await side.host_lookup(h, b"aaaa", 32),
            (await side.helper(delete, h, side.put(0, b"aaaa")))[0],
            # b"bbbb" takes the slot a left, whose copies still hold 1, 2, 3, 4.
            (await side.helper(update, h, side.put(0, b"bbbb"), side.put(8, u64(0x77)),
                               BPF_NOEXIST, engine=2))[0],
            await side.host_lookup(h, b"bbbb", 32),
            # An existing entry: only the caller's copy changes.
            (await side.helper(update, h, side.put(0, b"bbbb"), side.put(8, u64(5)),
                               BPF_EXIST, engine=1))[0],
            await side.host_lookup(h, b"bbbb", 32),
            (await side.helper(HelperId.MAP_LOOKUP_ELEM, h, side.put(0, b"bbbb"), engine=3))[0],
        ]
    unit, model = on_both(scenario, engines=4)
    assert unit == model == [
        0, four, 0, 0, u64(0) + u64(0) + u64(0x77) + u64(0),
        0, u64(0) + u64(5) + u64(0x77) + u64(0),
        machine.map_value_address(0, 3 * 2 * 8)]        # engine 3's copy of slot 0


def test_a_host_insert_writes_every_copy_and_core_loads_see_each():
    async def scenario(side):
        a = await side.create(MapType.PERCPU_ARRAY, 4, 4, 2)
        h = await side.create(MapType.PERCPU_HASH, 4, 4, 2)
        values = bytes(range(1, 9))
        results = [await side.host_update(a, u32(1), values),
                   await side.host_update(h, b"kkkk", values)]
        for map_id, key in ((a, u32(1)), (h, b"kkkk")):
            for engine in range(2):
                ptr = (await side.helper(HelperId.MAP_LOOKUP_ELEM, map_id, side.put(0, key),
                                         engine=engine))[0]
                results.append((ptr, (await side.access(ptr, 4))[0]))
        return results
    unit, model = on_both(scenario, engines=2)
    assert unit == model == [
        0, 0,
        (machine.map_value_address(0, 4), 0x04030201),        # array slot 1, copy 0
        (machine.map_value_address(0, 8 + 4), 0x08070605),    # copy 1 starts 2 x 4 bytes in
        (machine.map_value_address(1, 0), 0x04030201),        # hash slot 0
        (machine.map_value_address(1, 8), 0x08070605)]


def test_percpu_create_refusals_count_every_copy():
    """engines * value_size must fit the 1 KiB MAP_VALUE window, and the memory and the map's
    1 MiB of address space are counted over all copies; the model transport agrees."""
    requests = [
        (MapType.PERCPU_ARRAY, 4, 256, 1),       # 4 x 256 = the whole window: id 0
        (MapType.PERCPU_ARRAY, 4, 257, 1),       # one byte more per copy: -E2BIG
        (MapType.PERCPU_HASH, 4, 257, 1),        # likewise
        (MapType.ARRAY, 4, 257, 1),              # one copy fits: id 1
        (MapType.PERCPU_ARRAY, 4, 256, 1025),    # 1025 KiB of values: past the map's 1 MiB
        (MapType.ARRAY, 4, 256, 1025),           # 256 KiB: only the memory is short
        (MapType.PERCPU_ARRAY, 4, 8, 100),       # 3200 bytes > the 2808 left: -ENOMEM
        (MapType.ARRAY, 4, 8, 100),              # 800 bytes fit: id 2
        (MapType.PERCPU_HASH, 4, 8, CAM_SLOTS),  # CAM slots are not per-CPU: id 3
    ]

    async def scenario(side):
        return [await side.create(*r) for r in requests]
    unit, model = on_both(scenario, engines=4, value_bytes=4096)
    assert unit == model == [0, -errno.E2BIG, -errno.E2BIG, 1, -errno.E2BIG, -errno.ENOMEM,
                             -errno.ENOMEM, 2, 3]


@pytest.mark.parametrize("engines", [0, 9, -1, 2.0, True, "2"])
def test_engine_count_outside_1_to_8_is_refused(engines):
    with pytest.raises(ValueError, match=r"engines must be an int 1\.\.8"):
        MapUnit(engines=engines)


def test_engine_count_is_kept():
    assert MapUnit(engines=8).engines == 8
    assert MapUnit().engines == 1


@pytest.mark.parametrize("engines", [2, 4])
def test_percpu_cycle_counts(engines):
    """docs/maps.md's per-CPU costs: a program's helper calls cost what they cost on a plain
    map, except a new per-CPU hash entry (4 cycles more per other engine's copy zeroed, plus
    2); a host LOOKUP / UPDATE moves every copy (4 / 5 cycles per copy)."""
    async def body(b):
        costs = {}
        a = await b.create(MapType.PERCPU_ARRAY, 4, 8, 4)
        h = await b.create(MapType.PERCPU_HASH, 4, 8, 4)

        async def call(name, *args):
            await b.helper(*args, engine=engines - 1)
            costs[name] = b.last_helper_cycles

        async def command(name, op, map_id, window, data):
            await b.write_window(window, data)
            start = b.cycles
            assert await b.command(op, map_id) == 0
            costs[name] = b.cycles - start

        lookup, update = HelperId.MAP_LOOKUP_ELEM, HelperId.MAP_UPDATE_ELEM
        await call("array lookup", lookup, a, b.put(0, u32(1)))
        await call("array update", update, a, b.put(0, u32(1)), b.put(32, u64(5)), 0)
        await call("hash insert", update, h, b.put(0, b"abcd"), b.put(32, u64(5)), 0)
        await call("hash update", update, h, b.put(0, b"abcd"), b.put(32, u64(6)), 0)
        await call("hash lookup", lookup, h, b.put(0, b"abcd"))
        await command("host lookup", regs.MapOp.LOOKUP, h, "key", b"abcd")
        await command("host update", regs.MapOp.UPDATE, h, "value", bytes(8 * engines))
        return costs

    assert simulate(body, engines=engines, cam_slots=32) == {
        "array lookup": 9, "array update": 13, "hash insert": 19 + 4 * (engines - 1) + 2,
        "hash update": 15, "hash lookup": 11,
        "host lookup": 10 + 4 * engines, "host update": 10 + 5 * engines}


def test_create_checks_the_type_rules_before_the_sizes():
    """As the kernel's map_alloc_check: an array with a key that is not 4 bytes is -EINVAL even
    when its values are also too big; an LPM key past 4 + 256 bytes is -EINVAL, not the
    device's -E2BIG for keys wider than its CAM.  The model transport agrees."""
    requests = [
        (MapType.ARRAY, 8, 256, 8192),           # 2 MiB of values and a bad key
        (MapType.LPM_TRIE, 261, 8, 4),           # past LPM_DATA_SIZE_MAX
        (MapType.LPM_TRIE, 260, 8, 4),           # legal for the kernel, wider than the CAM
    ]

    async def scenario(side):
        return [await side.create(*r) for r in requests]
    unit, model = on_both(scenario, engines=1)
    assert unit == model == [-errno.EINVAL, -errno.EINVAL, -errno.E2BIG]


@pytest.mark.slow
def test_lpm_tries_of_1024_ipv4_and_256_ipv6_prefixes_fit_1280_table_slots():
    """The LPM capacity docs/maps.md claims: two tries filling a 1,280-slot table (the ways
    take the block RAMs of a 512-slot one); every prefix inserted, then longest-prefix
    lookups of random addresses answer as the golden model."""
    rng = random.Random(1280)
    v4 = spec(MapType.LPM_TRIE, 8, 4, 1024, "v4")
    v6 = spec(MapType.LPM_TRIE, 20, 4, 256, "v6")
    models = [ModelMap(v4, 0), ModelMap(v6, 1)]
    entries = []
    for map_id, (m, count, data) in enumerate(((models[0], 1024, 4), (models[1], 256, 16))):
        keys = {}                       # distinct prefixes: (length, masked data) -> key
        while len(keys) < count:
            plen = rng.randrange(8 * data + 1)
            address = rng.getrandbits(8 * data)
            prefix = address >> (8 * data - plen) if plen else 0
            keys[plen, prefix] = struct.pack("<I", plen) + address.to_bytes(data, "big")
        for key in keys.values():
            value = u32(rng.getrandbits(32))
            assert m.update(key, value, BPF_ANY, None) == 0
            entries.append((map_id, key, value))
    # Addresses under stored prefixes (hits of various lengths) and random ones.
    probes = [(map_id, struct.pack("<I", 8 * len(key) - 32) + key[4:])
              for map_id, key, _ in rng.sample(entries, 48)]
    probes += [(map_id, struct.pack("<I", 8 * data)
                + rng.getrandbits(8 * data).to_bytes(data, "big"))
               for map_id, data in [(0, 4)] * 8 + [(1, 16)] * 8]

    async def body(b):
        assert await b.create(MapType.LPM_TRIE, 8, 4, 1024) == 0
        assert await b.create(MapType.LPM_TRIE, 20, 4, 256) == 1
        for map_id, key, value in entries:
            assert await b.host_update(map_id, key, value) == 0
        return [await b.host_lookup(map_id, key, 4) for map_id, key in probes]

    want = []
    for map_id, key in probes:
        slot = models[map_id].find(key)
        want.append(models[map_id].value(slot) if slot is not None
                    else -errno.ENOENT & 0xFFFFFFFF)
    got = simulate(body, cam_slots=1280, value_bytes=16384)
    assert [g if isinstance(g, bytes) else g & 0xFFFFFFFF for g in got] == want
