"""The content-addressable memory behind the hash, LRU-hash and LPM-trie maps.

Every slot holds ``valid``, the ``owner`` map id, a ``tag`` (0 for hash keys; prefix length + 1
for an LPM entry) and the key.  A probe compares the query with every slot at once and, in the
same cycle, finds the lowest free slot in a range of slots (the map's share) and the lowest valid
slot of the owner after a given slot (iteration); the three answers are registered, so they are
ready the cycle after ``probe``, whatever the occupancy.  Writes set or clear one slot per cycle;
``clear_all`` empties every slot at once (a reset of the map unit).

A stored key is unique per owner and tag (the map unit never inserts a key that is present), so
at most one slot matches.
"""

from amaranth.hdl import Module, Signal, Const, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Cam", "lowest_set"]


def lowest_set(m: Module, bits: list) -> tuple:
    """(any bit set, index of the lowest set bit) of ``bits``, as a tree of muxes."""
    if len(bits) == 1:
        return bits[0], Const(0, 1)
    half = 1 << ((len(bits) - 1).bit_length() - 1)
    lo_any, lo_index = lowest_set(m, bits[:half])
    hi_any, hi_index = lowest_set(m, bits[half:])
    width = (len(bits) - 1).bit_length()
    index = Signal(width)
    m.d.comb += index.eq(Mux(lo_any, lo_index, half + hi_index))
    found = Signal()
    m.d.comb += found.eq(lo_any | hi_any)
    return found, index


class Cam(wiring.Component):
    """``slots`` entries of ``key_bits``-bit keys.

    Members
    -------
    probe : In(1)
        Compare ``q_owner``/``q_tag``/``q_key`` and search ``[lo, hi)`` and after ``after``;
        the answers below hold from the next cycle until the next probe.
    hit, hit_slot : Out
        A valid slot of ``q_owner`` with ``q_tag`` and ``q_key``.
    free, free_slot : Out
        The lowest invalid slot in ``[lo, hi)``.
    next, next_slot : Out
        The lowest valid slot of ``q_owner`` above ``after`` (any, with ``from_start``).
    wr_en, wr_slot, wr_valid, wr_owner, wr_tag, wr_key : In
        Write one slot.
    clear_all : In(1)
        Invalidate every slot.
    """

    def __init__(self, slots: int, key_bits: int, owner_bits: int = 4, tag_bits: int = 8):
        if slots < 2 or slots & (slots - 1):
            raise ValueError(f"CAM slots must be a power of two >= 2, not {slots!r}")
        self.slots = slots
        self.key_bits = key_bits
        self.owner_bits = owner_bits
        self.tag_bits = tag_bits
        sbits = (slots - 1).bit_length()
        super().__init__({
            "probe": In(1), "q_owner": In(owner_bits), "q_tag": In(tag_bits),
            "q_key": In(key_bits), "lo": In(sbits + 1), "hi": In(sbits + 1),
            "after": In(sbits), "from_start": In(1),
            "hit": Out(1), "hit_slot": Out(sbits), "free": Out(1), "free_slot": Out(sbits),
            "next": Out(1), "next_slot": Out(sbits),
            "wr_en": In(1), "wr_slot": In(sbits), "wr_valid": In(1), "wr_owner": In(owner_bits),
            "wr_tag": In(tag_bits), "wr_key": In(key_bits), "clear_all": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        n = self.slots
        valid = Signal(n)
        owner = [Signal(self.owner_bits, name=f"owner{i}") for i in range(n)]
        tag = [Signal(self.tag_bits, name=f"tag{i}") for i in range(n)]
        key = [Signal(self.key_bits, name=f"key{i}") for i in range(n)]

        with m.If(self.clear_all):
            m.d.sync += valid.eq(0)
        with m.Elif(self.wr_en):
            for i in range(n):
                with m.If(self.wr_slot == i):
                    m.d.sync += [valid[i].eq(self.wr_valid), owner[i].eq(self.wr_owner),
                                 tag[i].eq(self.wr_tag), key[i].eq(self.wr_key)]

        # The comparisons are evaluated only under ``probe`` (they land in registers), which
        # also keeps them out of every other cycle of a simulation.
        match = Signal(n)
        free = Signal(n)
        later = Signal(n)
        with m.If(self.probe):
            for i in range(n):
                mine = valid[i] & (owner[i] == self.q_owner)
                m.d.sync += [
                    match[i].eq(mine & (tag[i] == self.q_tag) & (key[i] == self.q_key)),
                    free[i].eq(~valid[i] & (self.lo <= i) & (i < self.hi)),
                    later[i].eq(mine & (self.from_start | (self.after < i))),
                ]
        for vec, found_out, slot_out in ((match, self.hit, self.hit_slot),
                                         (free, self.free, self.free_slot),
                                         (later, self.next, self.next_slot)):
            found, index = lowest_set(m, [vec[i] for i in range(n)])
            m.d.comb += [found_out.eq(found), slot_out.eq(index)]
        return m
