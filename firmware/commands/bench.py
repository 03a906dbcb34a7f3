"""``xdpnic bench PROG``: throughput and latency of an XDP program on the NIC's RTL (the fast
Verilator harness) and on the host kernel: the options; the measuring is :mod:`perf.bench_runs`.

The RTL column is the fast Verilator harness (cycles per packet, Mpps at ``--clock`` and
at the synthesized Fmax, latency, losses under a paced line rate); the kernel column
``BPF_PROG_TEST_RUN``.  docs/bench.md says how each figure is made.
"""

import json
import pathlib
import sys

from perf.bench_runs import DEFAULT_KERNEL_REPEAT, bench, traffic_rows
from perf.bench_table import table, write_csv
from perf.linerate import MAX_SIZE, MIN_SIZE
from perf.plots import bench_plots

from ..program import PROGRAM_TYPES, ProgramError, check_program_type, load_program

__all__ = ["DEFAULT_SIZES", "DEFAULT_CLOCK_MHZ", "parse_sizes", "parse_engines", "parse_rate",
           "add_sweep_options", "check_sweep_options", "register", "main"]

DEFAULT_SIZES = (64, 128, 256, 512, 1024, 1518)
# An assumed clock for the Mpps column, not a timing-closure result.
DEFAULT_CLOCK_MHZ = 250.0
TARGETS = ("rtl", "kernel")
DEFAULT_PACKETS = 10_000
RATES = {"10G": 10.0, "25G": 25.0, "100G": 100.0, "max": None}


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


def add_sweep_options(p) -> None:
    """``--scheduler`` and ``--workers``: where the configurations run (perf.sweep)."""
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run one task per configuration on this Dask scheduler (default: "
                        "$DASK_SCHEDULER_ADDRESS, else a local cluster on this machine)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="worker processes of the local cluster (default: the machine's "
                        "cores); 0: no Dask, the configurations one after the other here")


def check_sweep_options(args) -> str | None:
    """What is wrong with ``--scheduler``/``--workers``, or None."""
    if args.workers is not None and args.workers < 0:
        return f"--workers must be 0 or more, not {args.workers}"
    if args.scheduler is not None:
        if args.workers is not None:
            return "--workers sizes the local cluster: not with --scheduler"
        if "://" not in args.scheduler:
            return f"--scheduler {args.scheduler!r}: give an address such as tcp://HOST:8786"
    return None


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
    p.add_argument("--type", dest="program_type", choices=PROGRAM_TYPES,
                   help="take it as this program type whatever its section name says (by "
                        "default libbpf's section table decides, and only XDP runs)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--out", default="out/bench", metavar="DIR",
                   help="output directory (default out/bench)")
    add_sweep_options(p)
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
    problem = check_sweep_options(args)
    if problem:
        return _error(problem)
    try:
        sizes = parse_sizes(args.sizes)
        gbps = parse_rate(args.rate)
        engines = parse_engines(args.engines)
    except ValueError as exc:
        return _error(str(exc))
    try:
        image = load_program(args.program, args.section)
        check_program_type(image, getattr(args, "program_type", None), verb="runs")
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
    from perf.sweep import SweepError
    try:
        result = bench(image, rows, packets=args.packets, clock_mhz=args.clock, targets=targets,
                       engines=engines, gbps=gbps, kernel_repeat=args.kernel_repeat,
                       flow_hash=args.flow_hash, scheduler=args.scheduler,
                       workers=args.workers)
    except SweepError as exc:
        return _error(str(exc))
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    write_csv(out / "results.csv", result)
    plots = [] if args.no_plots or "rtl" not in targets else bench_plots(out, result)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(table(result))
        names = ", ".join(["result.json", "results.csv"] + [p.name for p in plots])
        print(f"results in {out}/ ({names})")
    return 0
