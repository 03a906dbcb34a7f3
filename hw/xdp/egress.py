"""Egress: a frame from the packet buffer onto an AXI-Stream, realigned to beat boundaries.

After the program, the frame starts at any byte offset (``bpf_xdp_adjust_head`` and metadata
move it).  The unit reads rows ahead through the buffer's synchronous read port and shifts
each pair of neighbouring rows so that beat k carries bytes ``begin + k*W ..``; one beat per
cycle while ``tready`` is high, and ``tvalid``/payload held while it is low, however long.
Bytes past the end in the last beat are zero with ``tkeep`` low.
"""

from amaranth.hdl import Module, Signal, Cat, Mux, Const
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

from firmware.ebpf import machine

from .axis import AxisSignature

__all__ = ["EgressReader"]


class _State(enum.Enum, shape=2):
    IDLE = 0
    PRIME = 1       # first row arrives, the second is requested
    STREAM = 2


class EgressReader(wiring.Component):
    """Streams bytes ``begin .. end-1`` of the buffer as one frame.

    Members
    -------
    start : In(1)
        Begin (one cycle) with ``begin``/``end`` (byte offsets, ``end > begin``).
    done : Out(1)
        The last beat is accepted this cycle.
    axis : Out(AxisSignature)
    rd_addr, rd_en : Out; rd_data : In
        The buffer's read port (owned by this unit from ``start`` to ``done``).
    """

    def __init__(self, data_bytes: int):
        self.data_bytes = data_bytes
        rows = machine.PACKET_BUFFER_SIZE // data_bytes
        abits = (rows - 1).bit_length()
        super().__init__({
            "start": In(1), "begin": In(16), "end": In(16), "done": Out(1),
            "axis": Out(AxisSignature(8 * data_bytes)),
            "rd_addr": Out(abits), "rd_en": Out(1), "rd_data": In(8 * data_bytes),
        })

    def elaborate(self, platform):
        m = Module()
        W = self.data_bytes
        lbits = (W - 1).bit_length()
        state = Signal(_State)
        lane = Signal(max(1, lbits))
        next_row = Signal(len(self.rd_addr) + 1)
        remaining = Signal(16)
        row_a = Signal(8 * W)
        ax = self.axis

        beat = Signal(8 * W)
        m.d.comb += beat.eq((Cat(row_a, self.rd_data) >> (lane * 8))[:8 * W])
        last = remaining <= W
        keep = Signal(W)
        m.d.comb += keep.eq(Mux(last, (Const(1, W + 1) << remaining[:lbits + 1]) - 1, (1 << W) - 1))
        for i in range(W):
            m.d.comb += ax.tdata[8 * i:8 * i + 8].eq(Mux(keep[i], beat[8 * i:8 * i + 8], 0))

        with m.Switch(state):
            with m.Case(_State.IDLE):
                with m.If(self.start):
                    first = self.begin >> lbits if lbits else self.begin
                    m.d.comb += [self.rd_en.eq(1), self.rd_addr.eq(first)]
                    m.d.sync += [lane.eq(self.begin[:lbits] if lbits else 0),
                                 next_row.eq(first + 1),
                                 remaining.eq(self.end - self.begin), state.eq(_State.PRIME)]
            with m.Case(_State.PRIME):
                m.d.comb += [self.rd_en.eq(1), self.rd_addr.eq(next_row)]
                m.d.sync += [row_a.eq(self.rd_data), next_row.eq(next_row + 1),
                             state.eq(_State.STREAM)]
            with m.Case(_State.STREAM):
                m.d.comb += [ax.tvalid.eq(1), ax.tkeep.eq(keep), ax.tlast.eq(last)]
                with m.If(ax.tready):
                    with m.If(last):
                        m.d.comb += self.done.eq(1)
                        m.d.sync += state.eq(_State.IDLE)
                    with m.Else():
                        m.d.comb += [self.rd_en.eq(1), self.rd_addr.eq(next_row)]
                        m.d.sync += [row_a.eq(self.rd_data), next_row.eq(next_row + 1),
                                     remaining.eq(remaining - W)]
        return m
