"""Which registers each instruction may still read: a backward dataflow over the program.

A register that no path reads before writing it (in its own frame) cannot change what the
rest of a path does, so state pruning may ignore it: the kernel does the same with its
``REG_LIVE_READ`` marks (``states_equal`` skips registers never read).  Computed once,
statically, per instruction: ``live[pc]`` is a bit mask of r0..r10 live on entry to ``pc``.

Calls: a helper reads its arguments (r1 to r_n of its prototype) and clobbers r0-r5; a local
call reads r1-r5 (as the kernel counts it) and keeps r6-r9 for the instruction after it;
``exit`` reads r0.  Ref: Linux kernel/bpf/verifier.c ``compute_live_registers``.
"""

from __future__ import annotations

from ..isa import ATOMIC_FETCH, FRAME_POINTER, AluOp, AtomicOp, Cls, Fmt, Insn

from .checks import is_cond_jump
from .opinfo import fast_spec

__all__ = ["live_registers", "ALL_REGS"]

ALL_REGS = (1 << 11) - 1
_ARGS = 0b111110                  # r1-r5
_CLOBBER = 0b111111               # r0-r5


def _bit(r: int) -> int:
    return 1 << r


def _use_def(insn: Insn, platform) -> tuple[int, int]:
    """(registers read, registers written) of one instruction (calls aside)."""
    spec = fast_spec(insn.spec)
    fmt, cls = spec.fmt, spec.cls
    if cls in (Cls.ALU, Cls.ALU64):
        use = 0 if spec.alu_op == AluOp.MOV else _bit(insn.dst)
        if spec.src_is_reg:
            use |= _bit(insn.src)
        return use, _bit(insn.dst)
    if fmt == Fmt.LDDW:
        return 0, _bit(insn.dst)
    if cls == Cls.LDX:
        return _bit(insn.src), _bit(insn.dst)
    if fmt == Fmt.ST:
        return _bit(insn.dst), 0
    if fmt == Fmt.STX:
        return _bit(insn.dst) | _bit(insn.src), 0
    if fmt == Fmt.ATOMIC:
        use = _bit(insn.dst) | _bit(insn.src)
        if insn.imm == AtomicOp.CMPXCHG:
            return use | 1, 1
        return use, _bit(insn.src) if insn.imm & ATOMIC_FETCH else 0
    if fmt in (Fmt.JMP_K, Fmt.JMP_X):         # conditional jumps and Assume
        use = _bit(insn.dst)
        if spec.src_is_reg:
            use |= _bit(insn.src)
        return use, 0
    if fmt == Fmt.CALL_HELPER:
        proto = platform.helper(insn.imm)
        n = len(proto.args) if proto is not None else 5
        return sum(_bit(r) for r in range(1, n + 1)), _CLOBBER
    if fmt == Fmt.CALLX:
        return _bit(insn.dst) | _ARGS, _CLOBBER
    if fmt == Fmt.EXIT:
        return 1, 0
    return 0, 0


def live_registers(insns: list[Insn], platform) -> list[int]:
    """``live[pc]``: mask of the registers live on entry to ``pc`` (all for the second slot
    of an lddw, which is never executed)."""
    n = len(insns)
    succ: list[list[int]] = [[] for _ in range(n)]
    use = [0] * n
    kill = [0] * n
    calls: set[int] = set()
    for pc, insn in enumerate(insns):
        if insn.spec is None:
            continue
        fmt = fast_spec(insn.spec).fmt
        if fmt == Fmt.LDDW:
            succ[pc].append(pc + 2)
        elif fmt == Fmt.JA:
            succ[pc].append(pc + 1 + insn.off)
        elif fmt == Fmt.JA32:
            succ[pc].append(pc + 1 + insn.imm)
        elif fmt == Fmt.EXIT:
            pass
        elif fmt == Fmt.CALL_LOCAL:
            calls.add(pc)
            succ[pc].append(pc + 1)
        else:
            u, d = _use_def(insn, platform)
            use[pc], kill[pc] = u, d
            succ[pc].append(pc + 1)
            if is_cond_jump(insn):
                succ[pc].append(pc + 1 + insn.off)
        if fmt == Fmt.LDDW:
            use[pc], kill[pc] = _use_def(insn, platform)
        elif fmt == Fmt.EXIT:
            use[pc] = 1
    live = [0] * (n + 2)
    changed = True
    while changed:
        changed = False
        for pc in range(n - 1, -1, -1):
            if insns[pc].spec is None:
                continue
            out = 0
            for s in succ[pc]:
                if 0 <= s < n:
                    out |= live[s]
            if pc in calls:
                # r6-r9 (and r10) survive the call for pc + 1; r0-r5 come back new; the
                # kernel counts r1-r5 all read by the call, whatever the callee reads
                into = (out & ~_CLOBBER) | _ARGS
            else:
                into = (out & ~kill[pc]) | use[pc]
            into |= _bit(FRAME_POINTER)
            if into != live[pc]:
                live[pc] = into
                changed = True
    return live[:n]
