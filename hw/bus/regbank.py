"""The register bank: the address decode of :mod:`hw.regs`, behind an AXI4-Lite slave.

Generated from the declaration: every ``rw`` register becomes an ``Out(32)`` member holding the
host's value (its ``pulse`` fields high for one cycle after a write of 1), every ``ro``
register an ``In(32)`` member the datapath drives, and the per-port counters one ``In`` array.
Member names are the register names in lower case.  Writes into the instruction-memory window
come out on ``imem_wr_en``/``imem_wr_addr``/``imem_wr_data`` (the low word is latched, the high
word writes the slot).
"""

from amaranth.hdl import Module, Signal, Cat, Mux
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw import regs

from .axil import AxiLiteSignature, AxiLiteSlave

__all__ = ["RegBank"]


class RegBank(wiring.Component):
    """Register bank for ``ports`` ports and ``imem_depth`` instruction slots.

    Members
    -------
    bus : In(AxiLiteSignature)
    <name> : Out(32) per rw register, In(32) per ro register (see :mod:`hw.regs`)
    port_counters : In(ArrayLayout(32, ports * len(PORT_COUNTERS)))
        Port p's counter k at index ``p * len(PORT_COUNTERS) + k``.
    imem_wr_en, imem_wr_addr, imem_wr_data : Out
    """

    def __init__(self, ports: int, imem_depth: int):
        if not 1 <= ports <= regs.MAX_PORTS:
            raise ValueError(f"ports must be 1..{regs.MAX_PORTS}, not {ports!r}")
        self.ports = ports
        self.imem_depth = imem_depth
        members = {"bus": In(AxiLiteSignature(regs.ADDR_WIDTH, regs.DATA_WIDTH))}
        for r in regs.REGISTERS:
            members[r.name.lower()] = (Out(32, init=r.reset) if r.access == "rw" else In(32))
        members["port_counters"] = In(data.ArrayLayout(32, ports * len(regs.PORT_COUNTERS)))
        members["imem_wr_en"] = Out(1)
        members["imem_wr_addr"] = Out((imem_depth - 1).bit_length())
        members["imem_wr_data"] = Out(64)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.slave = slave = AxiLiteSlave(regs.ADDR_WIDTH, regs.DATA_WIDTH)
        wiring.connect(m, wiring.flipped(self.bus), slave.bus)

        def strobed(old, value, strb):
            """The register value after a write with byte strobes."""
            return Cat(*(Mux(strb[i], value[8 * i:8 * i + 8], old[8 * i:8 * i + 8])
                         for i in range(4)))

        rd = Signal(32)
        m.d.sync += slave.rd_data.eq(rd)
        with m.Switch(slave.addr):
            for r in regs.REGISTERS:
                sig = getattr(self, r.name.lower())
                with m.Case(r.offset):
                    pulses = sum(1 << f.bit for f in r.fields if f.pulse)
                    m.d.comb += rd.eq(sig & ~pulses)
                    if r.access == "rw":
                        with m.If(slave.wr_en):
                            m.d.sync += sig.eq(strobed(sig, slave.wr_data, slave.wr_strb))
            for port in range(self.ports):
                for k, (name, _doc) in enumerate(regs.PORT_COUNTERS):
                    with m.Case(regs.port_counter_offset(port, name)):
                        m.d.comb += rd.eq(
                            self.port_counters[port * len(regs.PORT_COUNTERS) + k])
        # Pulse fields fall back to 0 the cycle after any write that set them.
        for r in regs.REGISTERS:
            pulses = sum(1 << f.bit for f in r.fields if f.pulse)
            if pulses and r.access == "rw":
                sig = getattr(self, r.name.lower())
                with m.If(~(slave.wr_en & (slave.addr == r.offset))):
                    m.d.sync += sig.eq(sig & ~pulses)

        # Instruction-memory window.
        win = regs.IMEM_WINDOW
        low = Signal(32)
        in_window = (slave.addr >= win.offset) & (slave.addr < win.offset + win.size)
        slot = (slave.addr - win.offset) >> 3
        with m.If(slave.wr_en & in_window):
            with m.If(slave.addr[2] == 0):
                m.d.sync += low.eq(slave.wr_data)
            with m.Elif(slot < self.imem_depth):
                m.d.comb += [self.imem_wr_en.eq(1), self.imem_wr_addr.eq(slot),
                             self.imem_wr_data.eq(Cat(low, slave.wr_data))]
        return m
