"""The verifier log in the Linux kernel's words, so that a user can diff the two.

Instructions as the kernel's ``print_bpf_insn`` writes them (``r2 = *(u32 *)(r1 +0)``,
``if r4 > r3 goto pc+11``, ``call bpf_map_lookup_elem#1``), registers as its
``print_verifier_state`` does (``R1=ctx() R10=fp0``, ``R4=pkt(off=14,r=14)``,
``R0=scalar(smin=smin32=0,smax=umax=smax32=umax32=0xffff,var_off=(0x0; 0xffff))``,
``fp-8=mmmm????``).  Ref: Linux kernel/bpf/disasm.c, kernel/bpf/log.c (6.18).
"""

from __future__ import annotations

from ..isa import (MASK32, MASK64, SIZE_BYTES, STACK_SIZE, AluOp, AtomicOp, Cls,
                   Fmt, Insn, JmpOp, Mode, Pseudo, sign_extend)
from .checks import Assume
from .state import Byte, PKT_DATA, PKT_END, PKT_META, Reg, State, T

__all__ = ["insn_text", "reg_text", "state_text", "insn_line", "stats_line"]

_ALU_SYMBOL = {AluOp.ADD: "+=", AluOp.SUB: "-=", AluOp.MUL: "*=", AluOp.DIV: "/=",
               AluOp.OR: "|=", AluOp.AND: "&=", AluOp.LSH: "<<=", AluOp.RSH: ">>=",
               AluOp.MOD: "%=", AluOp.XOR: "^=", AluOp.MOV: "=", AluOp.ARSH: "s>>="}
_JMP_SYMBOL = {JmpOp.JEQ: "==", JmpOp.JGT: ">", JmpOp.JGE: ">=", JmpOp.JSET: "&",
               JmpOp.JNE: "!=", JmpOp.JSGT: "s>", JmpOp.JSGE: "s>=", JmpOp.JLT: "<",
               JmpOp.JLE: "<=", JmpOp.JSLT: "s<", JmpOp.JSLE: "s<="}
_SIZE_NAME = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}
_ATOMIC_SYMBOL = {AtomicOp.ADD: "+=", AtomicOp.OR: "|=", AtomicOp.AND: "&=",
                  AtomicOp.XOR: "^="}
_ATOMIC_NAME = {AtomicOp.FETCH_ADD: "add", AtomicOp.FETCH_OR: "or", AtomicOp.FETCH_AND: "and",
                AtomicOp.FETCH_XOR: "xor"}


def _off(off: int) -> str:
    return f"+{off}" if off >= 0 else str(off)


def insn_text(insn: Insn, helper_name=None) -> str:
    """One instruction as the kernel's disassembler prints it (PREVAIL's ``assume`` as
    itself: it has no encoding)."""
    if isinstance(insn, Assume):
        return insn.text()
    spec = insn.spec
    fmt, cls = spec.fmt, spec.cls
    d, s = insn.dst, insn.src
    if cls in (Cls.ALU, Cls.ALU64):
        r = "r" if cls == Cls.ALU64 else "w"
        op = spec.alu_op
        if op == AluOp.NEG:
            return f"{r}{d} = -{r}{d}"
        if op == AluOp.END:
            if cls == Cls.ALU64:
                return f"r{d} = bswap{insn.imm} r{d}"
            kind = "be" if spec.src_is_reg else "le"
            return f"r{d} = {kind}{insn.imm} r{d}"
        src = f"{r}{s}" if spec.src_is_reg else str(sign_extend(insn.imm & MASK32, 32))
        if op == AluOp.MOV and insn.off and spec.src_is_reg:
            return f"{r}{d} = (s{insn.off}){r}{s}"
        if op in (AluOp.DIV, AluOp.MOD) and insn.off:
            return f"{r}{d} s{_ALU_SYMBOL[op]} {src}"
        return f"{r}{d} {_ALU_SYMBOL[op]} {src}"
    if fmt == Fmt.LDDW:
        if insn.src in (Pseudo.MAP_FD, Pseudo.MAP_IDX):
            return f"r{d} = map[id:{insn.imm}]"
        if insn.src in (Pseudo.MAP_VALUE, Pseudo.MAP_IDX_VALUE):
            return f"r{d} = map[id:{insn.imm}][0]+{(insn.imm64 >> 32) & MASK32}"
        return f"r{d} = 0x{insn.imm64 & MASK64:x}"
    n = SIZE_BYTES.get(spec.size) if spec.size is not None else None
    if cls == Cls.LDX:
        sx = "s" if spec.mode == Mode.MEMSX else "u"
        return f"r{d} = *({sx}{8 * n} *)(r{s} {_off(insn.off)})"
    if fmt == Fmt.ST:
        return f"*({_SIZE_NAME[n]} *)(r{d} {_off(insn.off)}) = {insn.imm}"
    if fmt == Fmt.STX:
        return f"*({_SIZE_NAME[n]} *)(r{d} {_off(insn.off)}) = r{s}"
    if fmt == Fmt.ATOMIC:
        where = f"({_SIZE_NAME[n]} *)(r{d} {_off(insn.off)})"
        bits = "64" if n == 8 else ""
        r = "r"                 # disasm.c names the registers r whatever the width
        if insn.imm in _ATOMIC_SYMBOL:
            return f"lock *{where} {_ATOMIC_SYMBOL[AtomicOp(insn.imm)]} {r}{s}"
        if insn.imm in _ATOMIC_NAME:
            return (f"{r}{s} = atomic{bits}_fetch_{_ATOMIC_NAME[AtomicOp(insn.imm)]}"
                    f"({where}, {r}{s})")
        if insn.imm == AtomicOp.XCHG:
            return f"{r}{s} = atomic{bits}_xchg({where}, {r}{s})"
        return f"r0 = atomic{bits}_cmpxchg({where}, r0, {r}{s})"
    if fmt == Fmt.JA:
        return f"goto pc{_off(insn.off)}"
    if fmt == Fmt.JA32:
        return f"gotol pc{_off(insn.imm)}"
    if fmt == Fmt.EXIT:
        return "exit"
    if fmt == Fmt.CALL_HELPER:
        name = helper_name(insn.imm) if helper_name else None
        return f"call {name or 'unknown'}#{insn.imm}"
    if fmt == Fmt.CALL_LOCAL:
        return f"call pc{_off(insn.imm)}"
    if fmt == Fmt.CALLX:
        return f"call r{d}"
    if fmt in (Fmt.JMP_K, Fmt.JMP_X):
        r = "r" if cls == Cls.JMP else "w"
        rhs = f"{r}{s}" if spec.src_is_reg else f"0x{insn.imm & MASK32:x}"
        return f"if {r}{d} {_JMP_SYMBOL[spec.jmp_op]} {rhs} goto pc{_off(insn.off)}"
    return spec.mnemonic


def _num(v: int, signed: bool) -> str:
    """``verbose_snum``/``verbose_unum``: decimal within 16 bits (S16/U16), else hex."""
    if signed:
        v = sign_extend(v & MASK64, 64)
        return str(v) if -(1 << 15) <= v < 1 << 15 else f"{v & MASK64:#x}"
    v &= MASK64
    return str(v) if v <= 0xFFFF else f"{v:#x}"


def _ranges(val) -> list[str]:
    """``print_scalar_ranges``: equal bounds printed once as ``smin=smin32=0``."""
    low = val.low32()
    s32 = low.sext(32)
    smin32, smax32 = s32.smin, s32.smax
    if -(1 << 31) <= val.smin and val.smax < 1 << 31:
        # the value is its low half sign-extended: its 32-bit signed range is its range
        smin32, smax32 = max(smin32, val.smin), min(smax32, val.smax)
    umin32, umax32 = low.umin, low.umax
    if val.umin >> 32 == val.umax >> 32:
        umin32, umax32 = max(umin32, val.umin & MASK32), min(umax32, val.umax & MASK32)
    items = [["smin", val.smin, val.smin == -(1 << 63)],
             ["smax", val.smax, val.smax == (1 << 63) - 1],
             ["umin", val.umin, val.umin == 0],
             ["umax", val.umax, val.umax == MASK64],
             ["smin32", smin32, smin32 == -(1 << 31)],
             ["smax32", smax32, smax32 == (1 << 31) - 1],
             ["umin32", umin32, umin32 == 0],
             ["umax32", umax32, umax32 == MASK32]]
    out = []
    for i, (name, v, omit) in enumerate(items):
        if omit:
            continue
        neg = name[0] == "s" and v < 0
        names = [name]
        for j in range(i + 2, len(items), 2):
            n2, v2, o2 = items[j]
            if o2 or (n2[0] == "s" and v2 < 0) != neg or (v2 & MASK64) != (v & MASK64):
                continue
            names.append(n2)
            items[j][2] = True
        out.append("=".join(names) + "=" + _num(v, name[0] == "s"))
    return out


def _scalar_text(reg: Reg) -> str:
    val = reg.val
    if val.is_const:
        return _num(val.umin, True)
    parts = [f"id={reg.id}"] if reg.id else []
    parts += _ranges(val)
    if val.mask != MASK64:
        parts.append(f"var_off=(0x{val.value:x}; 0x{val.mask:x})")
    return "scalar(" + ",".join(parts) + ")"


def _map_text(m) -> str:
    if m is None:
        return ""
    name = getattr(m, "name", "") or ""
    return f"map={name},ks={m.key_size},vs={m.value_size}"


def reg_text(reg: Reg, frame: int | None = None) -> str:
    """A register's value as the kernel's log shows it (``frame``: the current frame's
    index; a stack pointer into another frame shows it, ``fp[0]-24``)."""
    t = reg.type
    if t == T.SCALAR:
        return _scalar_text(reg)
    if t == T.STACK:
        name = "fp" if frame is None or reg.frame == frame else f"fp[{reg.frame}]"
        if reg.val.is_const:
            return f"{name}{_num(reg.val.umin, True)}"
        return f"{name}(" + ",".join(_ranges(reg.val)) + ")"
    parts = []
    name = t.value
    if t == T.PACKET:
        name = {PKT_META: "pkt_meta", PKT_DATA: "pkt", PKT_END: "pkt_end"}[reg.base]
    if reg.id and t != T.PACKET or t == T.PACKET and reg.id:
        parts.append(f"id={reg.id}")
    # the kernel's order: id, off, r, map, then the variable part's ranges
    off = reg.val
    ranges = []
    if off is not None:
        if off.is_const:
            if off.umin:
                parts.append(f"off={_num(off.umin, True)}")
        else:
            if t == T.PACKET and reg.fixed:
                parts.append(f"off={reg.fixed}")
            ranges = _ranges(off)
            if off.mask != MASK64:
                ranges.append(f"var_off=(0x{off.value:x}; 0x{off.mask:x})")
    if t == T.PACKET and reg.base != PKT_END:
        parts.append(f"r={reg.range}")
    if t in (T.MAP_PTR, T.MAP_VALUE, T.MAP_VALUE_OR_NULL) and reg.map is not None:
        parts.append(_map_text(reg.map))
    if t in (T.MEM, T.MEM_OR_NULL) and reg.size:
        parts.append(f"sz={reg.size}")
    return f"{name}({','.join(parts + ranges)})"


_SLOT_CHAR = {Byte.INVALID: "?", Byte.MISC: "m", Byte.SPILL: "r", Byte.POISON: "m"}


def _stack_text(frame, frame_index: int | None = None) -> list[str]:
    return [text for _, text in stack_slots(frame, frame_index)]


def stack_slots(frame, frame_index: int | None = None) -> list[tuple[int, str]]:
    """(slot index, ``fp-8=mmmm????``) for every slot with a written byte, top first."""
    out = []
    for slot in range(STACK_SIZE // 8 - 1, -1, -1):
        lo = slot * 8
        chunk = frame.stack[lo:lo + 8]
        if not any(chunk):
            continue
        where = f"fp{lo - STACK_SIZE}"
        spilled = frame.spills.get(slot)
        if spilled is not None:
            out.append((slot, f"{where}={reg_text(spilled, frame_index)}"))
            continue
        # slot_type[j] is the byte at fp - (spi * 8 + j + 1): the highest address first;
        # a number stored whole at the slot's start is a (narrow) spill, shown after the
        # other bytes' types; elsewhere a stored zero is STACK_ZERO, '0'
        chars = [_SLOT_CHAR[Byte(chunk[7 - j])] for j in range(8)]
        spill = frame.narrow.get(lo)
        for k, (m, v) in frame.narrow.items():
            if lo <= k < lo + 8 and k != lo and v.is_const and v.umin == 0:
                for b in range(k, k + m):
                    chars[7 - (b - lo)] = "0"
        if spill is not None:
            out.append((slot, where + "=" + "".join(chars[:8 - spill[0]])
                        + _scalar_text(Reg(T.SCALAR, spill[1]))))
            continue
        out.append((slot, where + "=" + "".join(chars)))
    return out


def state_text(state: State, regs=None, stack: bool = True) -> str:
    """``R1=ctx() R10=fp0 fp-8=mmmm????`` for the current frame (``regs``: only these)."""
    frame = state.cur
    cur = len(state.frames) - 1
    parts = [f"R{r}={reg_text(reg, cur)}" for r, reg in enumerate(frame.regs)
             if reg.type != T.NOT_INIT and (regs is None or r in regs)]
    if stack:
        parts += _stack_text(frame, cur)
    prefix = f"frame{len(state.frames) - 1}: " if len(state.frames) > 1 else ""
    return prefix + " ".join(parts)


def insn_line(pc: int, insn: Insn, helper_name=None) -> str:
    return f"{pc}: ({insn.opcode:02x}) {insn_text(insn, helper_name)}"


def annotated(line: str, after: str) -> str:
    """The instruction line, then ``; <registers it touched>`` at the kernel's column."""
    if not after:
        return line
    n = len(line)
    width = -(-max(n + 5, 40) // 8) * 8 - n - 2
    return line + " " * width + "; " + after


def stats_line(processed: int, limit: int, max_per_insn: int, total: int, peak: int) -> str:
    # mark_read: the kernel's count of liveness read marks; ours is static (liveness.py)
    return (f"processed {processed} insns (limit {limit}) max_states_per_insn {max_per_insn} "
            f"total_states {total} peak_states {peak} mark_read 0")
