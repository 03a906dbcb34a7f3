"""Scapy frames the firmware tests share: the representative traffic and its malformed and
truncated variants.  Expected outputs are computed from these with scapy in each test."""

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
from scapy.packet import Raw

__all__ = ["MAC_A", "MAC_B", "eth", "mixed_traffic", "swap_macs"]

MAC_A = "02:00:00:00:00:0a"     # the sender
MAC_B = "02:00:00:00:00:0b"     # the NIC's port


def eth(ethertype: int | None = None) -> Ether:
    return Ether(src=MAC_A, dst=MAC_B) if ethertype is None else \
        Ether(src=MAC_A, dst=MAC_B, type=ethertype)


def swap_macs(frame: bytes) -> bytes:
    """The frame with its Ethernet source and destination exchanged (computed by scapy)."""
    pkt = Ether(frame)
    pkt.src, pkt.dst = pkt.dst, pkt.src
    return bytes(pkt)


def mixed_traffic() -> list[bytes]:
    """Frames of every kind a parser meets: IPv4 and IPv6 over TCP/UDP/ICMP, VLAN and QinQ,
    non-IP, runts of each header, and a frame at the NIC's size limit."""
    payload = Raw(bytes(range(32)))
    frames = [
        eth() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1234, dport=80) / payload,
        eth() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=53, dport=5353) / payload,
        eth() / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP() / payload,
        eth() / IPv6(src="fd00::1", dst="fd00::2") / UDP(sport=1, dport=2) / payload,
        eth() / IPv6(src="fd00::1", dst="fd00::2", nh=58) / Raw(b"\x80\x00" + bytes(30)),
        eth() / Dot1Q(vlan=10) / IP(dst="10.1.0.1") / UDP() / payload,
        eth() / Dot1AD(vlan=20) / Dot1Q(vlan=30) / IP(dst="10.1.0.2", proto=47) / payload,
        eth() / Dot1Q(vlan=11) / IPv6(nh=6) / TCP() / payload,
        # Three tags: deeper than the parsers walk, so not seen as IP.
        eth() / Dot1AD(vlan=1) / Dot1Q(vlan=2) / Dot1Q(vlan=3) / IP() / UDP() / payload,
        eth() / ARP(psrc="10.0.0.1", pdst="10.0.0.2"),
        eth(0x88B5) / Raw(bytes(46)),
    ]
    frames = [bytes(f) for f in frames]
    ip = bytes(eth() / IP(dst="10.0.0.2") / UDP() / payload)
    frames += [
        bytes(eth(0x0800)),                         # EtherType IPv4, nothing after it
        ip[:14 + 19],                               # IPv4 header one byte short
        bytes(eth(0x86DD) / Raw(bytes(39))),        # IPv6 header one byte short
        bytes(eth(0x8100) / Raw(b"\x00\x0a")),      # VLAN tag cut in half
        bytes(eth(0x8100) / Raw(b"\x00\x0a\x81\x00\x00\x0b")),   # second tag missing
        bytes(eth() / Raw(bytes(3000))),            # a big IPv4-looking-nothing frame
    ]
    return frames
