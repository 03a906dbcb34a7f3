"""HashTable (hw/maps/hash_table.py) against a dictionary: random inserts, rewrites, frees,
probes and range searches, with the stash forced into use."""

import random

import pytest
from amaranth.sim import Simulator

from hw.maps.hash_table import HashTable, Search, STASH, buckets_for, hash_masks, way_index
from tests.hw.hash_fills import measure

SLOTS = 16
KEY_BITS = 12


async def wait_ready(ctx, dut):
    while not ctx.get(dut.ready):
        await ctx.tick()


def run(body, slots=SLOTS, **params):
    dut = HashTable(slots, KEY_BITS, **params)
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def bench(ctx):
        await body(ctx, dut)

    sim.add_testbench(bench)
    sim.run()


async def probe(ctx, dut, owner, key, search=Search.NONE, lo=0, hi=SLOTS, after=0,
                from_start=0):
    await wait_ready(ctx, dut)
    for name, value in (("q_owner", owner), ("q_tag", 0), ("q_key", key), ("lo", lo),
                        ("hi", hi), ("after", after), ("from_start", from_start),
                        ("search", search), ("probe", 1)):
        ctx.set(getattr(dut, name), value)
    await ctx.tick()
    ctx.set(dut.probe, 0)
    hit = (ctx.get(dut.hit), ctx.get(dut.hit_slot))
    await wait_ready(ctx, dut)
    return hit, (ctx.get(dut.found), ctx.get(dut.found_slot))


async def write(ctx, dut, slot, valid, owner=0, key=0):
    await wait_ready(ctx, dut)
    for name, value in (("wr_slot", slot), ("wr_valid", valid), ("wr_owner", owner),
                        ("wr_tag", 0), ("wr_key", key), ("wr_en", 1)):
        ctx.set(getattr(dut, name), value)
    await ctx.tick()
    ctx.set(dut.wr_en, 0)


def reference_search(used, want_used, start, hi):
    for s in range(start, hi):
        if (s in used) == want_used:
            return 1, s
    return 0, None


@pytest.mark.parametrize("slots, max_kicks", [(16, 32), (16, 0), (96, 32)],
                         ids=["cuckoo", "stash", "96-slots"])
def test_random_operations_match_a_dictionary(slots, max_kicks):
    """96 slots: not a power of two (three bitmap words, 64 buckets per way)."""
    rng = random.Random(max_kicks + slots)

    async def body(ctx, dut):
        table = {}                 # slot -> (owner, key)
        for step in range(160):
            op = rng.choice(["insert", "insert", "rewrite", "free", "probe", "free_search",
                             "used_search", "fetch", "clear" if step % 60 == 59 else "probe"])
            owner, key = rng.randrange(3), rng.randrange(24)
            present = [s for s, p in table.items() if p == (owner, key)]
            free = [s for s in range(slots) if s not in table]
            if op in ("insert", "rewrite") and not present and ctx.get(dut.can_insert):
                candidates = free if op == "insert" else list(table)
                if candidates:
                    slot = rng.choice(candidates)
                    await write(ctx, dut, slot, 1, owner, key)
                    table[slot] = (owner, key)
            elif op == "free" and table:
                slot = rng.choice(list(table))
                await write(ctx, dut, slot, 0)
                del table[slot]
            elif op == "fetch" and table:
                slot = rng.choice(list(table))
                await wait_ready(ctx, dut)
                ctx.set(dut.fetch_slot, slot)
                ctx.set(dut.fetch, 1)
                await ctx.tick()
                ctx.set(dut.fetch, 0)
                await wait_ready(ctx, dut)
                assert (ctx.get(dut.fetched_tag), ctx.get(dut.fetched_key)) == (0, table[slot][1])
            elif op == "clear":
                await wait_ready(ctx, dut)
                ctx.set(dut.clear_all, 1)
                await ctx.tick()
                ctx.set(dut.clear_all, 0)
                table.clear()
            else:
                lo = rng.randrange(slots)
                hi = rng.randrange(lo, slots + 1)
                after = rng.randrange(slots)
                from_start = rng.randrange(2)
                search = {"free_search": Search.FREE, "used_search": Search.USED}.get(
                    op, Search.NONE)
                hit, found = await probe(ctx, dut, owner, key, search, lo, hi, after,
                                         from_start)
                assert hit == ((1, present[0]) if present else (0, hit[1])), (step, op)
                if search == Search.FREE:
                    want = reference_search(table, False, lo, hi)
                elif search == Search.USED:
                    start = lo if from_start else after + 1
                    want = reference_search(table, True, start, hi)
                if search != Search.NONE:
                    assert found == (want if want[0] else (0, found[1])), (step, op, lo, hi)
        # Every stored pattern is still found at the end.
        for slot, (owner, key) in table.items():
            hit, _ = await probe(ctx, dut, owner, key)
            assert hit == (1, slot)

    run(body, slots, max_kicks=max_kicks)


def test_a_full_stash_refuses_further_inserts():
    """With no evictions, a pattern whose four buckets are taken goes to the stash; when the
    stash is full ``can_insert`` falls, every pattern stored is still found, and freeing a
    stashed slot makes room again."""
    masks = [hash_masks(w, 4 + 8 + KEY_BITS, (buckets_for(SLOTS) - 1).bit_length())
             for w in range(4)]

    def buckets(key):                  # the software side of the hash; pattern = owner, tag, key
        return [way_index(mk, key << 12) for mk in masks]

    # Keys the table places without evictions (in the first way whose bucket is empty), chosen
    # so that STASH of them find all four buckets taken and can only go to the stash: for each
    # such target, blockers that land in its empty buckets first.
    taken = [set() for _ in range(4)]
    keys, stashed = [], []

    def place(key):
        free_ways = [w for w, b in enumerate(buckets(key)) if b not in taken[w]]
        if free_ways:
            taken[free_ways[0]].add(buckets(key)[free_ways[0]])
        else:
            stashed.append(key)
        keys.append(key)

    universe = range(1 << KEY_BITS)
    while len(stashed) < STASH:
        def missing(key):
            return [w for w, b in enumerate(buckets(key)) if b not in taken[w]]
        target = min((k for k in universe if k not in keys), key=lambda k: len(missing(k)))
        for w in missing(target):
            blocker = next(k for k in universe if k not in keys and k != target
                           and buckets(k)[w] == buckets(target)[w] and missing(k)[0] == w)
            place(blocker)
        place(target)
    assert len(keys) <= SLOTS and len(stashed) == STASH

    async def body(ctx, dut):
        for slot, key in enumerate(keys):
            assert ctx.get(dut.can_insert) == (len(set(keys[:slot]) & set(stashed)) < STASH)
            await write(ctx, dut, slot, 1, 0, key)
            await wait_ready(ctx, dut)
        assert not ctx.get(dut.can_insert)
        for slot, key in enumerate(keys):
            hit, _ = await probe(ctx, dut, 0, key)
            assert hit == (1, slot)
        freed = keys.index(stashed[1])
        await write(ctx, dut, freed, 0)
        await wait_ready(ctx, dut)
        assert ctx.get(dut.can_insert)
        hit, _ = await probe(ctx, dut, 0, keys[freed])
        assert hit[0] == 0

    run(body, max_kicks=0)


def test_fills_to_every_slot_never_reach_the_stash():
    """A few fills of 512 slots (half the ways' buckets) with churn: no walk ends in the
    stash (the 10^6-key figure of docs/maps.md is the slow test below)."""
    result = measure(512, 8 * 16, 512 * 2 * 8)
    assert result["stashed_inserts"] == 0 and result["refused_inserts"] == 0


@pytest.mark.slow
def test_a_million_random_keys_at_the_highest_load_are_never_refused():
    """5,120 slots: the ways hold 8,192 entries, 62.5% full (the most ``buckets_for`` allows)."""
    result = measure(5120, 8 * 24, 1_000_000)
    assert result["refused_inserts"] == 0
    assert result["most_stash_entries_at_once"] < STASH
