"""Hypothesis strategies for random programs the kernel's verifier accepts.

A program initialises a 64-byte stack area and every register r0..r9 with drawn 64-bit
values, then runs a structured body: ALU/ALU64 instructions of every kind the ISA table lists
(add .. arsh, div/mod/sdiv/smod, neg, mov/movsx, le/be/bswap), lddw, stack stores
(st/stx), loads (ldx, sign-extending ldxs) and atomics on that area, and if / if-else
blocks with every JMP and JMP32 condition (K and X forms).  Jumps only go forward and every
instruction is reachable, so the kernel's CFG check accepts the program; immediates the
kernel refuses (division by a zero immediate, shifts by an immediate outside the width) are
not drawn.  Instruction kinds come from ``isa.OPCODES``; nothing here lists opcodes.
"""

from hypothesis import strategies as st

from firmware.ebpf.isa import (MASK64, OPCODES, AluOp, Cls, Fmt, Insn, Mode, Size,
                               SIZE_BYTES, lookup)
from firmware.kernel.build import lddw, make

__all__ = ["programs", "STACK_AREA", "REGS"]

STACK_AREA = 64          # bytes below r10 the programs use
REGS = range(10)         # r0..r9; r10 stays the frame pointer

_ALU = [s for s in OPCODES if s.cls in (Cls.ALU, Cls.ALU64)]
_COND = [s for s in OPCODES if s.cls in (Cls.JMP, Cls.JMP32) and s.fmt in (Fmt.JMP_K, Fmt.JMP_X)]
_LDX = [s for s in OPCODES if s.fmt == Fmt.LDX and s.mode in (Mode.MEM, Mode.MEMSX)]
_ST = [s for s in OPCODES if s.fmt == Fmt.ST and s.mode == Mode.MEM]
_STX = [s for s in OPCODES if s.fmt == Fmt.STX and s.mode == Mode.MEM]
_ATOMIC = [s for s in OPCODES if s.fmt == Fmt.ATOMIC]
_JA = next(s for s in OPCODES if s.fmt == Fmt.JA)

_INTERESTING64 = [0, 1, 2, 3, 7, MASK64, MASK64 - 1, 1 << 63, (1 << 63) - 1, 1 << 31,
                  (1 << 31) - 1, (1 << 32) - 1, 1 << 32, 0xFFFF_FFFF_8000_0000, 0x8000,
                  0xFF, 0x1234_5678_9ABC_DEF0]
_INTERESTING32 = [0, 1, -1, 2, 3, 7, -2, 0x7FFF_FFFF, -0x8000_0000, 0x8000, 0xFF, 31, 32, 63]

values64 = st.one_of(st.sampled_from(_INTERESTING64), st.integers(0, MASK64))
imm32 = st.one_of(st.sampled_from(_INTERESTING32), st.integers(-(1 << 31), (1 << 31) - 1))
reg = st.sampled_from(list(REGS))


def _insn(spec, dst=0, src=0, off=0, imm=0) -> Insn:
    fields = {"src": src, "off": off, "imm": imm}
    if spec.discriminator in ("off", "imm"):
        fields[spec.discriminator] = spec.value
    insn = Insn(spec.opcode, dst, fields["src"], fields["off"], fields["imm"])
    insn.spec = lookup(insn.opcode, insn.src, insn.off, insn.imm)
    assert insn.spec is spec, (spec, insn)
    return insn


@st.composite
def alu_insn(draw) -> Insn:
    spec = draw(st.sampled_from(_ALU))
    dst = draw(reg)
    if spec.fmt == Fmt.ALU_UNARY:
        return _insn(spec, dst)
    if spec.fmt == Fmt.ALU_X:
        return _insn(spec, dst, draw(reg))
    bits = 64 if spec.is64 else 32
    op = spec.alu_op
    if op in (AluOp.LSH, AluOp.RSH, AluOp.ARSH):
        imm = draw(st.integers(0, bits - 1))          # the kernel refuses other shifts
    elif op in (AluOp.DIV, AluOp.MOD):
        imm = draw(imm32.filter(bool))                # and division by a zero immediate
    else:
        imm = draw(imm32)
    return _insn(spec, dst, imm=imm)


def _stack_offset(draw, size: int) -> int:
    # Aligned: the kernel requires aligned stack accesses.
    return -STACK_AREA + size * draw(st.integers(0, STACK_AREA // size - 1))


@st.composite
def memory_insn(draw) -> Insn:
    kind = draw(st.sampled_from(("ldx", "st", "stx", "atomic")))
    if kind == "ldx":
        spec = draw(st.sampled_from(_LDX))
        return _insn(spec, draw(reg), 10, _stack_offset(draw, SIZE_BYTES[spec.size]))
    if kind == "st":
        spec = draw(st.sampled_from(_ST))
        return _insn(spec, 10, 0, _stack_offset(draw, SIZE_BYTES[spec.size]), draw(imm32))
    if kind == "stx":
        spec = draw(st.sampled_from(_STX))
        return _insn(spec, 10, draw(reg), _stack_offset(draw, SIZE_BYTES[spec.size]))
    spec = draw(st.sampled_from(_ATOMIC))
    return _insn(spec, 10, draw(reg), _stack_offset(draw, 8 if spec.size == Size.DW else 4))


@st.composite
def cond_jump(draw) -> Insn:
    spec = draw(st.sampled_from(_COND))
    if spec.fmt == Fmt.JMP_X:
        return _insn(spec, draw(reg), draw(reg))
    return _insn(spec, draw(reg), imm=draw(imm32))


# A body is a list of items: Insn, ("jump", Insn, label), ("label", label), or a list of
# lddw slots.  Labels are resolved to offsets by ``_assemble``.
def _body(draw, depth: int, budget: list[int], labels: list[int]) -> list:
    items = []
    for _ in range(draw(st.integers(1 if depth == 0 else 0, 25 if depth == 0 else 5))):
        if budget[0] <= 0:
            break
        budget[0] -= 1
        kind = draw(st.sampled_from(("alu",) * 6 + ("mem",) * 2 + ("lddw", "if", "ifelse")
                                    if depth < 3 else ("alu", "mem")))
        if kind == "alu":
            items.append(draw(alu_insn()))
        elif kind == "mem":
            items.append(draw(memory_insn()))
        elif kind == "lddw":
            items.append(lddw(draw(reg), draw(values64)))
        else:
            end = len(labels)
            labels.append(end)
            then = _body(draw, depth + 1, budget, labels)
            if kind == "if":
                items += [("jump", draw(cond_jump()), end)] + then + [("label", end)]
            else:
                other = len(labels)
                labels.append(other)
                otherwise = _body(draw, depth + 1, budget, labels)
                items += ([("jump", draw(cond_jump()), other)] + then +
                          [("jump", _insn(_JA), end), ("label", other)] + otherwise +
                          [("label", end)])
    return items


def _assemble(items: list) -> list[Insn]:
    positions: dict[int, int] = {}
    pc = 0
    for item in items:
        if isinstance(item, tuple) and item[0] == "label":
            positions[item[1]] = pc
        else:
            pc += len(item) if isinstance(item, list) else 1
    out: list[Insn] = []
    for item in items:
        if isinstance(item, tuple):
            if item[0] == "jump":
                insn = item[1]
                insn.off = positions[item[2]] - len(out) - 1
                out.append(insn)
        elif isinstance(item, list):
            out += item
        else:
            out.append(item)
    return out


@st.composite
def programs(draw, max_body: int = 40) -> list[Insn]:
    """A random program (list of ``Insn`` slots) ending in ``exit``, every register and the
    stack area initialised first."""
    init: list = []
    for slot in range(STACK_AREA // 8):
        init += lddw(0, draw(values64)) + [make("stxdw", 10, 0, off=-8 * (slot + 1))]
    for r in REGS:
        init += lddw(r, draw(values64))
    body = _body(draw, 0, [max_body], [])
    return init + _assemble(body) + [make("exit")]
