"""The NIC's Verilog under cocotb: run frames, read results.

:func:`run_nic` runs one job in one simulator session (:mod:`sim.nic_tb`) on the build of
:func:`sim.nic_build.build`; :func:`run_frames` is the ``xdpnic run`` target
(``RUN_TARGETS["rtl"]``).
"""

import json
import os
import pathlib
import re
import tempfile
import time
from dataclasses import dataclass

from firmware.ebpf.machine import DEFAULT_INSN_BUDGET
from firmware.ebpf.xdp import FrameResult

from .build_cache import PROJECT_ROOT, tail
from .driver import program_words
from .nic_build import SIMULATORS, TOPLEVEL, NicError, build
from .nic_results import match_outputs

__all__ = ["SIMULATORS", "TOPLEVEL", "NicError", "NicRun", "build", "run_nic", "run_frames"]


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
            runner.test(test_module="sim.nic_tb", hdl_toplevel=TOPLEVEL, build_dir=build_dir,
                        hdl_toplevel_lang="verilog",
                        test_dir=build_dir if waves else tmp, extra_env=env,
                        waves=waves, test_args=test_args,
                        results_xml=str(tmp / "results.xml"), verbose=verbose, log_file=log)
        except (SystemExit, RuntimeError) as exc:
            raise NicError(f"{sim} simulation failed: {tail(log)}") from exc
        if not out.exists():
            raise NicError(f"{sim} simulation wrote no results: {tail(log)}")
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
