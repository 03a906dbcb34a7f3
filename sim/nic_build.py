"""The NIC's Verilog for one configuration, and its cocotb build (Verilator or Icarus).

:func:`verilog_text` is the one generator of :class:`hw.top.NIC`'s Verilog (the fast harness
compiles the same text).  :func:`build` compiles it for cocotb into the build cache
(:mod:`sim.build_cache`) under ``nic-<sim>-p<P>-w<W>-<key>``, the key hashing the gateware
sources and the configuration, so later runs (tests, ``xdpnic run --target rtl``, the
driver's cocotb sessions) skip both the Verilog generation and the compile until the hardware
changes.
"""

import pathlib
import re

from . import build_cache, rtl

__all__ = ["SIMULATORS", "TOPLEVEL", "NicError", "verilog_text", "build"]

SIMULATORS = ("verilator", "icarus")
TOPLEVEL = "xdpnic_nic"


class NicError(RuntimeError):
    """The simulator is missing, the build failed or the simulation went wrong."""


def check_tool(sim: str) -> None:
    """The simulator is there (the venv's Verilator first), or NicError says what to install."""
    try:
        rtl.check_tool(sim)
    except rtl.BuildError as exc:
        raise NicError(str(exc)) from None


def verilog_text(ports: int = 2, data_width: int = 64, engines: int = 1) -> str:
    """The NIC's Verilog for one configuration."""
    from amaranth.back import verilog
    from hw.top import NIC
    return verilog.convert(NIC(ports, data_width, engines=engines), name=TOPLEVEL,
                           emit_src=False)


def _icarus_comb_kick(text: str) -> str:
    """Make Icarus evaluate every ``always @*`` block once at time 0.

    Yosys' Verilog gives each module a dummy register (``reg \\$auto$verilog_backend...
    dump_module$N = 0;``) that every combinational block reads, so that a change of it runs
    them all at start-up.  Icarus applies the declaration's initial value before those blocks
    wait, so no change is seen, and a block whose inputs never change (``req.ready`` of a unit
    that stays in its reset state) keeps X.  Setting the register in an ``initial #0`` instead
    happens after the blocks wait, and runs each once.
    """
    pattern = re.compile(r"reg (\\\$auto\$verilog_backend\S*dump_module\$\d+) += 0;")
    return pattern.sub(lambda m: f"reg {m.group(1)} ;\n  initial #0 {m.group(1)} = 1'b0;", text)


def build(ports: int = 2, data_width: int = 64, sim: str = "verilator", waves: bool = False,
          verbose: bool = False):
    """Build (or reuse) the simulator for a configuration: ``(runner, build_dir, seconds)``."""
    import time

    from cocotb_tools.runner import get_runner
    check_tool(sim)
    began = time.perf_counter()
    # (icarus: the Verilog also passes through _icarus_comb_kick, version 1)
    key = build_cache.sources_key(ports, data_width, sim, waves, "kick1",
                                  *(["runner-fst"] if waves else []))
    runner = get_runner(sim)

    def compile_into(build_dir: pathlib.Path) -> None:
        text = verilog_text(ports, data_width)      # refuses a bad configuration first
        if sim == "icarus":
            text = _icarus_comb_kick(text)
        source = build_dir / f"{TOPLEVEL}.v"
        source.write_text(text)
        build_args: list[str] = []
        if sim == "verilator":
            build_args = ["-Wno-fatal", "-Wno-WIDTH", "-O1"]
            if waves:
                build_args.append("--trace-fst")
        log = build_dir / "build.log"
        try:
            with build_cache.verilator_makeflags():
                runner.build(sources=[source], hdl_toplevel=TOPLEVEL, build_dir=build_dir,
                             build_args=build_args, waves=waves, timescale=("1ns", "1ps"),
                             verbose=verbose, log_file=log)
        except (SystemExit, RuntimeError) as exc:
            raise NicError(f"{sim} build of {source} failed; see {log}") from exc

    build_dir = build_cache.cached(f"nic-{sim}-p{ports}-w{data_width}-{key}", "built",
                                   compile_into)
    return runner, build_dir, time.perf_counter() - began
