"""Use stamps of the LRU hash maps: which slot was used least recently.

Every use of a slot (a program's lookup or update, a host update) writes the next value of a
32-bit use clock into the slot's stamp; a full LRU map evicts the slot of its range with the
smallest stamp, found by reading the range's stamps one per cycle (``count + 2`` cycles).  The
clock wraps after 2^32 uses, as the golden model's (``docs/maps.md``).
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["UseStamps"]


class UseStamps(wiring.Component):
    """Stamps of ``slots`` slots.

    Members
    -------
    touch, touch_slot : In
        ``touch_slot`` is used now.
    clear : In(1)
        Restart the use clock (the stamps of freed slots are never compared).
    find, base, count : In
        Find the least recently used of the ``count`` slots from ``base``; only while ``ready``.
    oldest : Out
        Its slot, once ``ready`` is high again.
    ready : Out(1)
    """

    def __init__(self, slots: int):
        sbits = (slots - 1).bit_length()
        self.slots = slots
        super().__init__({
            "touch": In(1), "touch_slot": In(sbits), "clear": In(1),
            "find": In(1), "base": In(sbits + 1), "count": In(sbits + 1),
            "oldest": Out(sbits), "ready": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.stamps = stamps = Memory(shape=32, depth=self.slots, init=[])
        rd = stamps.read_port()
        wr = stamps.write_port()
        clock = Signal(32)
        with m.If(self.touch):
            m.d.comb += [wr.en.eq(1), wr.addr.eq(self.touch_slot), wr.data.eq(clock + 1)]
            m.d.sync += clock.eq(clock + 1)
        with m.If(self.clear):
            m.d.sync += clock.eq(0)

        scanning = Signal()
        scan = Signal.like(self.count)          # stamps read so far
        base = Signal.like(self.base)
        count = Signal.like(self.count)
        best = Signal(32)
        best_valid = Signal()
        m.d.comb += self.ready.eq(~scanning)
        with m.If(~scanning):
            with m.If(self.find):
                m.d.sync += [scanning.eq(1), scan.eq(0), best_valid.eq(0), base.eq(self.base),
                             count.eq(self.count)]
        with m.Else():
            m.d.comb += rd.addr.eq(base + scan)
            m.d.sync += scan.eq(scan + 1)
            # The stamp of slot ``base + scan - 1`` is on the read port now.
            with m.If(scan != 0):
                with m.If(~best_valid | (rd.data < best)):
                    m.d.sync += [best.eq(rd.data), best_valid.eq(1),
                                 self.oldest.eq(base + scan - 1)]
            with m.If(scan == count):
                m.d.sync += scanning.eq(0)
        return m
