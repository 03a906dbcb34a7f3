"""Disassembler: instructions back to the assembler's syntax (see ``asm.py``).

The text of each instruction comes from its table row: the row's ``fmt`` string
(``"op %dst, imm, target"``) with each placeholder replaced by the instruction's field, so
``asm.assemble(format_insn(insn)) == [insn]`` for every legal instruction.  A slot that no row
describes, or whose unused fields are set, is written as ``.insn OPCODE, DST, SRC, OFF, IMM``,
which the assembler also reads, so even a malformed program survives a round trip byte for byte.
"""

import re

from . import isa
from .asm import PSEUDO_KEYWORDS
from .isa import Fmt, Insn, OpSpec, Pseudo

__all__ = ["format_insn", "disassemble", "disassemble_bytes", "branch_target", "format_number"]

# Formats whose target is relative to the next instruction, and the field that holds it.
_TARGET_FIELD = {Fmt.JMP_K: "off", Fmt.JMP_X: "off", Fmt.JA: "off", Fmt.JA32: "imm",
                 Fmt.CALL_LOCAL: "imm"}
_PLACEHOLDER = re.compile(
    r"\[%dst\+off\]|\[%src\+off\]|%dst|%src|imm64|imm|target(?:32)?|\bop\b")


def format_number(value: int) -> str:
    """Small numbers in decimal, larger ones in hex (with a sign when negative)."""
    if -4096 < value < 4096:
        return str(value)
    return f"-{-value:#x}" if value < 0 else f"{value:#x}"


def _spec_of(insn: Insn) -> OpSpec | None:
    return insn.spec if insn.spec is not None else isa.lookup(insn.opcode, insn.src, insn.off,
                                                             insn.imm)


def _writable(insn: Insn, spec: OpSpec) -> bool:
    """Whether the instruction's fields fit its format (unused ones clear, registers real)."""
    if spec.fmt == Fmt.LDDW and insn.imm64 is None:
        return False
    return isa.reserved_field_error(insn, spec) is None


def branch_target(insn: Insn, pc: int) -> int | None:
    """The instruction index a jump, local call or ``lddw func`` refers to, or None."""
    spec = _spec_of(insn)
    if spec is None:
        return None
    if spec.fmt in _TARGET_FIELD:
        return pc + 1 + getattr(insn, _TARGET_FIELD[spec.fmt])
    if spec.fmt == Fmt.LDDW and insn.src == Pseudo.FUNC and insn.imm64 is not None:
        return pc + 1 + isa.sign_extend(insn.imm64, 32)
    return None


def _raw(insn: Insn) -> str:
    return f".insn {insn.opcode:#04x}, {insn.dst}, {insn.src}, {insn.off}, {insn.imm}"


def _target_text(rel: int, pc: int | None, labels: dict[int, str] | None) -> str:
    if pc is not None and labels and (pc + 1 + rel) in labels:
        return labels[pc + 1 + rel]
    return f"{rel:+d}"


def format_insn(insn: Insn, pc: int | None = None, labels: dict[int, str] | None = None) -> str:
    """One instruction in the assembler's syntax.

    ``pc`` is the instruction's index and ``labels`` maps instruction indices to label names;
    with both, a target that has a label is written as that label, otherwise as ``+N``/``-N``.
    """
    spec = _spec_of(insn)
    if spec is None or not _writable(insn, spec):
        return _raw(insn)
    fmt = spec.fmt

    def field(m: re.Match) -> str:
        token = m.group(0)
        if token == "op":
            return spec.mnemonic
        if token == "%dst":
            return f"%r{insn.dst}"
        if token == "%src":
            return f"%r{insn.src}"
        if token == "[%dst+off]":
            return _memory(insn.dst, insn.off)
        if token == "[%src+off]":
            return _memory(insn.src, insn.off)
        if token.startswith("target"):
            return _target_text(getattr(insn, _TARGET_FIELD[fmt]), pc, labels)
        if token == "imm64":
            return _lddw_operand(insn, pc, labels)
        return format_number(insn.imm)          # imm

    text = _PLACEHOLDER.sub(field, fmt.value)
    if fmt == Fmt.CALL_KFUNC and insn.off:
        text += f", {insn.off}"
    return text


def _memory(reg: int, off: int) -> str:
    if off == 0:
        return f"[%r{reg}]"
    return f"[%r{reg}{off:+d}]"


def _lddw_operand(insn: Insn, pc: int | None, labels: dict[int, str] | None) -> str:
    if insn.src == Pseudo.IMM64:
        return format_number(insn.imm64)
    first = isa.sign_extend(insn.imm64, 32)
    second = isa.sign_extend(insn.imm64 >> 32, 32)
    if insn.src == Pseudo.FUNC:
        text = f"func {_target_text(first, pc, labels)}"
    else:
        text = f"{PSEUDO_KEYWORDS[Pseudo(insn.src)]} {format_number(first)}"
    return f"{text} + {format_number(second)}" if second else text


def disassemble(insns: list[Insn], labels: bool = True) -> list[str]:
    """Assembler-ready lines for a program as ``isa.decode_program`` returns it.

    With ``labels`` every in-range target gets a generated label line (``L7:``, or ``fn12:``
    for a function entry) and jumps name it; otherwise targets are written ``+N``/``-N``.
    The second slot of an lddw produces no line.
    """
    fillers = set()
    for pc, insn in enumerate(insns):
        spec = _spec_of(insn)
        if insn.imm64 is not None and spec is not None and _writable(insn, spec):
            fillers.add(pc + 1)
    names: dict[int, str] = {}
    if labels:
        for pc, insn in enumerate(insns):
            if pc in fillers:
                continue
            target = branch_target(insn, pc)
            if target is None or not 0 <= target <= len(insns) or target in fillers:
                continue
            spec = _spec_of(insn)
            is_function = spec.fmt == Fmt.CALL_LOCAL or spec.fmt == Fmt.LDDW
            if is_function:
                names[target] = f"fn{target}"
            else:
                names.setdefault(target, f"L{target}")
    lines: list[str] = []
    for pc, insn in enumerate(insns):
        if pc in names:
            lines.append(f"{names[pc]}:")
        if pc in fillers:
            continue
        lines.append(format_insn(insn, pc, names))
    if len(insns) in names:
        lines.append(f"{names[len(insns)]}:")
    return lines


def disassemble_bytes(code: bytes, strict: bool = True, labels: bool = True) -> list[str]:
    """Decode bytecode and disassemble it.

    With ``strict`` an unknown opcode or a set reserved field raises ``isa.IsaError`` naming the
    instruction index and opcode; without, such slots are listed as ``.insn`` lines.
    """
    return disassemble(isa.decode_program(code, strict=strict), labels=labels)
