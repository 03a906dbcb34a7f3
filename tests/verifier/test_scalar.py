"""The scalar domain is sound: concrete results of every ALU op and branch lie in the
abstract ones.  Values are drawn inside random abstract scalars; the oracle is ``isa.alu`` /
``isa.jump_taken`` (the same semantics as the golden model and the hardware)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.ebpf import isa
from firmware.ebpf.isa import MASK32, MASK64, AluOp, JmpOp
from firmware.ebpf.verifier.analyzer import _cond
from firmware.ebpf.verifier.scalar import Scalar

_SETTINGS = dict(max_examples=400, derandomize=True, database=None, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])

_EDGES = [0, 1, 2, 7, 8, 31, 32, 63, 64, 255, 256, 0x7FFF_FFFF, 0x8000_0000, MASK32,
          1 << 32, (1 << 63) - 1, 1 << 63, MASK64 - 1, MASK64]
_value = st.one_of(st.sampled_from(_EDGES), st.integers(0, MASK64), st.integers(0, 300),
                   st.integers(MASK64 - 300, MASK64))


@st.composite
def abstract(draw):
    """(Scalar, a concrete member of it)."""
    v = draw(_value)
    kind = draw(st.sampled_from(["const", "urange", "srange", "bits", "unknown"]))
    if kind == "const":
        return Scalar.const(v), v
    if kind == "unknown":
        return Scalar.unknown(), v
    if kind == "bits":
        mask = draw(_value)
        s = Scalar.make(v & ~mask, mask)
        return s, (v & ~mask) | (draw(_value) & mask)
    w = draw(st.integers(0, 1 << draw(st.integers(0, 64))))
    if kind == "urange":
        lo = max(0, v - draw(st.integers(0, w)))
        hi = min(MASK64, v + w)
        return Scalar.urange(lo, hi), v
    sv = isa.sign_extend(v, 64)
    lo = max(-(1 << 63), sv - draw(st.integers(0, w)))
    hi = min((1 << 63) - 1, sv + w)
    return Scalar.srange(lo, hi), v


def _member(s: Scalar, v: int) -> bool:
    v &= MASK64
    sv = isa.sign_extend(v, 64)
    return (s.umin <= v <= s.umax and s.smin <= sv <= s.smax
            and (v & ~s.mask) == s.value)


_ALU = [op for op in AluOp if op not in (AluOp.END, AluOp.NEG, AluOp.MOV)]


@settings(**_SETTINGS)
@given(abstract(), abstract(), st.sampled_from(_ALU), st.booleans(), st.integers(0, 1))
def test_alu_results_contain_concrete_results(a, b, op, is64, signed):
    (sa, va), (sb, vb) = a, b
    assert _member(sa, va) and _member(sb, vb)
    off = signed if op in (AluOp.DIV, AluOp.MOD) else 0
    got = sa.alu(op, sb, is64, off)
    want = isa.alu(op, is64, va, vb, off)
    assert _member(got, want), (op, is64, sa, va, sb, vb, got, want)


@settings(**_SETTINGS)
@given(abstract(), st.sampled_from([(AluOp.NEG, 0), (AluOp.END, 16), (AluOp.END, 32),
                                    (AluOp.END, 64), (AluOp.MOV, 8), (AluOp.MOV, 16),
                                    (AluOp.MOV, 32)]), st.booleans(), st.booleans())
def test_unary_results_contain_concrete_results(a, opw, is64, src_is_reg):
    sa, va = a
    op, w = opw
    if op == AluOp.MOV:
        if not is64 and w == 32:
            return
        got = Scalar.const(0).alu(op, sa, is64, w)
        want = isa.alu(op, is64, 0, va, w)
    elif op == AluOp.END:
        got = sa.alu(op, Scalar.const(0), is64, 0, w, src_is_reg)
        want = isa.alu(op, is64, va, 0, 0, w, src_is_reg)
    else:
        got = sa.alu(op, Scalar.const(0), is64)
        want = isa.alu(op, is64, va, 0)
    assert _member(got, want)


_COND = [op for op in JmpOp if op not in (JmpOp.JA, JmpOp.CALL, JmpOp.EXIT)]


@settings(**_SETTINGS)
@given(abstract(), abstract(), st.sampled_from(_COND), st.booleans())
def test_branch_refinement_keeps_the_concrete_values(a, b, op, is64):
    (sa, va), (sb, vb) = a, b
    taken = isa.jump_taken(op, is64, va, vb)
    r = _cond(op, is64, sa, sb, taken)
    assert r is not None, "the edge the concrete values take was judged impossible"
    assert _member(r[0], va) and _member(r[1], vb)


def test_known_bits_survive_masking_and_shifts():
    x = Scalar.unknown().alu(AluOp.AND, Scalar.const(0xFF0), True)
    assert (x.umin, x.umax, x.value, x.mask) == (0, 0xFF0, 0, 0xFF0)
    y = x.alu(AluOp.RSH, Scalar.const(4), True)
    assert (y.umin, y.umax, y.mask) == (0, 0xFF, 0xFF)
    z = y.alu(AluOp.LSH, Scalar.const(2), True).alu(AluOp.ADD, Scalar.const(1), True)
    assert (z.umin, z.umax, z.value, z.mask) == (1, 0x3FD, 1, 0x3FC)


def test_32bit_compare_narrows_a_zero_extended_value():
    w = Scalar.unknown().low32()
    taken, _ = _cond(JmpOp.JLT, False, w, Scalar.const(100), True)
    assert (taken.umin, taken.umax, taken.smin, taken.smax) == (0, 99, 0, 99)


@pytest.mark.parametrize("lo,hi", [(0, 0), (5, 5), (3, 17), (0, MASK32), (1 << 40, (1 << 40) + 3)])
def test_range_constructor_is_exact(lo, hi):
    s = Scalar.urange(lo, hi)
    assert (s.umin, s.umax) == (lo, hi)
    assert s.is_const == (lo == hi)
