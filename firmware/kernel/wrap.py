"""Rewrite a program so the kernel can run it under another calling convention.

The conformance suite (and the model-versus-kernel tests) call a program with r1 pointing to
a block of memory and r2 holding its length, and judge the full 64-bit r0.  An XDP program in
the kernel gets r1 = its ``xdp_md`` context and reports only a 32-bit return value.  So the
kernel target runs a *wrapped* program:

    prologue    r1 = &mem_map[0] (lddw MAP_VALUE), r2 = len(mem)   (r1 = 0 without mem)
    main        the program's main function, each ``exit`` turned into ``ja epilogue``
    epilogue    store r0 (and chosen registers) into the result map's value; return XDP_PASS
    callees     the program's bpf-to-bpf functions, unchanged except for jump offsets

The epilogue sits between the main function and the first callee because the kernel forbids
jumps between functions.  Every branch is re-targeted (``off`` of jumps, ``imm`` of ``ja32``,
of ``call`` local and of ``lddw`` FUNC), so programs with loops, lddw pairs and callees keep
their shape.  See docs/kernel-target.md.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..ebpf.isa import CallKind, Fmt, Insn, Pseudo
from ..ebpf.machine import UNWIND_HELPER_ID
from .build import lddw, make

__all__ = ["WrapError", "Wrapped", "wrap", "function_starts", "RESULT_SLOTS", "result_size",
           "XDP_PASS"]

# Ref: include/uapi/linux/bpf.h enum xdp_action.
XDP_PASS = 2

# The result map's value: one 64-bit slot per register r0..r9 (r10 is the frame pointer).
RESULT_SLOTS = 10


def result_size() -> int:
    return 8 * RESULT_SLOTS


# The epilogue parks r1 here while r1 holds the result pointer.  The program has finished by
# then, so its stack is no longer needed.
_SPILL_OFFSET = -8


class WrapError(ValueError):
    """The program cannot be wrapped faithfully; the message says why and where."""


@dataclass
class Wrapped:
    """A wrapped program and where its parts landed.

    Members
    -------
    insns : list[Insn]
        The wrapped program, slot by slot (lddw pairs included).
    new_index : list[int]
        ``new_index[i]`` is where old instruction ``i`` now starts (one more entry for the
        end of the old program).
    epilogue : int
        Index of the epilogue's first instruction.
    notes : list[str]
        Rewrites other than jump fix-ups (e.g. the inlined unwind helper).
    """
    insns: list[Insn]
    new_index: list[int]
    epilogue: int
    notes: list[str] = field(default_factory=list)


def _is_call(insn: Insn, kind: CallKind) -> bool:
    return insn.spec is not None and insn.spec.fmt == {
        CallKind.HELPER: Fmt.CALL_HELPER, CallKind.LOCAL: Fmt.CALL_LOCAL,
        CallKind.KFUNC: Fmt.CALL_KFUNC}[kind]


def _is_exit(insn: Insn) -> bool:
    return insn.spec is not None and insn.spec.fmt == Fmt.EXIT


def _branch_field(insn: Insn) -> str | None:
    """Which field of ``insn`` holds a pc-relative target ("off" or "imm"), if any."""
    spec = insn.spec
    if spec is None:
        return None
    if spec.fmt in (Fmt.JA, Fmt.JMP_K, Fmt.JMP_X):
        return "off"
    if spec.fmt in (Fmt.JA32, Fmt.CALL_LOCAL):
        return "imm"
    if spec.fmt == Fmt.LDDW and insn.src == Pseudo.FUNC:
        return "imm"
    return None


def function_starts(insns: list[Insn]) -> list[int]:
    """The first instruction of every function: 0 and each bpf-to-bpf call's target."""
    starts = {0}
    for i, insn in enumerate(insns):
        if _is_call(insn, CallKind.LOCAL) or (
                insn.spec is not None and insn.spec.fmt == Fmt.LDDW and insn.src == Pseudo.FUNC):
            starts.add(i + 1 + insn.imm)
    return sorted(starts)


def _copy(insn: Insn) -> Insn:
    new = Insn(insn.opcode, insn.dst, insn.src, insn.off, insn.imm, insn.imm64)
    new.spec = insn.spec
    return new


def wrap(insns: list[Insn], mem_fd: int | None, mem_len: int, result_fd: int,
         save_regs: Iterable[int] = (0,), unwind_helper: int | None = UNWIND_HELPER_ID,
         return_value: int = XDP_PASS) -> Wrapped:
    """Wrap ``insns`` (a list as ``isa.decode_program`` returns it) for the kernel.

    Parameters
    ----------
    mem_fd : int | None
        fd of a one-entry array map whose value is the program's memory (None: no memory,
        r1 = 0 and r2 = 0 at entry).
    mem_len : int
        Value of r2 at entry.
    result_fd : int
        fd of a one-entry array map of ``result_size()`` bytes; the epilogue stores each
        register of ``save_regs`` at byte ``8 * reg`` of its value.
    unwind_helper : int | None
        Helper id of the conformance suite's "unwind" helper (returns r1; when r1 is 0 the
        program stops with r0 = 0).  The kernel has no such helper, so a call to it in the
        main function is inlined as ``r0 = r1; if r1 == 0 goto epilogue``.  In a callee it
        cannot be (the kernel allows no jump out of a function): ``WrapError``.
    return_value : int
        What the wrapped program returns to the kernel (the verdict of the test run).
    """
    save = sorted(set(save_regs))
    if any(not 0 <= r < RESULT_SLOTS for r in save):
        raise ValueError(f"save_regs {save} must be registers r0..r{RESULT_SLOTS - 1}")
    n = len(insns)
    if n == 0:
        raise WrapError("empty program")
    # An instruction we cannot decode is passed through untouched: the kernel refuses the
    # program then, in its own words ("unknown opcode 8d"), which is the verdict we want.
    unknown = any(insn.spec is None and not (i > 0 and insns[i - 1].imm64 is not None)
                  for i, insn in enumerate(insns))
    starts = function_starts(insns)
    for s in starts:
        if not 0 <= s < n:
            raise WrapError(f"a bpf-to-bpf call targets instruction {s}, outside the"
                            f" program (0..{n - 1})")
    main_end = starts[1] if len(starts) > 1 else n
    last = main_end - 1
    if last > 0 and insns[last - 1].imm64 is not None:
        last -= 1       # main ends in the middle of an lddw: judged below as not an exit
    last_insn = insns[last]
    if not unknown and not (_is_exit(last_insn) or (last_insn.spec is not None and
                                                    last_insn.spec.fmt in (Fmt.JA, Fmt.JA32))):
        # The kernel refuses this ("last insn is not an exit or jmp"); wrapped, it would fall
        # into the epilogue and be accepted, so refuse here to keep the kernel's verdict.
        raise WrapError(f"instruction {main_end - 1}: the main function ends without exit or"
                        f" ja (the kernel refuses: last insn is not an exit or jmp)")

    # Items: (insn, target) where target is None, ("old", index) or ("epilogue",).
    items: list[tuple[Insn, tuple | None]] = []
    new_index = [0] * (n + 1)
    notes: list[str] = []

    if mem_fd is not None:
        items += [(x, None) for x in lddw(1, mem_fd, Pseudo.MAP_VALUE)]
    else:
        items.append((make("mov", 1, imm=0), None))
    items.append((make("mov", 2, imm=mem_len), None))

    def emit_original(i: int, in_main: bool) -> None:
        insn = insns[i]
        if i > 0 and insns[i - 1].imm64 is not None:
            items.append((_copy(insn), None))       # lddw's second slot
            return
        if in_main and _is_exit(insn):
            items.append((make("ja"), ("epilogue",)))
            return
        if unwind_helper is not None and _is_call(insn, CallKind.HELPER) \
                and insn.imm == unwind_helper:
            if not in_main:
                raise WrapError(f"instruction {i}: call {unwind_helper} (the conformance"
                                f" suite's unwind helper) in a bpf-to-bpf callee cannot be"
                                f" expressed for the kernel, which has no such helper and"
                                f" no jump out of a function")
            items.append((make("mov", 0, 1, x=True), None))
            items.append((make("jeq", 1, imm=0), ("epilogue",)))
            notes.append(f"instruction {i}: call {unwind_helper} (unwind) inlined as"
                         f" r0 = r1; if r1 == 0 goto epilogue")
            return
        fld = _branch_field(insn)
        if fld is None:
            items.append((_copy(insn), None))
            return
        rel = insn.off if fld == "off" else insn.imm
        items.append((_copy(insn), ("old", i + 1 + rel)))

    for i in range(main_end):
        new_index[i] = len(items)
        emit_original(i, True)
    epilogue = len(items)
    if 1 in save:
        items.append((make("stxdw", 10, 1, off=_SPILL_OFFSET), None))
    items += [(x, None) for x in lddw(1, result_fd, Pseudo.MAP_VALUE)]
    for r in save:
        if r != 1:
            items.append((make("stxdw", 1, r, off=8 * r), None))
    if 1 in save:
        scratch = 2
        items.append((make("ldxdw", scratch, 10, off=_SPILL_OFFSET), None))
        items.append((make("stxdw", 1, scratch, off=8), None))
    items.append((make("mov", 0, imm=return_value), None))
    items.append((make("exit"), None))
    for i in range(main_end, n):
        new_index[i] = len(items)
        emit_original(i, False)
    new_index[n] = len(items)

    out: list[Insn] = []
    for pos, (insn, target) in enumerate(items):
        if target is not None:
            if target[0] == "epilogue":
                dest = epilogue
            else:
                old = target[1]
                # A target outside the old program stays outside the new one, so the kernel
                # still refuses it.
                if 0 <= old <= n:
                    dest = new_index[old]
                elif old < 0:
                    dest = old
                else:
                    dest = len(items) + (old - n)
            rel = dest - pos - 1
            fld = "off" if insn.spec.fmt in (Fmt.JA, Fmt.JMP_K, Fmt.JMP_X) else "imm"
            if fld == "off" and not -(1 << 15) <= rel < (1 << 15):
                raise WrapError(f"jump at new instruction {pos} needs offset {rel}, beyond"
                                f" 16 bits after wrapping")
            setattr(insn, fld, rel)
            if insn.imm64 is not None:      # lddw FUNC: keep imm64 in step with imm
                insn.imm64 = (insn.imm64 & ~0xFFFF_FFFF) | (rel & 0xFFFF_FFFF)
        out.append(insn)
    return Wrapped(out, new_index, epilogue, notes)

