"""Branch condition unit: JMP (64-bit) and JMP32 (low halves) comparisons.

Mirrors :func:`firmware.ebpf.isa.jump_taken`. Ref: RFC 9669 section 4.3.
"""

from amaranth.hdl import Module, Signal, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .decoder import JmpOp

__all__ = ["BranchUnit"]


class BranchUnit(wiring.Component):
    """Combinational jump condition.

    Members
    -------
    op : In(JmpOp)
        A conditional jump operation (other values give ``taken`` = 0).
    is64 : In(1)
        JMP class (else JMP32: compare the low 32 bits).
    a, b : In(64)
        The dst register and the src register or sign-extended immediate.
    taken : Out(1)
    """

    op: In(JmpOp)
    is64: In(1)
    a: In(64)
    b: In(64)
    taken: Out(1)

    def elaborate(self, platform):
        m = Module()
        a = Signal(64)
        b = Signal(64)
        # 32-bit: zero-extend for unsigned compares; signed compares look at bit 31.
        m.d.comb += [
            a.eq(Mux(self.is64, self.a, self.a[:32])),
            b.eq(Mux(self.is64, self.b, self.b[:32])),
        ]
        sa = Mux(self.is64, self.a.as_signed(), self.a[:32].as_signed())
        sb = Mux(self.is64, self.b.as_signed(), self.b[:32].as_signed())
        t = self.taken
        with m.Switch(self.op):
            with m.Case(JmpOp.JEQ):
                m.d.comb += t.eq(a == b)
            with m.Case(JmpOp.JNE):
                m.d.comb += t.eq(a != b)
            with m.Case(JmpOp.JGT):
                m.d.comb += t.eq(a > b)
            with m.Case(JmpOp.JGE):
                m.d.comb += t.eq(a >= b)
            with m.Case(JmpOp.JLT):
                m.d.comb += t.eq(a < b)
            with m.Case(JmpOp.JLE):
                m.d.comb += t.eq(a <= b)
            with m.Case(JmpOp.JSET):
                m.d.comb += t.eq((a & b) != 0)
            with m.Case(JmpOp.JSGT):
                m.d.comb += t.eq(sa > sb)
            with m.Case(JmpOp.JSGE):
                m.d.comb += t.eq(sa >= sb)
            with m.Case(JmpOp.JSLT):
                m.d.comb += t.eq(sa < sb)
            with m.Case(JmpOp.JSLE):
                m.d.comb += t.eq(sa <= sb)
        return m
