"""xdp_router_ipv4: LPM routes, neighbour MACs, TTL decrement with an incremental checksum,
redirect through the devmap; the host gets what the fast path does not handle."""

import socket
import struct

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw

from firmware.ebpf.machine import XdpAction

from .expect import u64
from .packets import eth

FORWARDED, TO_HOST, MALFORMED = range(3)

# port -> ifindex, as the NIC numbers them (port p is ifindex p + 1); in the kernel these are
# lo, ifb0 and ifb1 of the host namespace (a devmap entry needs an existing device).
PORTS = {0: 1, 1: 2, 2: 3}
PORT_MAC = {1: "02:00:00:00:01:01", 2: "02:00:00:00:02:02"}
ROUTES = [  # prefix, length, gateway (None: on-link), port
    ("10.0.0.0", 8, "192.168.1.1", 1),
    ("10.1.0.0", 16, None, 2),
    ("10.1.2.0", 24, "192.168.1.2", 1),      # gateway without a neighbour entry
    ("172.16.0.0", 12, "192.168.1.1", 5),    # port 5 has no devmap entry
    ("198.51.100.7", 32, None, 0),
]
NEIGHBOURS = {"192.168.1.1": ("02:00:00:00:aa:01", 1), "10.1.0.5": ("02:00:00:00:bb:05", 2),
              "198.51.100.7": ("02:00:00:00:cc:07", 1)}


def ip4(addr: str) -> bytes:
    return socket.inet_aton(addr)


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def configure(target):
    for port, ifindex in PORTS.items():
        target.update("tx_port", struct.pack("<I", port), struct.pack("<I", ifindex))
    for prefix, length, gateway, port in ROUTES:
        target.update("routes", struct.pack("<I", length) + ip4(prefix),
                      ip4(gateway or "0.0.0.0") + struct.pack("<I", port))
    for addr, (dmac, port) in NEIGHBOURS.items():
        target.update("neighbours", ip4(addr), mac(dmac) + mac(PORT_MAC[port]))


def expected(frame: bytes):
    """(action, frame, egress port, stat) from an independent walk of the route table."""
    if frame[12:14] != b"\x08\x00":
        return XdpAction.PASS, frame, None, TO_HOST
    if len(frame) < 34:
        return XdpAction.DROP, None, None, MALFORMED
    pkt = Ether(frame)
    if pkt[IP].ihl != 5 or pkt[IP].ttl <= 1:
        return XdpAction.PASS, frame, None, TO_HOST
    dst = struct.unpack(">I", ip4(pkt[IP].dst))[0]
    best = None
    for prefix, length, gateway, port in ROUTES:
        mask = (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF
        if dst & mask == struct.unpack(">I", ip4(prefix))[0] and \
                (best is None or length > best[1]):
            best = (prefix, length, gateway, port)
    if best is None:
        return XdpAction.PASS, frame, None, TO_HOST
    next_hop = best[2] or pkt[IP].dst
    if next_hop not in NEIGHBOURS:
        return XdpAction.PASS, frame, None, TO_HOST
    dmac, link = NEIGHBOURS[next_hop]
    if best[3] not in PORTS:
        return XdpAction.DROP, None, None, FORWARDED
    pkt.dst, pkt.src = dmac, PORT_MAC[link]
    pkt[IP].ttl -= 1
    del pkt[IP].chksum      # scapy recomputes it from scratch
    return XdpAction.REDIRECT, bytes(pkt), PORTS[best[3]], FORWARDED


def frame_to(dst: str, **ip) -> bytes:
    return bytes(eth() / IP(src="192.0.2.9", dst=dst, **ip) / UDP(sport=9, dport=7)
                 / Raw(b"payload!"))


TRAFFIC = [
    frame_to("10.200.0.1"),                  # /8 via 192.168.1.1, port 1
    frame_to("10.1.0.5", ttl=2),             # /16 on-link, port 2; TTL 2 -> 1 is forwarded
    frame_to("10.1.0.6"),                    # /16 on-link, no neighbour: host
    frame_to("10.1.2.3"),                    # /24 wins over /16 and /8; no neighbour: host
    frame_to("172.20.1.1"),                  # routed to a port without a device: dropped
    frame_to("198.51.100.7"),                # host route /32, port 0
    frame_to("203.0.113.1"),                 # no route: host
    frame_to("10.200.0.1", ttl=1),           # TTL expires: host
    frame_to("10.200.0.1", ttl=0),
    frame_to("10.200.0.1", flags="MF", frag=100),   # fragments are forwarded like the rest
    bytes(eth() / IP(dst="10.200.0.1", options=b"\x01\x01\x01\x00") / TCP()),  # options
    bytes(eth() / IP(src="192.0.2.9", dst="10.200.0.2", ttl=255) / ICMP()),
    bytes(eth() / IPv6() / UDP()),
    bytes(eth() / Dot1Q(vlan=3) / IP(dst="10.200.0.1") / UDP()),
    bytes(eth() / ARP(pdst="10.200.0.1")),
    frame_to("10.200.0.1")[:14 + 19],        # IPv4 header cut short
    frame_to("10.200.0.1")[:14],
]


def run_traffic(target, frames):
    stats = [0, 0, 0]
    for frame in frames:
        action, want, ifindex, stat = expected(frame)
        out = target.run(frame)
        assert (out.action_name, out.frame) == (XdpAction(action).name, want), frame.hex()
        if target.observes_redirect:
            assert out.redirect_ifindex == ifindex
        stats[stat] += 1
    return stats


def test_routes_and_slow_paths(make_target):
    target = make_target("xdp_router_ipv4")
    configure(target)
    stats = run_traffic(target, TRAFFIC)
    assert stats == [6, 9, 2]
    assert target.entries("stats") == {struct.pack("<I", i): u64(n) for i, n in enumerate(stats)}


def test_route_changes_between_frames(make_target):
    target = make_target("xdp_router_ipv4")
    configure(target)
    frame = frame_to("10.1.2.3")
    assert target.run(frame).action == XdpAction.PASS           # /24: gateway unresolved
    NEIGHBOURS["192.168.1.2"] = ("02:00:00:00:aa:02", 1)
    try:
        target.update("neighbours", ip4("192.168.1.2"),
                      mac("02:00:00:00:aa:02") + mac(PORT_MAC[1]))
        run_traffic(target, [frame])                            # now forwarded
        assert target.delete("routes", struct.pack("<I", 24) + ip4("10.1.2.0"))
        ROUTES_BEFORE = list(ROUTES)
        ROUTES.remove(("10.1.2.0", 24, "192.168.1.2", 1))
        try:
            out = target.run(frame)                             # back to the /16, on-link
            assert out.action == XdpAction.PASS                 # 10.1.2.3 has no neighbour
            assert run_traffic(target, [frame_to("10.1.0.5")]) == [1, 0, 0]
        finally:
            ROUTES[:] = ROUTES_BEFORE
    finally:
        del NEIGHBOURS["192.168.1.2"]


def with_checksum(target_csum: int) -> bytes:
    """A frame to 10.200.0.1 whose IPv4 checksum is ``target_csum``, to pin the
    end-around-carry corners of the incremental update.  The id field is solved for in
    one's-complement arithmetic, and scapy's checksum of the result is checked."""
    def build(ident):
        return bytes(eth() / IP(src="192.0.2.9", dst="10.200.0.1", id=ident) / UDP())

    def fold(x):
        while x >> 16:
            x = (x & 0xFFFF) + (x >> 16)
        return x

    base = Ether(build(0))[IP].chksum             # sum without the id is ~base
    ident = fold((~target_csum & 0xFFFF) + base)  # wanted sum minus the base sum
    frame = build(ident)
    assert Ether(frame)[IP].chksum == target_csum, (hex(base), hex(ident))
    return frame


@pytest.mark.parametrize("csum", [0x0000, 0x00FF, 0xFEFF, 0xFF00, 0xFFFE, 0x0100])
def test_incremental_checksum_matches_a_full_recompute(make_target, csum):
    target = make_target("xdp_router_ipv4")
    configure(target)
    assert run_traffic(target, [with_checksum(csum)]) == [1, 0, 0]
