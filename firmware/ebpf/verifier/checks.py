"""Layers 1-3 of the verifier: decode, per-instruction field checks, control flow.

These run before any abstract interpretation and reject a program for what it *is*, not for
what it might do: an opcode outside the allow-list (``isa.OPCODES``), a reserved field set, a
write to r10, a jump out of the program or into the middle of an ``lddw``, a fall-through off
the end of a function, an instruction no path reaches.  Ref: Linux kernel/bpf/verifier.c
(``resolve_pseudo_ldimm64``, ``check_subprogs``, ``check_cfg``) and PREVAIL's
``asm_unmarshal.cpp`` / ``asm_cfg.cpp``.
"""

from __future__ import annotations

from .. import isa
from ..helpers import helper_name
from ..isa import (AluOp, Cls, Fmt, Insn, JmpOp, Pseudo, NUM_REGS, FRAME_POINTER)
from .platform import HELPERS, Platform

__all__ = ["Reject", "Assume", "decode", "check_fields", "build_cfg", "Cfg", "jump_target",
           "is_cond_jump"]


class Reject(Exception):
    """A verifier rejection: ``pc`` (instruction index or None) and the reason."""

    def __init__(self, pc: int | None, reason: str):
        super().__init__(f"{pc}: {reason}" if pc is not None else reason)
        self.pc = pc
        self.reason = reason


class Assume(Insn):
    """A verifier-only pseudo-instruction (PREVAIL's ``assume``): narrow the state by a
    condition and continue only where it holds.  It has a conditional jump's opcode and
    operands with offset 0; it never reaches bytecode."""

    def text(self) -> str:
        return "assume " + _cond_text(self)


_COND_SYMBOL = {
    JmpOp.JEQ: "==", JmpOp.JNE: "!=", JmpOp.JGT: ">", JmpOp.JGE: ">=", JmpOp.JLT: "<",
    JmpOp.JLE: "<=", JmpOp.JSGT: "s>", JmpOp.JSGE: "s>=", JmpOp.JSLT: "s<", JmpOp.JSLE: "s<=",
    JmpOp.JSET: "&",
}


def _cond_text(insn: Insn) -> str:
    spec = insn.spec
    r = "w" if spec.cls == Cls.JMP32 else "r"
    rhs = f"{r}{insn.src}" if spec.src_is_reg else str(insn.imm)
    return f"{r}{insn.dst} {_COND_SYMBOL[spec.jmp_op]} {rhs}"


def decode(program) -> list[Insn]:
    """Layer 1: bytes or a list of ``Insn`` to typed instructions (``spec`` set on each).

    A list is taken as ``isa.decode_program`` gives it: one entry per slot, lddw followed by
    its filler.  Unknown opcodes and malformed lddw pairs are rejected with their index.
    """
    if isinstance(program, (bytes, bytearray, memoryview)):
        code = bytes(program)
        if len(code) % 8:
            raise Reject(None, f"program length {len(code)} is not a multiple of 8 bytes")
        try:
            insns = isa.decode_program(code, strict=False)
        except isa.IsaError as exc:
            raise Reject(_index_of(str(exc)), str(exc).split(": ", 1)[-1]) from None
        # decode_program(strict=False) does not look at the filler slot: the kernel does.
        for pc, insn in enumerate(insns):
            if insn.imm64 is not None:
                raw = code[8 * (pc + 1): 8 * (pc + 2)]
                if raw[0] or raw[1] or raw[2] or raw[3]:
                    raise Reject(pc, "invalid bpf_ld_imm64 insn: second slot must have "
                                     "opcode, registers and offset 0")
    else:
        insns = list(program)
    if not insns:
        raise Reject(None, "empty program")
    pc = 0
    while pc < len(insns):
        insn = insns[pc]
        if not isinstance(insn, Insn):
            raise Reject(pc, f"not an instruction: {insn!r}")
        if insn.spec is None:
            insn.spec = isa.lookup(insn.opcode, insn.src, insn.off, insn.imm)
        if insn.spec is None:
            raise Reject(pc, f"unknown opcode {insn.opcode:#04x}"
                             f" (src={insn.src} off={insn.off} imm={insn.imm})")
        if insn.spec.fmt == Fmt.LDDW:
            if insn.imm64 is None:
                if pc + 1 >= len(insns):
                    raise Reject(pc, "invalid bpf_ld_imm64 insn: lddw is missing its second slot")
                nxt = insns[pc + 1]
                insn.imm64 = (insn.imm & isa.MASK32) | ((nxt.imm & isa.MASK32) << 32)
            if pc + 1 >= len(insns):
                raise Reject(pc, "invalid bpf_ld_imm64 insn: lddw is missing its second slot")
            nxt = insns[pc + 1]
            if nxt.opcode or nxt.dst or nxt.src or nxt.off:
                raise Reject(pc + 1, "invalid bpf_ld_imm64 insn: second slot must have "
                                     "opcode, registers and offset 0")
            pc += 2
            continue
        pc += 1
    return insns


def _index_of(message: str) -> int | None:
    head = message.split(":", 1)[0]
    if head.startswith("instruction "):
        try:
            return int(head.split()[1])
        except ValueError:
            return None
    return None


def is_cond_jump(insn: Insn) -> bool:
    return insn.spec.fmt in (Fmt.JMP_K, Fmt.JMP_X) and not isinstance(insn, Assume)


def jump_target(insn: Insn, pc: int) -> int | None:
    """Where a jump (or a local call) goes, or None for other instructions."""
    fmt = insn.spec.fmt
    if isinstance(insn, Assume):
        return None
    if fmt in (Fmt.JMP_K, Fmt.JMP_X, Fmt.JA):
        return pc + 1 + insn.off
    if fmt == Fmt.JA32:
        return pc + 1 + insn.imm
    if fmt == Fmt.CALL_LOCAL:
        return pc + 1 + insn.imm
    return None


def _writes_dst(insn: Insn) -> bool:
    cls = insn.spec.cls
    return cls in (Cls.ALU, Cls.ALU64, Cls.LDX) or insn.spec.fmt == Fmt.LDDW


def check_fields(insns: list[Insn], platform: Platform, program_type: str, maps,
                 linux_compat: bool = True) -> None:
    """Layer 2: per-instruction checks that need no state (kernel ``do_check`` preamble).

    ``linux_compat`` adds the kernel's refusals of instructions RFC 9669 defines (division by
    the immediate 0, immediate shifts outside 0..width-1)."""
    skip = False
    for pc, insn in enumerate(insns):
        if skip:
            skip = False
            continue
        spec = insn.spec
        if insn.imm64 is not None:
            skip = True
        if not isinstance(insn, Assume):
            why = isa.reserved_field_error(insn)
            if why:
                raise Reject(pc, why)
        if max(insn.dst, insn.src) >= NUM_REGS:
            raise Reject(pc, f"R{max(insn.dst, insn.src)} is invalid")
        fmt = spec.fmt
        if _writes_dst(insn) and insn.dst == FRAME_POINTER:
            raise Reject(pc, "frame pointer is read only")
        if (fmt == Fmt.ATOMIC and insn.imm & isa.ATOMIC_FETCH and insn.src == FRAME_POINTER
                and insn.imm != isa.AtomicOp.CMPXCHG):
            raise Reject(pc, "frame pointer is read only")
        # As the kernel does, refuse a division by the immediate 0 and a shift by an
        # immediate outside 0..width-1.  RFC 9669 (and isa.alu, the model, the NIC) define
        # both, so such a program is not unsafe here; but Linux refuses to load it, and a
        # program xdpnic accepts should load in the kernel too.
        if linux_compat and spec.cls in (Cls.ALU, Cls.ALU64) and not spec.src_is_reg:
            op = spec.alu_op
            bits = 64 if spec.is64 else 32
            if op in (AluOp.DIV, AluOp.MOD) and insn.imm == 0:
                raise Reject(pc, "div by zero")
            if op in (AluOp.LSH, AluOp.RSH, AluOp.ARSH) and not 0 <= insn.imm < bits:
                raise Reject(pc, f"invalid shift {insn.imm}")
        if fmt in (Fmt.LD_ABS, Fmt.LD_IND):
            raise Reject(pc, "BPF_LD_[ABS|IND] instructions not allowed for this program type")
        if fmt == Fmt.CALL_KFUNC:
            raise Reject(pc, "kernel function calls are not supported")
        if fmt == Fmt.CALL_HELPER:
            proto = platform.helper(insn.imm)
            if proto is None:
                known = HELPERS.get(insn.imm)
                if known is None:
                    raise Reject(pc, f"invalid func {helper_name(insn.imm)}#{insn.imm}")
                raise Reject(pc, f"helper {known.name}#{insn.imm} is not offered by "
                                 f"platform {platform.name}")
        if fmt == Fmt.LDDW:
            _check_lddw(pc, insn, platform, maps)


def _check_lddw(pc: int, insn: Insn, platform: Platform, maps) -> None:
    src = insn.src
    if src == Pseudo.IMM64:
        return
    if src in (Pseudo.BTF_ID, Pseudo.FUNC):
        raise Reject(pc, f"unsupported lddw pseudo source {Pseudo(src).name}")
    fd = isa.sign_extend(insn.imm64, 32)
    m = lookup_map(maps, fd, by_index=src in (Pseudo.MAP_IDX, Pseudo.MAP_IDX_VALUE))
    what = "fd" if src in (Pseudo.MAP_FD, Pseudo.MAP_VALUE) else "map index"
    if m is None:
        raise Reject(pc, f"{what} {fd} is not pointing to valid bpf_map")
    if m.type not in platform.map_types:
        raise Reject(pc, f"map type {_map_type_name(m.type)} not supported by device "
                         f"{platform.name}")
    if src in (Pseudo.MAP_VALUE, Pseudo.MAP_IDX_VALUE):
        off = (insn.imm64 >> 32) & isa.MASK32
        if off >= m.value_size:
            raise Reject(pc, f"invalid access to map value pointer, value_size="
                             f"{m.value_size} off={off}")


def _map_type_name(t: int) -> str:
    from ..maps import MapType
    try:
        return MapType(t).name
    except ValueError:
        return str(t)


def lookup_map(maps, fd: int, by_index: bool = False):
    """The map a program names by fd (or by index into its map table, for the ``MAP_IDX``
    forms), or None.  ``maps`` is a mapping (fd and index alike), or an object with
    ``__getitem__`` for fds and ``by_index(idx)`` for indices, or None."""
    if maps is None or fd < 0:      # a negative index would count from a list's end
        return None
    try:
        if by_index and hasattr(maps, "by_index"):
            return maps.by_index(fd)
        return maps[fd]
    except (KeyError, IndexError, TypeError):
        return None


class Cfg:
    """Subprogram layout and prune points of a program that passed layer 3."""

    def __init__(self, n: int, subprogs: list[int], prune: set[int], func_of: list[int]):
        self.n = n
        self.subprogs = subprogs          # sorted entry pcs, 0 first
        self.prune = prune                # pcs where states are stored and compared
        self.func_of = func_of            # pc -> entry pc of the function holding it


def build_cfg(insns: list[Insn]) -> Cfg:
    """Layer 3: targets in range, not into an lddw, no fall-through off a function, no
    unreachable instruction.  Ref: kernel ``check_subprogs`` and ``check_cfg``."""
    n = len(insns)
    second_slot = set()
    for pc, insn in enumerate(insns):
        if insn.imm64 is not None:
            second_slot.add(pc + 1)
    entries = {0}
    for pc, insn in enumerate(insns):
        if pc in second_slot:
            continue
        if insn.spec.fmt == Fmt.CALL_LOCAL:
            t = pc + 1 + insn.imm
            if not 0 <= t < n:
                raise Reject(pc, f"call to invalid destination {t} (program has {n} insns)")
            if t in second_slot:
                raise Reject(pc, f"call into the middle of ldimm64 insn {t - 1}")
            entries.add(t)
    subprogs = sorted(entries)
    func_of = [0] * n
    for i, start in enumerate(subprogs):
        end = subprogs[i + 1] if i + 1 < len(subprogs) else n
        for pc in range(start, end):
            func_of[pc] = start
    prune: set[int] = set(subprogs)
    succ: list[list[int]] = [[] for _ in range(n)]
    for i, start in enumerate(subprogs):
        end = subprogs[i + 1] if i + 1 < len(subprogs) else n
        pc = start
        last = None
        while pc < end:
            insn = insns[pc]
            last = pc
            fmt = insn.spec.fmt
            nxt = pc + insn.slots
            t = jump_target(insn, pc)
            if fmt in (Fmt.JMP_K, Fmt.JMP_X, Fmt.JA, Fmt.JA32) and t is not None:
                if not start <= t < end:
                    raise Reject(pc, f"jump out of range from insn {pc} to {t}")
                if t in second_slot:
                    raise Reject(pc, f"jump into the middle of ldimm64 insn {t - 1}")
                succ[pc].append(t)
                prune.add(t)
                if fmt in (Fmt.JMP_K, Fmt.JMP_X):
                    prune.add(nxt)
                    succ[pc].append(nxt)
            elif fmt == Fmt.EXIT:
                pass
            else:
                succ[pc].append(nxt)
                if fmt in (Fmt.CALL_LOCAL, Fmt.CALL_HELPER, Fmt.CALLX):
                    prune.add(nxt)
            pc = nxt
        # the last instruction of a function must not fall through into the next one
        if last is None:
            continue
        lf = insns[last].spec.fmt
        if lf not in (Fmt.EXIT, Fmt.JA, Fmt.JA32):
            if end == n:
                raise Reject(last, "last insn is not an exit or jmp")
            raise Reject(last, f"function at insn {start} falls through into the function "
                               f"at insn {end}")
    # reachability: from 0, following local calls into their functions
    seen = [False] * n
    work = [0]
    seen[0] = True
    while work:
        pc = work.pop()
        targets = list(succ[pc])
        if insns[pc].spec.fmt == Fmt.CALL_LOCAL:
            targets.append(pc + 1 + insns[pc].imm)
        for t in targets:
            if t < n and not seen[t]:
                seen[t] = True
                work.append(t)
    for pc in range(n):
        if not seen[pc] and pc not in second_slot:
            raise Reject(pc, f"unreachable insn {pc}")
    return Cfg(n, subprogs, prune, func_of)
