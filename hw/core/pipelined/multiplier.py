"""Pipelined multiplier for mul (32 and 64 bit): the low 64 bits of a 64x64 product.

The product's low half needs three 32x32 partial products, ``lo*lo + (lo*hi + hi*lo) << 32``,
of which the cross terms keep only their low 32 bits.  Each partial product is registered
(yosys maps them onto MULT18X18D blocks with their input and pipeline registers), then the
sum is registered: the result is ready ``LATENCY`` cycles after ``start``.  32-bit forms
multiply the low halves and zero-extend the low 32 bits of the product.
Ref: RFC 9669 section 4.1; :func:`firmware.ebpf.isa.alu`.
"""

from amaranth.hdl import Module, Signal, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Multiplier", "LATENCY"]

LATENCY = 3
"""Cycles from ``start`` to ``done``: operands registered, partial products, their sum."""


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
        # Stage 1: operands (the 32-bit form clears the high halves).
        a = Signal(64)
        b = Signal(64)
        is64 = [Signal(name=f"is64_{i}") for i in range(3)]
        valid = [Signal(name=f"valid_{i}") for i in range(3)]
        m.d.sync += [
            a.eq(Mux(self.is64, self.a, self.a[:32])),
            b.eq(Mux(self.is64, self.b, self.b[:32])),
            is64[0].eq(self.is64), valid[0].eq(self.start),
        ]
        # Stage 2: partial products.
        lo_lo = Signal(64)
        cross = Signal(32)
        m.d.sync += [
            lo_lo.eq(a[:32] * b[:32]),
            cross.eq(a[:32] * b[32:] + a[32:] * b[:32]),
            is64[1].eq(is64[0]), valid[1].eq(valid[0]),
        ]
        # Stage 3: their sum.
        total = Signal(64)
        m.d.comb += total.eq(lo_lo + (cross << 32))
        m.d.sync += [
            self.result.eq(Mux(is64[1], total, total[:32])),
            valid[2].eq(valid[1]),
        ]
        m.d.comb += self.done.eq(valid[2])
        return m
