"""``xdpnic bench``'s measurements: one program on the NIC's RTL (the fast Verilator harness,
:func:`perf.throughput.measure`) and on the host kernel, one row per traffic x engines.

RTL: the program loaded (with its maps, by the host driver), ``packets`` frames into port 0,
back to back (the NIC backpressures, so this is capacity) or paced at a line rate (the wire
cannot wait: ``CTRL.drop_when_busy`` is set and frames that find the engine busy are lost and
counted).  Cycles per packet = (last verdict cycle - first) / (verdicts - 1); Mpps at the
clock = clock / cycles per packet, and at the synthesized Fmax when ``xdpnic synth`` has left
a result.  Latency: verdict cycle - the cycle the frame's first beat was offered.  Kernel:
``BPF_PROG_TEST_RUN`` mean ns per run on one x86 core of this machine.
"""

import pathlib
from dataclasses import dataclass

from . import sweep
from .linerate import FCS, LINE_RATES_GBPS, line_rate_mixed
from .synthesis import synth_fmax
from .throughput import BenchError, measure, profile_frames

__all__ = ["DEFAULT_KERNEL_REPEAT", "traffic_rows", "bench", "RtlTask", "measure_rtl"]

DEFAULT_KERNEL_REPEAT = 100_000


def traffic_rows(traffic: str | None, sizes: list[int]) -> list[tuple[str, int | None,
                                                                      list[bytes]]]:
    """``(label, size with FCS or None for mixed sizes, frames)`` per row: a capture file is
    one row of its frames; a profile (perf.throughput.PROFILES) one row per size (imix: one)."""
    traffic = traffic or "udp"
    if traffic in ("udp", "imix") or traffic.startswith("flows:"):
        if traffic == "imix":
            label, frames = profile_frames("imix", None)
            return [(label, None, frames)]
        rows = []
        for size in sizes:
            label, frames = profile_frames(traffic, size)
            rows.append((label, size, frames))
        return rows
    path = pathlib.Path(traffic)
    if not path.exists() and not path.suffix:
        raise BenchError(f"--traffic {traffic!r}: not a capture file nor a profile (udp, imix, "
                         "flows:N)")
    from sim.pcap import read_frames
    frames = read_frames(path)
    if not frames:
        raise ValueError(f"{path}: no frames")
    sizes_seen = {len(f) + FCS for f in frames}
    return [(path.name, sizes_seen.pop() if len(sizes_seen) == 1 else None, frames)]


def _jit_state() -> str:
    """``net.core.bpf_jit_enable`` as the table names it (the JIT decides what is timed)."""
    try:
        value = pathlib.Path("/proc/sys/net/core/bpf_jit_enable").read_text().strip()
    except OSError:
        return "unknown"
    return {"0": "off (interpreter)", "1": "on", "2": "on (debug)"}.get(value, value)


def _kernel_row(kernel, frame: bytes, repeat: int) -> dict:
    try:
        once = kernel.run(frame, repeat=1)
    except (OSError, ValueError) as exc:      # a runt, or the kernel refusing the frame
        return {"skipped": str(exc)}
    rewrites = bytes(once.frame) != bytes(frame)
    ns = kernel.time_per_packet(frame, repeat)
    row = {"ns_per_packet": ns, "mpps": (1e3 / ns) if ns > 0 else None, "repeat": repeat,
           "action": once.action_name, "rewrites_frame": rewrites}
    if rewrites:
        row["note"] = ("the program rewrites the frame: each repeated run saw the frame as the "
                       "previous run left it")
    return row


def bench(image, rows, *, packets: int, clock_mhz: float, targets: list[str],
          engines: list[int] | None = None, gbps: float | None = None,
          kernel_repeat: int = DEFAULT_KERNEL_REPEAT, show_progress: bool = True,
          flow_hash: bool = False, scheduler: str | None = None,
          workers: int | None = None) -> dict:
    """Measure ``rows`` (from :func:`traffic_rows`) on ``targets``; the result.json dict.
    ``flow_hash``: the engines get frames by flow hash instead of round robin.  The RTL rows
    are one :func:`perf.sweep.run` task each (``scheduler``, ``workers``: where they run);
    the kernel column runs here, one row after the other."""
    engines = engines or [1]
    fmax = {e: synth_fmax(e) for e in engines}
    result = {"program": image.source, "packets": packets, "clock_mhz": clock_mhz,
              "rate": f"{gbps:g}G" if gbps is not None else "max", "engines": engines,
              "dispatch": "flow-hash" if flow_hash else "round-robin",
              "targets": targets, "kernel_repeat": kernel_repeat,
              "fmax": {str(e): fmax[e] for e in engines},
              "method": {
                  "rtl": "fast Verilator harness (sim/fast.py), one port in, 64-bit beats; "
                         "cycles per packet = (last verdict cycle - first) / (verdicts - 1); "
                         "latency = verdict cycle - cycle the first beat was offered",
                  "offered_load": ("back to back, the NIC backpressures (drop_when_busy off)"
                                   if gbps is None else
                                   f"paced at {gbps:g} Gbit/s with preamble and gap, "
                                   "drop_when_busy on: frames that find the engine busy are "
                                   "lost (buffer-full)"),
                  "kernel": "BPF_PROG_TEST_RUN mean ns per run, one x86 core on this machine",
                  "line_rate": "Gbit/s * 1000 / ((size + 20) * 8), size with FCS"},
              "rows": []}
    kernel, kernel_skip = None, None
    if "kernel" in targets:
        from firmware.kernel.bpf import bpf_unavailable_reason
        kernel_skip = bpf_unavailable_reason()
        if kernel_skip is None:
            from firmware.kernel.xdp import KernelXdp
            try:
                kernel = KernelXdp(image.insns, image.maps, name="xdpnic_bench")
            except (OSError, ValueError) as exc:       # KernelError is an OSError
                kernel_skip = f"the kernel refused the program: {exc}"
        result["kernel_skipped"] = kernel_skip
        result["kernel_jit"] = _jit_state()
    work = [(row, e) for row in rows for e in engines]
    measured = [None] * len(work)
    if "rtl" in targets:
        tasks = [RtlTask(image, frames, packets, clock_mhz, gbps, e, flow_hash)
                 for (_label, _size, frames), e in work]
        measured = sweep.run(measure_rtl, tasks, scheduler=scheduler, workers=workers,
                             show_progress=show_progress, unit="rows")
    try:
        kernel_rows: dict[str, dict] = {}
        for ((label, size, frames), e), r in zip(work, measured):
            mean = sum(len(f) + FCS for f in frames) / len(frames)
            row = {"label": label, "size": size, "mean_size": mean, "engines": e,
                   "line_rate_mpps": {f"{g}G": line_rate_mixed(frames, g)
                                      for g in LINE_RATES_GBPS}}
            if r is not None:
                if "skipped" not in r:
                    cpp = r["cycles_per_packet"]
                    r["mpps_at_fmax"] = {dev: (f["fmax_mhz"] / cpp if cpp else None)
                                         for dev, f in fmax[e].items()}
                row["rtl"] = r
            if "kernel" in targets:
                if label not in kernel_rows:
                    kernel_rows[label] = ({"skipped": kernel_skip} if kernel is None
                                          else _kernel_row(kernel, frames[0], kernel_repeat))
                row["kernel"] = kernel_rows[label]
            result["rows"].append(row)
    finally:
        if kernel is not None:
            kernel.close()
    return result


@dataclass(frozen=True)
class RtlTask:
    """One RTL row as a sweep task: ``image``'s program, ``frames`` repeated to ``packets``,
    on a NIC of ``engines`` engines (``gbps`` None: back to back)."""
    image: object               # firmware.program.ProgramImage
    frames: list
    packets: int
    clock_mhz: float
    gbps: float | None
    engines: int
    flow_hash: bool


def measure_rtl(task: RtlTask) -> dict:
    """:func:`perf.throughput.measure` of one :class:`RtlTask`; a row that cannot run says
    why (``skipped``)."""
    from sim.fast import FastError
    image = task.image
    try:
        # Programs with maps are loaded by the host driver (maps created over MAP_CMD);
        # others by the job's register writes.
        return measure(image if image.maps else image.insns, task.frames, packets=task.packets,
                       clock_mhz=task.clock_mhz, gbps=task.gbps, engines=task.engines,
                       flow_hash=task.flow_hash)
    except (FastError, BenchError) as exc:
        return {"skipped": f"rtl: {exc}"}
