"""``xdpnic demo``: the main job in one command — an XDP program, traffic, the NIC, results.

Two demos.  ``--live`` (what ``scripts/demo.sh`` runs as root): the clang-compiled firewall
``firmware/progs/live/xdp_blocklist.c`` on the Verilated NIC behind Linux interfaces
(:mod:`sim.attach`); ``ping`` through it, the sender's address blocked by a map update while
it pings, the pings stop, the counters and maps shown, captures written.  Without ``--live``:
a capture of mixed traffic through ``xdp_demo.s``, as ``xdpnic run`` does.
"""

import argparse
import json
import pathlib
import subprocess
import sys
import threading

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
    p.add_argument("--live", action="store_true",
                   help="the live demo (needs root): a firewall with a map behind Linux "
                        "interfaces, pinged, an address blocked by a map update, captures "
                        "written (--target rtl or model)")
    p.set_defaults(func=main)


def main(args) -> int:
    if args.live:
        return live_demo(args)
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


LIVE_NAME = "xdpdemo"
BLOCKED = "169 254 77 1"        # the pinging side's address, wire0 (sim.attach.port_addresses)


def _say(text: str) -> None:
    print(text, flush=True)


def _ping(count: int, address: str, wait: int) -> tuple[int, str]:
    command = ["ip", "netns", "exec", LIVE_NAME, "ping", "-c", str(count), "-i", "0.3",
               "-W", str(wait), address]
    _say(f"$ ip netns exec {LIVE_NAME} ping -c {count} {address}")
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
    _say(proc.stdout.rstrip())
    received = next((int(part.split()[0]) for line in proc.stdout.splitlines()
                     for part in line.split(", ") if part.endswith(" received")), 0)
    return received, proc.stdout


def _map(words: str) -> int:
    """``xdpnic map WORDS`` on the demo's NIC, shown as typed."""
    from argparse import Namespace

    from . import map as map_command
    _say(f"$ xdpnic map --name {LIVE_NAME} {words}")
    first, *rest = words.split()
    return map_command.main(Namespace(command=first, words=rest, name=LIVE_NAME, json=False))


def live_demo(args) -> int:
    """The live demo; see the module docstring."""
    from firmware.build import BuildError
    from firmware.progs.live import build_live_program
    from sim.attach import AttachError, Attachment, port_addresses
    from sim.live import LiveError, open_live_nic

    from ..program import ProgramError, load_program
    if args.target not in ("rtl", "model"):
        print(f"xdpnic demo: --live runs on rtl or model, not {args.target}", file=sys.stderr)
        return 2
    refusal = Attachment.refusal(LIVE_NAME)
    if refusal:
        print(f"xdpnic demo: --live {refusal}", file=sys.stderr)
        return 2
    out = pathlib.Path(args.out)
    captures = out / "captures"
    try:
        out.mkdir(parents=True, exist_ok=True)
        obj = build_live_program("xdp_blocklist", out)
        image = load_program(obj)
    except (OSError, BuildError, ProgramError) as exc:
        print(f"xdpnic demo: {exc}", file=sys.stderr)
        return 2
    _say(f"demo: {obj} (clang) on {args.target}"
         + (" (the first run builds the Verilated NIC: a few minutes)"
            if args.target == "rtl" else ""))
    host_ip = port_addresses(0)["host_ip"]
    try:
        with open_live_nic(image, args.target) as nic, \
                Attachment(nic, LIVE_NAME, pcap_out=str(captures)) as attachment:
            loop = threading.Thread(target=attachment.run)
            loop.start()
            try:
                steps = _live_steps(host_ip)
            finally:
                attachment.stop()
                loop.join()
            counters = dict(attachment.counters)
    except (AttachError, LiveError) as exc:
        print(f"xdpnic demo: {exc}", file=sys.stderr)
        return 2
    _say("NIC counters: " + ", ".join(f"{k} {v}" for k, v in sorted(counters.items())))
    _say(f"captures in {captures}/: port0-rx.pcap (into the NIC), port0-pass.pcap (to the "
         f"host), port0-tx.pcap (onto the cable); e.g. tcpdump -nr {captures}/port0-rx.pcap")
    report = {"program": str(obj), "target": args.target, "steps": steps,
              "counters": counters, "captures": str(captures)}
    (out / "result.json").write_text(json.dumps(report, indent=2) + "\n")
    if args.json:
        print(json.dumps(report, indent=2))
    ok = steps["before"] > 0 and steps["blocked"] == 0 and steps["after"] > 0
    if not ok:
        print("xdpnic demo: the pings did not behave as the firewall should "
              f"({steps})", file=sys.stderr)
    return 0 if ok else 1


def _live_steps(host_ip: str) -> dict:
    _say("\n# 1. the firewall passes everything while its blocklist is empty")
    before, _ = _ping(3, host_ip, 5)
    _say(f"\n# 2. block the sender ({BLOCKED.replace(' ', '.')}) with a map update")
    _map(f"update blocklist key {BLOCKED} value 0 0 0 0 0 0 0 0")
    _say("\n# 3. the pings stop: the NIC drops them")
    blocked, _ = _ping(3, host_ip, 1)
    _say("\n# 4. the map counted them; stats holds passed (key 0) and dropped (key 1)")
    _map("dump blocklist")
    _map("dump stats")
    _say("\n# 5. unblock, and the pings come back")
    _map(f"delete blocklist key {BLOCKED}")
    after, _ = _ping(2, host_ip, 5)
    _say("")
    return {"before": before, "blocked": blocked, "after": after}
