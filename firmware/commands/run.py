"""``xdpnic run PROG --pcap IN --out DIR``: run an XDP program over a capture on a target."""

import errno
import importlib
import json
import pathlib
import sys
from collections import Counter

from hw.regs import MAX_PORTS

from ..ebpf import machine
from ..ebpf.model_helpers import EngineState
from ..ebpf.model_maps import MapError, MapSet
from ..ebpf.xdp import Disposition, FrameResult, run_frame
from ..progress import progress
from ..program import (PROGRAM_TYPES, ProgramError, check_program_type, load_program,
                       verify_for_run)

# target name -> "module:function" with signature run_frames(image, frames, options)
RUN_TARGETS = {
    "model": "firmware.commands.run:run_on_model",
    "rtl": "sim.nic_run:run_frames",
    "kernel": "firmware.kernel.run:run_frames",
}


def run_on_model(image, frames: list[bytes], options: dict) -> list[FrameResult]:
    """The golden model as a NIC: every frame through ``xdp.run_frame``, maps kept across
    frames; ``bpf_ktime_get_ns`` reads the frame's capture timestamp."""
    try:
        maps = MapSet(image.maps, programs=getattr(image, "programs", None))
    except MapError as exc:
        raise ProgramError(f"{image.source}: {exc}") from None
    for e in options.get("map_entries") or []:
        result = maps.by_name(e.map).update(e.key, e.value, e.flags)
        if result:
            raise ProgramError(f"map {e.map!r}: update of key {e.key.hex()} refused: "
                               f"{errno.errorcode.get(-result, result)}")
    engine = EngineState(fib=options.get("fib"))
    timestamps = options.get("timestamps_ns") or [0] * len(frames)
    results = []
    for frame, timestamp in progress(zip(frames, timestamps), "frames", total=len(frames)):
        engine.now_ns = timestamp
        results.append(run_frame(image.insns, frame, ports=options["ports"],
                                 ingress_port=options["ingress_port"], maps=maps, engine=engine,
                                 budget=options["budget"], trace=options["trace"]))
    options["maps"] = maps
    options["trace_output"] = engine.trace
    return results


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "run", help="run an XDP program over a pcap capture",
        description="Run an XDP program on every frame of a capture and write one pcap per "
                    "egress (tx-portN.pcap for frames leaving port N by XDP_TX or "
                    "XDP_REDIRECT, pass.pcap for XDP_PASS to the host, host-queueN.pcap for "
                    "frames a CPUMAP entry sends to host queue N), result.json with one "
                    "record per input frame and the counters, and a summary.")
    p.add_argument("program", metavar="PROG",
                   help="assembly file, raw bytecode (.bin) or clang -target bpf object")
    p.add_argument("--pcap", required=True, metavar="IN.pcap", help="input frames")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--target", default="model", choices=sorted(RUN_TARGETS),
                   help="where to run it (default: model)")
    p.add_argument("--section", help="program to pick from an object with several")
    p.add_argument("--type", dest="program_type", choices=PROGRAM_TYPES,
                   help="run it as this program type whatever its section name says (by "
                        "default libbpf's section table decides, and only XDP runs)")
    p.add_argument("--fib", metavar="FIB.json",
                   help="model: the FIB bpf_fib_lookup consults (python -m "
                        "firmware.ebpf.model_fib --netns NS writes one); the kernel target "
                        "uses the FIB of the namespace it runs in")
    p.add_argument("--no-verify", action="store_true",
                   help="run without the verifier (model, rtl without maps); a warning says so")
    p.add_argument("--ports", type=int, default=2, help="NIC ports (default 2)")
    p.add_argument("--ingress-port", type=int, default=0,
                   help="port every frame arrives on (default 0)")
    p.add_argument("--budget", type=int, default=machine.DEFAULT_INSN_BUDGET,
                   help="instruction budget per frame")
    p.add_argument("--trace", action="store_true",
                   help="write trace.txt: every instruction executed, per frame (model target)")
    p.add_argument("--sim", choices=("verilator", "icarus"), default=None,
                   help="RTL simulator for --target rtl (default verilator)")
    p.add_argument("--waves", action="store_true",
                   help="--target rtl: dump waveforms (an FST file; its path is in result.json)")
    p.add_argument("--maps", action="append", default=[], metavar="[NAME=]FILE.json",
                   help="set map entries from 'bpftool map dump -j' output: a file "
                        "{\"NAME\": [entries]}, or NAME=FILE for one map's dump (repeatable)")
    p.add_argument("--map", action="append", default=[], nargs="+", metavar="ARG",
                   dest="map_updates",
                   help="set one entry, as 'bpftool map update' takes it: NAME key [hex] "
                        "BYTE... value [hex] BYTE... [any|exist|noexist] (repeatable; it takes "
                        "every word up to the next option, so give PROG before it)")
    p.add_argument("--json", action="store_true", help="print result.json to stdout")
    p.set_defaults(func=main)


def _target(name: str, entries: list):
    if name == "rtl" and entries:
        # entries go through the host driver's map mailbox: the harness driven op by op
        module_name, func = "sim.live", "run_frames"
    else:
        module_name, func = RUN_TARGETS[name].split(":")
    return getattr(importlib.import_module(module_name), func)


def _read_fib(path):
    """The model's FIB from ``--fib``, or None."""
    if path is None:
        return None
    from ..ebpf.model_fib import Fib, FibError
    try:
        return Fib.from_file(path)
    except FibError as exc:
        raise ProgramError(str(exc)) from None


def verification(image, target: str, skip: bool) -> list[str]:
    """Verify before running, as the NIC's driver and the kernel do before loading; the
    warnings to print.  The kernel's own verifier judges the kernel target."""
    if not skip:
        if target != "kernel":
            verify_for_run(image)
        return []
    if target == "kernel":
        return ["--no-verify: the kernel verifies every program it loads; it still does"]
    warning = (f"--no-verify: {image.name} runs on {target} unverified: an unsafe program "
               "traps (aborted) where the kernel and the NIC's driver would refuse it")
    if target == "rtl" and image.maps:
        warning += " (with maps, the rtl target's host driver still verifies it)"
    return [warning]


def summarize(results: list[FrameResult], ports: int) -> dict:
    """Counters in the NIC's terms: every received frame lands in exactly one disposition."""
    by_disposition = Counter(r.disposition for r in results)
    counters = {"received": len(results)}
    counters.update({d: by_disposition.get(d, 0) for d in Disposition.ALL})
    counters["discard_reasons"] = dict(Counter(r.reason for r in results
                                               if r.disposition == Disposition.DISCARD))
    counters["traps"] = dict(Counter(r.trap.name for r in results
                                     if r.trap != machine.TrapCause.NONE))
    counters["egress"] = {f"port{p}": sum(1 for r in results if r.egress_port == p)
                          for p in range(ports)}
    return counters


def main(args) -> int:
    from sim.pcap import PcapError, PcapWriter, read_capture
    if not 2 <= args.ports <= MAX_PORTS:
        print(f"xdpnic run: --ports must be 2..{MAX_PORTS} (the NIC's range), not {args.ports}",
              file=sys.stderr)
        return 2
    if args.trace and args.target != "model":
        print(f"xdpnic run: --trace traces the golden model only; use --target model (the "
              f"RTL's per-instruction trace is in sim.driver, not yet on the command line)",
              file=sys.stderr)
        return 2
    if args.budget < 1:
        print(f"xdpnic run: --budget must be at least 1, not {args.budget}", file=sys.stderr)
        return 2
    if not 0 <= args.ingress_port < args.ports:
        print(f"xdpnic run: --ingress-port {args.ingress_port} is not one of the "
              f"{args.ports} ports", file=sys.stderr)
        return 2
    from ..driver.map_entries import MapEntryError, parse_update, read_dump_file
    try:
        image = load_program(args.program, args.section)
        entries = [e for arg in getattr(args, "maps", []) for e in read_dump_file(arg, image.maps)]
        entries += [parse_update(tokens, image.maps)
                    for tokens in getattr(args, "map_updates", [])]
        captured = read_capture(args.pcap)
    except (ProgramError, PcapError, MapEntryError) as exc:
        print(f"xdpnic run: {exc}", file=sys.stderr)
        return 2
    try:
        check_program_type(image, getattr(args, "program_type", None))
        fib = _read_fib(getattr(args, "fib", None))
        warnings = verification(image, args.target, getattr(args, "no_verify", False))
    except ProgramError as exc:
        print(f"xdpnic run: {exc}", file=sys.stderr)
        return 2
    for warning in warnings:
        print(f"xdpnic run: warning: {warning}", file=sys.stderr)
    out = pathlib.Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"xdpnic run: cannot create {out}: {exc.strerror}", file=sys.stderr)
        return 2
    frames = [r.frame for r in captured]
    cut = {index: r for index, r in enumerate(captured) if r.cut}
    if cut:
        shown = ", ".join(f"record {i}: {r.cut} of {r.original_length} bytes"
                          for i, r in list(cut.items())[:5])
        more = f" and {len(cut) - 5} more" if len(cut) > 5 else ""
        print(f"xdpnic run: warning: {args.pcap}: {len(cut)} frame(s) cut short by the "
              f"capture's snap length ({shown}{more}); they run as captured, and result.json "
              f"gives each one's 'cut' bytes", file=sys.stderr)
    options = {"ports": args.ports, "ingress_port": args.ingress_port, "budget": args.budget,
               "trace": args.trace, "timestamps_ns": [r.timestamp_ns for r in captured],
               "sim": getattr(args, "sim", None), "waves": getattr(args, "waves", False),
               "map_entries": entries, "fib": fib}
    if entries and args.target == "rtl" and (options["sim"] == "icarus" or options["waves"]):
        print("xdpnic run: --map/--maps on the rtl target run on Verilator's harness "
              "(through the map mailbox); --sim icarus and --waves cannot take them",
              file=sys.stderr)
        return 2
    try:
        results = _target(args.target, entries)(image, frames, options)
    except ProgramError as exc:
        print(f"xdpnic run: {exc}", file=sys.stderr)
        return 2

    writers = {f"port{p}": PcapWriter(out / f"tx-port{p}.pcap") for p in range(args.ports)}
    writers["pass"] = PcapWriter(out / "pass.pcap")
    records = []
    for index, r in enumerate(results):
        egress = "pass" if r.disposition == Disposition.PASS else (
            f"port{r.egress_port}" if r.egress_port is not None else None)
        if getattr(r, "host_queue", None) is not None:      # a CPUMAP entry: a host queue
            egress = f"host-queue{r.host_queue}"
            if egress not in writers:
                writers[egress] = PcapWriter(out / f"{egress}.pcap")
        if egress:
            writers[egress].write(r.frame)
        records.append({
            "index": index, "action": r.disposition, "egress": egress,
            "input_length": len(frames[index]), "cut": captured[index].cut,
            "output_length": len(r.frame) if egress else 0,
            "r0": r.r0, "reason": r.reason, "trap": r.trap.name, "trap_pc": r.trap_pc,
            "instructions": r.insn_count, "cycles": getattr(r, "cycles", None),
        })
    for writer in writers.values():
        writer.close()
    if args.trace:
        with open(out / "trace.txt", "w") as f:
            for index, r in enumerate(results):
                f.write(f"# frame {index}: {r.disposition}\n")
                f.writelines(line + "\n" for line in (r.trace or []))
    report = {"program": image.source, "target": args.target, "frames": records,
              "counters": summarize(results, args.ports)}
    notes = warnings + options.get("notes", [])
    if notes:
        report["notes"] = notes       # what this target cannot observe, unverified runs
    if options.get("maps") is not None:
        report["maps"] = [m.dump() for m in options["maps"].maps]
    elif options.get("map_dumps") is not None:       # read back through the driver (rtl)
        report["maps"] = options["map_dumps"]
    if options.get("trace_output"):
        report["trace_printk"] = options["trace_output"]
    if options.get("rtl"):
        report["rtl"] = options["rtl"]      # the NIC's own counters and simulation figures
    (out / "result.json").write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_summary(report, out)
    return 0


def _print_summary(report: dict, out: pathlib.Path) -> None:
    c = report["counters"]
    print(f"{c['received']} frames through {report['program']} on {report['target']}")
    print(f"  {'action':<10} {'frames':>8}")
    for d in Disposition.ALL:
        print(f"  {d:<10} {c[d]:>8}")
    for port, n in c["egress"].items():
        print(f"  out {port:<6} {n:>8}")
    if c["traps"]:
        print("  traps: " + ", ".join(f"{k} {v}" for k, v in c["traps"].items()))
    if c["discard_reasons"]:
        print("  discarded: " + ", ".join(f"{k} {v}" for k, v in c["discard_reasons"].items()))
    for note in report.get("notes", []):
        print(f"  note: {note}")
    print(f"results in {out}/ (result.json, tx-port*.pcap, pass.pcap)")
