"""The register bank: the address decode of :mod:`hw.regs`, behind an AXI4-Lite slave.

Generated from the declaration: every ``rw`` register becomes an ``Out(32)`` member holding the
host's value (its ``pulse`` fields high for one cycle after a write of 1), every ``ro``
register an ``In(32)`` member the datapath drives (with ``<name>_rd``, high for the cycle of a
read, when the register ``pops`` a FIFO), every ``wo`` register an ``Out(32)`` holding the last
value written and ``<name>_wr``, high for one cycle when it is written; the per-port counters
are one ``In`` array.  Member names are the register names in lower case.  Writes into the
instruction-memory window come out on ``imem_wr_en``/``imem_wr_addr``/``imem_wr_data`` (the low
word is latched, the high word writes the slot).  The map mailbox windows are read-write
memories outside the bank: ``<window>_addr`` (word index), ``_wr_en``, ``_wr_data``,
``_wr_strb`` out, and ``_rd_data`` in, due the cycle after the address (a synchronous RAM).
"""

from amaranth.hdl import Module, Signal, Cat, Mux
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw import regs

from .axil import AxiLiteSignature, AxiLiteSlave

__all__ = ["RegBank"]

_DATA_WINDOWS = (regs.MAP_KEY_WINDOW, regs.MAP_VALUE_WINDOW)


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
            members[r.name.lower()] = (In(32) if r.access == "ro" else Out(32, init=r.reset))
            if r.pops:
                members[f"{r.name.lower()}_rd"] = Out(1)
            if r.access == "wo":
                members[f"{r.name.lower()}_wr"] = Out(1)
        for w in _DATA_WINDOWS:
            name = w.name.lower()
            members[f"{name}_addr"] = Out(range(w.size // 4))
            members[f"{name}_wr_en"] = Out(1)
            members[f"{name}_wr_data"] = Out(32)
            members[f"{name}_wr_strb"] = Out(4)
            members[f"{name}_rd_data"] = In(32)
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
        rd_reg = Signal(32)
        m.d.sync += rd_reg.eq(rd)
        window_read = Signal(range(len(_DATA_WINDOWS) + 1))    # 0: none, k + 1: window k
        m.d.sync += window_read.eq(0)
        m.d.comb += slave.rd_data.eq(rd_reg)
        for k, w in enumerate(_DATA_WINDOWS):
            name = w.name.lower()
            inside = (slave.addr >= w.offset) & (slave.addr < w.offset + w.size)
            with m.If(inside):
                m.d.comb += getattr(self, f"{name}_addr").eq((slave.addr - w.offset) >> 2)
                with m.If(slave.rd_en):
                    m.d.sync += window_read.eq(k + 1)
                with m.If(slave.wr_en):
                    m.d.comb += [getattr(self, f"{name}_wr_en").eq(1),
                                 getattr(self, f"{name}_wr_data").eq(slave.wr_data),
                                 getattr(self, f"{name}_wr_strb").eq(slave.wr_strb)]
            with m.If(window_read == k + 1):
                m.d.comb += slave.rd_data.eq(getattr(self, f"{name}_rd_data"))
        for r in regs.REGISTERS:
            if r.access == "wo":
                m.d.sync += getattr(self, f"{r.name.lower()}_wr").eq(0)
        with m.Switch(slave.addr):
            for r in regs.REGISTERS:
                sig = getattr(self, r.name.lower())
                with m.Case(r.offset):
                    pulses = sum(1 << f.bit for f in r.fields if f.pulse)
                    if r.access != "wo":
                        m.d.comb += rd.eq(sig & ~pulses)
                    if r.pops:
                        m.d.comb += getattr(self, f"{r.name.lower()}_rd").eq(slave.rd_en)
                    if r.access == "rw":
                        with m.If(slave.wr_en):
                            m.d.sync += sig.eq(strobed(sig, slave.wr_data, slave.wr_strb))
                    if r.access == "wo":
                        with m.If(slave.wr_en):
                            m.d.sync += [sig.eq(slave.wr_data),
                                         getattr(self, f"{r.name.lower()}_wr").eq(1)]
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
