"""Assembler for the bpf_conformance text syntax, plus raw-bytecode readers.

The syntax is the one the bpf_conformance suite's ``*.data`` files use (and the disassembler in
``disasm.py`` emits).  Mnemonics and operand formats come from ``isa.OPCODES`` (``OpSpec.mnemonic``
and ``OpSpec.fmt``); this module only knows how each *format* is written::

    mov %r0, 1              ALU_K       op %dst, imm
    add32 %r0, %r1          ALU_X       op %dst, %src
    neg %r0 / be16 %r0      ALU_UNARY   op %dst           (swap16/32/64 = bswap16/32/64)
    jne %r1, 0, label       JMP_K       op %dst, imm, target
    jgt %r1, %r2, +3        JMP_X       op %dst, %src, target
    ja label / ja32 label   JA / JA32   op target         (ja32: the target goes in imm)
    call 5                  CALL_HELPER (also ``call helper 5``)
    call local func1        CALL_LOCAL  (imm = target - pc - 1)
    call kfunc 42[, OFF]    CALL_KFUNC  (also ``call runtime 42``; OFF = BTF fd-array index)
    call %r2                CALLX       (also ``callx %r2``; the register goes in dst)
    exit                    EXIT
    lddw %r0, 0x1122334455667788      LDDW (src 0); the pseudo forms (src 1..6) are written
    lddw %r1, map_fd 3                      ``KIND FIRST [+ SECOND]``: FIRST is the first slot's
    lddw %r1, map_value 3 + 16              imm (the map fd / index / BTF id), SECOND the second
    lddw %r1, btf_id 7                      slot's imm (the offset into the map value; must be
    lddw %r1, map_idx 0                     0 for the other kinds, and is then left out).
    lddw %r1, map_idx_value 0 + 8           ``func`` takes a target: ``lddw %r1, func label``.
    lddw %r1, func label
    ldabsw 4 / ldindh %r1, 4         LD_ABS / LD_IND (legacy packet loads)
    ldxw %r0, [%r1+4]                LDX (ldxs* sign-extend)
    stw [%r10-4], 5                  ST
    stxdw [%r10-8], %r1              STX
    lock fetch add32 [%r10-8], %r1   ATOMIC (``lock`` + the table's mnemonic)
    .insn 0x8d, 1, 0, 0, 0           one raw slot: opcode, dst, src, off, imm (for negative tests)

A target is a label or ``+N`` / ``-N`` (relative to the next instruction).  As in the upstream
assembler, ``exit`` used as a target names the first ``exit`` instruction unless a label
``exit:`` is defined.  Labels are ``name:`` (alone on a line or before an instruction);
``#`` starts a comment.  Immediates are decimal or ``0x`` hex, optionally negative; a 32-bit
immediate may be written signed (-2**31..2**31-1) or as its unsigned bit pattern (up to
2**32-1), as the conformance files do (``jsle %r1, 0xfffffffd, +1``); lddw takes -2**63..2**64-1;
offsets are -32768..32767.  Anything else is an ``AsmError``:
``FILE:LINE: expected ..., found ...``.
"""

import re
from dataclasses import dataclass

from . import isa
from .isa import Fmt, Insn, OpSpec, Pseudo, encode_program

__all__ = ["AsmError", "assemble", "assemble_bytes", "assemble_file", "parse_raw_words",
           "parse_hex_bytes", "PSEUDO_KEYWORDS", "MNEMONIC_ALIASES"]


class AsmError(ValueError):
    """An assembly error; the message is ``FILE:LINE: expected ..., found ...``."""

    def __init__(self, filename: str, line: int, message: str):
        super().__init__(f"{filename}:{line}: {message}")
        self.filename = filename
        self.line = line
        self.detail = message


# Keyword of each lddw pseudo form (src_reg), as the assembler reads and the disassembler writes.
PSEUDO_KEYWORDS = {
    Pseudo.MAP_FD: "map_fd",
    Pseudo.MAP_VALUE: "map_value",
    Pseudo.BTF_ID: "btf_id",
    Pseudo.FUNC: "func",
    Pseudo.MAP_IDX: "map_idx",
    Pseudo.MAP_IDX_VALUE: "map_idx_value",
}
_PSEUDO_BY_KEYWORD = {word: pseudo for pseudo, word in PSEUDO_KEYWORDS.items()}

# Spellings other assemblers use for the same table rows (syntax only: no opcodes here).
MNEMONIC_ALIASES = {"swap16": "bswap16", "swap32": "bswap32", "swap64": "bswap64"}

# The assembler's lookup, derived from the one table: mnemonic -> the rows spelled that way
# (several when the operands choose: add K/X, the call kinds, the lddw pseudo forms).  A
# format whose text starts with a literal word ("call %dst" for callx) is spelled that way too.
_PLAIN: dict[str, list[OpSpec]] = {}
_LOCKED: dict[str, OpSpec] = {}
for _spec in isa.OPCODES:
    if _spec.fmt == Fmt.ATOMIC:
        _LOCKED[_spec.mnemonic] = _spec
        continue
    for _word in dict.fromkeys((_spec.mnemonic, _spec.fmt.value.split()[0])):
        if _word != "op":
            _PLAIN.setdefault(_word, []).append(_spec)
del _spec, _word

_NUMBER = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|[0-9]+)")
_LABEL = re.compile(r"[A-Za-z_.$][\w.$]*")
_LABEL_DEF = re.compile(r"([A-Za-z_.$][\w.$]*)\s*:(.*)")
_PSEUDO_VALUE = re.compile(r"([+-]?[^\s+]+)\s*(?:\+\s*([+-]?\S+))?")
_REGISTER = re.compile(r"%?[rR]([0-9]+)")
_MEMORY = re.compile(r"\[\s*([^\]+\-\s]+)\s*(?:([+-])\s*([^\]\s]+)\s*)?\]")

S32 = (-(1 << 31), (1 << 32) - 1)
S16 = (-(1 << 15), (1 << 15) - 1)
S64 = (-(1 << 63), (1 << 64) - 1)


class _Mismatch(Exception):
    """Operands do not fit one candidate format; ``pos`` is how far matching got."""

    def __init__(self, pos: int, expected: str, found: str, close: bool = False):
        super().__init__(expected)
        self.pos, self.expected, self.found = pos, expected, found
        self.close = close      # the operand had the right kind, only its value was wrong


def _show(text: str) -> str:
    return repr(text) if text else "nothing"


def _parse_int(text: str) -> int | None:
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        return None
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-").lower()
    if body.startswith("0x"):
        return sign * int(body[2:], 16)
    if body.startswith("0b"):
        return sign * int(body[2:], 2)
    return sign * int(body, 10)


def _hex(value: int) -> str:
    return f"-{-value:#x}" if value < 0 else f"{value:#x}"


@dataclass
class _Fixup:
    index: int          # position in the output list
    field: str          # "off" or "imm"
    label: str
    line: int
    bits: int           # width of the field the distance goes in


class _Line:
    """Operand readers for one source line; each raises _Mismatch naming the operand."""

    def __init__(self, mnemonic: str, operands: list[str]):
        self.mnemonic = mnemonic
        self.ops = operands
        self.committed = False  # a keyword (local, kfunc, map_fd, ...) picked the form

    def reg(self, i: int) -> int:
        text = self.ops[i]
        m = _REGISTER.fullmatch(text)
        if not m:
            raise _Mismatch(i, f"a register (%r0-%r10) as operand {i + 1}", _show(text))
        n = int(m.group(1))
        if n >= isa.NUM_REGS:
            raise _Mismatch(i, f"a register %r0-%r10 as operand {i + 1}", _show(text),
                            close=True)
        return n

    def imm(self, i: int, lo_hi=S32, what="an immediate") -> int:
        text = self.ops[i]
        value = _parse_int(text)
        if value is None:
            raise _Mismatch(i, f"{what} as operand {i + 1}", _show(text))
        lo, hi = lo_hi
        if not lo <= value <= hi:
            raise _Mismatch(i, f"{what} in {_hex(lo)}..{_hex(hi)} as operand {i + 1}",
                            _show(text), close=True)
        return value

    def mem(self, i: int) -> tuple[int, int]:
        text = self.ops[i]
        m = _MEMORY.fullmatch(text)
        if not m:
            raise _Mismatch(i, f"a memory operand [%rN+off] as operand {i + 1}", _show(text))
        reg_text, sign, off_text = m.groups()
        rm = _REGISTER.fullmatch(reg_text)
        if not rm or int(rm.group(1)) >= isa.NUM_REGS:
            raise _Mismatch(i, f"a base register %r0-%r10 in operand {i + 1}", _show(reg_text))
        off = 0
        if sign:
            magnitude = _parse_int(off_text)
            if magnitude is None or off_text.startswith(("+", "-")):
                raise _Mismatch(i, f"a numeric offset in operand {i + 1}", _show(off_text))
            off = magnitude if sign == "+" else -magnitude
            if not S16[0] <= off <= S16[1]:
                raise _Mismatch(i, f"an offset in -32768..32767 in operand {i + 1}",
                                _show(f"{sign}{off_text}"), close=True)
        return int(rm.group(1)), off

    def target(self, i: int, text: str | None = None) -> tuple[int | None, str | None]:
        """A jump target: (relative distance, None) or (None, label)."""
        text = self.ops[i] if text is None else text
        if text.startswith(("+", "-")):
            value = _parse_int(text)
            if value is None:
                raise _Mismatch(i, f"a target (label, +N or -N) as operand {i + 1}", _show(text))
            return value, None
        if _LABEL.fullmatch(text) and not _REGISTER.fullmatch(text):
            return None, text
        raise _Mismatch(i, f"a target (label, +N or -N) as operand {i + 1}", _show(text))

    def count(self, n: int, fmt: Fmt) -> None:
        if len(self.ops) != n:
            raise _Mismatch(-1, f"{n} operand{'s' if n != 1 else ''} for {self.mnemonic}"
                                f" ({fmt.value})", f"{len(self.ops)}")

    def keyword(self, i: int, words: tuple[str, ...]) -> str:
        """Split operand i as ``WORD rest``; returns rest, raising unless WORD is in words."""
        text = self.ops[i]
        head, _, rest = text.partition(" ")
        if head.lower() not in words:
            raise _Mismatch(i, f"{' or '.join(repr(w) for w in words)} in operand {i + 1}",
                            _show(text))
        self.committed = True
        if not rest.strip():
            raise _Mismatch(i, f"a value after {head!r} in operand {i + 1}", "nothing",
                            close=True)
        return rest.strip()


_CALL_FORMS = "a call target (N, helper N, local TARGET, kfunc N, %rN)"
_LDDW_FORMS = ("a 64-bit immediate or a pseudo form (map_fd N, map_value N + OFF, btf_id N,"
               " func TARGET, map_idx N, map_idx_value N + OFF)")
_CALL_FMTS = (Fmt.CALL_HELPER, Fmt.CALL_LOCAL, Fmt.CALL_KFUNC, Fmt.CALLX)


def _encode(spec: OpSpec, line: _Line, pc: int) -> tuple[Insn, tuple[str, str, int] | None]:
    """One instruction for ``spec`` from the operands; also (field, label, bits) to fix up.

    The call kinds and the lddw forms share a mnemonic and are told apart by the operand's
    shape; when the shape fits no kind, every kind reports the same list of shapes, so the
    error names them once.  Once a kind's keyword matched, its own complaint stands.
    """
    try:
        return _encode_fields(spec, line)
    except _Mismatch as exc:
        if line.committed:
            exc.close = True
            raise
        if spec.fmt in _CALL_FMTS and not exc.close and exc.pos == 0:
            raise _Mismatch(0, _CALL_FORMS, exc.found) from None
        if spec.fmt == Fmt.LDDW and not exc.close and exc.pos == 1:
            raise _Mismatch(1, _LDDW_FORMS + " as operand 2", exc.found) from None
        raise


def _encode_fields(spec: OpSpec, line: _Line) -> tuple[Insn, tuple[str, str, int] | None]:
    fmt = spec.fmt
    insn = Insn(spec.opcode, spec=spec)
    if spec.discriminator is not None:
        setattr(insn, spec.discriminator, int(spec.value))
    fixup = None

    def jump(i: int, field_name: str, bits: int, text: str | None = None):
        nonlocal fixup
        rel, label = line.target(i, text)
        if label is not None:
            fixup = (field_name, label, bits)
            return 0
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if not lo <= rel <= hi:
            raise _Mismatch(i, f"a relative target in {lo}..{hi} as operand {i + 1}",
                            _show(line.ops[i] if text is None else text), close=True)
        return rel

    if fmt == Fmt.ALU_K:
        line.count(2, fmt)
        insn.dst = line.reg(0)
        insn.imm = isa.sign_extend(line.imm(1), 32)
    elif fmt == Fmt.ALU_X:
        line.count(2, fmt)
        insn.dst, insn.src = line.reg(0), line.reg(1)
    elif fmt == Fmt.ALU_UNARY:
        line.count(1, fmt)
        insn.dst = line.reg(0)
    elif fmt in (Fmt.JMP_K, Fmt.JMP_X):
        line.count(3, fmt)
        insn.dst = line.reg(0)
        if fmt == Fmt.JMP_K:
            insn.imm = isa.sign_extend(line.imm(1), 32)
        else:
            insn.src = line.reg(1)
        insn.off = jump(2, "off", 16)
    elif fmt == Fmt.JA:
        line.count(1, fmt)
        insn.off = jump(0, "off", 16)
    elif fmt == Fmt.JA32:
        line.count(1, fmt)
        insn.imm = jump(0, "imm", 32)
    elif fmt == Fmt.CALL_HELPER:
        line.count(1, fmt)
        text = line.ops[0]
        if text.lower().startswith("helper "):
            line.ops[0] = text[7:].strip()
        insn.imm = isa.sign_extend(line.imm(0, what="a helper id"), 32)
    elif fmt == Fmt.CALL_LOCAL:
        line.count(1, fmt)
        rest = line.keyword(0, ("local",))
        insn.imm = jump(0, "imm", 32, rest)
    elif fmt == Fmt.CALL_KFUNC:
        if len(line.ops) not in (1, 2):
            line.count(1, fmt)
        rest = line.keyword(0, ("kfunc", "runtime"))
        line.ops[0] = rest
        insn.imm = isa.sign_extend(line.imm(0, what="a kfunc BTF id"), 32)
        if len(line.ops) == 2:
            insn.off = line.imm(1, S16, "a BTF fd-array index")
    elif fmt == Fmt.CALLX:
        line.count(1, fmt)
        insn.dst = line.reg(0)
    elif fmt == Fmt.EXIT:
        line.count(0, fmt)
    elif fmt == Fmt.LDDW:
        line.count(2, fmt)
        insn.dst = line.reg(0)
        if spec.value == Pseudo.IMM64:
            value = line.imm(1, S64, "a 64-bit immediate")
            insn.imm64 = value & isa.MASK64
        else:
            rest = line.keyword(1, (PSEUDO_KEYWORDS[Pseudo(spec.value)],))
            parts = _PSEUDO_VALUE.fullmatch(rest)
            if not parts:
                raise _Mismatch(1, f"'{PSEUDO_KEYWORDS[Pseudo(spec.value)]} FIRST [+ SECOND]'"
                                   f" as operand 2", _show(line.ops[1]), close=True)
            first_text, second_text = parts.groups()
            plus = second_text is not None
            if spec.value == Pseudo.FUNC:
                first = jump(1, "imm", 32, first_text)
            else:
                line.ops[1] = first_text
                first = line.imm(1, S32, f"a {PSEUDO_KEYWORDS[Pseudo(spec.value)]} number")
            second = 0
            if plus:
                line.ops[1] = second_text
                second = line.imm(1, S32, "a second-slot value after '+'")
            insn.imm64 = (first & isa.MASK32) | ((second & isa.MASK32) << 32)
        insn.imm = isa.sign_extend(insn.imm64, 32)
    elif fmt == Fmt.LD_ABS:
        line.count(1, fmt)
        insn.imm = isa.sign_extend(line.imm(0), 32)
    elif fmt == Fmt.LD_IND:
        line.count(2, fmt)
        insn.src = line.reg(0)
        insn.imm = isa.sign_extend(line.imm(1), 32)
    elif fmt == Fmt.LDX:
        line.count(2, fmt)
        insn.dst = line.reg(0)
        insn.src, insn.off = line.mem(1)
    elif fmt == Fmt.ST:
        line.count(2, fmt)
        insn.dst, insn.off = line.mem(0)
        insn.imm = isa.sign_extend(line.imm(1), 32)
    elif fmt in (Fmt.STX, Fmt.ATOMIC):
        line.count(2, fmt)
        insn.dst, insn.off = line.mem(0)
        insn.src = line.reg(1)
    else:  # pragma: no cover - every Fmt is handled above
        raise AssertionError(f"no syntax for {fmt!r}")
    return insn, fixup


def _split_operands(text: str) -> list[str]:
    text = text.strip()
    if not text:
        return []
    return [" ".join(part.split()) for part in text.split(",")]


def _raw_slot(line: _Line) -> Insn:
    """``.insn OPCODE, DST, SRC, OFF, IMM``: one slot with any field values."""
    if len(line.ops) != 5:
        raise _Mismatch(-1, "5 operands for .insn (opcode, dst, src, off, imm)",
                        str(len(line.ops)))
    opcode = line.imm(0, (0, 0xFF), "an opcode byte")
    dst = line.imm(1, (0, 15), "a dst register number 0-15")
    src = line.imm(2, (0, 15), "a src register number 0-15")
    off = isa.sign_extend(line.imm(3, (-(1 << 15), (1 << 16) - 1), "an offset"), 16)
    imm = isa.sign_extend(line.imm(4), 32)
    return Insn(opcode, dst, src, off, imm, spec=isa.lookup(opcode, src, off, imm))


def assemble(source: str, filename: str = "<asm>", first_line: int = 1) -> list[Insn]:
    """Assemble ``source`` into one ``Insn`` per slot, as ``isa.decode_program`` returns them.

    ``first_line`` is the line number of the source's first line in ``filename`` (for a
    ``-- asm`` section inside a ``.data`` file).  Raises ``AsmError``.
    """
    out: list[Insn] = []
    labels: dict[str, tuple[int, int]] = {}     # name -> (pc, line)
    fixups: list[_Fixup] = []
    first_exit: int | None = None

    for lineno, raw_line in enumerate(source.splitlines(), start=first_line):
        text = raw_line.split("#", 1)[0].strip()
        while (m := _LABEL_DEF.fullmatch(text)) and not text.startswith("["):
            name = m.group(1)
            if name in labels:
                raise AsmError(filename, lineno, f"expected a new label name, found {name!r} "
                                                 f"already defined at line {labels[name][1]}")
            labels[name] = (len(out), lineno)
            text = m.group(2).strip()
        if not text:
            continue
        head, rest = (text.split(None, 1) + [""])[:2]
        mnemonic = head.lower()
        try:
            if mnemonic == ".insn":
                out.append(_raw_slot(_Line(mnemonic, _split_operands(rest))))
                continue
            if mnemonic == "lock":
                words = rest.split(None, 2)
                if words and words[0].lower() == "fetch" and len(words) >= 2:
                    op, operand_text = f"fetch {words[1].lower()}", " ".join(words[2:])
                elif words:
                    op, operand_text = words[0].lower(), " ".join(words[1:])
                else:
                    op, operand_text = "", ""
                spec = _LOCKED.get(op)
                if spec is None:
                    known = sorted({s.mnemonic for s in _LOCKED.values()})
                    raise AsmError(filename, lineno, f"expected an atomic operation after "
                                                     f"'lock' ({', '.join(known)}), found "
                                                     f"{_show(op)}")
                candidates = [spec]
                mnemonic = f"lock {op}"
            else:
                candidates = _PLAIN.get(MNEMONIC_ALIASES.get(mnemonic, mnemonic), [])
                operand_text = rest
                if not candidates:
                    raise AsmError(filename, lineno,
                                   f"expected an instruction mnemonic, found {head!r}")
            insn, fixup = _choose(candidates, mnemonic, _split_operands(operand_text),
                                  len(out), filename, lineno)
        except _Mismatch as exc:
            raise AsmError(filename, lineno, f"expected {exc.expected}, found {exc.found}")\
                from None
        if fixup is not None:
            field_name, label, bits = fixup
            fixups.append(_Fixup(len(out), field_name, label, lineno, bits))
        if insn.spec.fmt == Fmt.EXIT and first_exit is None:
            first_exit = len(out)
        out.append(insn)
        if insn.imm64 is not None:
            out.append(Insn(0, 0, 0, 0, isa.sign_extend(insn.imm64 >> 32, 32)))

    for fix in fixups:
        if fix.label in labels:
            target = labels[fix.label][0]
        elif fix.label == "exit" and first_exit is not None:
            target = first_exit
        else:
            raise AsmError(filename, fix.line, f"expected a defined label, found {fix.label!r}"
                                               f" (no '{fix.label}:' in the program)")
        distance = target - fix.index - 1
        lo, hi = -(1 << (fix.bits - 1)), (1 << (fix.bits - 1)) - 1
        if not lo <= distance <= hi:
            raise AsmError(filename, fix.line,
                           f"expected a target within {lo}..{hi} instructions, found "
                           f"{fix.label!r} at {distance:+d}")
        insn = out[fix.index]
        setattr(insn, fix.field, distance)
        if insn.imm64 is not None:      # lddw func: the distance is the first slot's imm
            insn.imm64 = (insn.imm64 & ~isa.MASK32 & isa.MASK64) | (distance & isa.MASK32)
    # Raw `.insn` slots are paired as decoding pairs them, so a hand-written lddw is one.
    if any(insn.spec is None or insn.spec.fmt == Fmt.LDDW and insn.imm64 is None
           for insn in out):
        out = isa.decode_program(isa.encode_program(out), strict=False)
    return out


def _choose(candidates: list[OpSpec], mnemonic: str, operands: list[str], pc: int,
            filename: str, lineno: int) -> tuple[Insn, tuple | None]:
    """Encode with the first row whose format fits; otherwise report the furthest mismatch."""
    failures: list[_Mismatch] = []
    for spec in candidates:
        try:
            return _encode(spec, _Line(mnemonic, list(operands)), pc)
        except _Mismatch as exc:
            failures.append(exc)
    furthest = max(f.pos for f in failures)
    best = [f for f in failures if f.pos == furthest]
    if any(f.close for f in best):
        best = [f for f in best if f.close]
    expected = " or ".join(dict.fromkeys(f.expected for f in best))
    if furthest == -1:
        # Wrong operand count for every form: name each form's shape once.
        shapes = " or ".join(dict.fromkeys(_shape(s.fmt, mnemonic) for s in candidates))
        expected = f"operands as in '{shapes}'"
        raise _Mismatch(-1, expected, f"{len(operands)} operand(s)")
    raise _Mismatch(furthest, f"{expected} of {mnemonic}", best[0].found)


def _shape(fmt: Fmt, mnemonic: str) -> str:
    words = fmt.value.replace("target32", "target").split(" ")
    if words[0] == "lock":
        return " ".join([mnemonic] + words[2:])
    if words[0] == "op":
        return " ".join([mnemonic] + words[1:])
    return fmt.value


def assemble_bytes(source: str, filename: str = "<asm>", first_line: int = 1) -> bytes:
    """The bytecode for ``source`` (``isa.encode_program`` of ``assemble``)."""
    return encode_program(assemble(source, filename, first_line))


def assemble_file(path) -> list[Insn]:
    """Assemble a source file; errors name the file and line."""
    with open(path, encoding="utf-8") as f:
        return assemble(f.read(), str(path))


def parse_raw_words(text: str, filename: str = "<raw>", first_line: int = 1) -> bytes:
    """Bytecode from ``-- raw`` lines: one 64-bit little-endian word per line, hex or decimal.

    The opcode is the word's low byte (``0x5566778800000018`` is ``lddw`` with imm 0x55667788).
    ``#`` starts a comment; blank lines are ignored.
    """
    out = bytearray()
    for lineno, line in enumerate(text.splitlines(), start=first_line):
        token = line.split("#", 1)[0].strip()
        if not token:
            continue
        value = _parse_int(token)
        if value is None or token.startswith(("+", "-")):
            raise AsmError(filename, lineno, f"expected one 64-bit instruction word "
                                             f"(0x... or decimal), found {token!r}")
        if value > isa.MASK64:
            raise AsmError(filename, lineno, f"expected a word of at most 64 bits, "
                                             f"found {token!r}")
        out += value.to_bytes(8, "little")
    return bytes(out)


def parse_hex_bytes(text: str, what: str = "hex bytes") -> bytes:
    """Bytes from hex text: ``"b7 00 00 00"`` (any whitespace, optional ``0x``) or ``"b7000000"``.

    Raises ``ValueError`` naming the offending token and its position.
    """
    out = bytearray()
    for index, token in enumerate(text.split()):
        digits = token[2:] if token.lower().startswith("0x") else token
        if len(digits) % 2 or not re.fullmatch(r"[0-9a-fA-F]*", digits) or not digits:
            raise ValueError(f"{what}: token {index + 1}: expected hex bytes (pairs of hex "
                             f"digits), found {token!r}")
        out += bytes.fromhex(digits)
    return bytes(out)
