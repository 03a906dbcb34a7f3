"""xdp_adjust_tail: IPv4 frames over the size limit become ICMP "fragmentation needed"
replies (TX), with the quote, MTU and both checksums scapy computes; the rest pass."""

import dataclasses
import socket
import struct

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw

from firmware.ebpf.machine import XdpAction

from .packets import MAC_A, MAC_B, eth

QUOTE = 84          # bytes of the offending IP datagram the reply carries


def ipv4_frame(length: int, **ip) -> bytes:
    """An IPv4/UDP frame of exactly ``length`` bytes."""
    head = eth() / IP(src="192.0.2.1", dst="198.51.100.7", **ip) / UDP(sport=4000, dport=53)
    return bytes(head / Raw(bytes(i & 0xFF for i in range(length - len(head)))))


def expected_reply(frame: bytes, limit: int) -> bytes:
    """The reply built by scapy from the frame: addresses swapped at L2 and L3, a fresh IPv4
    header (TTL 64, id 0, no flags), ICMP 3/4 with MTU limit-14 quoting 84 bytes."""
    src = socket.inet_ntoa(frame[26:30])
    dst = socket.inet_ntoa(frame[30:34])
    reply = (Ether(dst=frame[6:12], src=frame[0:6], type=0x0800)
             / IP(version=4, ihl=5, tos=0, id=0, flags=0, frag=0, ttl=64, proto=1,
                  src=dst, dst=src)
             / ICMP(type=3, code=4, reserved=0, nexthopmtu=max(limit, 98) - 14)
             / Raw(frame[14:14 + QUOTE]))
    return bytes(reply)


def with_limit(image, limit: int):
    """The program with max_pcktsz (its .rodata) set to ``limit`` before loading."""
    maps = [dataclasses.replace(m, initial=struct.pack("<I", limit)) if m.name == ".rodata"
            else m for m in image.maps]
    return dataclasses.replace(image, maps=maps)


def check(target, frame, limit, counter_before):
    out = target.run(frame)
    if len(frame) > max(limit, 98) and frame[12:14] == b"\x08\x00":
        want = expected_reply(frame, limit)
        assert (out.action_name, out.frame) == ("TX", want), frame[:40].hex()
        # The reply parses as a sound ICMP message quoting the original header.
        pkt = Ether(out.frame)
        assert pkt[IP].len == 112 and pkt[ICMP].nexthopmtu == max(limit, 98) - 14
        return counter_before + 1
    assert (out.action, out.frame) == (XdpAction.PASS, frame), frame[:40].hex()
    return counter_before


def test_default_limit_600(make_target):
    target = make_target("xdp_adjust_tail")
    frames = [
        ipv4_frame(601), ipv4_frame(600), ipv4_frame(1514), ipv4_frame(3000, tos=0x2E),
        ipv4_frame(120),
        bytes(eth() / IP(src="10.9.8.7", dst="10.1.2.3", ttl=3, flags="DF")
              / TCP(dport=443) / Raw(bytes(700))),
        # Not IPv4 at the Ethernet layer: passes whatever its size.
        bytes(eth() / IPv6() / UDP() / Raw(bytes(1000))),
        bytes(eth() / Dot1Q(vlan=5) / IP() / UDP() / Raw(bytes(1000))),
        bytes(eth() / ARP()),
        # EtherType IPv4 over garbage: the NIC answers what the header bytes say.
        bytes(eth(0x0800) / Raw(b"\xff" * 700)),
    ]
    count = 0
    for frame in frames:
        count = check(target, frame, 600, count)
    assert count == 5
    assert target.entries("icmpcnt") == {bytes(4): struct.pack("<Q", count)}


@pytest.mark.parametrize("limit", [200, 50])
def test_limit_set_by_the_host(make_target, load_image, limit):
    """A limit below the 98-byte reply is raised to 98 (the program cannot cut further)."""
    target = make_target("xdp_adjust_tail", with_limit(load_image("xdp_adjust_tail"), limit))
    count = 0
    for length in (98, 99, 200, 201, 400):
        count = check(target, ipv4_frame(length), limit, count)
    assert count == (2 if limit == 200 else 4)
    assert target.lookup("icmpcnt", bytes(4)) == struct.pack("<Q", count)


def test_reply_addresses(make_target):
    frame = ipv4_frame(700)
    out = make_target("xdp_adjust_tail").run(frame)
    pkt = Ether(out.frame)
    assert (pkt.src, pkt.dst) == (MAC_B, MAC_A)
    assert (pkt[IP].src, pkt[IP].dst) == ("198.51.100.7", "192.0.2.1")
    assert bytes(pkt[ICMP].payload)[:20] == frame[14:34]
