"""The RTL target of the conformance runner: ``xdpnic conformance DIR --target rtl``.

All cases run in one simulator session on one build (see :mod:`sim.rtl`), with the suite's
calling convention (r1 = context base, r2 = its length) and its helper 5 answered in hardware
by :class:`sim.units.ConformanceHelpers`.

Options: ``sim`` -- ``"verilator"`` (default), ``"icarus"`` or ``"amaranth"`` (the Amaranth
simulator, no Verilog); ``waves`` -- dump FST (Verilator) or VCD (Icarus) and print its path;
``verbose``; ``progress`` -- called once per case when the batch is done.
"""

import sys

from firmware.conformance import CaseOutcome, ConformanceCase, TargetUnavailable
from firmware.ebpf.isa import MASK64
from firmware.ebpf.machine import TrapCause

from .driver import RtlResult, run_on_amaranth

__all__ = ["run_cases", "outcome_of", "CONTEXT_BYTES", "last_stats"]

CONTEXT_BYTES = 4096          # the simulation top's context RAM
IMEM_SLOTS = 4096             # and its instruction memory
last_stats = None             # sim.rtl.RunStats of the most recent Verilog run


def outcome_of(result: RtlResult) -> CaseOutcome:
    """The conformance outcome of one RTL run (error text as the model target writes it)."""
    if result.timed_out:
        return CaseOutcome(None, f"RTL simulation timed out after {result.cycles} cycles",
                           insn_count=result.insn_count, cycles=result.cycles)
    if result.trap != TrapCause.NONE:
        return CaseOutcome(None, f"{result.trap.name} at pc {result.trap_pc}: trapped in RTL",
                           insn_count=result.insn_count, cycles=result.cycles)
    return CaseOutcome(result.r0 & MASK64, None, insn_count=result.insn_count,
                       cycles=result.cycles)


def run_cases(cases: list[ConformanceCase], options: dict) -> list[CaseOutcome]:
    """Run the cases on the core in an RTL simulator; one outcome per case, in order."""
    global last_stats
    sim = options.get("sim") or "verilator"
    waves = bool(options.get("waves"))
    verbose = bool(options.get("verbose"))
    runnable, outcomes = [], [None] * len(cases)
    for index, case in enumerate(cases):
        if len(case.insns) > IMEM_SLOTS:
            outcomes[index] = CaseOutcome(None, f"{case.name}: {len(case.insns)} instruction "
                                          f"slots exceed the core's {IMEM_SLOTS}-slot "
                                          f"instruction memory")
        elif len(case.mem) > CONTEXT_BYTES:
            outcomes[index] = CaseOutcome(None, f"{case.name}: -- mem of {len(case.mem)} bytes "
                                          f"exceeds the core's {CONTEXT_BYTES}-byte context RAM")
        else:
            runnable.append(index)
    programs = [(cases[i].insns, cases[i].mem) for i in runnable]
    if sim == "amaranth":
        vcd = None
        if waves:
            vcd = "xdpnic_core.vcd"
        results = run_on_amaranth(programs, vcd=vcd, read_state=False)
        if vcd:
            print(f"waveform: {vcd}", file=sys.stderr)
    else:
        from .rtl import BuildError, run_programs
        try:
            results, last_stats = run_programs(programs, sim=sim, waves=waves,
                                               read_state=False, verbose=verbose)
        except BuildError as exc:
            raise TargetUnavailable(str(exc)) from exc
        if last_stats.waves:
            print(f"waveform: {last_stats.waves}", file=sys.stderr)
        if verbose:
            print(f"{sim}: {last_stats.clock_cycles} cycles in {last_stats.wall_seconds:.2f} s "
                  f"({last_stats.cycles_per_second:,.0f} cycles/s wall, "
                  f"{last_stats.cycles_per_cpu_second:,.0f} per CPU second), build "
                  f"{last_stats.build_seconds:.1f} s", file=sys.stderr)
    for index, result in zip(runnable, results):
        outcomes[index] = outcome_of(result)
    tick = options.get("progress")
    if tick:
        for _ in cases:
            tick()
    return outcomes
