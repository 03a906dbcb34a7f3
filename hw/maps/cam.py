"""The content-addressable memory behind the hash, LRU-hash and LPM-trie maps.

Every slot holds a pattern: the ``owner`` map id, a ``tag`` (0 for hash keys; prefix length + 1
for an LPM entry) and the key.  A probe compares the query with every slot at once and, in the
same cycle, finds the lowest free slot in a range of slots (the map's share) and the lowest
valid slot of the owner after a given slot (iteration); the answers are ready the cycle after
``probe``, whatever the occupancy.

It is built the way FPGA CAMs are, from RAM rather than comparators: the pattern is cut into
4-bit chunks, and chunk ``c`` has a 16-row RAM whose row ``v`` has bit ``s`` set when slot
``s``'s chunk ``c`` equals ``v``.  A probe reads, in every chunk RAM, the row its query chunk
selects; a slot matches when its bit is set in all of them.  Writing a slot clears its old bits
(its pattern is kept in a RAM for that) and sets the new ones, each a read-modify-write of the
rows: 2 to 4 cycles, ``ready`` low meanwhile; ``clear_all`` empties the CAM in 16 cycles.  The owner is the first chunk, so the
owner's row alone tells which slots a map owns.

A stored pattern is unique (the map unit never inserts a key that is present), so at most one
slot matches.
"""

from amaranth.hdl import Module, Signal, Cat, Const, Mux
from amaranth.lib import enum, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["Cam", "lowest_set"]

CHUNK = 4


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


class _State(enum.Enum, shape=3):
    IDLE = 0
    READ_OLD = 1       # the slot's old pattern is on the pattern RAM's output: read its rows
    CLEAR_OLD = 2      # the old rows are read: write them back without the slot's bit
    READ_NEW = 3       # read the rows of the new pattern
    SET_NEW = 4        # write them back with the slot's bit
    CLEAR_ALL = 5


class Cam(wiring.Component):
    """``slots`` entries of ``key_bits``-bit keys.

    Members
    -------
    probe : In(1)
        Compare ``q_owner``/``q_tag``/``q_key`` and search ``[lo, hi)`` and after ``after``
        (held from the probe to the next cycle); only while ``ready``.
    hit, hit_slot : Out
        A valid slot of ``q_owner`` with ``q_tag`` and ``q_key``; the cycle after a probe.
    free, free_slot : Out
        The lowest invalid slot in ``[lo, hi)``.
    next, next_slot : Out
        The lowest valid slot of ``q_owner`` above ``after`` (any, with ``from_start``).
    wr_en, wr_slot, wr_valid, wr_owner, wr_tag, wr_key : In
        Store a pattern in a slot (``wr_valid``) or empty it; only while ``ready``.
    clear_all : In(1)
        Empty every slot; only while ``ready``.
    ready : Out(1)
    """

    def __init__(self, slots: int, key_bits: int, owner_bits: int = 4, tag_bits: int = 8):
        if slots < 2 or slots & (slots - 1):
            raise ValueError(f"CAM slots must be a power of two >= 2, not {slots!r}")
        if owner_bits != CHUNK:
            raise ValueError(f"the owner is one {CHUNK}-bit chunk, not {owner_bits} bits")
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
            "ready": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        n = self.slots
        width = self.owner_bits + self.tag_bits + self.key_bits
        chunks = -(-width // CHUNK)
        rows = 1 << CHUNK

        query = Cat(self.q_owner, self.q_tag, self.q_key)
        new = Signal(chunks * CHUNK)
        m.d.comb += new.eq(Cat(self.wr_owner, self.wr_tag, self.wr_key))

        valid = Signal(n)
        state = Signal(_State)
        m.d.comb += self.ready.eq(state == _State.IDLE)
        m.submodules.patterns = patterns = Memory(shape=chunks * CHUNK, depth=n, init=[])
        pat_rd = patterns.read_port()
        pat_wr = patterns.write_port()
        slot = Signal.like(self.wr_slot)
        pattern = Signal(chunks * CHUNK)       # the pattern to set
        old = Signal(chunks * CHUNK)           # the pattern to clear
        setting = Signal()
        row = Signal(CHUNK)                     # clear_all: the row being zeroed
        onehot = Signal(n)
        m.d.comb += [onehot.eq(Const(1, n) << slot), pat_rd.addr.eq(self.wr_slot)]

        matched = Signal(n, init=(1 << n) - 1)
        owned = Signal(n)
        for c in range(chunks):
            mem = Memory(shape=n, depth=rows, init=[])
            m.submodules[f"chunk{c}"] = mem
            wr = mem.write_port()
            rd = mem.read_port()
            rmw = mem.read_port(transparent_for=(wr,))
            m.d.comb += [rd.addr.eq(query[CHUNK * c:CHUNK * c + CHUNK]), rd.en.eq(self.probe)]
            if c == 0:
                m.d.comb += owned.eq(rd.data)
            matched_before = matched
            matched = Signal(n, name=f"matched{c}")
            m.d.comb += matched.eq(matched_before & rd.data)
            old_c = old[CHUNK * c:CHUNK * c + CHUNK]
            new_c = pattern[CHUNK * c:CHUNK * c + CHUNK]
            with m.Switch(state):
                with m.Case(_State.READ_OLD):
                    m.d.comb += rmw.addr.eq(pat_rd.data[CHUNK * c:CHUNK * c + CHUNK])
                with m.Case(_State.CLEAR_OLD):
                    m.d.comb += [wr.addr.eq(old_c), wr.en.eq(1), wr.data.eq(rmw.data & ~onehot)]
                with m.Case(_State.READ_NEW):
                    m.d.comb += rmw.addr.eq(new_c)
                with m.Case(_State.SET_NEW):
                    m.d.comb += [wr.addr.eq(new_c), wr.en.eq(1), wr.data.eq(rmw.data | onehot)]
                with m.Case(_State.CLEAR_ALL):
                    m.d.comb += [wr.addr.eq(row), wr.en.eq(1), wr.data.eq(0)]

        with m.Switch(state):
            with m.Case(_State.IDLE):
                with m.If(self.clear_all):
                    m.d.sync += [valid.eq(0), row.eq(0), state.eq(_State.CLEAR_ALL)]
                with m.Elif(self.wr_en):
                    m.d.sync += [slot.eq(self.wr_slot), pattern.eq(new),
                                 setting.eq(self.wr_valid)]
                    with m.If(valid.bit_select(self.wr_slot, 1)):
                        m.d.sync += state.eq(_State.READ_OLD)      # pat_rd reads the old one
                    with m.Elif(self.wr_valid):
                        m.d.sync += state.eq(_State.READ_NEW)
            with m.Case(_State.READ_OLD):
                m.d.sync += [old.eq(pat_rd.data), state.eq(_State.CLEAR_OLD)]
            with m.Case(_State.CLEAR_OLD):
                m.d.sync += [valid.bit_select(slot, 1).eq(0),
                             state.eq(Mux(setting, _State.READ_NEW, _State.IDLE))]
            with m.Case(_State.READ_NEW):
                m.d.sync += state.eq(_State.SET_NEW)
            with m.Case(_State.SET_NEW):
                m.d.comb += [pat_wr.en.eq(1), pat_wr.addr.eq(slot), pat_wr.data.eq(pattern)]
                m.d.sync += [valid.bit_select(slot, 1).eq(1), state.eq(_State.IDLE)]
            with m.Case(_State.CLEAR_ALL):
                m.d.sync += row.eq(row + 1)
                with m.If(row == rows - 1):
                    m.d.sync += state.eq(_State.IDLE)

        # The searches, on the rows read by the probe (the query registers hold still).
        sbits = len(self.wr_slot)
        lo = Signal.like(self.lo)
        hi = Signal.like(self.hi)
        after = Signal.like(self.after)
        from_start = Signal()
        with m.If(self.probe):
            m.d.sync += [lo.eq(self.lo), hi.eq(self.hi), after.eq(self.after),
                         from_start.eq(self.from_start)]
        all_ones = Const((1 << n) - 1, n)
        below_hi = Signal(n)
        from_lo = Signal(n)
        above_after = Signal(n)
        m.d.comb += [below_hi.eq(~(all_ones << hi)), from_lo.eq(all_ones << lo),
                     above_after.eq(Mux(from_start, all_ones, all_ones << (after + 1)))]
        vectors = ((matched & valid, self.hit, self.hit_slot),
                   (~valid & below_hi & from_lo, self.free, self.free_slot),
                   (owned & valid & above_after, self.next, self.next_slot))
        for vec, found_out, slot_out in vectors:
            bits = Signal(n)
            m.d.comb += bits.eq(vec)
            found, index = lowest_set(m, [bits[i] for i in range(n)])
            m.d.comb += [found_out.eq(found), slot_out.eq(index[:sbits])]
        return m
