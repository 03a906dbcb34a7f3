"""Hypothesis strategies for random programs the kernel's verifier accepts.

A program gets the conformance calling convention (r1 = a 32-byte memory block, r2 = its
length), keeps the block's pointer in r9, initialises a 64-byte stack area and r0..r8 with
drawn 64-bit values, then runs a structured body: ALU/ALU64 instructions of every kind the
ISA table lists (add .. arsh, div/mod/sdiv/smod, neg, mov/movsx, le/be/bswap), lddw, loads
(ldx, sign-extending ldxs), stores (st/stx) and atomics on the stack area and on the block
(unaligned where the kernel allows it), if / if-else blocks with every JMP and JMP32
condition (K and X forms), and bpf-to-bpf calls to up to two callees.  Jumps only go
forward and every instruction is reachable, so the kernel's CFG check accepts the program;
immediates the kernel refuses (division by a zero immediate, shifts by an immediate outside
the width) are not drawn.  Instruction kinds come from ``isa.OPCODES``; nothing here lists
opcodes.
"""

from hypothesis import strategies as st

from firmware.ebpf.isa import (MASK64, OPCODES, AluOp, Cls, Fmt, Insn, Mode,
                               SIZE_BYTES, lookup)
from firmware.kernel.build import lddw, make

__all__ = ["programs", "STACK_AREA", "MEM_SIZE", "MEM_REG", "REGS"]

STACK_AREA = 64          # bytes below r10 each function uses
MEM_SIZE = 32            # the memory block r1 points to at entry (the suite's convention)
MEM_REG = 9              # main keeps the block's pointer here; no ALU instruction touches it
REGS = range(9)          # r0..r8: the scalar registers the programs compute in

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
def memory_insn(draw, base: int) -> Insn:
    """A load, store or atomic on the stack area (``base`` 10) or on the memory block
    (``base`` MEM_REG: any in-bounds offset, since map values allow unaligned access; atomics
    stay aligned, as the kernel requires)."""
    kind = draw(st.sampled_from(("ldx", "st", "stx", "atomic")))
    table = {"ldx": _LDX, "st": _ST, "stx": _STX, "atomic": _ATOMIC}[kind]
    spec = draw(st.sampled_from(table))
    size = SIZE_BYTES[spec.size]
    if base == 10 or kind == "atomic":
        area = STACK_AREA if base == 10 else MEM_SIZE
        off = size * draw(st.integers(0, area // size - 1)) - (area if base == 10 else 0)
    else:
        off = draw(st.integers(0, MEM_SIZE - size))
    if kind == "ldx":
        return _insn(spec, draw(reg), base, off)
    if kind == "st":
        return _insn(spec, base, 0, off, draw(imm32))
    return _insn(spec, base, draw(reg), off)


@st.composite
def cond_jump(draw) -> Insn:
    spec = draw(st.sampled_from(_COND))
    if spec.fmt == Fmt.JMP_X:
        return _insn(spec, draw(reg), draw(reg))
    return _insn(spec, draw(reg), imm=draw(imm32))


# A body is a list of items: Insn, a list of slots (lddw), ("jump", Insn, label),
# ("label", label) or ("call", function).  ``_assemble`` resolves labels and calls.
def _body(draw, depth: int, budget: list[int], labels: list[int], callees: int,
          in_main: bool) -> list:
    items = []
    kinds = ("alu",) * 6 + ("stack", "mem", "lddw", "if", "ifelse") + (
        ("call",) if in_main and callees else ())
    if not in_main:
        kinds = tuple(k for k in kinds if k != "mem")     # r9 is no pointer in a callee
    for _ in range(draw(st.integers(1 if depth == 0 else 0, 25 if depth == 0 else 5))):
        if budget[0] <= 0:
            break
        budget[0] -= 1
        kind = draw(st.sampled_from(kinds if depth < 3 else ("alu", "stack")))
        if kind == "alu":
            items.append(draw(alu_insn()))
        elif kind == "stack":
            items.append(draw(memory_insn(10)))
        elif kind == "mem":
            items.append(draw(memory_insn(MEM_REG)))
        elif kind == "lddw":
            items.append(lddw(draw(reg), draw(values64)))
        elif kind == "call":
            # The kernel makes r1-r5 unreadable after a call: give them new values.
            items.append(("call", draw(st.integers(0, callees - 1))))
            for r in range(1, 6):
                items.append(lddw(r, draw(values64)))
        else:
            end = len(labels)
            labels.append(end)
            then = _body(draw, depth + 1, budget, labels, callees, in_main)
            if kind == "if":
                items += [("jump", draw(cond_jump()), end)] + then + [("label", end)]
            else:
                other = len(labels)
                labels.append(other)
                otherwise = _body(draw, depth + 1, budget, labels, callees, in_main)
                items += ([("jump", draw(cond_jump()), other)] + then +
                          [("jump", _insn(_JA), end), ("label", other)] + otherwise +
                          [("label", end)])
    return items


def _slots(item) -> int:
    if isinstance(item, tuple):
        return 0 if item[0] == "label" else 1
    return len(item) if isinstance(item, list) else 1


def _assemble(functions: list[list]) -> list[Insn]:
    """Lay out the functions (main first) and resolve jumps and calls."""
    starts, positions, pc = [], {}, 0
    for index, items in enumerate(functions):
        starts.append(pc)
        for item in items:
            if isinstance(item, tuple) and item[0] == "label":
                positions[(index, item[1])] = pc
            pc += _slots(item)
    out: list[Insn] = []
    for index, items in enumerate(functions):
        for item in items:
            if isinstance(item, tuple):
                if item[0] == "jump":
                    insn = item[1]
                    insn.off = positions[(index, item[2])] - len(out) - 1
                    out.append(insn)
                elif item[0] == "call":
                    out.append(make("call", src=1, imm=starts[item[1]] - len(out) - 1))
            elif isinstance(item, list):
                out += item
            else:
                out.append(item)
    return out


def _init_stack(draw) -> list:
    items: list = []
    for slot in range(STACK_AREA // 8):
        items += [lddw(0, draw(values64)), make("stxdw", 10, 0, off=-8 * (slot + 1))]
    return items


@st.composite
def programs(draw, max_body: int = 40, max_callees: int = 2) -> tuple[list[Insn], bytes]:
    """A random program (list of ``Insn`` slots) and its memory block.

    main: r9 = r1 (the memory block), the stack area and r0..r8 initialised, the body,
    ``exit``.  Each callee (called from main only): its own stack area and r0, r6..r8
    initialised (r1..r5 are the caller's), a body without memory-block accesses, ``exit``.
    """
    mem = draw(st.binary(min_size=MEM_SIZE, max_size=MEM_SIZE))
    callees = draw(st.integers(0, max_callees))
    main: list = [make("mov", MEM_REG, 1, x=True)] + _init_stack(draw)
    main += [lddw(r, draw(values64)) for r in REGS]
    main += _body(draw, 0, [max_body], [], callees, True) + [make("exit")]
    called = sorted({item[1] for item in _walk(main) if item[0] == "call"})
    renumber = {old: new for new, old in enumerate(called)}
    for i, item in enumerate(main):
        if isinstance(item, tuple) and item[0] == "call":
            main[i] = ("call", renumber[item[1]] + 1)
    functions = [main]
    for _ in called:
        body: list = _init_stack(draw)
        body += [lddw(r, draw(values64)) for r in (0, 6, 7, 8)]
        body += _body(draw, 0, [max_body // 2], [], 0, False) + [make("exit")]
        functions.append(body)
    return _assemble(functions), mem


def _walk(items: list):
    for item in items:
        if isinstance(item, tuple):
            yield item
