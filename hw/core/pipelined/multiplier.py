"""Pipelined multiplier for mul (32 and 64 bit): the low 64 bits of a 64x64 product.

With the operands cut into 16-bit digits ``a = sum a_i 2^16i``, the low 64 bits need the ten
products ``a_i * b_j`` with ``i + j <= 3``, one MULT18X18D each.  The products are
registered (the block's own pipeline register), then summed per weight (``i + j`` = 1, 2, 3;
of the weight-3 sum only 16 bits count) and registered, then the weighted sums added: the
result is registered ``LATENCY`` cycles after ``start``, with no multiplier and no long
adder chain in one cycle.  32-bit forms multiply the low halves and zero-extend the low 32
bits of the product.
Ref: RFC 9669 section 4.1; :func:`firmware.ebpf.isa.alu`.
"""

from amaranth.hdl import Module, Signal, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Multiplier", "LATENCY"]

LATENCY = 3
"""Cycles from ``start`` to ``done``: products, sums per weight, total."""


class Multiplier(wiring.Component):
    """Fixed-latency pipelined multiplier.

    Members
    -------
    start : In(1)
        Operands valid this cycle.
    a, b : In(64)
        The dst register and the src register or sign-extended immediate.
    is64 : In(1)
        ALU64 class (else ALU: the low 32 bits, zero-extended).
    done : Out(1)
        ``result`` holds the product of the operands given ``LATENCY`` cycles earlier.
    result : Out(64)
    """

    start: In(1)
    a: In(64)
    b: In(64)
    is64: In(1)
    done: Out(1)
    result: Out(64)

    def elaborate(self, platform):
        m = Module()
        a = Mux(self.is64, self.a, self.a[:32])
        b = Mux(self.is64, self.b, self.b[:32])
        digits_a = [a[16 * i:16 * i + 16] for i in range(4)]
        digits_b = [b[16 * i:16 * i + 16] for i in range(4)]
        is64 = [Signal(name=f"is64_{i}") for i in range(3)]
        valid = [Signal(name=f"valid_{i}") for i in range(3)]

        # Stage 1: the ten digit products, by weight.
        products = {w: [] for w in range(4)}
        for i in range(4):
            for j in range(4 - i):
                p = Signal(32, name=f"p{i}{j}")
                m.d.sync += p.eq(digits_a[i] * digits_b[j])
                products[i + j].append(p)
        m.d.sync += [is64[0].eq(self.is64), valid[0].eq(self.start)]

        # Stage 2: one sum per weight (weight 3 keeps its low 16 bits).
        sums = []
        for w, width in ((0, 32), (1, 34), (2, 34), (3, 16)):
            total = Signal(width, name=f"weight{w}")
            m.d.sync += total.eq(sum(products[w]))
            sums.append(total)
        m.d.sync += [is64[1].eq(is64[0]), valid[1].eq(valid[0])]

        # Stage 3: the weighted sum.
        low = Signal(64)
        m.d.comb += low.eq(sums[0] + (sums[1] << 16) + (sums[2] << 32) + (sums[3] << 48))
        m.d.sync += [self.result.eq(Mux(is64[1], low, low[:32])), valid[2].eq(valid[1])]
        m.d.comb += self.done.eq(valid[2])
        return m
