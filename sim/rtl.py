"""Verilog of the simulation top, built once per simulator, run under cocotb.

:func:`build` writes ``SimTop``'s Verilog and compiles it with Verilator or Icarus into a
build directory named after a hash of the Verilog (and the wave option), so a build is reused
until the hardware changes: every later run, test or session only starts the simulator.
:func:`run_programs` runs a batch of programs in one simulator session
(:mod:`sim.core_tb`) and returns one :class:`sim.driver.RtlResult` each.
"""

import hashlib
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass

from firmware.ebpf.isa import Insn
from firmware.ebpf.machine import DEFAULT_INSN_BUDGET, TrapCause

from . import build_cache
from .build_cache import PROJECT_ROOT, tail
from .driver import DEFAULT_MAX_CYCLES, RtlResult, cycle_limit, program_words

__all__ = ["SIMULATORS", "TOPLEVEL", "BuildError", "verilog_text", "build",
           "run_programs", "RunStats"]

SIMULATORS = ("verilator", "icarus")
TOPLEVEL = "xdpnic_simtop"


class BuildError(RuntimeError):
    """The simulator is missing or the Verilog did not compile."""


@dataclass
class RunStats:
    """Wall and CPU time (the simulator process: simulator plus cocotb) and simulated clock
    cycles of one simulator session.  On a loaded machine the CPU figure is the fair one."""
    wall_seconds: float
    cpu_seconds: float
    clock_cycles: int
    build_seconds: float
    waves: str | None = None

    @property
    def cycles_per_second(self) -> float:
        return self.clock_cycles / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def cycles_per_cpu_second(self) -> float:
        return self.clock_cycles / self.cpu_seconds if self.cpu_seconds else 0.0


def verilog_text() -> str:
    """Verilog of :class:`sim.units.SimTop`."""
    from amaranth.back import verilog
    from .units import SimTop
    top = SimTop()
    return verilog.convert(top, name=TOPLEVEL, emit_src=False)


_ICARUS_VCD = """module xdpnic_vcd_dump();
initial begin
    $dumpfile("{path}");
    $dumpvars(0, {top});
end
endmodule
"""


def check_tool(sim: str) -> None:
    if sim == "verilator":
        # Prefer the venv's Verilator (the version cocotb supports) to an older system one.
        venv_bin = pathlib.Path(sys.executable).parent
        if (venv_bin / "verilator").exists() and \
                shutil.which("verilator") != str(venv_bin / "verilator"):
            os.environ["PATH"] = f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"
        if shutil.which("verilator") is None:
            raise BuildError("verilator is not installed (scripts/setup.sh installs it into "
                             ".venv/bin)")
    elif sim == "icarus":
        if shutil.which("iverilog") is None:
            raise BuildError("iverilog is not installed (apt-get install iverilog)")
    else:
        raise BuildError(f"unknown simulator {sim!r}: choose one of {', '.join(SIMULATORS)}")


def build(sim: str = "verilator", waves: bool = False, verbose: bool = False):
    """Build (or reuse) the simulator binary; returns ``(runner, build_dir, seconds)``."""
    from cocotb_tools.runner import get_runner
    check_tool(sim)
    began = time.perf_counter()
    text = verilog_text()
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    runner = get_runner(sim)

    def compile_into(build_dir: pathlib.Path) -> None:
        source = build_dir / f"{TOPLEVEL}.v"
        source.write_text(text)
        sources = [source]
        build_args: list[str] = []
        if sim == "verilator":
            build_args = ["-Wno-fatal", "-Wno-WIDTH", "-O3"]
            if waves:
                build_args.append("--trace-fst")
        elif waves:
            dump = build_dir / "xdpnic_vcd_dump.v"
            dump.write_text(_ICARUS_VCD.format(path=build_dir / f"{TOPLEVEL}.vcd", top=TOPLEVEL))
            sources.append(dump)
            build_args = ["-s", "xdpnic_vcd_dump"]
        log = build_dir / "build.log"
        try:
            with build_cache.verilator_makeflags():
                runner.build(sources=sources, hdl_toplevel=TOPLEVEL, build_dir=build_dir,
                             build_args=build_args, waves=waves and sim == "verilator",
                             timescale=("1ns", "1ps"), verbose=verbose, log_file=log)
        except (SystemExit, RuntimeError) as exc:   # a failed compile
            hint = ""
            if "lz4.h" in tail(log, 200):
                hint = " (Verilator's FST writer needs lz4: apt-get install liblz4-dev)"
            raise BuildError(f"{sim} build of {source} failed{hint}; see {log}") from exc

    build_dir = build_cache.cached(f"{sim}-{digest}{'-waves' if waves else ''}", digest,
                                   compile_into)
    return runner, build_dir, time.perf_counter() - began


def run_programs(programs: list[tuple[list[Insn], bytes]], *, sim: str = "verilator",
                 waves: bool = False, budget: int = DEFAULT_INSN_BUDGET, trace: bool = False,
                 ctx_writable: bool = True, read_state: bool = True,
                 max_cycles: int = DEFAULT_MAX_CYCLES, verbose: bool = False
                 ) -> tuple[list[RtlResult], RunStats]:
    """Run every program in one simulator session; results in order, and session stats."""
    runner, build_dir, build_seconds = build(sim, waves, verbose)
    with tempfile.TemporaryDirectory(prefix="xdpnic-cocotb-") as tmp:
        tmp = pathlib.Path(tmp)
        cases_file = tmp / "cases.json"
        results_file = tmp / "results.json"
        cases_file.write_text(json.dumps({"cases": [
            {"words": program_words(insns), "mem": bytes(mem).hex(), "budget": budget,
             "trace": trace, "ctx_writable": ctx_writable, "read_state": read_state,
             "max_cycles": max_cycles if max_cycles is not None else cycle_limit(budget)}
            for insns, mem in programs]}))
        test_dir = build_dir if waves else tmp
        env = {
            "XDPNIC_CASES": str(cases_file), "XDPNIC_RESULTS": str(results_file),
            "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]),
            "COCOTB_LOG_LEVEL": "INFO" if verbose else "WARNING",
        }
        test_args = []
        if waves and sim == "icarus":
            _dump_vcd(runner)
        if waves and sim == "verilator":
            test_args = ["--trace-file", str(build_dir / f"{TOPLEVEL}.fst")]
        log = tmp / "sim.log"
        try:
            runner.test(test_module="sim.core_tb", hdl_toplevel=TOPLEVEL,
                        hdl_toplevel_lang="verilog",
                        build_dir=build_dir, test_dir=test_dir, extra_env=env,
                        waves=waves and sim == "verilator", test_args=test_args,
                        results_xml=str(tmp / "results.xml"), verbose=verbose, log_file=log)
        except (SystemExit, RuntimeError) as exc:
            raise BuildError(f"{sim} simulation failed: {tail(log)}") from exc
        if not results_file.exists():
            raise BuildError(f"{sim} simulation wrote no results: {tail(log)}")
        data = json.loads(results_file.read_text())
    results = []
    for r in data["results"]:
        results.append(RtlResult(
            r0=r["r0"], trap=TrapCause(r["trap"]), trap_pc=r["trap_pc"],
            insn_count=r["insn_count"], cycles=r["cycles"], stack=bytes.fromhex(r["stack"]),
            context=bytes.fromhex(r["context"]),
            retired=[tuple(x) for x in r["retired"]], timed_out=r["timed_out"]))
    wave_file = None
    if waves:
        wave_file = str(build_dir / f"{TOPLEVEL}.{'fst' if sim == 'verilator' else 'vcd'}")
    stats = RunStats(data["wall_seconds"], data["cpu_seconds"], data["clock_cycles"],
                     build_seconds, wave_file)
    return results, stats


def _dump_vcd(runner) -> None:
    """Make cocotb's Icarus runner let our $dumpvars write VCD: without its own FST dump
    (``waves``) it passes vvp ``-none``, which turns every dump off."""
    original = runner._test_command

    def command():
        return [["-vcd" if arg == "-none" else arg for arg in cmd] for cmd in original()]

    runner._test_command = command
