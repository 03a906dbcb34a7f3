"""Measure the XDP programs: static size, and instructions executed per packet on the golden
model for representative packets (with the maps configured as an operator would), beside the
instruction counts hXDP published for the same programs.  ``--kernel`` adds the Linux
kernel's time per packet (``BPF_PROG_TEST_RUN``, JIT on when the host enables it).  Caveat:
the kernel's repeated test run hands each run the frame and maps the previous run left, so
for programs that resize the frame (adjust_tail, tx_iptunnel, lb) or open state on the first
packet (fw, lb) only the first of the ``--repeat`` runs takes the path the row names.
``--rtl`` adds the cycles each packet takes on the Verilated NIC (first beat in to verdict),
the same scenario loaded by the host driver (``sim.fast``).

    python -m firmware.progs.measure [--json] [--kernel] [--rtl] [--markdown]

The table in docs/firmware.md is this command's ``--markdown`` output.
"""

import argparse
import json
import socket
import struct
import sys
import tempfile
from dataclasses import dataclass, field

from ..ebpf.machine import XdpAction, ifindex_port
from ..ebpf.model_helpers import EngineState
from ..ebpf.model_maps import MapSet
from ..ebpf.xdp import run_frame
from ..program import load_program
from .build import PROGRAMS, build_all

__all__ = ["HXDP_INSNS", "Scenario", "SCENARIOS", "static_count", "measure"]

# Instruction counts of the same programs in hXDP (Brunella et al., OSDI 2020, table 2).
HXDP_INSNS = {"xdp1": 61, "xdp2": 78, "xdp_adjust_tail": 117, "xdp_router_ipv4": 119,
              "xdp_rxq_info": 81, "xdp_tx_iptunnel": 283, "xdp_fw": 72, "xdp_lb": 268}


def _u32(n: int) -> bytes:
    return struct.pack("<I", n)


def _ip(addr: str) -> bytes:
    return socket.inet_aton(addr)


def _ip6(addr: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, addr)


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


@dataclass
class Scenario:
    """Map contents to install, then (label, frame, ingress ifindex, rx queue) to send in
    order; every packet is measured (state carries over, e.g. a connection opened by the
    first packet makes the second an established one)."""
    maps: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    packets: list[tuple[str, bytes, int, int]] = field(default_factory=list)


def _frames():
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    e = Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b")
    return {
        "udp": bytes(e / IP(src="192.0.2.1", dst="10.0.0.100") / UDP(sport=4000, dport=53)
                     / Raw(bytes(18))),
        "tcp_syn": bytes(e / IP(src="192.0.2.1", dst="10.0.0.100")
                         / TCP(sport=40000, dport=80, flags="S")),
        "tcp6_syn": bytes(e / IPv6(src="fd02::1", dst="fd00::100")
                          / TCP(sport=40000, dport=80, flags="S")),
        "tcp_ack": bytes(e / IP(src="192.0.2.1", dst="10.0.0.100")
                         / TCP(sport=40000, dport=80, flags="A") / Raw(bytes(6))),
        "tcp_other": bytes(e / IP(src="192.0.2.1", dst="10.0.0.100")
                           / TCP(sport=40000, dport=8080, flags="S")),
        "big": bytes(e / IP(src="192.0.2.1", dst="10.0.0.100") / UDP() / Raw(bytes(1000))),
        "routed": bytes(e / IP(src="192.0.2.1", dst="10.1.2.3") / UDP() / Raw(bytes(18))),
        "unrouted": bytes(e / IP(src="192.0.2.1", dst="203.0.113.1") / UDP()
                          / Raw(bytes(18))),
    }


def scenarios() -> dict[str, Scenario]:
    """The representative configuration and packets of every program."""
    f = _frames()
    vip80 = _ip("10.0.0.100") + struct.pack(">HBx", 80, 6)
    s = {
        "xdp_drop": Scenario(packets=[("UDP", f["udp"], 1, 0)]),
        "xdp_pass": Scenario(packets=[("UDP", f["udp"], 1, 0)]),
        "xdp_tx": Scenario(packets=[("UDP", f["udp"], 1, 0)]),
        "xdp1": Scenario(packets=[("IPv4/UDP", f["udp"], 1, 0)]),
        "xdp2": Scenario(packets=[("IPv4/UDP (TX)", f["udp"], 1, 0),
                                  ("IPv4/TCP (drop)", f["tcp_syn"], 1, 0)]),
        "xdp_adjust_tail": Scenario(packets=[("1042 B IPv4 (ICMP reply)", f["big"], 1, 0),
                                             ("64 B IPv4 (pass)", f["udp"], 1, 0)]),
        "xdp_router_ipv4": Scenario(
            maps=[("tx_port", _u32(1), _u32(2)),
                  ("routes", _u32(16) + _ip("10.1.0.0"), _ip("192.168.1.1") + _u32(1)),
                  ("neighbours", _ip("192.168.1.1"),
                   _mac("02:00:00:00:aa:01") + _mac("02:00:00:00:01:01"))],
            packets=[("forwarded", f["routed"], 1, 0), ("no route (pass)", f["unrouted"], 1, 0)]),
        "xdp_rxq_info": Scenario(maps=[("config_map", _u32(0), struct.pack("<3I", 1, 0, 0))],
                                 packets=[("drop, no options", f["udp"], 1, 0)]),
        "xdp_tx_iptunnel": Scenario(
            maps=[("vip2tnl", _ip("10.0.0.100") + bytes(12) + struct.pack(">HBB", 80, 6, 2),
                   _ip("192.168.0.1") + bytes(12) + _ip("192.168.0.10") + bytes(12)
                   + _mac("02:00:00:00:10:10") + struct.pack("<H", 2)),
                  ("vip2tnl", _ip6("fd00::100") + struct.pack(">HBB", 80, 6, 10),
                   _ip6("fd01::1") + _ip6("fd01::10") + _mac("02:00:00:00:16:16")
                   + struct.pack("<H", 10))],
            packets=[("IPv4 VIP (IPIP)", f["tcp_syn"], 1, 0),
                     ("IPv6 VIP (IPv6 in IPv6)", f["tcp6_syn"], 1, 0),
                     ("not a VIP (pass)", f["udp"], 1, 0)]),
        "xdp_fw": Scenario(
            maps=[("rules", _ip("10.0.0.100") + struct.pack(">HBx", 80, 6), struct.pack("<II", 1, 1))],
            packets=[("new connection (SYN)", f["tcp_syn"], 1, 0),
                     ("established", f["tcp_ack"], 1, 0),
                     ("no rule (drop)", f["tcp_other"], 1, 0)]),
        "xdp_lb": Scenario(
            maps=[("vips", vip80, _u32(0)), ("reals", _u32(1), _ip("192.168.10.1")),
                  ("lb_config", _u32(0), _mac("02:00:00:00:99:99") + bytes(2)
                   + _ip("172.16.0.1"))]
            + [("ring", _u32(slot), _u32(1)) for slot in range(64)],
            packets=[("new flow (ring)", f["tcp_syn"], 1, 0),
                     ("known flow (LRU hit)", f["tcp_ack"], 1, 0)]),
        "xdp_redirect_map": Scenario(maps=[("tx_port", _u32(0), _u32(2))],
                                     packets=[("UDP", f["udp"], 1, 0)]),
    }
    return s


SCENARIOS = scenarios


def static_count(insns) -> int:
    """Instructions in the program (an lddw is one instruction, as in llvm-objdump)."""
    return sum(1 for insn in insns if insn.spec is not None)


def _kernel_ns(image, scenario: Scenario, repeat: int) -> list[float | None]:
    from ..kernel.bpf import bpf_unavailable_reason
    from ..kernel.xdp import KernelXdp
    if bpf_unavailable_reason() is not None:
        return [None] * len(scenario.packets)
    out = []
    with KernelXdp(image.insns, image.maps, name=image.name) as xdp:
        for name, key, value in scenario.maps:
            xdp.update(name, key, value)
        for _label, frame, _ifindex, _queue in scenario.packets:
            out.append(xdp.time_per_packet(frame, repeat=repeat))
    return out


RTL_PORTS = 4      # the NIC build the firmware tests' rtl target uses


def _rtl_verdicts(image, scenario: Scenario) -> list[dict]:
    """The scenario on the Verilated NIC: each packet's verdict record."""
    import asyncio
    from sim import fast
    from ..driver.nic import Nic
    session = fast.Session(ports=RTL_PORTS)
    try:
        session.reset()
        nic = Nic(fast.driver_transport(session))
        asyncio.run(nic.load(image, clear_counters=True))
        for name, key, value in scenario.maps:
            asyncio.run(nic.maps[name].update(key, value))
        out = []
        for _label, frame, ifindex, _queue in scenario.packets:
            (verdict,) = session.exchange([(frame, ifindex_port(ifindex))]).decoded()
            out.append(verdict)
        return out
    finally:
        session.close()


def scenario_maps(image, scenario) -> MapSet:
    """The golden model's maps of ``image`` set as ``scenario`` says; ValueError naming the map
    the model refuses."""
    maps = MapSet(image.maps)
    for map_name, key, value in scenario.maps:
        err = maps.by_name(map_name).update(key, value, 0)
        if err:
            raise ValueError(f"{image.name}: the model cannot set {map_name}: error {err}")
    return maps


def measure(names=None, kernel: bool = False, repeat: int = 100_000,
            rtl: bool = False) -> list[dict]:
    """Build, load and run every program's scenario on the model; one record per program."""
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        objects = build_all(tmp, names)
        table = scenarios()
        for name, path in objects.items():
            image = load_program(path)
            scenario = table[name]
            maps = scenario_maps(image, scenario)
            engine = EngineState()
            packets = []
            for label, frame, ifindex, queue in scenario.packets:
                r = run_frame(image.insns, frame, ports=8, ingress_port=ifindex_port(ifindex),
                              rx_queue=queue, maps=maps, engine=engine)
                packets.append({"packet": label, "bytes": len(frame),
                                "verdict": XdpAction(r.r0 & 0xFFFFFFFF).name
                                if r.r0 is not None and (r.r0 & 0xFFFFFFFF) <= 4 else str(r.r0),
                                "insns_executed": r.insn_count})
            if kernel:
                for p, ns in zip(packets, _kernel_ns(image, scenario, repeat)):
                    p["kernel_ns"] = ns
            if rtl:
                for p, v in zip(packets, _rtl_verdicts(image, scenario)):
                    if v["insns"] != p["insns_executed"]:
                        raise RuntimeError(f"{name}, {p['packet']}: the RTL executed "
                                           f"{v['insns']} instructions, the model "
                                           f"{p['insns_executed']}")
                    p["rtl_cycles"] = v["cycles"]
            records.append({"program": name, "insns": static_count(image.insns),
                            "hxdp_insns": HXDP_INSNS.get(name), "maps": len(image.maps),
                            "packets": packets})
    return records


def markdown(records: list[dict]) -> str:
    kernel = any("kernel_ns" in p for r in records for p in r["packets"])
    rtl = any("rtl_cycles" in p for r in records for p in r["packets"])
    head = "| program | eBPF insns | hXDP insns | packet | verdict | insns executed |"
    rule = "|---|---:|---:|---|---|---:|"
    if rtl:
        head += " RTL cycles |"
        rule += "---:|"
    if kernel:
        head += " kernel ns/pkt |"
        rule += "---:|"
    lines = [head, rule]
    for r in records:
        for i, p in enumerate(r["packets"]):
            first = i == 0
            cells = [f"`{r['program']}`" if first else "", str(r["insns"]) if first else "",
                     str(r["hxdp_insns"] or "—") if first else "", p["packet"], p["verdict"],
                     str(p["insns_executed"])]
            if rtl:
                cells.append(str(p.get("rtl_cycles", "—")))
            if kernel:
                ns = p.get("kernel_ns")
                cells.append("—" if ns is None else f"{ns:.0f}")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m firmware.progs.measure",
        description="Instruction counts of the xdpnic XDP programs: static, executed per "
                    "representative packet on the golden model, and hXDP's published counts.")
    parser.add_argument("names", nargs="*", metavar="NAME", help="programs (default: all)")
    parser.add_argument("--kernel", action="store_true",
                        help="also time each packet in the kernel (BPF_PROG_TEST_RUN; see the "
                             "caveat in the module docstring)")
    parser.add_argument("--repeat", type=int, default=100_000,
                        help="kernel runs per packet for --kernel (default 100000)")
    parser.add_argument("--rtl", action="store_true",
                        help="also run each packet on the Verilated NIC: cycles from first "
                             "beat in to verdict (builds the simulator on first use)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in PROGRAMS]
    if unknown:
        print(f"measure: no program {', '.join(unknown)} (have: {', '.join(PROGRAMS)})",
              file=sys.stderr)
        return 2
    records = measure(args.names or None, args.kernel, args.repeat, args.rtl)
    if args.json:
        print(json.dumps(records, indent=2))
    elif args.markdown:
        print(markdown(records))
    else:
        for r in records:
            hxdp = f" (hXDP {r['hxdp_insns']})" if r["hxdp_insns"] else ""
            print(f"{r['program']:<18} {r['insns']:>4} insns{hxdp}")
            for p in r["packets"]:
                extra = f", kernel {p['kernel_ns']:.0f} ns" if p.get("kernel_ns") else ""
                print(f"    {p['packet']:<28} {p['verdict']:<9} {p['insns_executed']:>4} "
                      f"executed{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
