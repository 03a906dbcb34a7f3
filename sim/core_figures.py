"""Figures of the core: cycles per instruction class, conformance cycle table, simulator speed.

``python -m sim.core_figures cpi`` -- cycles per instruction for each class, measured on the RTL
(Amaranth simulator; the count is the same in every simulator) from straight-line runs of
one instruction class, minus the run overhead (a program of just ``exit``).
``python -m sim.core_figures conformance DIR`` -- a Markdown table of every conformance program's
completed instructions and cycles.
``python -m sim.core_figures speed [--sim verilator|icarus|amaranth] [--iterations N]`` -- simulated
clock cycles per wall-clock second on a long-running loop (the core runs freely: the bench
only waits for ``done``).
"""

import argparse
import sys
import time

from firmware.ebpf.asm import assemble

__all__ = ["CLASSES", "cpi_table", "conformance_table", "sim_speed", "main"]

REPEAT = 32

# class name -> (set-up code, the repeated instruction(s), instructions per repetition)
CLASSES = {
    "ALU64, dependent chain (add r0, r0)": ("mov %r0, 1", "add %r0, %r0", 1),
    "ALU32, dependent chain (mul32 r0, 3)": ("mov %r0, 1", "mul32 %r0, 3", 1),
    "shift / byte swap (lsh r0, 1; be32 r0)": ("mov %r0, 1", "lsh %r0, 1\nbe32 %r0", 2),
    "lddw": ("", "lddw %r1, 0x1122334455667788", 1),
    "conditional branch, not taken": ("mov %r0, 0", "jne %r0, 0, +0", 1),
    "conditional branch, taken": ("mov %r0, 1", "jne %r0, 0, +0", 1),
    "ja (taken)": ("", "ja +0", 1),
    "store to stack (stxdw)": ("", "stxdw [%r10-8], %r1", 1),
    "load from stack (ldxdw), dependent": ("stxdw [%r10-8], %r10", "ldxdw %r0, [%r10-8]", 1),
    "load from context (ldxw)": ("", "ldxw %r0, [%r1+0]", 1),
    "atomic add (lock add)": ("mov %r1, 1", "lock add [%r10-8], %r1", 1),
    "atomic cmpxchg": ("", "lock cmpxchg [%r10-8], %r1", 1),
    "div64 / mod64 (non-zero divisor)": ("mov %r0, -1", "div %r0, 3", 1),
    "div32 / mod32 (non-zero divisor)": ("mov %r0, -1", "mod32 %r0, 7", 1),
    "div by zero": ("mov %r0, 9", "div %r0, 0", 1),
    "helper call (unwind helper, answered next cycle)": ("mov %r1, 1", "call 5", 1),
}


def _run(programs):
    from sim.driver import run_on_amaranth
    return run_on_amaranth([(assemble(p), b"\0" * 16) for p in programs], read_state=False)


def cpi_table() -> list[tuple[str, float]]:
    """(class, cycles per instruction) for every entry of :data:`CLASSES`, and calls."""
    programs = ["exit"]
    for setup, body, _ in CLASSES.values():
        programs.append(f"{setup}\n" + "\n".join([body] * REPEAT) + "\nexit")
        programs.append(f"{setup}\nexit")
    # bpf-to-bpf call + exit pairs: a chain of REPEAT calls to a function that just exits.
    programs.append("\n".join(["call local f"] * REPEAT) + "\nexit\nf:\nexit")
    programs.append("exit")
    results = _run(programs)
    rows = []
    for i, (name, (_, _, per)) in enumerate(CLASSES.items()):
        full, base = results[1 + 2 * i], results[2 + 2 * i]
        assert full.trap.name == "NONE", (name, full.trap)
        rows.append((name, (full.cycles - base.cycles) / (REPEAT * per)))
    calls, base = results[-2], results[-1]
    rows.append(("call local + exit from the callee (per pair)",
                 (calls.cycles - base.cycles) / REPEAT))
    rows.append(("exit (program end), incl. the first fetch bubble", results[0].cycles))
    return rows


def conformance_table(directory) -> list[tuple[str, int, int]]:
    """(name, completed instructions, cycles) of every conformance program, on the RTL."""
    from firmware.conformance import run_suite
    report = run_suite(directory, "rtl", {"sim": "amaranth"})
    return [(r.name, r.outcome.insn_count, r.outcome.cycles) for r in report.results]


def sim_speed(sim: str, iterations: int) -> dict:
    """Simulated cycles per second on a loop of ``iterations`` x 4 instructions."""
    program = assemble(f"mov %r0, 0\nmov %r1, {iterations}\nl:\nadd %r0, %r1\nxor %r0, 5\n"
                       "sub %r1, 1\njne %r1, 0, l\nexit")
    budget = 10 * iterations + 10
    if sim == "amaranth":
        from sim.driver import run_on_amaranth
        began, began_cpu = time.perf_counter(), time.process_time()
        (result,) = run_on_amaranth([(program, b"")], budget=budget, read_state=False)
        wall, cpu = time.perf_counter() - began, time.process_time() - began_cpu
        return {"sim": sim, "core_cycles": result.cycles, "wall_seconds": wall,
                "cpu_seconds": cpu, "cycles_per_second": result.cycles / wall,
                "cycles_per_cpu_second": result.cycles / cpu}
    from sim.rtl import run_programs
    (result,), stats = run_programs([(program, b"")], sim=sim, budget=budget, read_state=False)
    return {"sim": sim, "core_cycles": result.cycles, "wall_seconds": stats.wall_seconds,
            "cpu_seconds": stats.cpu_seconds, "clock_cycles": stats.clock_cycles,
            "cycles_per_second": stats.cycles_per_second,
            "cycles_per_cpu_second": stats.cycles_per_cpu_second}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.core_figures", description=__doc__.split(
        "\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("cpi", help="cycles per instruction class (Markdown table)")
    c = sub.add_parser("conformance", help="cycles of every conformance program (Markdown)")
    c.add_argument("directory")
    s = sub.add_parser("speed", help="simulated cycles per second")
    s.add_argument("--sim", choices=("verilator", "icarus", "amaranth"), default="verilator")
    s.add_argument("--iterations", type=int, default=100_000)
    args = parser.parse_args(argv)
    if args.what == "cpi":
        print("| instruction class | cycles per instruction |\n|---|---|")
        for name, cpi in cpi_table():
            print(f"| {name} | {cpi:g} |")
    elif args.what == "conformance":
        rows = conformance_table(args.directory)
        print("| program | instructions | cycles |\n|---|---|---|")
        for name, count, cycles in rows:
            print(f"| {name} | {count} | {cycles} |")
        print(f"| **total** | {sum(r[1] for r in rows)} | {sum(r[2] for r in rows)} |")
    else:
        r = sim_speed(args.sim, args.iterations)
        print(f"{r['sim']}: {r['core_cycles']} core cycles in {r['wall_seconds']:.2f} s wall, "
              f"{r['cpu_seconds']:.2f} s CPU: {r['cycles_per_second']:,.0f} cycles/s wall, "
              f"{r['cycles_per_cpu_second']:,.0f} cycles per CPU second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
