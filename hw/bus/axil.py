"""AXI4-Lite slave: turns bus transactions into one-cycle register reads and writes.

Members are named as in the AXI specification (``awaddr``, ``awvalid``, ``awready``, ``wdata``,
``wstrb``, ..., ``rready``) so that, on a top-level member ``s_axil``, the Verilog ports are
``s_axil__awaddr`` and so on, and cocotbext-axi binds with
``AxiLiteBus.from_prefix(dut, "s_axil", bus_separator="__")``.

Register side: ``wr_en`` for one cycle with ``addr``/``wr_data``/``wr_strb``; ``rd_en`` for one
cycle with ``addr``, and ``rd_data`` is taken the next cycle (a registered read mux).  Writes
and reads are served one at a time; a write waits for both its address and its data.

Ref: ARM IHI 0022 (AMBA AXI and ACE Protocol Specification), part B (AXI4-Lite).
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AxiLiteSignature", "AxiLiteSlave"]

OKAY = 0


class AxiLiteSignature(wiring.Signature):
    """AXI4-Lite, from the master's side (a slave uses ``In(AxiLiteSignature(...))``)."""

    def __init__(self, addr_width: int, data_width: int = 32):
        super().__init__({
            "awaddr": Out(addr_width), "awprot": Out(3), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wvalid": Out(1),
            "wready": In(1),
            "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(addr_width), "arprot": Out(3), "arvalid": Out(1), "arready": In(1),
            "rdata": In(data_width), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
        })


class AxiLiteSlave(wiring.Component):
    """AXI4-Lite to a simple register port.

    Parameters
    ----------
    addr_width, data_width : int

    Members
    -------
    bus : In(AxiLiteSignature)
    addr, wr_en, wr_data, wr_strb, rd_en : Out
        The register access this cycle.
    rd_data : In
        Read data, sampled the cycle after ``rd_en``.
    """

    def __init__(self, addr_width: int, data_width: int = 32):
        self.addr_width = addr_width
        self.data_width = data_width
        super().__init__({
            "bus": In(AxiLiteSignature(addr_width, data_width)),
            "addr": Out(addr_width), "wr_en": Out(1), "wr_data": Out(data_width),
            "wr_strb": Out(data_width // 8), "rd_en": Out(1), "rd_data": In(data_width),
        })

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        aw_full = Signal()
        aw_addr = Signal(self.addr_width)
        w_full = Signal()
        w_data = Signal(self.data_width)
        w_strb = Signal(self.data_width // 8)
        rd_wait = Signal()        # read issued, data arrives this cycle

        # Write: capture address and data independently, then write and respond.
        m.d.comb += [bus.awready.eq(~aw_full & ~bus.bvalid),
                     bus.wready.eq(~w_full & ~bus.bvalid)]
        with m.If(bus.awvalid & bus.awready):
            m.d.sync += [aw_full.eq(1), aw_addr.eq(bus.awaddr)]
        with m.If(bus.wvalid & bus.wready):
            m.d.sync += [w_full.eq(1), w_data.eq(bus.wdata), w_strb.eq(bus.wstrb)]
        with m.If(bus.bvalid & bus.bready):
            m.d.sync += bus.bvalid.eq(0)
        m.d.comb += bus.bresp.eq(OKAY)

        # Reads wait while a write is being committed (one register access per cycle).
        writing = aw_full & w_full
        with m.If(writing):
            m.d.comb += [self.wr_en.eq(1), self.addr.eq(aw_addr), self.wr_data.eq(w_data),
                         self.wr_strb.eq(w_strb)]
            m.d.sync += [aw_full.eq(0), w_full.eq(0), bus.bvalid.eq(1)]

        m.d.comb += bus.arready.eq(~writing & ~rd_wait & ~bus.rvalid)
        with m.If(bus.arvalid & bus.arready):
            m.d.comb += [self.rd_en.eq(1), self.addr.eq(bus.araddr)]
            m.d.sync += rd_wait.eq(1)
        with m.If(rd_wait):
            m.d.sync += [rd_wait.eq(0), bus.rvalid.eq(1), bus.rdata.eq(self.rd_data)]
        with m.If(bus.rvalid & bus.rready):
            m.d.sync += bus.rvalid.eq(0)
        m.d.comb += bus.rresp.eq(OKAY)
        return m
