"""Throughput and latency of a program on the NIC, through the fast harness (:mod:`sim.fast`).

:func:`measure` offers ``packets`` frames to port 0 -- back to back, or paced at a line rate
(each frame's first beat no earlier than its arrival on the wire, preamble and inter-frame gap
included) -- and turns the records into the numbers ``xdpnic bench`` prints: cycles per packet,
packets per cycle, Mpps at a clock, per-packet latency, and losses, checked against the NIC's
counters.  :func:`profile_frames` builds the named traffic profiles with scapy.
"""

import math
import random
import statistics

from firmware.ebpf.machine import DEFAULT_INSN_BUDGET

from sim import fast

from .linerate import FCS, wire_bytes

__all__ = ["PROFILES", "arrival_cycles", "profile_frames", "measure", "summarize",
           "percentile", "first_beat_cycle", "udp_frame", "BenchError"]

PROFILES = ("udp", "imix", "flows:N")
# Simple IMIX by frame count (sizes with FCS): 7 x 64, 4 x 594, 1 x 1518.
IMIX = ((64, 7), (594, 4), (1518, 1))
# Measured (tests/sim/test_fast.py): a verdict leaves 1 cycle after its ``cycles`` count from
# the first beat accepted, a discard (runt, oversize, MAC error) 2 cycles after.
VERDICT_DELAY = 1
DISCARD_DELAY = 2


def first_beat_cycle(verdict_cycle: int, cycles: int, disposition: str) -> int:
    """The cycle a frame's first beat went in, from its verdict's cycle and fields (a frame
    of one beat has ``cycles`` 0 in a discard record)."""
    if disposition == "discard":
        return verdict_cycle - DISCARD_DELAY - cycles
    return verdict_cycle - cycles - VERDICT_DELAY


class BenchError(ValueError):
    """Bad bench input (profile, rate, program), named plainly."""



def arrival_cycles(lengths, gbps: float | None, clock_mhz: float) -> list[int]:
    """Earliest first-beat cycle of each frame: 0 for all when ``gbps`` is None (back to back),
    else the cycle at or after its arrival on a ``gbps`` link (the first at 0)."""
    if gbps is None:
        return [0] * len(lengths)
    # cycles per byte of wire = 8 bits / (gbps * 1e9) s * clock_mhz * 1e6 /s
    per_byte = 8 * clock_mhz / (gbps * 1e3)
    out, total = [], 0
    for length in lengths:
        out.append(math.ceil(total * per_byte - 1e-9))
        total += wire_bytes(length)
    return out


def udp_frame(size: int, src_ip: str = "10.0.0.1", sport: int = 4000) -> bytes:
    """An IPv4/UDP frame to port 9 of ``size`` bytes on the wire (``size - 4`` here: no FCS)."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    from sim.traffic import ETH_DST, ETH_SRC
    head = Ether(src=ETH_SRC, dst=ETH_DST) / IP(src=src_ip, dst="10.0.0.2") / UDP(
        sport=sport, dport=9)
    return bytes(head / bytes(max(size - FCS - len(head), 0)))


def profile_frames(profile: str, size: int | None, seed: int = 1) -> tuple[str, list[bytes]]:
    """``(label, frames)`` for a profile: the frames repeat in order to make the run.

    ``udp``: one IPv4/UDP frame to port 9 of ``size`` bytes (with FCS).  ``flows:N``: N frames
    of that size with distinct 5-tuples (source address and port vary).  ``imix``: 64, 594 and
    1518-byte frames 7:4:1, in a seeded random order (``size`` is ignored).
    """
    if profile == "udp":
        return f"udp{size}", [udp_frame(size)]
    if profile.startswith("flows:"):
        text = profile.split(":", 1)[1]
        try:
            n = int(text)
        except ValueError:
            raise BenchError(f"--traffic {profile}: '{text}' is not a number of flows") from None
        if not 1 <= n <= 65536:
            raise BenchError(f"--traffic {profile}: flows must be 1..65536, not {n}")
        frames = [udp_frame(size, f"10.{1 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}",
                       1024 + (i * 7919) % 60000) for i in range(n)]
        return f"flows{n}-{size}", frames
    if profile == "imix":
        sizes = [s for s, count in IMIX for _ in range(count)]
        random.Random(seed).shuffle(sizes)
        return "imix", [udp_frame(s) for s in sizes]
    raise BenchError(f"--traffic {profile!r}: not a capture file nor a profile "
                     f"({', '.join(PROFILES)})")


def percentile(sorted_values: list[int], q: float) -> int:
    """The nearest-rank ``q`` percentile (0 < q <= 100) of sorted values."""
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _distribution(values: list[int], ns_per_cycle: float) -> dict | None:
    if not values:
        return None
    v = sorted(values)
    cycles = {"min": v[0], "median": statistics.median_low(v), "p99": percentile(v, 99),
              "max": v[-1], "mean": sum(v) / len(v)}
    return {"cycles": cycles, "ns": {k: x * ns_per_cycle for k, x in cycles.items()}}


def measure(program, templates: list[bytes], *, packets: int, clock_mhz: float,
            gbps: float | None, engines: int = 1, ports: int = 2, data_width: int = 64,
            budget: int = DEFAULT_INSN_BUDGET, flow_hash: bool = False,
            on_progress=None) -> dict:
    """Offer ``packets`` frames (``templates`` repeated in order) to port 0 and measure.

    ``program``: instructions (written by the job's own register writes), or a
    ``ProgramImage`` (loaded by the host driver through :class:`sim.fast.Session`: verified,
    its maps created with MAP_CMD writes, then attached).  Back to back (``gbps`` None) the
    NIC backpressures the port (``drop_when_busy`` off), so the run measures capacity.  Paced
    at a line rate, ``drop_when_busy`` is on, as a wire cannot wait: frames that find the
    engine busy are lost and counted (buffer-full).  ``flow_hash``: frames go to engines by
    flow hash instead of round robin.
    """
    lengths = [len(templates[i % len(templates)]) for i in range(packets)]
    starts = arrival_cycles(lengths, gbps, clock_mhz)
    drop = gbps is not None
    job = fast.Job(ports, data_width, record_bytes=False, engines=engines)
    if isinstance(program, list):
        job.reset()
        fast.program_ops(job, program, budget=budget, drop_when_busy=drop,
                         flow_hash=flow_hash)
        job.frames_bulk(templates, starts, port=0)
        fast.finish_job(job, ports)
        run = fast.run_job(job, on_progress=on_progress)
    else:
        run = _driver_run(program, job, templates, starts, ports, data_width, engines, budget,
                          drop, flow_hash, on_progress)
    return summarize(run, lengths, starts, packets=packets, clock_mhz=clock_mhz, gbps=gbps,
                     ports=ports)


def _driver_run(image, job, templates, starts, ports, data_width, engines, budget, drop,
                flow_hash, on_progress):
    """Load ``image`` with the host driver over an interactive session, then the traffic."""
    import asyncio

    from firmware.driver.nic import Nic, NicError
    session = fast.Session(ports, data_width, engines=engines, record_bytes=False)
    try:
        session.reset()
        nic = Nic(fast.driver_transport(session))
        try:
            asyncio.run(nic.load(image, budget=budget, drop_when_busy=drop,
                                 clear_counters=True, flow_hash=flow_hash))
        except NicError as exc:
            raise BenchError(f"the driver refused to load the program: {exc}") from None
        job.frames_bulk(templates, starts, port=0)
        fast.finish_job(job, ports)
        return session.finish(job, on_progress)
    finally:
        session.close()


def summarize(run, lengths, starts, *, packets: int, clock_mhz: float, gbps: float | None,
              ports: int) -> dict:
    """The numbers of one run (see :func:`measure`); raises BenchError when the NIC's
    counters and the records disagree."""
    from hw.xdp.verdict import DISPOSITION_NAMES
    disp_off, disp_mask = fast.verdict_field("disposition")
    cyc_off, cyc_mask = fast.verdict_field("cycles")
    ing_off, ing_mask = fast.verdict_field("ingress")
    ns_per_cycle = 1e3 / clock_mhz
    # Frame timing by (port, first-beat cycle): a verdict names its frame through its
    # ``cycles`` field, counted from the cycle the first beat was accepted.
    first_beat = {(f.port, f.first): f for f in run.frames}
    latencies, hw_cycles = [], []
    dispositions: dict[str, int] = {}
    for cycle, raw in run.verdicts:
        c = (raw >> cyc_off) & cyc_mask
        name = DISPOSITION_NAMES[(raw >> disp_off) & disp_mask]
        dispositions[name] = dispositions.get(name, 0) + 1
        frame = first_beat.get(((raw >> ing_off) & ing_mask,
                                first_beat_cycle(cycle, c, name)))
        if frame is None:
            raise BenchError(f"verdict at cycle {cycle} (cycles {c}) matches no frame's first "
                             "beat: the harness and the NIC disagree")
        latencies.append(cycle - frame.offered)
        hw_cycles.append(c)
    c = run.counters
    rx = sum(c.get(f"PORT{p}_RX_FRAMES", 0) for p in range(ports))
    buffer_full = sum(c.get(f"PORT{p}_DISCARD_BUFFER_FULL", 0) for p in range(ports))
    parts = ("DROP", "ABORTED", "PASS", "TX", "REDIRECT", "DISCARD_RUNT", "DISCARD_OVERSIZE",
             "DISCARD_MAC_ERROR", "DISCARD_BUFFER_FULL")
    in_parts = sum(c.get(f"PORT{p}_{n}", 0) for p in range(ports) for n in parts)
    problems = []
    if rx != packets % (1 << 32):
        problems.append(f"RX_FRAMES {rx} != {packets} frames sent")
    if in_parts != rx:
        problems.append(f"RX_FRAMES {rx} != the sum of its parts {in_parts}")
    if len(run.verdicts) != rx - buffer_full:
        problems.append(f"{len(run.verdicts)} verdicts != RX_FRAMES {rx} - buffer-full "
                        f"{buffer_full}")
    if len(run.frames) != packets:
        problems.append(f"{len(run.frames)} frames went in, {packets} were queued")
    if problems:
        raise BenchError("counters do not add up: " + "; ".join(problems))
    processed = len(run.verdicts)
    cpp = None
    if processed > 1:
        cpp = (run.verdicts[-1][0] - run.verdicts[0][0]) / (processed - 1)
    span = (run.verdicts[-1][0] - run.traffic_start) if processed else None
    offered_cycles = None
    if gbps is not None and packets > 1:
        offered_cycles = starts[-1] / (packets - 1)
    return {
        "packets": packets, "rate": f"{gbps:g}G" if gbps is not None else "max",
        "drop_when_busy": gbps is not None,
        "bytes_offered": sum(lengths),
        "offered_cycles_per_packet": offered_cycles,
        "processed": processed, "lost_buffer_full": buffer_full,
        "loss_ratio": buffer_full / packets if packets else 0.0,
        "dispositions": dispositions,
        "cycles_per_packet": cpp,
        "packets_per_cycle": (1 / cpp) if cpp else None,
        "mpps": (clock_mhz / cpp) if cpp else None,
        "cycles_to_last_verdict": span,
        "latency": _distribution(latencies, ns_per_cycle),
        "engine_cycles": _distribution(hw_cycles, ns_per_cycle),
        "counters": {k: v for k, v in sorted(c.items())},
        "sim": {"clock_cycles": run.clock_cycles, "sim_seconds": run.sim_seconds,
                "cpu_seconds": run.cpu_seconds, "cycles_per_second": run.cycles_per_second,
                "cycles_per_cpu_second": run.cycles_per_cpu_second,
                "wall_seconds": run.wall_seconds,
                "build_seconds": run.build_seconds},
    }
