"""``xdpnic attach PROG``: the simulated NIC behind Linux interfaces, until Ctrl-C.

Builds two network namespaces (``NAME``: the network on the ports' cables, interfaces
``wire<P>``; ``NAME-host``: the host, interfaces ``xdpnic<P>``), runs every frame the kernel
sends on ``wire<P>`` through the program on the RTL (or the golden model), delivers
``XDP_PASS`` frames to the host and ``XDP_TX``/``XDP_REDIRECT`` frames back onto the cables,
and serves ``xdpnic map`` on a control socket.  Ctrl-C (or SIGTERM) removes the namespaces,
interfaces, socket and simulator.  See docs/attach.md.
"""

import json
import sys

from ..ebpf import machine

__all__ = ["register", "main"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "attach", help="run an XDP program on the simulated NIC behind Linux interfaces",
        description="Attach PROG to the simulated NIC and put the NIC's ports behind TAP "
                    "interfaces: namespace NAME holds the far ends of the ports' cables "
                    "(wire0, wire1: 169.254.77.1, 169.254.78.1), namespace NAME-host the host "
                    "the NIC serves (xdpnic0, xdpnic1: 169.254.77.2, 169.254.78.2). Frames sent "
                    "on wireN run through the program; XDP_PASS reaches the host, XDP_TX and "
                    "XDP_REDIRECT go back out on the port's cable. Try 'ip netns exec NAME "
                    "ping 169.254.77.2' and 'xdpnic map dump MAP'. Runs until Ctrl-C, then "
                    "removes everything it made. Needs root. Exit status 0, 2 on bad input.")
    p.add_argument("program", metavar="PROG",
                   help="assembly file, raw bytecode (.bin) or clang -target bpf object")
    p.add_argument("--target", default="rtl", choices=("rtl", "model"),
                   help="what processes the frames (default: rtl, the Verilated NIC)")
    p.add_argument("--name", default="xdpnic",
                   help="namespace name (NAME and NAME-host; default xdpnic); 'xdpnic map "
                        "--name' finds the NIC by it")
    p.add_argument("--section", help="program to pick from an object with several")
    p.add_argument("--ports", type=int, default=2, help="NIC ports (default 2)")
    p.add_argument("--budget", type=int, default=machine.DEFAULT_INSN_BUDGET,
                   help="instruction budget per frame")
    p.add_argument("--maps", action="append", default=[], metavar="[NAME=]FILE.json",
                   help="initial map entries, as 'xdpnic run --maps'")
    p.add_argument("--map", action="append", default=[], nargs="+", metavar="ARG",
                   dest="map_updates",
                   help="an initial map entry, as 'xdpnic run --map' (bpftool map update "
                        "syntax)")
    p.add_argument("--pcap-out", metavar="DIR",
                   help="write portN-rx.pcap (frames in), portN-tx.pcap (frames out on the "
                        "cable) and portN-pass.pcap (frames to the host) as they go")
    p.add_argument("--duration", type=float, metavar="SECONDS",
                   help="detach after this long (default: run until Ctrl-C)")
    p.add_argument("--quiet", action="store_true", help="no live summary line")
    p.add_argument("--json", action="store_true",
                   help="print the attachment (when ready) and the final counters as JSON")
    p.set_defaults(func=main)


def main(args) -> int:
    from hw.regs import MAX_PORTS
    from sim.attach import AttachError, Attachment, install_signal_handlers, print_summary_line
    from sim.live import LiveError, open_live_nic

    from ..driver.map_entries import MapEntryError, parse_update, read_dump_file
    from ..program import ProgramError, load_program

    def fail(message: str) -> int:
        print(f"xdpnic attach: {message}", file=sys.stderr)
        return 2

    if not 2 <= args.ports <= MAX_PORTS:
        return fail(f"--ports must be 2..{MAX_PORTS} (the NIC's range), not {args.ports}")
    if args.duration is not None and args.duration <= 0:
        return fail(f"--duration must be positive, not {args.duration}")
    refusal = Attachment.refusal(args.name)
    if refusal:
        return fail(refusal)
    try:
        image = load_program(args.program, args.section)
        entries = [e for arg in args.maps for e in read_dump_file(arg, image.maps)]
        entries += [parse_update(tokens, image.maps) for tokens in args.map_updates]
    except (ProgramError, MapEntryError) as exc:
        return fail(str(exc))
    try:
        nic = open_live_nic(image, args.target, args.ports, args.budget)
    except LiveError as exc:
        return fail(str(exc))
    live_summary = None
    if not args.quiet and not args.json and sys.stderr.isatty():
        live_summary = print_summary_line
    with nic:
        try:
            nic.apply(entries)
            with Attachment(nic, args.name, pcap_out=args.pcap_out,
                            summary=live_summary) as attachment:
                install_signal_handlers(attachment)
                _ready(attachment, args.json)
                attachment.run(args.duration)
                counters = dict(attachment.counters)
        except (AttachError, LiveError) as exc:
            return fail(str(exc))
    if live_summary is not None:
        print(file=sys.stderr)
    _final(args, counters)
    return 0


def _ready(attachment, as_json: bool) -> None:
    """The line a user (or a test) waits for: everything is in place."""
    info = attachment.describe()
    if as_json:
        print(json.dumps({"ready": info}), flush=True)
        return
    print(f"attached {info['program']} on {info['target']} as {info['name']!r}:", flush=True)
    for a in info["interfaces"]:
        print(f"  port: {a['wire_if']} {a['wire_ip']} (netns {info['namespaces']['wire']}) "
              f"<-> NIC <-> {a['host_if']} {a['host_ip']} (netns {info['namespaces']['host']})")
    print(f"  try: ip netns exec {info['name']} ping {info['interfaces'][0]['host_ip']}")
    if info["maps"]:
        print(f"       xdpnic map --name {info['name']} dump {info['maps'][0]}")
    print("  Ctrl-C detaches and removes the namespaces", flush=True)


def _final(args, counters: dict) -> None:
    from ..ebpf.xdp import Disposition
    if args.json:
        # every counter, zeros included, so that a script reads any key it knows of
        names = (["received", *Disposition.ALL, "host_tx"]
                 + [f"port{p}_{d}" for p in range(args.ports) for d in ("rx", "tx")])
        print(json.dumps({"counters": {n: counters.get(n, 0) for n in names}}), flush=True)
        return
    print(f"detached {args.name!r}; namespaces and interfaces removed")
    print(f"  {'received':<10} {counters.get('received', 0):>8}")
    for d in Disposition.ALL:
        print(f"  {d:<10} {counters.get(d, 0):>8}")
    for p in range(args.ports):
        print(f"  port{p}     rx {counters.get(f'port{p}_rx', 0):>6}  xdp-out "
              f"{counters.get(f'port{p}_tx', 0):>6}")
    print(f"  host-tx    {counters.get('host_tx', 0):>8}")
    if args.pcap_out:
        print(f"captures in {args.pcap_out}/ (portN-rx.pcap, portN-tx.pcap, portN-pass.pcap)")
