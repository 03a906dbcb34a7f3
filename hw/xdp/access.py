"""Byte-addressed access to a memory of wide rows: the packet buffer, the map values, the stack.

The packet buffer is a :class:`amaranth.lib.memory.Memory` of beat-wide rows (``data_bytes``
bytes each) so that ingress writes and egress reads move a whole beat per cycle; the map-value
memory has 8-byte rows.  This unit answers external-memory requests
(:data:`hw.core.lsu.ExtRequest`) in one region (the packet region by default): an access of 1,
2, 4 or 8 bytes at any offset touches one row or two neighbouring rows; loads read them (one
cycle each, pipelined) and pick the bytes, stores write them with byte enables.  Anything past
the memory's ``buffer_bytes``, and any other region, faults -- for the packet buffer the golden
model's bounds (``model.Memory``: the whole 4096-byte buffer is addressable).

Timing: load in one row 3 cycles from request to response, two rows 4; store in one row 3,
two rows 4.
"""

from amaranth.hdl import Module, Signal, Cat, Const
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out

from firmware.ebpf import isa, machine
from hw.core.decoder import Size
from hw.core.lsu import ExtRequest, ExtResponse

__all__ = ["RowAccess"]


class _State(enum.Enum, shape=3):
    IDLE = 0
    READ_A = 1       # row A's data arrives; row B requested
    READ_B = 2       # row B's data arrives
    WRITE_B = 3      # second row of a store
    RESP = 4


class RowAccess(wiring.Component):
    """Ext-request answerer over a row memory of ``buffer_bytes`` bytes in ``region``.

    Members
    -------
    req : In(stream ExtRequest)
    resp : Out(stream ExtResponse)
    rd_addr, rd_en : Out; rd_data : In(8 * data_bytes)
        The buffer's synchronous read port (data the cycle after ``rd_en``).
    wr_addr, wr_en, wr_data : Out
        The buffer's write port (``wr_en`` one bit per byte).
    """

    def __init__(self, data_bytes: int, buffer_bytes: int = machine.PACKET_BUFFER_SIZE,
                 region: machine.Region = machine.Region.PACKET):
        self.data_bytes = data_bytes
        self.region = region
        self.buffer_bytes = buffer_bytes
        self.rows = buffer_bytes // data_bytes
        abits = (self.rows - 1).bit_length()
        super().__init__({
            "req": In(stream.Signature(ExtRequest)),
            "resp": Out(stream.Signature(ExtResponse)),
            "rd_addr": Out(abits), "rd_en": Out(1), "rd_data": In(8 * data_bytes),
            "wr_addr": Out(abits), "wr_en": Out(data_bytes), "wr_data": Out(8 * data_bytes),
        })

    def elaborate(self, platform):
        m = Module()
        W = self.data_bytes
        lbits = (W - 1).bit_length()
        state = Signal(_State)
        offset = Signal(range(self.buffer_bytes))
        nbytes = Signal(4)
        write = Signal()
        wdata = Signal(64)
        row_a = Signal(8 * W)
        fault = Signal()
        rdata = Signal(64)
        lane = offset[:lbits] if lbits else Const(0, 1)
        row = offset[lbits:] if lbits else offset
        crosses = (lane + nbytes) > W

        # The request, decoded combinationally so that a load's first row is read at once.
        p = self.req.payload
        req_offset = p.addr[:machine.REGION_SHIFT]
        req_n = Signal(4)
        with m.Switch(p.size):
            for size, n in isa.SIZE_BYTES.items():
                with m.Case(Size[size.name]):
                    m.d.comb += req_n.eq(n)
        req_ok = ((p.addr[machine.REGION_SHIFT:] == self.region)
                  & (req_offset + req_n <= self.buffer_bytes))

        # Store data and byte mask placed across two rows.
        shifted = Signal(16 * W)
        mask = Signal(2 * W)
        m.d.comb += [shifted.eq(wdata << (lane * 8)),
                     mask.eq(((Const(1, 9) << nbytes) - 1) << lane)]
        m.d.comb += [self.wr_data.eq(shifted[:8 * W])]

        with m.Switch(state):
            with m.Case(_State.IDLE):
                m.d.comb += self.req.ready.eq(1)
                with m.If(self.req.valid):
                    m.d.sync += [offset.eq(req_offset), nbytes.eq(req_n), write.eq(p.write),
                                 wdata.eq(p.wdata), fault.eq(~req_ok)]
                    with m.If(~req_ok):
                        m.d.sync += state.eq(_State.RESP)
                    with m.Elif(p.write):
                        m.d.sync += state.eq(_State.WRITE_B)   # via the row-A write below
                    with m.Else():
                        m.d.comb += [self.rd_en.eq(1),
                                     self.rd_addr.eq(req_offset[lbits:] if lbits else req_offset)]
                        m.d.sync += state.eq(_State.READ_A)
            with m.Case(_State.READ_A):
                m.d.sync += row_a.eq(self.rd_data)
                with m.If(crosses):
                    m.d.comb += [self.rd_en.eq(1), self.rd_addr.eq(row + 1)]
                    m.d.sync += state.eq(_State.READ_B)
                with m.Else():
                    m.d.sync += [rdata.eq((self.rd_data >> (lane * 8))[:64]),
                                 state.eq(_State.RESP)]
            with m.Case(_State.READ_B):
                m.d.sync += [rdata.eq((Cat(row_a, self.rd_data) >> (lane * 8))[:64]),
                             state.eq(_State.RESP)]
            with m.Case(_State.WRITE_B):
                # First cycle of a store: row A; a second cycle for row B when it crosses.
                m.d.comb += [self.wr_addr.eq(row), self.wr_en.eq(mask[:W])]
                with m.If(crosses):
                    first_part = Signal(lbits + 1)
                    m.d.comb += first_part.eq(W - lane)
                    m.d.sync += [offset.eq(offset + first_part),
                                 wdata.eq(wdata >> (first_part * 8)),
                                 nbytes.eq(nbytes - first_part)]
                    # The remaining bytes start at lane 0 of the next row.
                    m.d.sync += state.eq(_State.WRITE_B)
                with m.Else():
                    m.d.sync += state.eq(_State.RESP)
            with m.Case(_State.RESP):
                m.d.comb += [self.resp.valid.eq(1), self.resp.payload.fault.eq(fault),
                             self.resp.payload.rdata.eq(rdata)]
                with m.If(self.resp.ready):
                    m.d.sync += state.eq(_State.IDLE)
        return m
