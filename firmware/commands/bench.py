"""``xdpnic bench PROG``: throughput and latency of an XDP program on the NIC's RTL (the fast
Verilator harness) and on the host kernel.

RTL (:func:`sim.fast_bench.measure`): the program loaded (with its maps, by the host driver),
``--packets`` frames into port 0, back to back (``--rate
max``: the NIC backpressures, so this is capacity) or paced at a line rate (the wire cannot
wait: ``CTRL.drop_when_busy`` is set and frames that find the engine busy are lost and
counted).  Cycles per packet = (last verdict cycle - first) / (verdicts - 1); Mpps at
``--clock`` = clock / cycles per packet, and at the synthesized Fmax when ``xdpnic synth`` has
left a result (``build/synth/nic-<device>/synth.json``).  Latency: verdict cycle - the cycle
the frame's first beat was offered.  Kernel: ``BPF_PROG_TEST_RUN`` mean ns per run on one x86
core of this machine.  Line rate: Mpps = Gbit/s * 1000 / ((size + 20) * 8), size with FCS.
"""

import csv
import json
import pathlib
import sys

from ..progress import progress
from ..program import ProgramError, load_program

__all__ = ["DEFAULT_SIZES", "DEFAULT_CLOCK_MHZ", "LINE_RATES_GBPS", "WIRE_OVERHEAD", "FCS",
           "line_rate_mpps", "parse_sizes", "parse_engines", "parse_rate", "udp_frame",
           "synth_fmax", "traffic_rows", "bench", "table", "CSV_FIELDS"]

DEFAULT_SIZES = (64, 128, 256, 512, 1024, 1518)
# An assumed clock for the Mpps column, not a timing-closure result.
DEFAULT_CLOCK_MHZ = 250.0
LINE_RATES_GBPS = (10, 25, 100)
WIRE_OVERHEAD = 20      # preamble + start delimiter (8) and inter-frame gap (12), bytes
FCS = 4                 # the frame check sequence the MAC adds; our frames are without it
MIN_SIZE = 64
MAX_SIZE = 1518
TARGETS = ("rtl", "kernel")
DEFAULT_KERNEL_REPEAT = 100_000
DEFAULT_PACKETS = 10_000
RATES = {"10G": 10.0, "25G": 25.0, "100G": 100.0, "max": None}
PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[2]
SYNTH_DIR = PROJECT_ROOT / "build" / "synth"


def line_rate_mpps(size: int, gbps: float) -> float:
    """Frames per microsecond (Mpps) a ``gbps`` link carries for ``size``-byte frames
    (``size`` counts the FCS; each frame also takes 20 bytes of preamble and gap, and a
    shorter frame is padded to 64 bytes on the wire)."""
    return gbps * 1e3 / ((max(size, MIN_SIZE) + WIRE_OVERHEAD) * 8)


def _int_list(text: str, option: str, low: int, high: int, what: str = "",
              range_note: str = "") -> list[int]:
    """A comma list of whole numbers in ``low..high``; ValueError naming the bad item."""
    out = []
    for item in text.split(","):
        item = item.strip()
        try:
            n = int(item)
        except ValueError:
            raise ValueError(f"{option}: {item!r} is not a whole number{what}") from None
        if not low <= n <= high:
            raise ValueError(f"{option}: {n} is outside {low}..{high}{range_note}")
        out.append(n)
    return out


def parse_sizes(text: str) -> list[int]:
    """``"64,128"`` -> ``[64, 128]``; ValueError naming the bad item otherwise."""
    return _int_list(text, "--sizes", MIN_SIZE, MAX_SIZE, " of bytes",
                     " (Ethernet frame sizes with FCS)")


def parse_engines(text: str) -> list[int]:
    """``"1,2,4"`` -> ``[1, 2, 4]``; ValueError naming the bad item (outside
    1..``machine.MAX_ENGINES``)."""
    from firmware.ebpf.machine import MAX_ENGINES
    return _int_list(text, "--engines", 1, MAX_ENGINES, range_note=" (the engines hw.top.NIC "
                     "builds, machine.MAX_ENGINES)")


def parse_rate(text: str) -> float | None:
    """``10G``/``25G``/``100G`` -> Gbit/s; ``max`` -> None (back to back)."""
    key = text.strip()
    for name, gbps in RATES.items():
        if key.lower() == name.lower():
            return gbps
    raise ValueError(f"--rate: {text!r} is not one of {', '.join(RATES)}")


def udp_frame(size: int) -> bytes:
    """An IPv4/UDP frame to port 9 of ``size`` bytes on the wire (``size - 4`` here: no FCS)."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    from sim.traffic import ETH_DST, ETH_SRC
    head = Ether(src=ETH_SRC, dst=ETH_DST) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(
        sport=4000, dport=9)
    payload = bytes(size - FCS - len(head))
    return bytes(head / payload)


def synth_fmax(engines: int = 1, root: pathlib.Path | None = None) -> dict[str, dict]:
    """Fmax per device from ``xdpnic synth`` results of the NIC with ``engines`` engines:
    ``{device: {"fmax_mhz": f, "file": path}}`` (empty when there is none)."""
    root = SYNTH_DIR if root is None else root
    out = {}
    for path in sorted(root.glob("nic-*/*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(data, dict) or data.get("top") != "nic":
            continue
        pnr = data.get("pnr") or {}
        params = data.get("unit_parameters") or {}
        if not pnr.get("fmax_mhz") or params.get("engines", 1) != engines:
            continue
        out[data.get("device", path.parent.name)] = {"fmax_mhz": pnr["fmax_mhz"],
                                                     "file": str(path)}
    return out


def traffic_rows(traffic: str | None, sizes: list[int]) -> list[tuple[str, int | None,
                                                                      list[bytes]]]:
    """``(label, size with FCS or None for mixed sizes, frames)`` per row: a capture file is
    one row of its frames; a profile (sim.fast_bench.PROFILES) one row per size (imix: one)."""
    from sim.fast_bench import profile_frames
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
        from sim.fast_bench import BenchError
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
          flow_hash: bool = False) -> dict:
    """Measure ``rows`` (from :func:`traffic_rows`) on ``targets``; the result.json dict.
    ``flow_hash``: the engines get frames by flow hash instead of round robin."""
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
    bar = None
    if show_progress and "rtl" in targets and sys.stderr.isatty():
        bar = progress(range(len(work) * packets), "frames", total=len(work) * packets)
    try:
        kernel_rows: dict[str, dict] = {}
        for i, ((label, size, frames), e) in enumerate(work):
            mean = sum(len(f) + FCS for f in frames) / len(frames)
            row = {"label": label, "size": size, "mean_size": mean, "engines": e,
                   "line_rate_mpps": {f"{g}G": _line_rate_mixed(frames, g)
                                      for g in LINE_RATES_GBPS}}
            if "rtl" in targets:
                row["rtl"] = _rtl_row(image, frames, packets, clock_mhz, gbps, e, fmax[e],
                                      bar, i * packets, flow_hash)
            if "kernel" in targets:
                if label not in kernel_rows:
                    kernel_rows[label] = ({"skipped": kernel_skip} if kernel is None
                                          else _kernel_row(kernel, frames[0], kernel_repeat))
                row["kernel"] = kernel_rows[label]
            result["rows"].append(row)
    finally:
        if kernel is not None:
            kernel.close()
        if bar is not None:
            bar.close()
    return result


def _line_rate_mixed(frames: list[bytes], gbps: float) -> float:
    """Mpps a link carries for this mix of frames (mean wire time)."""
    wire = sum(max(len(f) + FCS, MIN_SIZE) + WIRE_OVERHEAD for f in frames) / len(frames)
    return gbps * 1e3 / (wire * 8)


def _rtl_row(image, frames, packets, clock_mhz, gbps, engines, fmax, bar, done,
             flow_hash) -> dict:
    from sim.fast import FastError
    from sim.fast_bench import BenchError, measure
    def update(n):
        bar.n = done + n
        bar.refresh()
    try:
        # Programs with maps are loaded by the host driver (maps created over MAP_CMD);
        # others by the job's register writes.
        r = measure(image if image.maps else image.insns, frames, packets=packets,
                    clock_mhz=clock_mhz, gbps=gbps,
                    engines=engines, flow_hash=flow_hash,
                    on_progress=update if bar is not None else None)
    except (FastError, BenchError) as exc:
        return {"skipped": f"rtl: {exc}"}
    cpp = r["cycles_per_packet"]
    r["mpps_at_fmax"] = {dev: (f["fmax_mhz"] / cpp if cpp else None) for dev, f in fmax.items()}
    return r


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(result: dict) -> str:
    """The result as a text table, one line per row (traffic x engines)."""
    head = ["traffic", "size", "eng"]
    rtl_on, kernel_on = "rtl" in result["targets"], "kernel" in result["targets"]
    fmax_devices = sorted({d for f in result["fmax"].values() for d in f})
    if rtl_on:
        head += ["cyc/pkt", "pkt/cyc", f"Mpps@{result['clock_mhz']:g}"]
        head += [f"Mpps@{d}" for d in fmax_devices]
        head += ["lat min/med/p99/max cyc", "lost"]
    if kernel_on:
        head += ["kernel ns", "kernel Mpps"]
    head += [f"{g}G Mpps" for g in LINE_RATES_GBPS]
    lines, notes = [head], []
    for row in result["rows"]:
        size = str(row["size"]) if row["size"] else f"~{row['mean_size']:.0f}"
        cells = [row["label"], size, str(row["engines"])]
        if rtl_on:
            r = row["rtl"]
            if "skipped" in r:
                cells += ["-"] * (5 + len(fmax_devices))
                notes.append((row["label"], f"rtl skipped: {r['skipped']}"))
            else:
                cells += [_fmt(r["cycles_per_packet"], ".2f"),
                          _fmt(r["packets_per_cycle"], ".4f"), _fmt(r["mpps"], ".2f")]
                cells += [_fmt(r["mpps_at_fmax"].get(d), ".2f") for d in fmax_devices]
                lat = r["latency"]["cycles"] if r["latency"] else None
                cells.append("/".join(str(lat[k]) for k in ("min", "median", "p99", "max"))
                             if lat else "-")
                cells.append(f"{r['lost_buffer_full']} ({100 * r['loss_ratio']:.1f}%)")
        if kernel_on:
            k = row["kernel"]
            if "skipped" in k:
                cells += ["-", "-"]
                if not result.get("kernel_skipped"):
                    notes.append((row["label"], f"kernel skipped: {k['skipped']}"))
            else:
                cells += [_fmt(k["ns_per_packet"], ".1f"), _fmt(k["mpps"], ".2f")]
                if k.get("note"):
                    notes.append((row["label"], f"kernel: {k['note']}"))
        cells += [f"{row['line_rate_mpps'][f'{g}G']:.2f}" for g in LINE_RATES_GBPS]
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = ["  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in lines]
    if rtl_on:
        text.append(f"rtl: {result['packets']} frames per row, offered "
                    f"{result['method']['offered_load']}; Mpps at an assumed "
                    f"{result['clock_mhz']:g} MHz clock")
        if fmax_devices:
            for e, devices in result["fmax"].items():
                for d, f in devices.items():
                    text.append(f"Fmax {d} ({e} engine(s)): {f['fmax_mhz']:g} MHz from "
                                f"{f['file']}")
        else:
            text.append("Fmax: no synthesis result (run xdpnic synth)")
    if kernel_on:
        if result.get("kernel_skipped"):
            text.append(f"kernel skipped: {result['kernel_skipped']}")
        else:
            text.append(f"kernel: BPF_PROG_TEST_RUN, one x86 core on this machine, "
                        f"mean of {result['kernel_repeat']} runs, JIT {result['kernel_jit']}")
    text.append("line rate: Gbit/s * 1000 / ((size + 20) * 8), size with the 4-byte FCS "
                "(at least 64)")
    grouped: dict[str, list[str]] = {}
    for label, message in notes:
        grouped.setdefault(message, []).append(label)
    text.extend(f"{', '.join(labels)}: {message}" for message, labels in grouped.items())
    return "\n".join(text)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="throughput and latency of an XDP program on the NIC (RTL) and the "
                      "host kernel",
        description="Measure an XDP program on the Verilated NIC (fast C++ harness): cycles "
                    "per packet, packets per cycle, Mpps at --clock and at the synthesized "
                    "Fmax, per-packet latency, losses under overload; beside the host "
                    "kernel's time per packet and the 10/25/100G line rates. Writes "
                    "result.json, results.csv and PNG plots to --out. See docs/bench.md.")
    p.add_argument("program", metavar="PROG",
                   help="assembly file, raw bytecode (.bin) or clang -target bpf object")
    p.add_argument("--traffic", metavar="PCAP|PROFILE", default="udp",
                   help="a pcap capture (one row, its frames repeated) or a profile: udp "
                        "(default), imix, flows:N (N distinct 5-tuples)")
    p.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                   help="frame sizes in bytes with FCS, comma separated (default "
                        f"{','.join(map(str, DEFAULT_SIZES))}); udp and flows:N only")
    p.add_argument("--engines", default="1",
                   help="engine counts, comma separated, 1..8 (default 1)")
    p.add_argument("--flow-hash", action="store_true",
                   help="spread frames over the engines by flow hash (CTRL.flow_hash) instead "
                        "of round robin; every frame of a flow meets one engine")
    p.add_argument("--packets", type=int, default=DEFAULT_PACKETS,
                   help=f"frames per row on the RTL (default {DEFAULT_PACKETS})")
    p.add_argument("--rate", default="max",
                   help="offered load: 10G, 25G, 100G (paced, losses counted) or max (back "
                        "to back; default)")
    p.add_argument("--clock", type=float, default=DEFAULT_CLOCK_MHZ, metavar="MHZ",
                   help=f"NIC clock for the Mpps column and the pacing (default "
                        f"{DEFAULT_CLOCK_MHZ:g}, an assumption)")
    p.add_argument("--target", default="rtl,kernel",
                   help="comma-separated targets among rtl, kernel (default rtl,kernel)")
    p.add_argument("--kernel-repeat", type=int, default=DEFAULT_KERNEL_REPEAT,
                   help=f"kernel runs per frame (default {DEFAULT_KERNEL_REPEAT})")
    p.add_argument("--section", help="program to pick from an object with several")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--out", default="out/bench", metavar="DIR",
                   help="output directory (default out/bench)")
    p.add_argument("--json", action="store_true", help="print result.json to stdout")
    p.set_defaults(func=main)


def _error(message: str) -> int:
    print(f"xdpnic bench: {message}", file=sys.stderr)
    return 2


def main(args) -> int:
    targets = [t.strip() for t in args.target.split(",") if t.strip()]
    bad = [t for t in targets if t not in TARGETS]
    if bad or not targets:
        return _error(f"--target: {', '.join(bad) or '(empty)'} not among {', '.join(TARGETS)}")
    if args.packets < 1:
        return _error(f"--packets must be at least 1, not {args.packets}")
    if args.kernel_repeat < 1:
        return _error(f"--kernel-repeat must be at least 1, not {args.kernel_repeat}")
    if args.clock <= 0:
        return _error(f"--clock must be positive, not {args.clock:g}")
    try:
        sizes = parse_sizes(args.sizes)
        gbps = parse_rate(args.rate)
        engines = parse_engines(args.engines)
    except ValueError as exc:
        return _error(str(exc))
    try:
        image = load_program(args.program, args.section)
    except ProgramError as exc:
        return _error(str(exc))
    from sim.pcap import PcapError
    try:
        rows = traffic_rows(args.traffic, sizes)
    except PcapError as exc:
        return _error(str(exc))
    except OSError as exc:
        return _error(f"{args.traffic}: cannot read capture ({exc.strerror})")
    except ValueError as exc:
        return _error(str(exc))
    out = pathlib.Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _error(f"cannot create {out}: {exc.strerror}")
    result = bench(image, rows, packets=args.packets, clock_mhz=args.clock, targets=targets,
                   engines=engines, gbps=gbps, kernel_repeat=args.kernel_repeat,
                   flow_hash=args.flow_hash)
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    _write_csv(out / "results.csv", result)
    plots = [] if args.no_plots or "rtl" not in targets else _plots(out, result)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(table(result))
        names = ", ".join(["result.json", "results.csv"] + [p.name for p in plots])
        print(f"results in {out}/ ({names})")
    return 0


CSV_FIELDS = ["label", "size", "mean_size", "engines", "rate", "packets", "processed",
              "lost_buffer_full", "loss_ratio", "cycles_per_packet", "packets_per_cycle",
              "mpps", "latency_min_cycles", "latency_median_cycles", "latency_p99_cycles",
              "latency_max_cycles", "latency_min_ns", "latency_median_ns", "latency_p99_ns",
              "latency_max_ns", "rtl_skipped", "kernel_ns_per_packet", "kernel_mpps",
              "kernel_rewrites_frame", "kernel_skipped"] + [
              f"line_{g}G_mpps" for g in LINE_RATES_GBPS]


def _write_csv(path: pathlib.Path, result: dict) -> None:
    fmax_devices = sorted({d for f in result["fmax"].values() for d in f})
    fields = CSV_FIELDS + [f"mpps_fmax_{d}" for d in fmax_devices]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row in result["rows"]:
            r, k = row.get("rtl", {}), row.get("kernel", {})
            line = {"label": row["label"], "size": row["size"], "mean_size": row["mean_size"],
                    "engines": row["engines"], "rate": result["rate"],
                    "rtl_skipped": r.get("skipped"),
                    "kernel_ns_per_packet": k.get("ns_per_packet"), "kernel_mpps": k.get("mpps"),
                    "kernel_rewrites_frame": k.get("rewrites_frame"),
                    "kernel_skipped": k.get("skipped"),
                    **{f"line_{g}G_mpps": row["line_rate_mpps"][f"{g}G"]
                       for g in LINE_RATES_GBPS}}
            if r and "skipped" not in r:
                line.update({key: r[key] for key in (
                    "packets", "processed", "lost_buffer_full", "loss_ratio",
                    "cycles_per_packet", "packets_per_cycle", "mpps")})
                for unit in ("cycles", "ns"):
                    for key in ("min", "median", "p99", "max"):
                        line[f"latency_{key}_{unit}"] = (r["latency"][unit][key]
                                                         if r["latency"] else None)
                for d in fmax_devices:
                    line[f"mpps_fmax_{d}"] = r["mpps_at_fmax"].get(d)
            writer.writerow(line)


def _plots(out: pathlib.Path, result: dict) -> list[pathlib.Path]:
    """mpps_vs_size.png and mpps_vs_engines.png, line-rate ceilings drawn."""
    import matplotlib
    matplotlib.use("Agg")           # files only, no display
    import matplotlib.pyplot as plt
    rows = [r for r in result["rows"] if "rtl" in r and "skipped" not in r["rtl"]
            and r["rtl"]["mpps"] is not None]
    if not rows:
        return []
    paths = []
    clock = result["clock_mhz"]
    sizes = sorted({r["mean_size"] for r in rows})
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for e in sorted({r["engines"] for r in rows}):
        pts = sorted((r["mean_size"], r["rtl"]["mpps"]) for r in rows if r["engines"] == e)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-",
                label=f"xdpnic, {e} engine(s) @ {clock:g} MHz")
    grid = list(range(int(min(sizes)), int(max(sizes)) + 1, 2)) if len(sizes) > 1 else sizes
    for g in LINE_RATES_GBPS:
        ax.plot(grid, [line_rate_mpps(s, g) for s in grid], "--", linewidth=1,
                label=f"{g}G line rate")
    ax.set_xlabel("frame size (bytes, with FCS)")
    ax.set_ylabel("Mpps")
    ax.set_yscale("log")
    ax.set_title(f"{pathlib.Path(result['program']).name}: Mpps vs frame size "
                 f"(rate {result['rate']})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "mpps_vs_size.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    labels = sorted({r["label"] for r in rows}, key=lambda lab: next(
        r["mean_size"] for r in rows if r["label"] == lab))
    engines = sorted({r["engines"] for r in rows})
    for lab in labels:
        pts = sorted((r["engines"], r["rtl"]["mpps"]) for r in rows if r["label"] == lab)
        line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=lab)
        ceiling = next(r["line_rate_mpps"] for r in rows if r["label"] == lab)
        for g in LINE_RATES_GBPS:
            ax.axhline(ceiling[f"{g}G"], color=line.get_color(), linestyle=":", linewidth=0.8)
    ax.set_xlabel("engines")
    ax.set_xticks(engines)
    ax.set_ylabel("Mpps")
    ax.set_yscale("log")
    ax.set_title(f"{pathlib.Path(result['program']).name}: Mpps vs engines @ {clock:g} MHz "
                 "(dotted: 10/25/100G line rate per row)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "mpps_vs_engines.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths
