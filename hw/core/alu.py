"""Single-cycle ALU: every RFC 9669 ALU operation except div and mod (see ``divider``), and
mul too where a pipelined multiplier takes it (``with_mul=False``).

Mirrors :func:`firmware.ebpf.isa.alu`: 32-bit forms work on the low halves and zero-extend;
shift amounts are masked to the width; ``off`` selects movsx widths; ``imm`` is the END width
(le truncates, be and bswap reverse bytes).
"""

from amaranth.hdl import Module, Signal, Cat, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .decoder import AluOp

__all__ = ["ALU", "byte_swap"]


def byte_swap(m: Module, value, bits: int):
    """A signal holding the low ``bits`` of ``value`` with their byte order reversed."""
    out = Signal(64, name=f"bswap{bits}")
    nbytes = bits // 8
    m.d.comb += out.eq(Cat(*[value[8 * (nbytes - 1 - i):8 * (nbytes - i)]
                             for i in range(nbytes)]))
    return out


class ALU(wiring.Component):
    """Combinational ALU.

    Parameters
    ----------
    with_mul : bool
        Compute mul here (the one-cycle core); the pipelined core's multiplier
        (``pipelined/multiplier.py``) spreads it over DSP stages instead.

    Members
    -------
    op : In(AluOp)
    is64 : In(1)
        ALU64 class (else ALU: 32-bit, zero-extended result).
    a : In(64)
        The dst register.
    b : In(64)
        The src register, or the sign-extended immediate for K forms.
    off : In(16)
        movsx width (8, 16, 32) for MOV; 0 otherwise.
    imm : In(32)
        END width (16, 32, 64).
    src_is_reg : In(1)
        For END in the ALU class: 0 = le (truncate), 1 = be (swap).
    result : Out(64)
    """

    op: In(AluOp)
    is64: In(1)
    a: In(64)
    b: In(64)
    off: In(16)
    imm: In(32)
    src_is_reg: In(1)
    result: Out(64)

    def __init__(self, with_mul: bool = True):
        self.with_mul = with_mul
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        a, b = self.a, self.b
        a32, b32 = a[:32], b[:32]
        shamt = Mux(self.is64, b[:6], b[:5])
        r = Signal(64)

        with m.Switch(self.op):
            with m.Case(AluOp.ADD):
                m.d.comb += r.eq(a + b)
            with m.Case(AluOp.SUB):
                m.d.comb += r.eq(a - b)
            if self.with_mul:
                with m.Case(AluOp.MUL):
                    m.d.comb += r.eq(a * b)
            with m.Case(AluOp.OR):
                m.d.comb += r.eq(a | b)
            with m.Case(AluOp.AND):
                m.d.comb += r.eq(a & b)
            with m.Case(AluOp.XOR):
                m.d.comb += r.eq(a ^ b)
            with m.Case(AluOp.LSH):
                m.d.comb += r.eq(a << shamt)
            with m.Case(AluOp.RSH):
                m.d.comb += r.eq(Mux(self.is64, a, a32) >> shamt)
            with m.Case(AluOp.ARSH):
                m.d.comb += r.eq(Mux(self.is64, a.as_signed() >> shamt,
                                     a32.as_signed() >> shamt))
            with m.Case(AluOp.NEG):
                m.d.comb += r.eq(-a)
            with m.Case(AluOp.MOV):
                with m.Switch(self.off):
                    with m.Case(8):
                        m.d.comb += r.eq(b[:8].as_signed())
                    with m.Case(16):
                        m.d.comb += r.eq(b[:16].as_signed())
                    with m.Case(32):
                        m.d.comb += r.eq(b[:32].as_signed())
                    with m.Default():
                        m.d.comb += r.eq(b)
            with m.Case(AluOp.END):
                swapped = {bits: byte_swap(m, a, bits) for bits in (16, 32, 64)}
                with m.Switch(self.imm):
                    for bits in (16, 32, 64):
                        with m.Case(bits):
                            truncated = a[:bits]
                            with m.If(~self.is64 & ~self.src_is_reg):
                                m.d.comb += r.eq(truncated)      # le on a little-endian host
                            with m.Else():
                                m.d.comb += r.eq(swapped[bits])  # be, bswap
        # END computes its own width: le64/be64 are 64-bit even in the ALU class.
        is_end = self.op == AluOp.END
        m.d.comb += self.result.eq(Mux(self.is64 | is_end, r, r[:32]))
        return m
