"""``xdpnic bench PROG``: throughput of an XDP program on the NIC's RTL and on the host kernel.

RTL: the Verilated NIC (:func:`sim.nic_run.run_nic`) runs the same frame N times and 2N times;
steady-state cycles per frame = (cycles(2N) - cycles(N)) / N, so program loading and pipeline
fill cancel out.  Mpps at ``--clock`` MHz = clock / (cycles per frame).
Kernel: ``BPF_PROG_TEST_RUN`` mean ns per run (:meth:`KernelXdp.time_per_packet`), one x86
core on this machine, JIT as the host configures it.
Line rate: Mpps = Gbit/s * 1000 / ((size + 20) * 8), size being the frame with its 4-byte FCS
and 20 bytes the preamble (8) plus the inter-frame gap (12).
"""

import csv
import json
import pathlib
import sys

from ..progress import progress
from ..program import ProgramError, load_program

__all__ = ["DEFAULT_SIZES", "DEFAULT_CLOCK_MHZ", "LINE_RATES_GBPS", "WIRE_OVERHEAD", "FCS",
           "line_rate_mpps", "parse_sizes", "udp_frame", "rtl_cycles_per_frame", "bench"]

DEFAULT_SIZES = (64, 128, 256, 512, 1024, 1518)
# An assumed clock for the Mpps column, not a timing-closure result (no FPGA run yet).
DEFAULT_CLOCK_MHZ = 250.0
LINE_RATES_GBPS = (10, 25, 100)
WIRE_OVERHEAD = 20      # preamble + start delimiter (8) and inter-frame gap (12), bytes
FCS = 4                 # the frame check sequence the MAC adds; our frames are without it
MIN_SIZE = 64
MAX_SIZE = 1518
TARGETS = ("rtl", "kernel")
DEFAULT_KERNEL_REPEAT = 100_000
# Measured: the simulated NIC stalls 512 cycles once every 256 frames (docs/bench.md), so N a
# multiple of 256 puts whole periods in the 2N - N difference.
DEFAULT_PACKETS = 256


def line_rate_mpps(size: int, gbps: float) -> float:
    """Frames per microsecond (Mpps) a ``gbps`` link carries for ``size``-byte frames
    (``size`` counts the FCS; each frame also takes 20 bytes of preamble and gap, and a
    shorter frame is padded to 64 bytes on the wire)."""
    return gbps * 1e3 / ((max(size, MIN_SIZE) + WIRE_OVERHEAD) * 8)


def parse_sizes(text: str) -> list[int]:
    """``"64,128"`` -> ``[64, 128]``; ValueError naming the bad item otherwise."""
    sizes = []
    for item in text.split(","):
        item = item.strip()
        try:
            size = int(item)
        except ValueError:
            raise ValueError(f"--sizes: {item!r} is not a whole number of bytes") from None
        if not MIN_SIZE <= size <= MAX_SIZE:
            raise ValueError(f"--sizes: {size} is outside {MIN_SIZE}..{MAX_SIZE} "
                             "(Ethernet frame sizes with FCS)")
        sizes.append(size)
    return sizes


def udp_frame(size: int) -> bytes:
    """An IPv4/UDP frame to port 9 of ``size`` bytes on the wire (``size - 4`` here: no FCS)."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    from sim.traffic import ETH_DST, ETH_SRC
    head = Ether(src=ETH_SRC, dst=ETH_DST) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(
        sport=4000, dport=9)
    payload = bytes(size - FCS - len(head))
    return bytes(head / payload)


def rtl_cycles_per_frame(insns, frame: bytes, packets: int, sim: str = "verilator") -> dict:
    """Run ``frame`` ``packets`` and ``2*packets`` times on the NIC: steady-state cycles per
    frame, the two runs' clock cycles, the first frame's latency and its verdict."""
    from sim.nic_run import run_nic
    one = run_nic(insns, [frame] * packets, sim=sim)
    two = run_nic(insns, [frame] * (2 * packets), sim=sim)
    per_frame = (two.clock_cycles - one.clock_cycles) / packets
    first = one.results[0]
    return {"cycles_n": one.clock_cycles, "cycles_2n": two.clock_cycles,
            "cycles_per_frame": per_frame, "latency_cycles": first.cycles,
            "action": first.disposition}


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


def bench(image, rows: list[tuple[str, bytes]], *, packets: int, clock_mhz: float,
          targets: list[str], kernel_repeat: int = DEFAULT_KERNEL_REPEAT,
          sim: str = "verilator") -> dict:
    """Measure ``rows`` ((label, frame) pairs) on ``targets``; the result.json dictionary."""
    result = {"program": image.source, "packets": packets, "clock_mhz": clock_mhz,
              "targets": targets, "kernel_repeat": kernel_repeat,
              "method": {
                  "rtl": "cycles per frame = (clock cycles for 2N frames - for N) / N, "
                         "Verilated NIC, one port, 64-bit beats, back to back",
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
    rtl_skip = None
    if "rtl" in targets and image.maps:
        rtl_skip = (f"uses {len(image.maps)} map(s); the RTL has no map unit yet")
    try:
        for label, frame in progress(rows, "frames", total=len(rows)):
            size = len(frame) + FCS
            row = {"label": label, "size": size,
                   "line_rate_mpps": {f"{g}G": line_rate_mpps(size, g) for g in LINE_RATES_GBPS}}
            if "rtl" in targets:
                row["rtl"] = _rtl_row(image, frame, packets, clock_mhz, sim, rtl_skip)
            if "kernel" in targets:
                row["kernel"] = ({"skipped": kernel_skip} if kernel is None
                                 else _kernel_row(kernel, frame, kernel_repeat))
            result["rows"].append(row)
    finally:
        if kernel is not None:
            kernel.close()
    return result


def _rtl_row(image, frame, packets, clock_mhz, sim, skip) -> dict:
    from sim.nic_run import NicError
    if skip:
        return {"skipped": skip}
    try:
        rtl = rtl_cycles_per_frame(image.insns, frame, packets, sim)
    except NicError as exc:
        return {"skipped": f"rtl: {exc}"}
    cpf = rtl["cycles_per_frame"]
    rtl["packets_per_cycle"] = 1 / cpf if cpf > 0 else None
    rtl["mpps"] = clock_mhz / cpf if cpf > 0 else None
    return rtl


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(result: dict) -> str:
    """The result as a text table, one line per frame."""
    head = ["frame", "size"]
    rtl_on, kernel_on = "rtl" in result["targets"], "kernel" in result["targets"]
    if rtl_on:
        head += ["verdict", "cyc/frame", "pkt/cyc", f"Mpps@{result['clock_mhz']:g}MHz"]
    if kernel_on:
        head += ["kernel ns", "kernel Mpps"]
    head += [f"{g}G Mpps" for g in LINE_RATES_GBPS]
    lines, notes = [head], []
    for row in result["rows"]:
        cells = [row["label"], str(row["size"])]
        if rtl_on:
            r = row["rtl"]
            if "skipped" in r:
                cells += ["-"] * 4
                notes.append((row["label"], f"rtl skipped: {r['skipped']}"))
            else:
                cells += [r["action"] or "-", _fmt(r["cycles_per_frame"], ".1f"),
                          _fmt(r["packets_per_cycle"], ".4f"), _fmt(r["mpps"], ".2f")]
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
    if kernel_on:
        if result.get("kernel_skipped"):
            text.append(f"kernel skipped: {result['kernel_skipped']}")
        else:
            text.append(f"kernel: BPF_PROG_TEST_RUN, one x86 core on this machine, "
                        f"mean of {result['kernel_repeat']} runs, JIT {result['kernel_jit']}")
    if rtl_on:
        text.append(f"rtl: steady state (cycles for {2 * result['packets']} frames - for "
                    f"{result['packets']}) / {result['packets']}; Mpps at an assumed "
                    f"{result['clock_mhz']:g} MHz clock")
    text.append("line rate: Gbit/s * 1000 / ((size + 20) * 8), size with the 4-byte FCS "
                "(at least 64)")
    # One line per distinct message, naming the rows it applies to.
    grouped: dict[str, list[str]] = {}
    for label, message in notes:
        grouped.setdefault(message, []).append(label)
    text.extend(f"{', '.join(labels)}: {message}" for message, labels in grouped.items())
    return "\n".join(text)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="throughput of an XDP program on the NIC (RTL) and the host kernel",
        description="Measure an XDP program's throughput per frame size: steady-state cycles "
                    "per frame on the Verilated NIC and Mpps at --clock, the host kernel's "
                    "time per packet (BPF_PROG_TEST_RUN, one x86 core), and the 10/25/100G "
                    "line rates. Writes result.json and results.csv to --out. See "
                    "docs/bench.md.")
    p.add_argument("program", metavar="PROG",
                   help="assembly file, raw bytecode (.bin) or clang -target bpf object")
    p.add_argument("--traffic", metavar="PCAP",
                   help="frames to measure, one row per frame (default: an IPv4/UDP frame to "
                        "port 9 of each --sizes size)")
    p.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                   help="frame sizes in bytes with FCS, comma separated (default "
                        f"{','.join(map(str, DEFAULT_SIZES))})")
    p.add_argument("--packets", type=int, default=DEFAULT_PACKETS,
                   help=f"N: the RTL runs N and 2N frames per row (default {DEFAULT_PACKETS}; "
                        "see docs/bench.md for why a multiple of 256)")
    p.add_argument("--clock", type=float, default=DEFAULT_CLOCK_MHZ, metavar="MHZ",
                   help=f"NIC clock for the Mpps column (default {DEFAULT_CLOCK_MHZ:g}, an "
                        "assumption)")
    p.add_argument("--target", default="rtl,kernel",
                   help="comma-separated targets among rtl, kernel (default rtl,kernel)")
    p.add_argument("--kernel-repeat", type=int, default=DEFAULT_KERNEL_REPEAT,
                   help=f"kernel runs per frame (default {DEFAULT_KERNEL_REPEAT})")
    p.add_argument("--section", help="program to pick from an object with several")
    p.add_argument("--sim", choices=("verilator", "icarus"), default="verilator",
                   help="RTL simulator (default verilator)")
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
        image = load_program(args.program, args.section)
    except ProgramError as exc:
        return _error(str(exc))
    if args.traffic:
        from sim.pcap import PcapError, read_frames
        try:
            frames = read_frames(args.traffic)
        except PcapError as exc:
            return _error(str(exc))
        except OSError as exc:
            return _error(f"{args.traffic}: cannot read capture ({exc.strerror})")
        if not frames:
            return _error(f"{args.traffic}: no frames")
        rows = [(f"#{i}", frame) for i, frame in enumerate(frames)]
    else:
        try:
            sizes = parse_sizes(args.sizes)
        except ValueError as exc:
            return _error(str(exc))
        rows = [(f"udp{size}", udp_frame(size)) for size in sizes]
    out = pathlib.Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _error(f"cannot create {out}: {exc.strerror}")
    result = bench(image, rows, packets=args.packets, clock_mhz=args.clock, targets=targets,
                   kernel_repeat=args.kernel_repeat, sim=args.sim)
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    _write_csv(out / "results.csv", result)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(table(result))
        print(f"results in {out}/ (result.json, results.csv)")
    return 0


def _write_csv(path: pathlib.Path, result: dict) -> None:
    fields = ["label", "size", "rtl_action", "rtl_cycles_per_frame", "rtl_packets_per_cycle",
              "rtl_mpps", "rtl_latency_cycles", "rtl_skipped", "kernel_ns_per_packet",
              "kernel_mpps", "kernel_rewrites_frame", "kernel_skipped"]
    fields += [f"line_{g}G_mpps" for g in LINE_RATES_GBPS]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row in result["rows"]:
            r, k = row.get("rtl", {}), row.get("kernel", {})
            writer.writerow({
                "label": row["label"], "size": row["size"],
                "rtl_action": r.get("action"), "rtl_cycles_per_frame": r.get("cycles_per_frame"),
                "rtl_packets_per_cycle": r.get("packets_per_cycle"), "rtl_mpps": r.get("mpps"),
                "rtl_latency_cycles": r.get("latency_cycles"), "rtl_skipped": r.get("skipped"),
                "kernel_ns_per_packet": k.get("ns_per_packet"), "kernel_mpps": k.get("mpps"),
                "kernel_rewrites_frame": k.get("rewrites_frame"), "kernel_skipped": k.get("skipped"),
                **{f"line_{g}G_mpps": row["line_rate_mpps"][f"{g}G"] for g in LINE_RATES_GBPS}})
