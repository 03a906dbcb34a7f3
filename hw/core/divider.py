"""Radix-2 restoring divider for div, mod, sdiv and smod (32 and 64 bit).

One quotient bit per cycle: 64 iterations for ALU64, 32 for ALU.  Signed forms divide the
magnitudes and fix the signs afterwards (quotient negative when the signs differ, remainder
takes the dividend's sign), which is C's truncating division.  Division by zero takes one
cycle and gives the kernel's results: quotient 0, remainder = the dividend.
Ref: RFC 9669 section 4.1; :func:`firmware.ebpf.isa.alu`.
"""

from amaranth.hdl import Module, Signal, Mux, Cat
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Divider"]


class Divider(wiring.Component):
    """Multi-cycle divider.

    Members
    -------
    start : In(1)
        Pulse with the operands valid: begins a division (ignored while busy).
    a, b : In(64)
        Dividend (dst) and divisor (src or sign-extended imm).
    is64, signed, modulo : In(1)
        Width; sdiv/smod; mod rather than div.
    busy : Out(1)
    done : Out(1)
        One-cycle pulse: ``result`` is valid.
    result : Out(64)
        Zero-extended to 64 bits for the 32-bit forms.  Held until the next start.
    """

    start: In(1)
    a: In(64)
    b: In(64)
    is64: In(1)
    signed: In(1)
    modulo: In(1)
    busy: Out(1)
    done: Out(1)
    result: Out(64)

    def elaborate(self, platform):
        m = Module()
        is64 = Signal()
        modulo = Signal()
        neg_q = Signal()
        neg_r = Signal()
        dividend = Signal(64)      # shifted out from the top, one bit per cycle
        divisor = Signal(64)
        rem = Signal(65)
        quo = Signal(64)
        count = Signal(7)

        # Operand magnitudes at start.
        a_ext = Signal(64)
        b_ext = Signal(64)
        m.d.comb += [
            a_ext.eq(Mux(self.is64, self.a, Mux(self.signed, self.a[:32].as_signed(),
                                                  self.a[:32]))),
            b_ext.eq(Mux(self.is64, self.b, Mux(self.signed, self.b[:32].as_signed(),
                                                  self.b[:32]))),
        ]
        a_neg = self.signed & a_ext[63]
        b_neg = self.signed & b_ext[63]
        a_mag = Mux(a_neg, -a_ext, a_ext)[:64]
        b_mag = Mux(b_neg, -b_ext, b_ext)[:64]
        mask = Mux(self.is64, (1 << 64) - 1, (1 << 32) - 1)

        m.d.sync += self.done.eq(0)
        m.d.comb += self.busy.eq(count != 0)

        with m.If(self.start & (count == 0)):
            with m.If(b_mag == 0):
                # Kernel semantics: x / 0 = 0, x % 0 = x (width-masked).
                m.d.sync += [
                    self.result.eq(Mux(self.modulo, self.a & mask, 0)),
                    self.done.eq(1),
                ]
            with m.Else():
                m.d.sync += [
                    is64.eq(self.is64),
                    modulo.eq(self.modulo),
                    neg_q.eq(a_neg ^ b_neg),
                    neg_r.eq(a_neg),
                    dividend.eq(Mux(self.is64, a_mag, a_mag << 32)),
                    divisor.eq(b_mag),
                    rem.eq(0),
                    quo.eq(0),
                    count.eq(Mux(self.is64, 64, 32)),
                ]
        with m.Elif(count != 0):
            shifted = Signal(65)
            m.d.comb += shifted.eq(Cat(dividend[63], rem[:64]))   # (rem << 1) | next bit
            fits = shifted >= divisor
            new_rem = Signal(65)
            new_quo = Signal(64)
            m.d.comb += [
                new_rem.eq(Mux(fits, shifted - divisor, shifted)),
                new_quo.eq((quo << 1) | fits),
            ]
            m.d.sync += [
                rem.eq(new_rem),
                quo.eq(new_quo),
                dividend.eq(dividend << 1),
                count.eq(count - 1),
            ]
            with m.If(count == 1):
                q = Mux(neg_q, -new_quo, new_quo)[:64]
                r = Mux(neg_r, -new_rem[:64], new_rem[:64])[:64]
                value = Mux(modulo, r, q)
                m.d.sync += [
                    self.result.eq(Mux(is64, value, value[:32])),
                    self.done.eq(1),
                ]
        return m

