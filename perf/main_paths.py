"""The path each firmware program is measured on: a packet of its scenario in
:mod:`firmware.progs.measure`, repeated, after warm-up packets when the path needs state; the
frame grown to each size; the golden model's instruction count for it."""

from dataclasses import dataclass

from .linerate import FCS

__all__ = ["MainPath", "MAIN_PATHS", "ReportError", "PORTS", "parse_programs", "sized_frame",
           "scenario_packet", "model_insns"]

PORTS = 2               # the report's NIC: two ports, the traffic into port 0


@dataclass(frozen=True)
class MainPath:
    """The path a program is benchmarked on: ``packet`` (a label of its scenario in
    :func:`firmware.progs.measure.scenarios`) repeated, after the ``warmup`` packets (state
    they leave, e.g. an open connection, makes ``packet`` take this path); ``workload`` names
    the anchors it is compared with."""
    label: str
    packet: str
    warmup: tuple[str, ...] = ()
    workload: str | None = None


MAIN_PATHS = {
    "xdp_drop": MainPath("UDP, dropped", "UDP", workload="drop"),
    "xdp_pass": MainPath("UDP, to the host", "UDP"),
    "xdp_tx": MainPath("UDP, MACs swapped, sent back", "UDP", workload="tx"),
    "xdp1": MainPath("IPv4/UDP, counted and dropped", "IPv4/UDP"),
    "xdp2": MainPath("IPv4/UDP, counted, MACs swapped, sent back", "IPv4/UDP (TX)"),
    # Below 1042 bytes the frame passes; from there on it is answered (ICMP "too big").
    "xdp_adjust_tail": MainPath("IPv4/UDP (passes when short, answered when long)",
                                 "64 B IPv4 (pass)"),
    "xdp_router_ipv4": MainPath("routed IPv4 (LPM, neighbour), redirected", "forwarded"),
    "xdp_rxq_info": MainPath("UDP, counted, dropped", "drop, no options"),
    "xdp_tx_iptunnel": MainPath("IPv4 VIP, IPIP-encapsulated, sent back", "IPv4 VIP (IPIP)"),
    "xdp_fw": MainPath("established TCP connection, passed", "established",
                        ("new connection (SYN)",), workload="firewall"),
    "xdp_lb": MainPath("known flow (LRU hit), encapsulated, sent back",
                        "known flow (LRU hit)", ("new flow (ring)",)),
    "xdp_redirect_map": MainPath("UDP, MACs swapped, redirected (devmap)", "UDP",
                                  workload="redirect"),
}


class ReportError(ValueError):
    """Bad report input (program, size, engines), named plainly."""


def parse_programs(text: str | None) -> list[str]:
    """``"xdp_drop,xdp_fw"`` -> the names, in the order given; None or empty -> every program.
    ReportError naming an unknown one."""
    from firmware.progs.build import PROGRAMS
    if not text:
        return list(PROGRAMS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in PROGRAMS]
    if unknown or not names:
        raise ReportError(f"--programs: no program {', '.join(unknown) or '(empty)'} "
                          f"(have: {', '.join(PROGRAMS)})")
    return names


def sized_frame(frame: bytes, size: int) -> bytes:
    """``frame`` grown to ``size`` bytes on the wire (``size - 4`` here, no FCS) by zero bytes
    of layer-4 payload, IPv4/IPv6/UDP lengths and checksums recomputed, so a program sees a
    datagram of that size and not Ethernet padding.  ReportError when it is already longer."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    want = size - FCS
    if len(frame) > want:
        raise ReportError(f"the frame is {len(frame) + FCS} bytes with FCS, more than {size}")
    if len(frame) == want:
        return bytes(frame)
    pkt = Ether(frame)
    for layer, fields in ((IP, ("len", "chksum")), (IPv6, ("plen",)), (UDP, ("len", "chksum")),
                          (TCP, ("chksum",))):
        if layer in pkt:
            for name in fields:
                delattr(pkt[layer], name)
    out = bytes(pkt / Raw(bytes(want - len(frame))))
    if len(out) != want:            # trailing Ethernet padding in the template would do this
        raise ReportError(f"cannot grow a {len(frame)}-byte frame to {want} bytes")
    return out



def scenario_packet(scenario, label: str, program: str) -> tuple[bytes, int]:
    for name, frame, ifindex, _queue in scenario.packets:
        if name == label:
            return frame, ifindex
    raise ReportError(f"{program}: its scenario has no packet {label!r}")


def model_insns(image, scenario, path: MainPath, frame: bytes, repeat: int = 2) -> list[int]:
    """Instructions the golden model executes for ``frame`` sent ``repeat`` times after the
    warm-up packets, with the scenario's maps (the RTL's counts must equal these)."""
    from firmware.ebpf.machine import ifindex_port
    from firmware.ebpf.model_helpers import EngineState
    from firmware.ebpf.xdp import run_frame
    from firmware.progs.measure import scenario_maps
    try:
        maps = scenario_maps(image, scenario)
    except ValueError as exc:
        raise ReportError(str(exc)) from None
    engine = EngineState()
    for label in path.warmup:
        warm, ifindex = scenario_packet(scenario, label, image.name)
        run_frame(image.insns, warm, ports=PORTS, ingress_port=ifindex_port(ifindex),
                  maps=maps, engine=engine)
    _frame, ifindex = scenario_packet(scenario, path.packet, image.name)
    return [run_frame(image.insns, frame, ports=PORTS, ingress_port=ifindex_port(ifindex),
                      maps=maps, engine=engine).insn_count for _ in range(repeat)]

