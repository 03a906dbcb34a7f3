"""Every trap cause on the core (Amaranth simulator), with its pc, against the golden model."""

import pytest

from firmware.ebpf import model
from firmware.ebpf.asm import assemble
from firmware.ebpf import isa
from firmware.ebpf.machine import TrapCause
from sim.driver import run_on_amaranth

CTX = bytes(range(16))


def Insn(opcode, dst=0, src=0, off=0, imm=0):
    """An instruction slot with its table row, as decode_program would give it."""
    insn = isa.Insn(opcode, dst, src, off, imm)
    insn.spec = isa.lookup(opcode, src, off, imm)
    return insn


# name, source, overrides, expected cause, expected pc
CASES = [
    ("illegal opcode", [Insn(0xB7, 0, 0, 0, 1), Insn(0xFF), Insn(0x95)], {},
     TrapCause.ILLEGAL_INSTRUCTION, 1),
    ("reserved field", [Insn(0xB7, 0, 0, 0, 1), Insn(0xB7, 1, 0, 0, 2), Insn(0x95, dst=2),
                        Insn(0x95)], {}, TrapCause.ILLEGAL_INSTRUCTION, 2),
    ("write to r10", [Insn(0xB7, 0, 0, 0, 0), Insn(0xB7, 10, 0, 0, 1), Insn(0x95)], {},
     TrapCause.ILLEGAL_INSTRUCTION, 1),
    ("jump into lddw", "ja +1\nlddw %r0, 0x100000002\nexit", {},
     TrapCause.ILLEGAL_INSTRUCTION, 2),
    ("context past its end", "ldxw %r0, [%r1+14]\nexit", {}, TrapCause.OUT_OF_BOUNDS, 0),
    ("below the stack", "mov %r0, 1\nstxb [%r10-4097], %r0\nexit", {},
     TrapCause.OUT_OF_BOUNDS, 1),
    ("address in no region", "mov %r2, 0\nldxdw %r0, [%r2+0]\nexit", {},
     TrapCause.OUT_OF_BOUNDS, 1),
    ("address above 4 GiB", "lddw %r2, 0x130000000\nldxb %r0, [%r2+0]\nexit", {},
     TrapCause.OUT_OF_BOUNDS, 2),
    ("no packet attached", "lddw %r2, 0x20000000\nldxb %r0, [%r2+0]\nexit", {},
     TrapCause.OUT_OF_BOUNDS, 2),
    ("no map attached", "lddw %r2, 0x40000000\nmov %r3, 1\nlock add [%r2+0], %r3\nexit", {},
     TrapCause.OUT_OF_BOUNDS, 3),
    ("read-only context", "mov %r0, 0\nstb [%r1+0], 1\nexit", {"ctx_writable": False},
     TrapCause.OUT_OF_BOUNDS, 1),
    ("read-only context, atomic", "mov %r0, 0\nmov %r2, 1\nlock add [%r1+0], %r2\nexit",
     {"ctx_writable": False}, TrapCause.OUT_OF_BOUNDS, 2),
    ("read-only context, failing cmpxchg is fine",
     "mov %r0, 7\nmov %r2, 1\nlock cmpxchg [%r1+0], %r2\nexit",
     {"ctx_writable": False}, TrapCause.NONE, None),
    ("unknown helper", "mov %r0, 0\ncall 1\nexit", {}, TrapCause.UNKNOWN_HELPER, 1),
    ("callx unknown", "mov %r2, 7\ncallx %r2\nexit", {}, TrapCause.UNKNOWN_HELPER, 1),
    ("call depth", "call local f\nexit\nf:\ncall local f\nexit", {},
     TrapCause.CALL_DEPTH, 2),
    ("budget", "mov %r0, 0\nl:\nadd %r0, 1\nja l", {"budget": 50}, TrapCause.BUDGET, 2),
    ("jump past the end", "mov %r0, 0\nja +5\nexit", {}, TrapCause.PC_OUT_OF_RANGE, 7),
    ("jump before the start", "mov %r0, 0\nja -3\nexit", {}, TrapCause.PC_OUT_OF_RANGE, -1),
    ("fall off the end", "mov %r0, 0\nadd %r0, 1", {}, TrapCause.PC_OUT_OF_RANGE, 2),
]


def _program(source):
    return source if isinstance(source, list) else assemble(source)


@pytest.fixture(scope="module")
def outcomes():
    programs = [(_program(src), CTX, overrides) for _, src, overrides, _, _ in CASES]
    return run_on_amaranth(programs)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_trap_cause_and_pc_match_the_model(outcomes, index):
    name, source, overrides, cause, pc = CASES[index]
    insns = _program(source)
    want = model.run(insns, context=CTX, helpers=model.conformance_helpers(),
                     budget=overrides.get("budget", 1_000_000),
                     context_writable=overrides.get("ctx_writable", True))
    got = outcomes[index]
    assert (want.trap, want.trap_pc) == (cause, pc), "the case itself is wrong"
    assert (got.trap, got.trap_pc) == (cause, pc)
    assert got.insn_count == want.insn_count
    assert got.r0 == want.r0


def test_packet_load_without_packet_ends_with_r0_zero():
    insns = assemble("mov %r6, %r1\nmov %r0, 5\nldabsb 3\nmov %r0, 9\nexit")
    (got,) = run_on_amaranth([(insns, CTX)])
    want = model.run(insns, context=CTX, helpers=model.conformance_helpers())
    assert want.trap == TrapCause.NONE and want.r0 == 0
    assert (got.trap, got.r0, got.insn_count) == (TrapCause.NONE, 0, want.insn_count)
