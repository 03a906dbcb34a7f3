"""The xdpnic eBPF verifier: Linux semantics, in the layers the kernel and PREVAIL use.

1. decode to typed instructions (``checks.decode``: the allow-list is ``isa.OPCODES``);
2. per-instruction field checks (``checks.check_fields``: reserved fields, r10 never written,
   shifts, division by a zero immediate, helpers the platform offers, map references);
3. control flow (``checks.build_cfg``: targets in range, not into an lddw, no fall-through off
   a function, no unreachable code, local-call targets);
4. path-sensitive abstract interpretation (``analyzer.Analyzer``) of register types, scalar
   ranges and known bits, packet ranges, stack bytes and spills, NULL checks, helper
   prototypes, bpf-to-bpf frames, bounded loops with state pruning and a complexity limit.

``verify`` runs them and returns a ``VerifierResult`` with a kernel-like log.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..isa import FRAME_POINTER
from .analyzer import COMPLEXITY_LIMIT, Analyzer
from .checks import Assume, Reject, build_cfg, check_fields, decode
from .kernel_log import insn_line, stats_line
from .platform import (CONFORMANCE, LINUX, XDPNIC, ContextLayout, MapInfo, Platform,
                       XDP_CONTEXT)
from .scalar import Scalar
from .state import Frame, Reg, State, T

__all__ = ["verify", "VerifierResult", "Assume", "Platform", "MapInfo", "ContextLayout",
           "XDPNIC", "CONFORMANCE", "LINUX", "XDP_CONTEXT", "xdp_entry_state",
           "memory_entry_state", "empty_state", "COMPLEXITY_LIMIT"]


@dataclass
class VerifierResult:
    """What ``verify`` decided.

    ``log`` reads like the kernel's verifier log: on rejection the failing instruction as
    ``"<pc>: (<opcode>) <disassembly>"``, the registers there, the reason, and the totals.
    """
    accepted: bool
    log: list[str] = field(default_factory=list)
    error_pc: int | None = None
    error: str | None = None
    insns_processed: int = 0


def empty_state(platform: Platform = XDPNIC) -> State:
    """A state with nothing known: every register uninitialized, r10 the frame pointer not
    even set (``pre`` states of PREVAIL's cases start from this)."""
    return State([Frame.new(-1, 0)], (0, platform.max_packet_size),
                 (0, platform.max_meta_size))


def xdp_entry_state(platform: Platform = XDPNIC) -> State:
    """XDP's entry: r1 = ctx (``struct xdp_md``), r10 = frame pointer, all else unknown."""
    st = empty_state(platform)
    st.regs[1] = Reg(T.CTX, Scalar.const(0))
    st.regs[FRAME_POINTER] = Reg(T.STACK, Scalar.const(0), frame=0)
    return st


def memory_entry_state(size: int, platform: Platform = CONFORMANCE) -> State:
    """bpf_conformance's calling convention: r1 points to ``size`` bytes of readable and
    writable memory, r2 = ``size``, r10 = frame pointer."""
    st = empty_state(platform)
    st.regs[1] = Reg(T.MEM, Scalar.const(0), size=size)
    st.regs[2] = Reg(T.SCALAR, Scalar.const(size))
    st.regs[FRAME_POINTER] = Reg(T.STACK, Scalar.const(0), frame=0)
    return st


def verify(insns, program_type: str = "xdp", maps=None, platform: Platform | None = None,
           entry_state=None, *, allow_division_by_zero: bool = True,
           max_insns: int = COMPLEXITY_LIMIT, log_level: int = 1,
           linux_compat: bool = True, privileged: bool = True) -> VerifierResult:
    """Verify a program.

    Parameters
    ----------
    insns : bytes or list of isa.Insn
        Raw bytecode, or instructions as ``isa.decode_program`` / the assembler give them
        (one per slot; ``Assume`` pseudo-instructions allowed).
    program_type : str
        ``"xdp"`` (r1 = ``xdp_md``, r0 at exit must be a number), ``"conformance"``, or any
        name the platform knows.
    maps : mapping of fd/index -> MapInfo (or ``maps.MapSpec``), optional
        The maps lddw map references name.
    platform : Platform
        Helpers and map types the target offers (default ``XDPNIC``).
    entry_state : State or list of State, optional
        Abstract state(s) at entry; default from the program type.
    allow_division_by_zero : bool
        eBPF defines x/0; False rejects a division whose divisor may be 0 (PREVAIL option).
    max_insns : int
        Complexity limit: instructions processed over all paths.
    log_level : int
        As the kernel's: 0 no log but the statistics line; 1 on rejection the path that
        failed, the reason, the statistics; 2 every path processed.
    linux_compat : bool
        Also refuse what Linux refuses although RFC 9669 defines it and it is safe on the NIC
        (division by the immediate 0, immediate shifts outside 0..width-1), so that accepted
        programs load in the kernel too.  False judges safety alone.
    privileged : bool
        The kernel's rules for a loader with CAP_BPF and CAP_PERFMON (``bpftool prog load``
        as root; ``allow_ptr_leaks``, ``allow_uninit_stack``): uninitialized stack reads as
        unknown numbers, pointers may be stored, compared and partly copied, packet pointers
        a helper invalidates become unknown numbers.  False: the stricter rules (see
        docs/verifier.md, "Privileged and unprivileged").
    """
    platform = platform or XDPNIC
    context = platform.contexts.get(program_type)
    log: list[str] = []
    analyzer = None
    prog = None
    try:
        prog = decode(insns)
        check_fields(prog, platform, program_type, maps, linux_compat)
        cfg = build_cfg(prog)
        if entry_state is None:
            if program_type == "xdp":
                entries = [xdp_entry_state(platform)]
            else:
                entries = [empty_state(platform)]
                entries[0].regs[FRAME_POINTER] = Reg(T.STACK, Scalar.const(0), frame=0)
        elif isinstance(entry_state, State):
            entries = [entry_state]
        else:
            entries = list(entry_state)
        def make_analyzer():
            return Analyzer(prog, cfg, platform, program_type, maps, context,
                            allow_division_by_zero=allow_division_by_zero,
                            max_insns=max_insns, privileged=privileged)
        analyzer = make_analyzer()
        if log_level >= 2:
            analyzer.trace = []
        analyzer.run([e.copy() for e in entries])
    except Reject as rej:
        processed = analyzer.processed if analyzer else 0
        if analyzer is not None:
            trace = analyzer.trace
            if trace is None and rej.pc is not None and log_level >= 1:
                # level 1: the kernel shows the path that failed; walk again to record it
                again = make_analyzer()
                again.trace, again.trace_path = [], True
                try:
                    again.run([e.copy() for e in entries])
                except Reject:
                    pass
                trace = again.trace
            log.extend(trace or [])
        elif rej.pc is not None and prog is not None and 0 <= rej.pc < len(prog) \
                and prog[rej.pc].spec is not None:
            insn = prog[rej.pc]
            log.append(insn_line(rej.pc, insn, lambda h: getattr(platform.helper(h), "name",
                                                                  None)))
        log.append(rej.reason)
        log.append(_totals(processed, max_insns, analyzer))
        return VerifierResult(False, log, rej.pc, rej.reason, processed)
    if analyzer.trace:
        log.extend(analyzer.trace)
    log.append(_totals(analyzer.processed, max_insns, analyzer))
    return VerifierResult(True, log, None, None, analyzer.processed)


def _totals(processed: int, limit: int, analyzer) -> str:
    if analyzer is None:
        return stats_line(processed, limit, 0, 0, 0)
    return stats_line(processed, limit, analyzer.max_states_per_insn, analyzer.total_states,
                      analyzer.peak_states)
