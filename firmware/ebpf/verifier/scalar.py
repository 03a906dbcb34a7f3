"""The scalar domain: known bits (a tnum) and signed and unsigned 64-bit ranges.

A ``Scalar`` over-approximates the set of 64-bit values a register may hold.  It is the
reduced product of three views, kept consistent by ``Scalar.make`` (the kernel's
``reg_bounds_sync``):

* ``value``/``mask``: a tristate number; bits set in ``mask`` are unknown, the others equal
  ``value``'s.  Ref: Linux kernel/bpf/tnum.c (Vishwanathan et al., "Sound, Precise, and Fast
  Abstract Interpretation with Tristate Numbers", CGO 2022).
* ``umin``/``umax``: the range of the value read as unsigned.
* ``smin``/``smax``: the range of the value read as two's-complement signed.

Every transfer function here is sound: the concrete result of the operation on any values in
the inputs is in the output.  Where precision would cost much code the answer is "unknown".
An empty set is represented by ``None`` (a branch that cannot be taken).
"""

from __future__ import annotations

from .. import isa
from ..isa import MASK32, MASK64, AluOp, JmpOp

__all__ = ["Scalar", "U64", "S64_MIN", "S64_MAX"]

U64 = 1 << 64
S64_MIN = -(1 << 63)
S64_MAX = (1 << 63) - 1
S32_MIN = -(1 << 31)
S32_MAX = (1 << 31) - 1


def _s64(v: int) -> int:
    v &= MASK64
    return v - U64 if v >> 63 else v


def _tnum_range(lo: int, hi: int) -> tuple[int, int]:
    """The smallest tnum holding every unsigned value in [lo, hi]."""
    chi = lo ^ hi
    bits = chi.bit_length()
    if bits > 63:
        return 0, MASK64
    delta = (1 << bits) - 1
    return lo & ~delta & MASK64, delta


_CONSTS: dict = {}


class Scalar:
    """An abstract 64-bit value; build with ``make``/``const``/``unknown``, never mutate."""

    __slots__ = ("value", "mask", "umin", "umax", "smin", "smax")

    def __init__(self, value, mask, umin, umax, smin, smax):
        self.value, self.mask = value, mask
        self.umin, self.umax, self.smin, self.smax = umin, umax, smin, smax

    # --- construction ---------------------------------------------------------------------

    @staticmethod
    def make(value=0, mask=MASK64, umin=0, umax=MASK64, smin=S64_MIN,
             smax=S64_MAX) -> Scalar | None:
        """A reduced scalar from possibly inconsistent views; None if they admit no value."""
        value &= MASK64
        mask &= MASK64
        value &= ~mask
        for _ in range(3):
            # tnum -> ranges
            tmin, tmax = value, value | mask
            umin, umax = max(umin, tmin), min(umax, tmax)
            if not mask >> 63:           # sign bit known
                smin, smax = max(smin, _s64(tmin)), min(smax, _s64(tmax))
            else:
                # sign unknown: the signed range is [tmax with sign set, tmin without sign]
                smin = max(smin, _s64(tmin | (1 << 63)))
                smax = min(smax, _s64(tmax & ~(1 << 63)))
            # signed <-> unsigned
            if smin >= 0:
                umin, umax = max(umin, smin), min(umax, smax)
            elif smax < 0:
                umin, umax = max(umin, smin + U64), min(umax, smax + U64)
            if umax <= S64_MAX:
                smin, smax = max(smin, umin), min(smax, umax)
            elif umin > S64_MAX:
                smin, smax = max(smin, umin - U64), min(smax, umax - U64)
            elif smin < 0 <= smax:
                # the signed range wraps the unsigned domain's ends: an unsigned range that
                # meets only one end keeps only that part (the kernel's __reg64_deduce_bounds)
                if umax < smin + U64:
                    smin, umax = max(smin, umin), min(umax, smax)
                elif smax < umin:
                    smax, umin = min(smax, umax - U64), max(umin, smin + U64)
            if umin > umax or smin > smax:
                return None
            # ranges -> tnum
            rv, rm = _tnum_range(umin, umax)
            if (rv ^ value) & ~(rm | mask) & MASK64:
                return None
            nv, nm = (value | rv) & MASK64, mask & rm
            if (nv, nm) == (value, mask):
                break
            value, mask = nv & ~nm, nm
        if umin > umax or smin > smax:
            return None
        return Scalar(value, mask, umin, umax, smin, smax)

    @staticmethod
    def const(v: int) -> Scalar:
        v &= MASK64
        s = _CONSTS.get(v)
        if s is None:
            sv = v - U64 if v >> 63 else v
            s = Scalar(v, 0, v, v, sv, sv)
            if len(_CONSTS) < 4096:      # scalars are immutable: share the common ones
                _CONSTS[v] = s
        return s

    @staticmethod
    def unknown() -> Scalar:
        return Scalar(0, MASK64, 0, MASK64, S64_MIN, S64_MAX)

    @staticmethod
    def urange(lo: int, hi: int) -> Scalar:
        return Scalar.make(umin=lo, umax=hi)

    @staticmethod
    def srange(lo: int, hi: int) -> Scalar:
        return Scalar.make(smin=lo, smax=hi)

    # --- queries --------------------------------------------------------------------------

    @property
    def is_const(self) -> bool:
        return self.mask == 0

    @property
    def is_unknown(self) -> bool:
        return (self.mask == MASK64 and self.umin == 0 and self.umax == MASK64
                and self.smin == S64_MIN and self.smax == S64_MAX)

    def contains(self, other: Scalar) -> bool:
        """Whether every value ``other`` admits is admitted here (for state pruning)."""
        return (self.umin <= other.umin and other.umax <= self.umax
                and self.smin <= other.smin and other.smax <= self.smax
                and (other.mask & ~self.mask) == 0
                and ((self.value ^ other.value) & ~self.mask) == 0)

    def may_be_zero(self) -> bool:
        return self.umin == 0 and (self.value == 0)

    def key(self):
        return (self.value, self.mask, self.umin, self.umax, self.smin, self.smax)

    def __eq__(self, other):
        return isinstance(other, Scalar) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())

    def __repr__(self):
        if self.is_const:
            return f"{self.smin}"
        parts = []
        if (self.smin, self.smax) != (S64_MIN, S64_MAX):
            parts.append(f"smin={self.smin},smax={self.smax}")
        if (self.umin, self.umax) != (0, MASK64):
            parts.append(f"umin={self.umin},umax={self.umax}")
        if self.mask != MASK64:
            parts.append(f"var_off=(0x{self.value:x}; 0x{self.mask:x})")
        return "(" + ",".join(parts) + ")" if parts else "scalar"

    # --- width conversions ----------------------------------------------------------------

    def low32(self) -> Scalar:
        """The low 32 bits, zero-extended (what a 32-bit operation reads)."""
        if self.umax <= MASK32:
            return self
        if self.smax < 0 and self.smin >= -(1 << 32) and (self.smin >> 32) == (self.smax >> 32):
            return Scalar.make(self.value & MASK32, self.mask & MASK32,
                               self.smin & MASK32, self.smax & MASK32)
        if (self.umin >> 32) == (self.umax >> 32):
            return Scalar.make(self.value & MASK32, self.mask & MASK32,
                               self.umin & MASK32, self.umax & MASK32)
        return Scalar.make(self.value & MASK32, self.mask & MASK32, 0, MASK32)

    def sext(self, bits: int) -> Scalar:
        """The low ``bits`` sign-extended to 64 bits."""
        if bits == 64:
            return self
        half = 1 << (bits - 1)
        if -half <= self.smin and self.smax < half:
            return self
        low = self.low_bits(bits)
        if low.umax < half:
            return low
        if low.umin >= half:
            return Scalar.make(smin=low.umin - (1 << bits), smax=low.umax - (1 << bits))
        if low.is_const:
            return Scalar.const(isa.sign_extend(low.umin, bits))
        return Scalar.srange(-half, half - 1)

    def low_bits(self, bits: int) -> Scalar:
        """The low ``bits`` bits, zero-extended."""
        if bits == 64:
            return self
        if bits == 32:
            return self.low32()
        m = (1 << bits) - 1
        if self.umax <= m:
            return self
        if (self.umin >> bits) == (self.umax >> bits):
            return Scalar.make(self.value & m, self.mask & m, self.umin & m, self.umax & m)
        return Scalar.make(self.value & m, self.mask & m, 0, m)

    # --- ALU ------------------------------------------------------------------------------

    def alu(self, op: AluOp, other: Scalar, is64: bool, off: int = 0, imm: int = 0,
            src_is_reg: bool = True) -> Scalar:
        """The result of ``self op other`` as the instruction writes it to dst."""
        if op == AluOp.MOV:
            if off:
                return (other.sext(off) if is64 else other.low32().sext(off).low32())
            return other if is64 else other.low32()
        if op == AluOp.END:
            # le/be/bswap read the whole register whatever their class (le64 keeps 64 bits)
            if self.is_const:
                return Scalar.const(isa.alu(op, is64, self.umin, 0, off, imm, src_is_reg))
            if not is64 and not src_is_reg:
                return self.low_bits(imm)
            return Scalar.urange(0, (1 << imm) - 1)
        a, b = (self, other) if is64 else (self.low32(), other.low32())
        if a.is_const and b.is_const:
            return Scalar.const(isa.alu(op, is64, a.umin, b.umin, off, imm, src_is_reg))
        r = _alu64(op, a, b, 64 if is64 else 32, off, imm, src_is_reg, is64)
        if r is None:       # cannot happen for non-empty inputs; be safe, not clever
            r = Scalar.unknown()
        return r if is64 else r.low32()


def _add(a: Scalar, b: Scalar) -> Scalar:
    sv = a.value + b.value
    sm = a.mask + b.mask
    sigma = sv + sm
    chi = sigma ^ sv
    mu = chi | a.mask | b.mask
    umin, umax = 0, MASK64
    if a.umax + b.umax <= MASK64:
        umin, umax = a.umin + b.umin, a.umax + b.umax
    smin, smax = S64_MIN, S64_MAX
    if S64_MIN <= a.smin + b.smin and a.smax + b.smax <= S64_MAX:
        smin, smax = a.smin + b.smin, a.smax + b.smax
    return Scalar.make(sv & ~mu, mu, umin, umax, smin, smax)


def _sub(a: Scalar, b: Scalar) -> Scalar:
    dv = a.value - b.value
    alpha = dv + a.mask
    beta = dv - b.mask
    chi = alpha ^ beta
    mu = chi | a.mask | b.mask
    umin, umax = 0, MASK64
    if a.umin >= b.umax:
        umin, umax = a.umin - b.umax, a.umax - b.umin
    smin, smax = S64_MIN, S64_MAX
    if S64_MIN <= a.smin - b.smax and a.smax - b.smin <= S64_MAX:
        smin, smax = a.smin - b.smax, a.smax - b.smin
    return Scalar.make(dv & ~mu, mu, umin, umax, smin, smax)


def _mul(a: Scalar, b: Scalar) -> Scalar:
    umin, umax = 0, MASK64
    if a.umax * b.umax <= MASK64:
        umin, umax = a.umin * b.umin, a.umax * b.umax
    smin, smax = S64_MIN, S64_MAX
    prods = [x * y for x in (a.smin, a.smax) for y in (b.smin, b.smax)]
    if S64_MIN <= min(prods) and max(prods) <= S64_MAX:
        smin, smax = min(prods), max(prods)
    # trailing known-zero bits survive multiplication
    tz = _trailing_known_zeros(a) + _trailing_known_zeros(b)
    mask = MASK64 & ~((1 << min(tz, 64)) - 1)
    return Scalar.make(0, mask, umin, umax, smin, smax)


def _trailing_known_zeros(a: Scalar) -> int:
    known_zero = ~(a.value | a.mask) & MASK64
    n = 0
    while n < 64 and (known_zero >> n) & 1:
        n += 1
    return n


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _alu64(op, a: Scalar, b: Scalar, bits, off, imm, src_is_reg, is64) -> Scalar | None:
    """``a op b`` where both fit the operation width (32-bit inputs are zero-extended)."""
    width_max = MASK64 if bits == 64 else MASK32
    if bits == 32:
        # do 32-bit arithmetic through signed views of the low halves where that matters
        sa, sb = a.sext(32), b.sext(32)
    else:
        sa, sb = a, b
    if op == AluOp.ADD:
        return _add(a, b).low_bits(bits)
    if op == AluOp.SUB:
        if bits == 32:
            return _sub(sa, sb).low32()
        return _sub(a, b)
    if op == AluOp.MUL:
        if bits == 32:
            return _mul(a, b).low32()
        return _mul(a, b)
    if op == AluOp.NEG:
        zero = Scalar.const(0)
        return _sub(zero, sa).low_bits(bits)
    if op == AluOp.AND:
        v = a.value & b.value
        m = (a.mask | a.value) & (b.mask | b.value) & ~v
        umax = min(a.umax, b.umax)
        smin, smax = S64_MIN, S64_MAX
        if a.smin >= 0 or b.smin >= 0:
            smin = 0
        return Scalar.make(v, m, 0, umax, smin, smax)
    if op == AluOp.OR:
        v = a.value | b.value
        m = (a.mask | b.mask) & ~v
        return Scalar.make(v, m, max(a.umin, b.umin), MASK64)
    if op == AluOp.XOR:
        v = a.value ^ b.value
        m = a.mask | b.mask
        r = Scalar.make(v & ~m, m)
        if a.smin >= 0 and b.smin >= 0 and r is not None:
            r = Scalar.make(r.value, r.mask, r.umin, r.umax, 0, r.smax)
        return r
    if op in (AluOp.LSH, AluOp.RSH, AluOp.ARSH):
        sh = b.low_bits(6 if bits == 64 else 5) if b.umax >= bits else b
        if sh.is_const:
            k = sh.umin
            if op == AluOp.LSH:
                v, m = (a.value << k) & width_max, (a.mask << k) & width_max
                umin, umax = 0, width_max
                if a.umax << k <= width_max:
                    umin, umax = a.umin << k, a.umax << k
                return Scalar.make(v, m, umin, umax)
            if op == AluOp.RSH:
                return Scalar.make(a.value >> k, a.mask >> k, a.umin >> k, a.umax >> k)
            # ARSH: shift the signed view of the operation width
            lo, hi = sa.smin >> k, sa.smax >> k
            r = Scalar.srange(lo, hi)
            return r.low_bits(bits) if r is not None else None
        lo_k, hi_k = sh.umin, sh.umax
        if op == AluOp.RSH:
            return Scalar.urange(a.umin >> hi_k, a.umax >> lo_k)
        if op == AluOp.ARSH:
            lo = min(sa.smin >> lo_k, sa.smin >> hi_k)
            hi = max(sa.smax >> lo_k, sa.smax >> hi_k)
            return Scalar.srange(lo, hi).low_bits(bits)
        return Scalar.urange(0, width_max)
    if op == AluOp.DIV:
        if off == 1:                          # sdiv
            if sb.is_const and sb.smin != 0 and not (sb.smin == -1):
                c = sb.smin
                q = [_trunc_div(sa.smin, c), _trunc_div(sa.smax, c)]
                return Scalar.srange(min(q), max(q)).low_bits(bits)
            return Scalar.urange(0, width_max)
        hi = a.umax
        lo = 0
        if b.umin > 0:
            lo, hi = a.umin // b.umax, a.umax // b.umin
        return Scalar.urange(lo, hi)
    if op == AluOp.MOD:
        if off == 1:                          # smod: |r| < |b| and r has a's sign (or is a)
            if sb.umin > 0 or sb.smax < 0 or sb.smin > 0:
                lim = max(abs(sb.smin), abs(sb.smax)) - 1
                if sa.smin >= 0:
                    r = Scalar.srange(0, min(lim, sa.smax))
                elif sa.smax <= 0:
                    r = Scalar.srange(max(-lim, sa.smin), 0)
                else:
                    r = Scalar.srange(-lim, lim)
                return r.low_bits(bits)
            return Scalar.urange(0, width_max)
        hi = a.umax
        if b.umin > 0:
            hi = min(a.umax, b.umax - 1)
        return Scalar.urange(0, hi)
    if op == AluOp.END:
        width = imm
        if not is64 and not src_is_reg:            # le: truncation
            return a.low_bits(width)
        return Scalar.urange(0, (1 << width) - 1)
    raise ValueError(f"not an ALU operation: {op!r}")


# --- branch refinement --------------------------------------------------------------------

_NEGATE = {
    JmpOp.JEQ: JmpOp.JNE, JmpOp.JNE: JmpOp.JEQ,
    JmpOp.JGT: JmpOp.JLE, JmpOp.JLE: JmpOp.JGT, JmpOp.JGE: JmpOp.JLT, JmpOp.JLT: JmpOp.JGE,
    JmpOp.JSGT: JmpOp.JSLE, JmpOp.JSLE: JmpOp.JSGT, JmpOp.JSGE: JmpOp.JSLT,
    JmpOp.JSLT: JmpOp.JSGE,
}

_SWAP = {
    JmpOp.JEQ: JmpOp.JEQ, JmpOp.JNE: JmpOp.JNE, JmpOp.JSET: JmpOp.JSET,
    JmpOp.JGT: JmpOp.JLT, JmpOp.JLT: JmpOp.JGT, JmpOp.JGE: JmpOp.JLE, JmpOp.JLE: JmpOp.JGE,
    JmpOp.JSGT: JmpOp.JSLT, JmpOp.JSLT: JmpOp.JSGT, JmpOp.JSGE: JmpOp.JSLE,
    JmpOp.JSLE: JmpOp.JSGE,
}


def negate(op: JmpOp) -> JmpOp | None:
    """The condition of the fall-through edge (None for JSET, handled apart)."""
    return _NEGATE.get(op)


def swap(op: JmpOp) -> JmpOp:
    """The condition with its operands exchanged."""
    return _SWAP[op]


def refine(op: JmpOp, a: Scalar, b: Scalar, taken: bool = True
           ) -> tuple[Scalar, Scalar] | None:
    """``(a', b')`` narrowed by the 64-bit condition ``a op b`` being ``taken``, or None."""
    if op == JmpOp.JSET:
        return _refine_jset(a, b, taken)
    if not taken:
        op = _NEGATE[op]
    if op == JmpOp.JEQ:
        m = _meet(a, b)
        return None if m is None else (m, m)
    if op == JmpOp.JNE:
        if a.is_const and b.is_const and a.umin == b.umin:
            return None
        return _ne_trim(a, b), _ne_trim(b, a)
    if op in (JmpOp.JGT, JmpOp.JGE, JmpOp.JLT, JmpOp.JLE):
        if op in (JmpOp.JLT, JmpOp.JLE):
            r = refine(swap(op), b, a)
            return None if r is None else (r[1], r[0])
        d = 1 if op == JmpOp.JGT else 0
        na = Scalar.make(a.value, a.mask, max(a.umin, b.umin + d), a.umax, a.smin, a.smax)
        nb = Scalar.make(b.value, b.mask, b.umin, min(b.umax, a.umax - d), b.smin, b.smax)
        return None if na is None or nb is None else (na, nb)
    if op in (JmpOp.JSLT, JmpOp.JSLE):
        r = refine(swap(op), b, a)
        return None if r is None else (r[1], r[0])
    d = 1 if op == JmpOp.JSGT else 0
    na = Scalar.make(a.value, a.mask, a.umin, a.umax, max(a.smin, b.smin + d), a.smax)
    nb = Scalar.make(b.value, b.mask, b.umin, b.umax, b.smin, min(b.smax, a.smax - d))
    return None if na is None or nb is None else (na, nb)


def _meet(a: Scalar, b: Scalar) -> Scalar | None:
    if (a.value ^ b.value) & ~(a.mask | b.mask):
        return None
    v = a.value | b.value
    m = a.mask & b.mask
    return Scalar.make(v & ~m, m, max(a.umin, b.umin), min(a.umax, b.umax),
                       max(a.smin, b.smin), min(a.smax, b.smax))


def _ne_trim(a: Scalar, b: Scalar) -> Scalar:
    """``a`` knowing it differs from ``b``: trims a range end equal to a constant ``b``."""
    if not b.is_const:
        return a
    c = b.umin
    umin, umax, smin, smax = a.umin, a.umax, a.smin, a.smax
    if umin == c:
        umin += 1
    if umax == c:
        umax -= 1
    sc = _s64(c)
    if smin == sc:
        smin += 1
    if smax == sc:
        smax -= 1
    r = Scalar.make(a.value, a.mask, umin, umax, smin, smax)
    return r if r is not None else a


def _refine_jset(a: Scalar, b: Scalar, taken: bool):
    if not b.is_const:
        return (a, b)
    c = b.umin
    if taken:
        if (a.value | a.mask) & c == 0:
            return None
        if c and c & (c - 1) == 0:   # a single bit: it is set
            r = Scalar.make(a.value | c, a.mask & ~c, a.umin, a.umax, a.smin, a.smax)
            return None if r is None else (r, b)
        return (a, b)
    if a.value & c:
        return None
    r = Scalar.make(a.value, a.mask & ~c, a.umin, a.umax, a.smin, a.smax)
    return None if r is None else (r, b)


def decide(op: JmpOp, a: Scalar, b: Scalar) -> bool | None:
    """True/False when the condition always/never holds for these operands, else None."""
    taken = refine(op, a, b, True)
    not_taken = refine(op, a, b, False)
    if taken is None and not_taken is None:
        return None      # empty inputs; callers never pass them
    if taken is None:
        return False
    if not_taken is None:
        return True
    return None
