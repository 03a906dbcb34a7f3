"""Soundness against the golden model: random straight-line-and-forward-branch programs over a
memory block (the conformance calling convention) that the verifier accepts must never trap
in the model, whatever the block holds.

The generator mixes ALU ops (64 and 32 bit, immediate and register, pointers included), loads
and stores through r1 (the block) and r10 (the stack) with offsets near the edges, values
loaded from the block as variable offsets, and forward conditional jumps that may or may not
guard an access.  Opcodes come from ``isa.OPCODES``.  The default run draws a modest number of
programs; ``--runslow`` draws many more.
"""

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.ebpf import isa, model
from firmware.ebpf.disasm import disassemble
from firmware.ebpf.isa import Cls, Fmt, Insn, Mode
from firmware.ebpf.machine import TrapCause
from firmware.ebpf.verifier import CONFORMANCE, memory_entry_state, verify

_ALU = [s for s in isa.OPCODES if s.cls in (Cls.ALU, Cls.ALU64)
        and s.fmt in (Fmt.ALU_K, Fmt.ALU_X, Fmt.ALU_UNARY)]
_LDX = [s for s in isa.OPCODES if s.fmt == Fmt.LDX]
_STORE = [s for s in isa.OPCODES if s.fmt in (Fmt.ST, Fmt.STX) and s.mode == Mode.MEM]
_COND = [s for s in isa.OPCODES if s.fmt in (Fmt.JMP_K, Fmt.JMP_X)]


def _make(spec, dst=0, src=0, off=0, imm=0) -> Insn:
    fields = {"dst": dst, "src": src, "off": off, "imm": imm}
    for name in spec.unused_fields:          # keep reserved fields clear
        fields[name] = 0
    if spec.discriminator is not None:
        fields[spec.discriminator] = spec.value
    dst = fields["dst"]
    insn = Insn(spec.opcode, dst, fields["src"], fields["off"], fields["imm"])
    insn.spec = isa.lookup(insn.opcode, insn.src, insn.off, insn.imm)
    return insn


@st.composite
def programs(draw):
    size = draw(st.integers(0, 40))
    n = draw(st.integers(1, 14))
    body: list = []
    for _ in range(n):
        kind = draw(st.sampled_from(["alu", "alu", "ldx", "ldx", "store", "jmp"]))
        reg = st.integers(0, 9)
        if kind == "alu":
            spec = draw(st.sampled_from(_ALU))
            src = draw(st.integers(0, 10))
            imm = draw(st.one_of(st.integers(0, 31), st.integers(-3, 64),
                                 st.sampled_from([255, 0xFFFF, -1])))
            body.append(("i", _make(spec, draw(reg), src, 0, imm)))
        elif kind == "ldx":
            spec = draw(st.sampled_from(_LDX))
            base = draw(st.sampled_from([1, 1, 10, 3, 6, 4]))
            off = draw(st.integers(-16, size + 4)) if base != 10 else draw(st.integers(-24, 0))
            body.append(("i", _make(spec, draw(reg), base, off)))
        elif kind == "store":
            spec = draw(st.sampled_from(_STORE))
            base = draw(st.sampled_from([1, 10, 3, 6, 4]))
            off = draw(st.integers(-16, size + 4)) if base != 10 else draw(st.integers(-24, 0))
            body.append(("i", _make(spec, base, draw(st.integers(0, 9)), off,
                                    draw(st.integers(-5, 5)))))
        else:
            spec = draw(st.sampled_from(_COND))
            body.append(("j", spec, draw(reg), draw(st.integers(0, 10)),
                         draw(st.integers(-2, size + 8)), draw(st.integers(1, 4))))
    mov_k = next(s for s in _ALU if s.mnemonic == "mov" and s.fmt == Fmt.ALU_K)
    mov_x = next(s for s in _ALU if s.mnemonic == "mov" and s.fmt == Fmt.ALU_X)
    add_k = next(s for s in _ALU if s.mnemonic == "add" and s.fmt == Fmt.ALU_K)
    ldx = {s.mnemonic: s for s in _LDX}
    # every register starts defined: the block pointer and a copy, values loaded from the
    # block (unknown to the verifier), a stack pointer, small constants
    insns: list[Insn] = [_make(mov_k, 0, imm=0), _make(mov_x, 3, 1)]
    insns.append(_make(ldx["ldxb"], 4, 1, 0) if size >= 1 else _make(mov_k, 4, imm=5))
    insns.append(_make(ldx["ldxw"], 5, 1, 0) if size >= 4 else _make(mov_k, 5, imm=3))
    insns += [_make(mov_x, 6, 10), _make(add_k, 6, imm=-16)]
    for r in (7, 8, 9):
        insns.append(_make(mov_k, r, imm=draw(st.integers(-4, 48))))
    for item in body:
        if item[0] == "i":
            insns.append(item[1])
        else:
            _, spec, dst, src, imm, skip = item
            insns.append(_make(spec, dst, src, 0, imm))
            insns[-1].off = skip      # fixed below once the length is known
    insns.append(_make(next(s for s in isa.OPCODES if s.mnemonic == "exit")))
    for pc, insn in enumerate(insns):
        if insn.spec.fmt in (Fmt.JMP_K, Fmt.JMP_X):
            insn.off = min(insn.off, len(insns) - 1 - pc - 1)
    return insns, size


def _inputs(size: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    blocks = [bytes(size), b"\xff" * size]
    blocks += [bytes([v]) * size for v in (1, 2, 4, 7, 8, 0x10, 0x1F, 0x20, 0x7F, 0x80)]
    blocks += [bytes(rng.getrandbits(8) for _ in range(size)) for _ in range(30)]
    return blocks


def _check(prog, size):
    result = verify(prog, "conformance", None, CONFORMANCE, memory_entry_state(size))
    if not result.accepted:
        return False
    for block in _inputs(size, len(prog)):
        run = model.run(prog, context=block, budget=10_000)
        assert run.trap in (TrapCause.NONE,), (
            f"accepted but traps ({run.trap.name} at {run.trap_pc}: {run.trap_message}) "
            f"on block {block.hex()}:\n" + "\n".join(disassemble(prog, labels=False)))
    return True


_BASE = dict(derandomize=True, database=None, deadline=None,
             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                    HealthCheck.filter_too_much])


@settings(max_examples=300, **_BASE)
@given(programs())
def test_accepted_random_programs_never_trap(case):
    _check(*case)


@pytest.mark.slow
@settings(max_examples=20_000, **_BASE)
@given(programs())
def test_accepted_random_programs_never_trap_long(case):
    _check(*case)


@st.composite
def raw_programs(draw):
    """Byte strings that are mostly well-formed instructions: real opcodes, random fields."""
    words = []
    for _ in range(draw(st.integers(1, 12))):
        if draw(st.booleans()):
            op = draw(st.sampled_from(isa.OPCODES)).opcode
        else:
            op = draw(st.integers(0, 255))
        regs = draw(st.integers(0, 255))
        off = draw(st.integers(-4, 12))
        imm = draw(st.one_of(st.integers(-8, 64), st.integers(-(1 << 31), (1 << 31) - 1)))
        words.append(bytes([op, regs]) + off.to_bytes(2, "little", signed=True)
                     + imm.to_bytes(4, "little", signed=True))
    return b"".join(words)


@settings(max_examples=500, **_BASE)
@given(raw_programs())
def test_any_bytecode_gets_a_verdict_not_an_exception(code):
    result = verify(code, max_insns=20_000)
    assert result.accepted or (result.error and result.log[-1].startswith("processed "))
