"""xdp_tx_iptunnel: VIP traffic is IP-in-IP encapsulated toward its tunnel endpoint and
transmitted; the rest passes (or is dropped when cut short)."""

import socket
import struct

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw

from firmware.ebpf.machine import XdpAction

from .expect import array_entries, u64
from .packets import eth

# (vip, port, protocol) -> (outer source, outer destination, next-hop MAC)
TUNNELS = {
    ("10.0.0.100", 80, 6): ("192.168.0.1", "192.168.0.10", "02:00:00:00:10:10"),
    ("10.0.0.100", 53, 17): ("192.168.0.1", "192.168.0.11", "02:00:00:00:11:11"),
    ("10.0.0.101", 443, 6): ("192.168.0.2", "192.168.0.12", "02:00:00:00:12:12"),
}


def vip_key(addr, port, proto) -> bytes:
    return socket.inet_aton(addr) + struct.pack(">HBx", port, proto)


def tunnel_value(saddr, daddr, dmac) -> bytes:
    return socket.inet_aton(saddr) + socket.inet_aton(daddr) + \
        bytes.fromhex(dmac.replace(":", "")) + bytes(2)


def configure(target, tunnels=TUNNELS):
    for key, value in tunnels.items():
        target.update("vip2tnl", vip_key(*key), tunnel_value(*value))


def expected(frame: bytes, tunnels=TUNNELS):
    """(action, frame, protocol counted) derived with scapy."""
    if frame[12:14] != b"\x08\x00":
        return XdpAction.PASS, frame, None
    if len(frame) < 34:
        return XdpAction.DROP, None, None
    pkt = Ether(frame)
    ip = pkt[IP]
    if ip.ihl != 5:
        return XdpAction.PASS, frame, None
    l4 = frame[34:]
    if ip.proto in (6, 17):
        if len(l4) < (20 if ip.proto == 6 else 8):
            return XdpAction.DROP, None, None
        dport = struct.unpack_from(">H", l4, 2)[0]
    else:
        dport = 0
    tunnel = tunnels.get((ip.dst, dport, ip.proto))
    if tunnel is None:
        return XdpAction.PASS, frame, None
    saddr, daddr, dmac = tunnel
    outer = (Ether(dst=dmac, src=pkt.dst, type=0x0800)
             / IP(version=4, ihl=5, tos=0, len=(ip.len + 20) & 0xFFFF, id=0, flags=0, frag=0,
                  ttl=8, proto=4, src=saddr, dst=daddr)
             / Raw(frame[14:]))
    return XdpAction.TX, bytes(outer), ip.proto


def traffic():
    frames = [
        eth() / IP(src="203.0.113.5", dst="10.0.0.100") / TCP(sport=5555, dport=80) / "GET /",
        eth() / IP(src="203.0.113.5", dst="10.0.0.100", tos=0xB8) / UDP(sport=9, dport=53)
        / Raw(bytes(100)),
        eth() / IP(src="203.0.113.6", dst="10.0.0.101", ttl=1) / TCP(dport=443, flags="S"),
        eth() / IP(dst="10.0.0.100") / TCP(dport=81),           # VIP, other port
        eth() / IP(dst="10.0.0.100") / UDP(dport=80),           # VIP port, other protocol
        eth() / IP(dst="10.0.0.102") / TCP(dport=80),           # not a VIP
        eth() / IP(dst="10.0.0.100") / ICMP(),                  # no port: not a VIP key
        eth() / IP(dst="10.0.0.100", options=b"\x01\x01\x01\x00") / TCP(dport=80),
        eth() / IPv6() / TCP(dport=80),
        eth() / Dot1Q() / IP(dst="10.0.0.100") / TCP(dport=80),
        eth() / ARP(),
    ]
    frames = [bytes(f) for f in frames]
    tcp = frames[0]
    frames += [
        tcp + bytes(10),                        # Ethernet padding after the datagram
        tcp[:14 + 20 + 19],                     # TCP header cut short
        bytes(eth() / IP(dst="10.0.0.100", proto=17) / Raw(bytes(7))),  # UDP cut short
        tcp[:14 + 19],                          # IPv4 header cut short
        # A header whose length field lies: the outer length wraps as the program's u16 does.
        bytes(eth() / IP(dst="10.0.0.100", len=0xFFF0) / TCP(dport=80)),
    ]
    return frames


def run(target, frames, tunnels=TUNNELS):
    counted = {}
    for frame in frames:
        action, want, proto = expected(frame, tunnels)
        out = target.run(frame)
        assert (out.action_name, out.frame) == (XdpAction(action).name, want), frame.hex()
        if proto is not None:
            counted[proto] = counted.get(proto, 0) + 1
    return counted


def test_vip_traffic_is_encapsulated(make_target):
    target = make_target("xdp_tx_iptunnel")
    configure(target)
    counted = run(target, traffic())
    assert counted == {6: 4, 17: 1}
    assert target.entries("rxcnt") == array_entries(
        256, {p: u64(n) for p, n in counted.items()}, 8)


def test_outer_header_checks_out(make_target):
    target = make_target("xdp_tx_iptunnel")
    configure(target)
    frame = traffic()[1]
    out = Ether(target.run(frame).frame)
    assert (out[IP].src, out[IP].dst, out[IP].proto, out[IP].ttl) == \
        ("192.168.0.1", "192.168.0.11", 4, 8)
    check = out[IP].chksum
    del out[IP].chksum
    assert Ether(bytes(out))[IP].chksum == check
    assert bytes(out[IP].payload) == frame[14:]


def test_vips_added_and_removed_between_frames(make_target):
    target = make_target("xdp_tx_iptunnel")
    frame = traffic()[0]
    assert run(target, [frame], {}) == {}                   # no VIPs yet: passes
    configure(target)
    assert run(target, [frame]) == {6: 1}
    assert target.delete("vip2tnl", vip_key("10.0.0.100", 80, 6))
    assert run(target, [frame], {k: v for k, v in TUNNELS.items()
                                 if k != ("10.0.0.100", 80, 6)}) == {}
    assert set(target.entries("vip2tnl")) == {vip_key("10.0.0.100", 53, 17),
                                              vip_key("10.0.0.101", 443, 6)}
