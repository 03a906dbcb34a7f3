"""Which slots of the hash table hold a key: a bitmap in block RAM with a two-level search.

The map unit gives a new key the lowest free slot of its map's range and walks a map's keys in
slot order (as the golden model does), so the bitmap answers two range searches: the lowest
free slot in ``[start, hi)`` and the lowest used slot in ``[start, hi)``.  A flat priority
encoder over thousands of slots would cost thousands of LUTs, so the bits live in a RAM of
``WORD``-bit words, and two summary bits per word are kept in flip-flops: *nonempty* (some slot
used) and *full* (every slot used).  A search picks the lowest word of the range whose summary
says it may hold an answer, reads it and picks the bit: 2 cycles, and 2 more only when the
first word's answer lay below ``start`` (a search visits at most 2 words that fail before the
answer or the end).  Setting or clearing a slot is a read-modify-write, 2 cycles.

``clear_all`` zeroes the summaries in one cycle; a word whose *nonempty* bit is clear reads as
zero, so the RAM itself needs no sweep.
"""

from amaranth.hdl import Module, Signal, Const, Mux
from amaranth.lib import enum, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["SlotBitmap", "lowest_set"]

WORD = 32


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


class _State(enum.Enum, shape=2):
    IDLE = 0
    SET = 1        # the slot's word is on the read port: write it back with the new bit
    PICK = 2       # choose the next word that may hold the answer
    TEST = 3       # that word is on the read port: pick the bit


class SlotBitmap(wiring.Component):
    """One bit per slot of ``slots`` (a multiple of ``WORD``, or a power of two >= 2 below it).

    Members
    -------
    set_en, set_slot, set_valid : In
        Mark ``set_slot`` used (``set_valid``) or free; only while ``ready``.
    search, want_used, start, hi : In
        Find the lowest slot in ``[start, hi)`` that is used (``want_used``) or free; only
        while ``ready``.  The answer is on ``found``/``found_slot`` when ``ready`` is high
        again (held until the next search; ``ready`` is low in the cycle after ``search``
        unless the range is empty).
    clear_all : In(1)
        Free every slot (one cycle); only while ``ready``.
    ready : Out(1)
    """

    def __init__(self, slots: int):
        if not (isinstance(slots, int) and slots >= 2
                and (slots % WORD == 0 or (slots < WORD and not slots & (slots - 1)))):
            raise ValueError(f"slots must be a multiple of {WORD} or a power of two >= 2 "
                             f"below it, not {slots!r}")
        self.slots = slots
        self.word = min(WORD, slots)
        sbits = (slots - 1).bit_length()
        super().__init__({
            "set_en": In(1), "set_slot": In(sbits), "set_valid": In(1),
            "search": In(1), "want_used": In(1), "start": In(sbits + 1), "hi": In(sbits + 1),
            "clear_all": In(1),
            "found": Out(1), "found_slot": Out(sbits), "ready": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        wb = self.word
        shift = (wb - 1).bit_length()
        nwords = self.slots // wb
        ones = (1 << wb) - 1

        m.submodules.bits = bits = Memory(shape=wb, depth=nwords, init=[])
        rd = bits.read_port()
        wr = bits.write_port()
        nonempty = Signal(nwords)
        full = Signal(nwords)

        state = Signal(_State)
        m.d.comb += self.ready.eq(state == _State.IDLE)
        word = Signal(range(nwords))          # the word on the read port (SET, TEST)
        bit = Signal(range(wb))               # SET: the slot's bit in it
        valid = Signal()
        want = Signal()
        start = Signal.like(self.start)
        hi = Signal.like(self.hi)
        first = Signal(range(nwords + 1))     # PICK: the lowest word still to look at
        # A word reads as its RAM row only while it holds something (clear_all's sweep).
        stored = Mux(nonempty.bit_select(word, 1), rd.data, 0)
        last = Signal(range(nwords))
        m.d.comb += last.eq((hi - 1) >> shift)

        with m.Switch(state):
            with m.Case(_State.IDLE):
                with m.If(self.clear_all):
                    m.d.sync += [nonempty.eq(0), full.eq(0)]
                with m.Elif(self.set_en):
                    m.d.comb += rd.addr.eq(self.set_slot >> shift)
                    m.d.sync += [word.eq(self.set_slot >> shift), bit.eq(self.set_slot),
                                 valid.eq(self.set_valid), state.eq(_State.SET)]
                with m.Elif(self.search):
                    m.d.sync += [want.eq(self.want_used), start.eq(self.start), hi.eq(self.hi),
                                 first.eq(self.start >> shift), self.found.eq(0)]
                    with m.If(self.start < self.hi):
                        m.d.sync += state.eq(_State.PICK)
            with m.Case(_State.SET):
                new = Signal(wb)
                m.d.comb += new.eq(Mux(valid, stored | (1 << bit), stored & ~(Const(1, wb) << bit)))
                m.d.comb += [wr.en.eq(1), wr.addr.eq(word), wr.data.eq(new)]
                m.d.sync += [nonempty.bit_select(word, 1).eq(new != 0),
                             full.bit_select(word, 1).eq(new == ones), state.eq(_State.IDLE)]
            with m.Case(_State.PICK):
                summary = Mux(want, nonempty, ~full)
                candidates = [summary[w] & (first <= w) & (last >= w) for w in range(nwords)]
                any_word, pick = lowest_set(m, candidates)
                with m.If(any_word):
                    m.d.comb += rd.addr.eq(pick)
                    m.d.sync += [word.eq(pick), state.eq(_State.TEST)]
                with m.Else():
                    m.d.sync += state.eq(_State.IDLE)
            with m.Case(_State.TEST):
                sought = Mux(want, stored, ~stored)
                low = Mux(word == start >> shift, start[:shift], 0)
                high = Mux(word == last, (hi - 1)[:shift], wb - 1)
                in_range = [sought[b] & (low <= b) & (high >= b) for b in range(wb)]
                any_bit, pick = lowest_set(m, in_range)
                with m.If(any_bit):
                    m.d.sync += [self.found.eq(1), self.found_slot.eq((word << shift) | pick),
                                 state.eq(_State.IDLE)]
                with m.Elif(word == last):
                    m.d.sync += state.eq(_State.IDLE)
                with m.Else():
                    m.d.sync += [first.eq(word + 1), state.eq(_State.PICK)]
        return m
