"""``xdpnic demo``: the main job in one command — an XDP program, traffic, the NIC, results."""

import argparse
import pathlib

from . import run

DEMO_PROGRAM = pathlib.Path(__file__).resolve().parent.parent / "progs" / "asm" / "xdp_demo.s"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="load the demo XDP program and push a mix of frames through it",
        description="Build a capture of demo traffic with scapy (ICMP, UDP, TCP, IPv6, VLAN, a "
                    "runt and an oversize frame), load firmware/progs/asm/xdp_demo.s and run "
                    "every frame through it, as `xdpnic run` does.")
    p.add_argument("--target", default="rtl", choices=sorted(run.RUN_TARGETS),
                   help="where to run it (default: rtl, the Verilated NIC; the first run "
                        "builds it, which takes a few minutes)")
    p.add_argument("--out", default="out/demo", metavar="DIR",
                   help="output directory (default: out/demo)")
    p.add_argument("--sim", choices=("verilator", "icarus"), default=None,
                   help="RTL simulator for --target rtl (default verilator)")
    p.add_argument("--waves", action="store_true",
                   help="with --target rtl: write a waveform of the run")
    p.add_argument("--json", action="store_true", help="print result.json to stdout")
    p.add_argument("--trace", action="store_true", help="write trace.txt as well (with --target model)")
    p.set_defaults(func=main)


def main(args) -> int:
    import sys

    from sim.pcap import PcapError, PcapWriter
    from sim.traffic import demo_frames
    out = pathlib.Path(args.out)
    capture = out / "demo-in.pcap"
    try:
        out.mkdir(parents=True, exist_ok=True)
        with PcapWriter(capture) as writer:
            for frame in demo_frames():
                writer.write(frame)
    except (OSError, PcapError) as exc:
        print(f"xdpnic demo: cannot write {capture}: {exc}", file=sys.stderr)
        return 2
    # stderr, so that --json leaves stdout a single JSON document
    print(f"demo: {capture} written; running {DEMO_PROGRAM.name} on {args.target}",
          file=sys.stderr)
    run_args = argparse.Namespace(
        program=str(DEMO_PROGRAM), pcap=str(capture), out=str(out), target=args.target,
        section=None, ports=2, ingress_port=0, budget=run.machine.DEFAULT_INSN_BUDGET,
        trace=args.trace, json=args.json, sim=args.sim, waves=args.waves)
    return run.main(run_args)
