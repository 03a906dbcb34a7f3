"""Our verifier against the kernel's, on programs that may or may not be safe.

Two generators draw programs whose safety hinges on range tracking: memory-block accesses
through a pointer plus a loaded, masked, shifted, bounds-checked scalar (the conformance
calling convention), and XDP packet accesses after a ``data + N > data_end`` check in either
direction.  For each program:

- the kernel's verdict and ours are recorded;
- when ours accepts, the golden model must not trap on any of a set of inputs (all-zero,
  all-ones, byte patterns, random blocks; for XDP every frame length around the check): an
  accepted program that traps is a soundness bug, whatever the kernel says;
- a program the kernel refuses but we accept must therefore be one where we are more
  precise (the kernel tracks no range through ``mod``, for one), never one that traps.

The conformance suite is also judged by both verifiers (``test_conformance_suite_...``).
"""

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.conformance import find_data_files, parse_data_file
from firmware.ebpf import model
from firmware.ebpf.disasm import disassemble
from firmware.ebpf.isa import OPCODES, Cls, Fmt, Insn, JmpOp, Mode, lookup
from firmware.ebpf.machine import TrapCause
from firmware.ebpf.verifier import CONFORMANCE, memory_entry_state, verify
from firmware.ebpf.xdp import run_frame
from firmware.kernel.build import make
from firmware.kernel.runner import run_wrapped
from firmware.kernel.xdp import kernel_verdict

pytestmark = pytest.mark.usefixtures("bpf")

_LDX = [s for s in OPCODES if s.fmt == Fmt.LDX and s.mode == Mode.MEM]
_STX = [s for s in OPCODES if s.fmt == Fmt.STX and s.mode == Mode.MEM]
_COND_K = [s for s in OPCODES if s.cls in (Cls.JMP, Cls.JMP32) and s.fmt == Fmt.JMP_K]
_COND_X = [s for s in OPCODES if s.cls == Cls.JMP and s.fmt == Fmt.JMP_X]
# The conditions from which the kernel learns a packet range (try_match_pkt_pointers in
# kernel/bpf/verifier.c): only the unsigned orderings, not ==, !=, jset or the signed ones.
_KERNEL_PKT_CONDS = [s for s in _COND_X if s.jmp_op in (JmpOp.JGT, JmpOp.JGE, JmpOp.JLT,
                                                         JmpOp.JLE)]
_SHAPERS = [s for s in OPCODES if s.fmt == Fmt.ALU_K and s.cls in (Cls.ALU, Cls.ALU64)
            and s.mnemonic.rstrip("32") in ("and", "rsh", "lsh", "mod", "add", "sub", "arsh")]

_COMMON = dict(derandomize=True, database=None, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.function_scoped_fixture])


def _insn(spec, dst=0, src=0, off=0, imm=0) -> Insn:
    fields = {"src": src, "off": off, "imm": imm}
    if spec.discriminator in ("off", "imm"):
        fields[spec.discriminator] = spec.value
    insn = Insn(spec.opcode, dst, fields["src"], fields["off"], fields["imm"])
    insn.spec = lookup(insn.opcode, insn.src, insn.off, insn.imm)
    return insn


@st.composite
def block_programs(draw):
    """r9 = the block; r3 = a loaded scalar, shaped by up to two ALU ops, maybe bounds-
    checked; then an access at r9 + r3 + off."""
    size = draw(st.integers(1, 48))
    prog = [make("mov", 9, 1, x=True), make("mov", 0, imm=0)]
    load = draw(st.sampled_from(_LDX))
    prog.append(_insn(load, 3, 9, draw(st.integers(-2, size))))
    for _ in range(draw(st.integers(0, 2))):
        spec = draw(st.sampled_from(_SHAPERS))
        bits = 64 if spec.is64 else 32
        name = spec.mnemonic.rstrip("32")
        if name in ("rsh", "lsh", "arsh"):
            imm = draw(st.integers(0, bits - 1))
        elif name == "mod":
            imm = draw(st.integers(1, 64))
        else:
            imm = draw(st.integers(-70, 70))
        prog.append(_insn(spec, 3, imm=imm))
    access = draw(st.sampled_from(_LDX + _STX))
    off = draw(st.integers(-4, size + 4))
    body = [make("mov", 6, 9, x=True), make("add", 6, 3, x=True),
            _insn(access, 4, 6, off) if access.fmt == Fmt.LDX else _insn(access, 6, 0, off)]
    if draw(st.booleans()):
        cond = draw(st.sampled_from(_COND_K))
        prog.append(_insn(cond, 3, imm=draw(st.integers(-4, size + 4)), off=len(body)))
    return prog + body + [make("exit")], size


@st.composite
def packet_programs(draw, conditions=tuple(_COND_X), min_n: int = 0):
    """r2 = data, r3 = data_end, r4 = data + n; a check of r4 against r3 (any X condition,
    either operand order) guarding, or failing to guard, an access at data + off."""
    n = draw(st.integers(min_n, 64))
    prog = [make("ldxw", 2, 1, off=0), make("ldxw", 3, 1, off=4),
            make("mov", 4, 2, x=True), make("add", 4, imm=n), make("mov", 0, imm=2)]
    access = draw(st.sampled_from(_LDX + _STX))
    off = draw(st.integers(-2, n + 4))
    body = [_insn(access, 5, 2, off) if access.fmt == Fmt.LDX else _insn(access, 2, 0, off)]
    if draw(st.booleans()):
        cond = draw(st.sampled_from(conditions))
        a, b = (4, 3) if draw(st.booleans()) else (3, 4)
        prog.append(_insn(cond, a, b, off=len(body)))
    return prog + body + [make("exit")], n + off + 8


def _block_witness(prog, size) -> bytes | None:
    """An input block on which the model traps, if one of the tried inputs does."""
    rng = random.Random(size)
    inputs = [bytes(size), b"\xff" * size]
    inputs += [bytes([v]) * size for v in (1, 2, 3, 4, 8, 0x10, 0x20, 0x3F, 0x40, 0x7F, 0x80)]
    inputs += [bytes(rng.getrandbits(8) for _ in range(size)) for _ in range(100)]
    for block in inputs:
        if model.run(prog, context=block).trap != TrapCause.NONE:
            return block
    return None


def _listing(prog) -> str:
    return "\n".join(disassemble(prog))


def check_block_program(prog, size):
    ours = verify(prog, "conformance", platform=CONFORMANCE,
                  entry_state=memory_entry_state(size))
    kernel = run_wrapped(prog, bytes(size), name="vk")
    if ours.accepted:
        witness = _block_witness(prog, size)
        assert witness is None, (
            f"soundness: our verifier accepts, the model traps on block {witness.hex()}"
            f" (kernel: {kernel.rejected or 'accepts'})\n{_listing(prog)}")
    return kernel.rejected is None, ours.accepted


def check_packet_program(prog, longest):
    ours = verify(prog, "xdp")
    kernel = kernel_verdict(prog, name="vk")
    if ours.accepted:
        for length in range(14, max(longest, 14) + 2):
            result = run_frame(prog, bytes(length))
            assert result.trap == TrapCause.NONE, (
                f"soundness: our verifier accepts, the model traps on a {length}-byte frame:"
                f" {result.reason} (kernel: {kernel.reason or 'accepts'})\n{_listing(prog)}")
    return kernel.accepted, ours.accepted


@settings(max_examples=150, **_COMMON)
@given(block_programs())
def test_memory_block_accesses_accepted_by_us_never_trap(program):
    check_block_program(*program)


@settings(max_examples=150, **_COMMON)
@given(packet_programs())
def test_packet_accesses_accepted_by_us_never_trap(program):
    check_packet_program(*program)


@settings(max_examples=150, **_COMMON)
@given(packet_programs(tuple(_KERNEL_PKT_CONDS), min_n=1))
def test_packet_access_verdicts_match_the_kernel(program):
    # Packet ranges from one constant-offset check with a condition the kernel learns from:
    # nothing here the kernel tracks less precisely than we do, so the verdicts must match.
    # (With ==, != and the signed conditions we may be more precise, and with n = 0, where
    # we know data_end < data is impossible and the kernel does not: the soundness tests
    # above cover those.)
    prog, _ = program
    kernel = kernel_verdict(prog, name="vk")
    ours = verify(prog, "xdp")
    assert ours.accepted == kernel.accepted, (
        f"kernel {'accepts' if kernel.accepted else 'refuses: ' + kernel.reason}, we"
        f" {'accept' if ours.accepted else 'refuse: ' + str(ours.error)}\n{_listing(prog)}")


@pytest.mark.slow
@settings(max_examples=3000, **_COMMON)
@given(block_programs())
def test_many_memory_block_accesses_accepted_by_us_never_trap(program):
    check_block_program(*program)


@pytest.mark.slow
@settings(max_examples=3000, **_COMMON)
@given(packet_programs())
def test_many_packet_accesses_accepted_by_us_never_trap(program):
    check_packet_program(*program)


@pytest.mark.slow
@settings(max_examples=3000, **_COMMON)
@given(packet_programs(tuple(_KERNEL_PKT_CONDS), min_n=1))
def test_many_packet_access_verdicts_match_the_kernel(program):
    kernel_ok, ours_ok = check_packet_program(*program)
    assert kernel_ok == ours_ok, _listing(program[0])


def test_conformance_suite_verdicts_match_the_kernel(conformance_dir):
    """Every file: both verifiers agree, except callx, which the kernel lacks (an ISA
    instruction Linux does not implement, not a safety judgement)."""
    disagreements = []
    for path in find_data_files(conformance_dir):
        case = parse_data_file(path)
        kernel = run_wrapped(case.insns, case.mem, name="vk")
        ours = verify(case.insns, "conformance", platform=CONFORMANCE,
                      entry_state=memory_entry_state(len(case.mem)))
        if (kernel.rejected is None) != ours.accepted:
            disagreements.append(case.name)
    assert disagreements == ["callx"]
