"""The exact-match table behind the hash, LRU-hash and LPM-trie maps: 4-way cuckoo hashing in
block RAM, with a small stash in flip-flops.

A *pattern* is the owner map id, a tag (0 for hash keys; prefix length + 1 for an LPM entry) and
the key; the table maps a pattern to the *slot* the map unit gave it (the map's value index). An
LPM entry keeps its key as given, host bits included (get-next-key returns it so); it is
compared and hashed with the bits beyond its prefix cleared (the comparison masks every entry
with the query's tag, which a matching entry shares), and a query comes with them cleared. The
table is the only copy of the keys: ``fetch`` reads a slot's. Each of the ``WAYS`` ways is a RAM
of ``buckets`` entries (valid, slot, pattern), and way ``w`` keeps a pattern in bucket
``h_w(pattern)``, an H3 hash (each index bit the parity of the pattern ANDed with a fixed random
mask, ``hash_masks``). A probe reads the pattern's bucket in every way at once and compares the
four entries and the ``STASH`` stash entries with it in the next cycle: one probe per cycle, the
answer the cycle after, whatever the occupancy.

An insert puts the pattern in the first of its buckets that is empty; when all four are taken it
evicts one (a random way, not the one it just came from), takes its place and re-inserts the
evicted entry the same way (a cuckoo random walk), 2 cycles per step; after ``MAX_KICKS`` steps
the entry in hand goes to the stash. The ways hold at least ``8/5 * slots`` entries for at most
``slots`` patterns (``buckets_for``): at this load (62.5% at most) a walk of more than a few
steps is rare and none reached the stash in 10^6 random-key inserts (``docs/maps.md``,
``tests/hw/hash_fills.py``), so the stash never fills in practice; ``can_insert`` says an insert
is sure to find room (a free stash entry), and the map unit refuses an insert without it, before
anything is changed.

A location RAM records where each slot's pattern lies (way and bucket, or stash entry), so
rewriting or freeing a slot needs no search. Which slots are used is kept by a
:class:`hw.maps.slots.SlotBitmap`, which also answers the map unit's range searches (the lowest
free slot of a map, the next used slot for iteration) after a probe that asks for one.

A stored pattern is unique (the map unit never inserts a pattern that is present), so at most
one entry matches.

Ref: Pagh and Rodler, "Cuckoo hashing" (2004); Kirsch, Mitzenmacher and Wieder, "More robust
hashing: cuckoo hashing with a stash" (2009); FlowBlaze (NSDI 2019), its 4-way cuckoo flow table
with a stash; Xilinx PG189 (hash-based BCAM in block RAM).
"""

import random

from amaranth.hdl import Module, Signal, Array, Cat, Const, Mux
from amaranth.lib import enum, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .slots import WORD, SlotBitmap, lowest_set

__all__ = ["HashTable", "Search", "WAYS", "STASH", "MAX_KICKS", "buckets_for", "hash_masks",
           "way_index"]

WAYS = 4
STASH = 4
MAX_KICKS = 32
LFSR_TAPS = 0xB400          # x^16 + x^14 + x^13 + x^11 + 1, maximal length


def buckets_for(slots: int) -> int:
    """Entries per way: a power of two, the ways together at least 8/5 of the slots (at most
    62.5% full)."""
    need = -(-8 * slots // (5 * WAYS))
    return max(2, 1 << (need - 1).bit_length())


def hash_masks(way: int, pattern_bits: int, index_bits: int) -> list:
    """Way ``way``'s H3 hash: bit ``j`` of the bucket is the parity of ``pattern & masks[j]``."""
    rng = random.Random(f"xdpnic hash way {way}")
    return [rng.getrandbits(pattern_bits) for _ in range(index_bits)]


def way_index(masks: list, pattern: int) -> int:
    """The bucket of ``pattern`` for a way's ``masks`` (the software side of the hash)."""
    return sum((bin(pattern & mask).count("1") & 1) << j for j, mask in enumerate(masks))


class Search(enum.Enum, shape=2):
    """What a probe also asks of the slot bitmap."""
    NONE = 0
    FREE = 1        # the lowest free slot in [lo, hi)
    USED = 2        # the lowest used slot after ``after`` (from ``lo`` with ``from_start``)


class _State(enum.Enum, shape=3):
    IDLE = 0
    REPLACE = 1     # the slot's location is read: free its old entry
    READ = 2        # read the buckets of the entry in hand
    PLACE = 3       # they are read: place it, or evict and carry on
    CLEAR = 4       # empty every bucket and location, one row per cycle
    LOCATE = 5      # fetch: the slot's location is read, read its bucket
    FETCH = 6       # fetch: the bucket is read, keep the pattern


class HashTable(wiring.Component):
    """``slots`` slots of ``key_bits``-bit keys (see the module docstring).

    Members
    -------
    probe : In(1)
        Look up ``q_owner``/``q_tag``/``q_key`` (held from the probe to the next cycle) and
        start the ``search`` over ``[lo, hi)`` (``after``, ``from_start`` for ``USED``);
        only while ``ready``.
    hit, hit_slot : Out
        The pattern's slot; the cycle after a probe.
    found, found_slot : Out
        The search's answer, once ``ready`` is high again after the probe.
    wr_en, wr_slot, wr_valid, wr_owner, wr_tag, wr_key : In
        Give ``wr_slot`` a pattern (``wr_valid``; its old one, if any, is removed) or free it;
        only while ``ready`` (and, for a new pattern, ``can_insert``).  An LPM key as given.
    fetch, fetch_slot : In
        Read the pattern of a used slot; only while ``ready``.
    fetched_tag, fetched_key : Out
        Its tag and key (as written), once ``ready`` is high again.
    clear_all : In(1)
        Empty the table (``slots`` cycles); only while ``ready``.
    max_kicks : int
        Evictions before the entry in hand goes to the stash (tests make it 0 to fill the
        stash).
    ready : Out(1)
    can_insert : Out(1)
        A stash entry is free, so an insert cannot fail.
    """

    def __init__(self, slots: int, key_bits: int, owner_bits: int = 4, tag_bits: int = 8,
                 max_kicks: int = MAX_KICKS):
        if not (isinstance(slots, int) and slots >= 2
                and (slots % WORD == 0 or (slots < WORD and not slots & (slots - 1)))):
            raise ValueError(f"hash table slots must be a multiple of {WORD} or a power of two "
                             f">= 2 below it, not {slots!r}")
        self.slots = slots
        self.max_kicks = max_kicks
        self.key_bits = key_bits
        self.owner_bits = owner_bits
        self.tag_bits = tag_bits
        self.pattern_bits = owner_bits + tag_bits + key_bits
        self.buckets = buckets_for(slots)
        sbits = (slots - 1).bit_length()
        super().__init__({
            "probe": In(1), "search": In(Search), "q_owner": In(owner_bits),
            "q_tag": In(tag_bits), "q_key": In(key_bits), "lo": In(sbits + 1),
            "hi": In(sbits + 1), "after": In(sbits), "from_start": In(1),
            "hit": Out(1), "hit_slot": Out(sbits), "found": Out(1), "found_slot": Out(sbits),
            "wr_en": In(1), "wr_slot": In(sbits), "wr_valid": In(1), "wr_owner": In(owner_bits),
            "wr_tag": In(tag_bits), "wr_key": In(key_bits), "clear_all": In(1),
            "fetch": In(1), "fetch_slot": In(sbits), "fetched_tag": Out(tag_bits),
            "fetched_key": Out(key_bits), "ready": Out(1), "can_insert": Out(1),
        })

    def prefix_mask(self, m: Module, tag, name: str):
        """The key bits an LPM entry of ``tag`` (prefix length + 1; 0: a hash key, all bits)
        compares: byte 0 most significant, as the trie compares them."""
        keep = Signal(self.key_bits, name=name)
        for j in range(self.key_bits):
            position = 8 * (j // 8) + 7 - j % 8      # the bit's place counted from the top
            m.d.comb += keep[j].eq((tag == 0) | (tag > position + 1))
        return keep

    def matched(self, m: Module, pattern, name: str):
        """``pattern`` as hashed: an LPM key without the bits beyond its prefix."""
        head = self.owner_bits + self.tag_bits
        keep = self.prefix_mask(m, pattern[self.owner_bits:head], f"{name}_mask")
        out = Signal(self.pattern_bits, name=name)
        m.d.comb += out.eq(Cat(pattern[:head], pattern[head:] & keep))
        return out

    def elaborate(self, platform):
        m = Module()
        pbits = self.pattern_bits
        sbits = len(self.wr_slot)
        bbits = (self.buckets - 1).bit_length()
        ibits = max(bbits, (STASH - 1).bit_length())     # a bucket or a stash entry
        query = Cat(self.q_owner, self.q_tag, self.q_key)
        new = Cat(self.wr_owner, self.wr_tag, self.wr_key)

        state = Signal(_State)
        m.submodules.used = used = SlotBitmap(self.slots)
        m.d.comb += self.ready.eq((state == _State.IDLE) & used.ready)

        # The entry in hand: the pattern being inserted, or the one it evicted.
        cur_pat = Signal(pbits)
        cur_slot = Signal(sbits)
        setting = Signal()
        kicks = Signal(range(self.max_kicks + 1))
        came_from = Signal(range(WAYS + 1))      # the way it was evicted from (WAYS: none)
        sweep = Signal(sbits + 1)
        lfsr = Signal(16, init=1)
        m.d.sync += lfsr.eq(Mux(lfsr[0], (lfsr >> 1) ^ LFSR_TAPS, lfsr >> 1))
        hashed = Mux(state == _State.IDLE, query, self.matched(m, cur_pat, "cur_matched"))

        # Where each slot's pattern lies.
        m.submodules.where = where = Memory(shape=4 + ibits, depth=self.slots, init=[])
        loc_rd = where.read_port()
        loc_wr = where.write_port()
        loc_valid, loc_stash = loc_rd.data[0], loc_rd.data[1]
        loc_way, loc_index = loc_rd.data[2:4], loc_rd.data[4:]
        # fetch: where the slot's pattern lies, kept from LOCATE to FETCH.
        at_stash = Signal()
        at_way = Signal(2)
        at_index = Signal.like(loc_index)

        def locate(way, index, stash=0):
            return [loc_wr.en.eq(1), loc_wr.addr.eq(cur_slot),
                    loc_wr.data.eq(Cat(Const(1, 1), Const(stash, 1), Const(way, 2)
                                       if isinstance(way, int) else way, index))]

        # An entry matches the query with the same map id and tag and the same key under the
        # tag's prefix; one mask, from the query's tag, serves every entry compared.
        head = self.owner_bits + self.tag_bits
        query_mask = self.prefix_mask(m, self.q_tag, "query_mask")

        def same(pattern):
            return (pattern[:head] == query[:head]) & ((pattern[head:] & query_mask) == self.q_key)

        # The ways.
        e_valid, e_slot, e_pat, index, wr_ports, matches = [], [], [], [], [], []
        for w in range(WAYS):
            mem = Memory(shape=1 + sbits + pbits, depth=self.buckets, init=[])
            m.submodules[f"way{w}"] = mem
            rd = mem.read_port()
            wr = mem.write_port()
            idx = Signal(bbits, name=f"index{w}")
            m.d.comb += idx.eq(Cat(*[(hashed & mask).xor()
                                     for mask in hash_masks(w, pbits, bbits)]))
            m.d.comb += [rd.addr.eq(Mux(state == _State.LOCATE, loc_index, idx)),
                         rd.en.eq(((state == _State.IDLE) & self.probe)
                                  | (state == _State.READ) | (state == _State.LOCATE))]
            e_valid.append(rd.data[0])
            e_slot.append(rd.data[1:1 + sbits])
            e_pat.append(rd.data[1 + sbits:])
            index.append(idx)
            wr_ports.append(wr)
            matches.append((rd.data[0] & same(e_pat[-1]), e_slot[-1]))

        # The stash.
        s_valid = Signal(STASH)
        s_slot = [Signal(sbits, name=f"stash_slot{k}") for k in range(STASH)]
        s_pat = [Signal(pbits, name=f"stash_pattern{k}") for k in range(STASH)]
        for k in range(STASH):
            matches.append((s_valid[k] & same(s_pat[k]), s_slot[k]))
        m.d.comb += self.can_insert.eq(~s_valid.all())

        hit_slot = Const(0, sbits)
        for match, slot in matches:
            hit_slot = hit_slot | Mux(match, slot, 0)
        m.d.comb += [self.hit.eq(Cat(*[match for match, _ in matches]).any()),
                     self.hit_slot.eq(hit_slot)]

        # The slot bitmap: searches start with a probe, a slot changes with a write.
        m.d.comb += [
            used.search.eq((state == _State.IDLE) & self.probe & (self.search != Search.NONE)),
            used.want_used.eq(self.search == Search.USED),
            used.start.eq(Mux((self.search == Search.USED) & ~self.from_start,
                              self.after + 1, self.lo)),
            used.hi.eq(self.hi),
            self.found.eq(used.found), self.found_slot.eq(used.found_slot),
            used.set_slot.eq(self.wr_slot), used.set_valid.eq(self.wr_valid),
        ]

        with m.Switch(state):
            with m.Case(_State.IDLE):
                m.d.comb += loc_rd.addr.eq(Mux(self.wr_en, self.wr_slot, self.fetch_slot))
                with m.If(self.clear_all):
                    m.d.comb += used.clear_all.eq(1)
                    m.d.sync += [s_valid.eq(0), sweep.eq(0), state.eq(_State.CLEAR)]
                with m.Elif(self.wr_en):
                    m.d.comb += used.set_en.eq(1)
                    m.d.sync += [cur_slot.eq(self.wr_slot), cur_pat.eq(new),
                                 setting.eq(self.wr_valid), state.eq(_State.REPLACE)]
                with m.Elif(self.fetch):
                    m.d.sync += state.eq(_State.LOCATE)
            with m.Case(_State.LOCATE):
                m.d.sync += [at_stash.eq(loc_stash), at_way.eq(loc_way), at_index.eq(loc_index),
                             state.eq(_State.FETCH)]
            with m.Case(_State.FETCH):
                stash_index = at_index[:(STASH - 1).bit_length()]
                pattern = Mux(at_stash, Array(s_pat)[stash_index], Array(e_pat)[at_way])
                m.d.sync += [self.fetched_tag.eq(pattern[self.owner_bits:]),
                             self.fetched_key.eq(pattern[self.owner_bits + self.tag_bits:]),
                             state.eq(_State.IDLE)]
            with m.Case(_State.REPLACE):
                with m.If(loc_valid & loc_stash):
                    m.d.sync += s_valid.bit_select(loc_index[:(STASH - 1).bit_length()], 1).eq(0)
                with m.Elif(loc_valid):
                    for w, wr in enumerate(wr_ports):
                        with m.If(loc_way == w):
                            m.d.comb += [wr.en.eq(1), wr.addr.eq(loc_index), wr.data.eq(0)]
                m.d.comb += [loc_wr.en.eq(1), loc_wr.addr.eq(cur_slot), loc_wr.data.eq(0)]
                m.d.sync += [kicks.eq(0), came_from.eq(WAYS),
                             state.eq(Mux(setting, _State.READ, _State.IDLE))]
            with m.Case(_State.READ):
                m.d.sync += state.eq(_State.PLACE)
            with m.Case(_State.PLACE):
                entry = Cat(Const(1, 1), cur_slot, cur_pat)
                any_empty, empty_way = lowest_set(m, [~v for v in e_valid])
                with m.If(any_empty):
                    for w, wr in enumerate(wr_ports):
                        with m.If(empty_way == w):
                            m.d.comb += [wr.en.eq(1), wr.addr.eq(index[w]), wr.data.eq(entry)]
                    m.d.comb += locate(empty_way, Array(index)[empty_way])
                    m.d.sync += state.eq(_State.IDLE)
                with m.Elif(kicks == self.max_kicks):
                    _, free_entry = lowest_set(m, [~s_valid[k] for k in range(STASH)])
                    for k in range(STASH):
                        with m.If(free_entry == k):
                            m.d.sync += [s_valid[k].eq(1), s_slot[k].eq(cur_slot),
                                         s_pat[k].eq(cur_pat)]
                    m.d.comb += locate(0, free_entry, stash=1)
                    m.d.sync += state.eq(_State.IDLE)
                with m.Else():
                    # Evict from a random way other than the one the entry came from.
                    pick = lfsr[:2]
                    victim = Signal(2)
                    m.d.comb += victim.eq(Mux(pick == came_from, pick + 1, pick))
                    for w, wr in enumerate(wr_ports):
                        with m.If(victim == w):
                            m.d.comb += [wr.en.eq(1), wr.addr.eq(index[w]), wr.data.eq(entry)]
                    m.d.comb += locate(victim, Array(index)[victim])
                    m.d.sync += [cur_slot.eq(Array(e_slot)[victim]),
                                 cur_pat.eq(Array(e_pat)[victim]), came_from.eq(victim),
                                 kicks.eq(kicks + 1), state.eq(_State.READ)]
            with m.Case(_State.CLEAR):
                for wr in wr_ports:
                    m.d.comb += [wr.en.eq(1), wr.addr.eq(sweep), wr.data.eq(0)]
                m.d.comb += [loc_wr.en.eq(1), loc_wr.addr.eq(sweep), loc_wr.data.eq(0)]
                m.d.sync += sweep.eq(sweep + 1)
                with m.If(sweep == self.slots - 1):
                    m.d.sync += state.eq(_State.IDLE)
        return m
