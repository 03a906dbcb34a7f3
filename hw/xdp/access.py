"""Byte-addressed access to a memory of wide rows: the packet buffer, the map values, the stack.

The packet buffer is a :class:`amaranth.lib.memory.Memory` of beat-wide rows (``data_bytes``
bytes each) so that ingress writes and egress reads move a whole beat per cycle; the map-value
memory has 8-byte rows.  This unit answers external-memory requests
(:data:`hw.core.lsu.ExtRequest`) in one region (the packet region by default): an access of 1,
2, 4 or 8 bytes at any offset touches one row or two neighbouring rows; loads read them (one
cycle each, pipelined) and pick the bytes, stores write them with byte enables.  Anything past
the memory's ``buffer_bytes``, and any other region, faults -- for the packet buffer the golden
model's bounds (``model.Memory``: the whole 4096-byte buffer is addressable).

Timing (cycle 0 is the cycle the request is accepted; the response is offered in the last
cycle listed, so a taker that is ready at once -- the core's LSU, via the router -- finishes
the access in that cycle):

* load, one row: 2 cycles.  Cycle 0 reads the row, cycle 1 offers the picked bytes straight
  from the memory's read data (a combinational path from the RAM's output through the byte
  shifter to the taker).
* load, two rows: 3 cycles (row A read in cycle 0, row B in cycle 1, answer in cycle 2).
* store, one or two rows: 2 cycles.  Cycle 0 writes the first row from the request itself,
  cycle 1 writes the second row (no bytes when the store stays in one row) and answers.
* fault: 2 cycles (no memory port touched).

A taker that is not ready when the response is offered gets it held (registered) until it is.
"""

from amaranth.hdl import Module, Signal, Cat, Const, Mux
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out

from firmware.ebpf import isa, machine
from hw.core.decoder import Size
from hw.core.lsu import ExtRequest, ExtResponse

__all__ = ["RowAccess"]


class _State(enum.Enum, shape=3):
    IDLE = 0
    READ_A = 1       # row A's data arrives: answer, or request row B when the load crosses
    READ_B = 2       # row B's data arrives: answer
    WRITE_B = 3      # second row of a store (no bytes when it stays in one row): answer
    RESP = 4         # the answer, held for a taker that was not ready when it was offered


class RowAccess(wiring.Component):
    """Ext-request answerer over a row memory of ``buffer_bytes`` bytes in ``region``.

    Members
    -------
    req : In(stream ExtRequest)
    resp : Out(stream ExtResponse)
    rd_addr, rd_en : Out; rd_data : In(8 * data_bytes)
        The buffer's synchronous read port (data the cycle after ``rd_en``; the unit does not
        rely on the data being held afterwards).
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
        wdata = Signal(64)
        row_a = Signal(8 * W)
        fault = Signal()
        rdata = Signal(64)           # the held answer (RESP)

        def lane_of(off):
            return off[:lbits] if lbits else Const(0, 1)

        def row_of(off):
            return off[lbits:] if lbits else off

        lane = lane_of(offset)
        row = row_of(offset)
        crosses = (lane + nbytes) > W

        # The request, decoded combinationally so that a load's first row is read, and a
        # store's first row written, in the cycle the request is accepted.
        p = self.req.payload
        req_offset = p.addr[:machine.REGION_SHIFT]
        req_n = Signal(4)
        with m.Switch(p.size):
            for size, n in isa.SIZE_BYTES.items():
                with m.Case(Size[size.name]):
                    m.d.comb += req_n.eq(n)
        req_ok = ((p.addr[machine.REGION_SHIFT:] == self.region)
                  & (req_offset + req_n <= self.buffer_bytes))

        # Store data and byte mask placed across two rows: one shifter, fed by the request in
        # IDLE (row A is written then) and by the registered request in WRITE_B (row B).
        in_idle = state == _State.IDLE
        s_lane = Mux(in_idle, lane_of(req_offset), lane)
        s_n = Mux(in_idle, req_n, nbytes)
        s_data = Mux(in_idle, p.wdata, wdata)
        shifted = Signal(16 * W)
        mask = Signal(2 * W)
        m.d.comb += [shifted.eq(s_data << (s_lane * 8)),
                     mask.eq(((Const(1, 9) << s_n) - 1) << s_lane)]

        # Load data: the row(s) read, bytes picked from the access's lane.  Row B's bytes
        # follow row A's (zeros above a one-row load, as the answer always had).
        picked = Signal(64)
        low = Mux(state == _State.READ_B, row_a, self.rd_data)
        high = Mux(state == _State.READ_B, self.rd_data, 0)
        m.d.comb += picked.eq((Cat(low, high) >> (lane * 8))[:64])

        m.d.comb += [self.resp.payload.fault.eq(fault), self.resp.payload.rdata.eq(rdata)]

        with m.Switch(state):
            with m.Case(_State.IDLE):
                m.d.comb += self.req.ready.eq(1)
                with m.If(self.req.valid):
                    m.d.sync += [offset.eq(req_offset), nbytes.eq(req_n), wdata.eq(p.wdata),
                                 fault.eq(~req_ok)]
                    with m.If(~req_ok):
                        m.d.sync += state.eq(_State.RESP)
                    with m.Elif(p.write):
                        m.d.comb += [self.wr_addr.eq(row_of(req_offset)),
                                     self.wr_en.eq(mask[:W]), self.wr_data.eq(shifted[:8 * W])]
                        m.d.sync += state.eq(_State.WRITE_B)
                    with m.Else():
                        m.d.comb += [self.rd_en.eq(1), self.rd_addr.eq(row_of(req_offset))]
                        m.d.sync += state.eq(_State.READ_A)
            with m.Case(_State.READ_A):
                with m.If(crosses):
                    m.d.sync += [row_a.eq(self.rd_data), state.eq(_State.READ_B)]
                    m.d.comb += [self.rd_en.eq(1), self.rd_addr.eq(row + 1)]
                with m.Else():
                    m.d.comb += [self.resp.valid.eq(1), self.resp.payload.rdata.eq(picked)]
                    m.d.sync += [rdata.eq(picked),
                                 state.eq(Mux(self.resp.ready, _State.IDLE, _State.RESP))]
            with m.Case(_State.READ_B):
                m.d.comb += [self.resp.valid.eq(1), self.resp.payload.rdata.eq(picked)]
                m.d.sync += [rdata.eq(picked),
                             state.eq(Mux(self.resp.ready, _State.IDLE, _State.RESP))]
            with m.Case(_State.WRITE_B):
                # The bytes past row A start at lane 0 of the next row; none when the store
                # stays in row A (then the enables are all zero).
                m.d.comb += [self.wr_addr.eq(row + 1), self.wr_en.eq(mask[W:]),
                             self.wr_data.eq(shifted[8 * W:]),
                             self.resp.valid.eq(1)]
                m.d.sync += state.eq(Mux(self.resp.ready, _State.IDLE, _State.RESP))
            with m.Case(_State.RESP):
                m.d.comb += self.resp.valid.eq(1)
                with m.If(self.resp.ready):
                    m.d.sync += state.eq(_State.IDLE)
        return m
