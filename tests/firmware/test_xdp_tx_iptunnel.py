"""xdp_tx_iptunnel: VIP traffic is encapsulated (IPv4 in IPv4, IPv6 in IPv6) toward its
tunnel endpoint and transmitted; the rest passes (or is dropped when cut short)."""

import socket
import struct

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw

from firmware.ebpf.machine import XdpAction

from .expect import array_entries, u64
from .packets import eth

AF_INET, AF_INET6 = 2, 10

# (vip, port, protocol) -> (outer source, outer destination, next-hop MAC); the family of
# each address decides the key's and the tunnel's family.
TUNNELS = {
    ("10.0.0.100", 80, 6): ("192.168.0.1", "192.168.0.10", "02:00:00:00:10:10"),
    ("10.0.0.100", 53, 17): ("192.168.0.1", "192.168.0.11", "02:00:00:00:11:11"),
    ("10.0.0.101", 443, 6): ("192.168.0.2", "192.168.0.12", "02:00:00:00:12:12"),
    ("fd00::100", 80, 6): ("fd01::1", "fd01::10", "02:00:00:00:16:16"),
    ("fd00::100", 53, 17): ("fd01::1", "fd01::11", "02:00:00:00:17:17"),
    # A v4 VIP with a v6 tunnel and the reverse: the program does not mix families.
    ("10.0.0.102", 80, 6): ("fd01::1", "fd01::12", "02:00:00:00:18:18"),
    ("fd00::102", 80, 6): ("192.168.0.1", "192.168.0.13", "02:00:00:00:19:19"),
}


def family(addr: str) -> int:
    return AF_INET6 if ":" in addr else AF_INET


def addr16(addr: str) -> bytes:
    """An address as the maps hold it: 16 bytes, IPv4 in the first 4."""
    if family(addr) == AF_INET6:
        return socket.inet_pton(socket.AF_INET6, addr)
    return socket.inet_aton(addr) + bytes(12)


def vip_key(addr, port, proto) -> bytes:
    return addr16(addr) + struct.pack(">HB", port, proto) + bytes([family(addr)])


def tunnel_value(saddr, daddr, dmac) -> bytes:
    return addr16(saddr) + addr16(daddr) + bytes.fromhex(dmac.replace(":", "")) + \
        struct.pack("<H", family(daddr))


def configure(target, tunnels=TUNNELS):
    for key, value in tunnels.items():
        target.update("vip2tnl", vip_key(*key), tunnel_value(*value))


def transport(frame: bytes, offset: int, proto: int):
    """The destination port (0 for protocols without one), or None when cut short."""
    if proto not in (6, 17):
        return 0
    if len(frame) < offset + (20 if proto == 6 else 8):
        return None
    return struct.unpack_from(">H", frame, offset + 2)[0]


def expected(frame: bytes, tunnels=TUNNELS):
    """(action, frame, protocol counted) derived with scapy."""
    ethertype = frame[12:14]
    if ethertype == b"\x08\x00":
        if len(frame) < 34:
            return XdpAction.DROP, None, None
        ip = Ether(frame)[IP]
        if ip.ihl != 5:
            return XdpAction.PASS, frame, None
        proto, dst, length, l4 = ip.proto, ip.dst, ip.len, 34
    elif ethertype == b"\x86\xdd":
        if len(frame) < 54:
            return XdpAction.DROP, None, None
        ip6 = Ether(frame)[IPv6]
        if ip6.nh not in (6, 17):
            return XdpAction.PASS, frame, None
        proto, dst, length, l4 = ip6.nh, ip6.dst, ip6.plen, 54
    else:
        return XdpAction.PASS, frame, None
    dport = transport(frame, l4, proto)
    if dport is None:
        return XdpAction.DROP, None, None
    tunnel = tunnels.get((dst, dport, proto))
    if tunnel is None or family(tunnel[1]) != family(dst):
        return XdpAction.PASS, frame, None
    saddr, daddr, dmac = tunnel
    if family(dst) == AF_INET:
        outer = (Ether(dst=dmac, src=Ether(frame).dst, type=0x0800)
                 / IP(version=4, ihl=5, tos=0, len=(length + 20) & 0xFFFF, id=0, flags=0,
                      frag=0, ttl=8, proto=4, src=saddr, dst=daddr)
                 / Raw(frame[14:]))
    else:
        outer = (Ether(dst=dmac, src=Ether(frame).dst, type=0x86DD)
                 / IPv6(version=6, tc=0, fl=0, plen=(length + 40) & 0xFFFF, nh=41, hlim=8,
                        src=saddr, dst=daddr)
                 / Raw(frame[14:]))
    return XdpAction.TX, bytes(outer), proto


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
        eth() / IPv6(src="fd02::7", dst="fd00::100") / TCP(sport=7, dport=80) / "GET /",
        eth() / IPv6(src="fd02::7", dst="fd00::100", tc=0x20, fl=0x12345) / UDP(dport=53)
        / Raw(bytes(64)),
        eth() / IPv6(dst="fd00::100") / TCP(dport=81),          # v6 VIP, other port
        eth() / IPv6(dst="fd00::101") / TCP(dport=80),          # not a VIP
        eth() / IPv6(dst="fd00::100") / ICMPv6EchoRequest(),    # no port
        eth() / IPv6(dst="fd00::100", nh=0) / Raw(bytes(8)),    # extension header
        eth() / IP(dst="10.0.0.102") / TCP(dport=80),           # v4 VIP, v6 tunnel: pass
        eth() / IPv6(dst="fd00::102") / TCP(dport=80),          # v6 VIP, v4 tunnel: pass
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
        bytes(eth() / IPv6(dst="fd00::100") / TCP(dport=80))[:14 + 40 + 19],
        bytes(eth() / IPv6(dst="fd00::100", nh=17) / Raw(bytes(7))),
        bytes(eth() / IPv6(dst="fd00::100") / TCP(dport=80))[:14 + 39],
        # A header whose length field lies: the outer length wraps as the program's u16 does.
        bytes(eth() / IP(dst="10.0.0.100", len=0xFFF0) / TCP(dport=80)),
        bytes(eth() / IPv6(dst="fd00::100", plen=0xFFF0) / TCP(dport=80)),
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
    assert counted == {6: 6, 17: 2}
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
    assert set(target.entries("vip2tnl")) == {vip_key(*k) for k in TUNNELS
                                              if k != ("10.0.0.100", 80, 6)}


def test_every_truncation_of_vip_packets(make_target):
    target = make_target("xdp_tx_iptunnel")
    configure(target)
    fulls = [bytes(eth() / IP(dst="10.0.0.100") / TCP(dport=80)),
             bytes(eth() / IPv6(dst="fd00::100") / UDP(dport=53))]
    frames = [full[:n] for full in fulls for n in range(14, len(full) + 1)]
    assert run(target, frames) == {6: 1, 17: 1}
