"""xdp_vip_lb: a Katran-like balancer on maps of maps.  Services map to rings of real servers
(inner arrays) through a HASH_OF_MAPS the host fills and an ARRAY_OF_MAPS whose slot the
loader fills from __array(values, ...).  The expected frames are built here with scapy (new
destination, both checksums computed from scratch, the real's MAC), the slot from the
program's hash as its source states it.  The RTL has no maps of maps and refuses them."""

import errno
import struct

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from firmware.ebpf.machine import XdpAction

VIP_A, VIP_B = "10.100.0.1", "10.100.0.2"
RING_A = [(f"10.1.0.{i + 1}", f"02:00:00:00:0a:0{i + 1}") for i in range(4)]
RING_B = [("10.2.0.1", "02:00:00:00:0b:01"), ("10.2.0.2", "02:00:00:00:0b:02"), None, None]
OUR_MAC, CLIENT_MAC = "02:00:00:00:00:01", "02:00:00:00:00:99"


def vip_key(addr, port, proto):
    return bytes(map(int, addr.split("."))) + struct.pack(">H", port) + bytes([proto, 0])


def real_value(real):
    if real is None:
        return bytes(12)
    addr, mac = real
    return bytes(map(int, addr.split("."))) + bytes.fromhex(mac.replace(":", "")) + bytes(2)


def slot_of(src, sport):
    """saddr ^ source (network bytes read little-endian), folded by >> 16, modulo 4."""
    h = struct.unpack("<I", bytes(map(int, src.split("."))))[0] ^ \
        struct.unpack("<H", struct.pack(">H", sport))[0]
    h ^= h >> 16
    return h % 4


def frame(src, sport, dst, dport, tcp=False):
    l4 = TCP(sport=sport, dport=dport) if tcp else UDP(sport=sport, dport=dport)
    return bytes(Ether(src=CLIENT_MAC, dst=OUR_MAC) / IP(src=src, dst=dst) / l4 / b"payload")


def balanced(original, real):
    pkt = Ether(original)
    pkt[Ether].src, pkt[Ether].dst = OUR_MAC, real[1]
    pkt[IP].dst = real[0]
    del pkt[IP].chksum
    l4 = pkt[TCP] if TCP in pkt else pkt[UDP]
    del l4.chksum
    return bytes(pkt)


@pytest.fixture
def lb(make_target):
    target = make_target("xdp_vip_lb")
    for ring, reals in (("ring_a", RING_A), ("ring_b", RING_B)):
        for i, real in enumerate(reals):
            target.update(ring, struct.pack("<I", i), real_value(real))
    target.set_inner_map("vips", vip_key(VIP_A, 53, 17), "ring_a")
    target.set_inner_map("vips", vip_key(VIP_B, 443, 6), "ring_b")
    return target


def test_flows_go_to_their_services_real(lb):
    slots_seen = set()
    for n in range(10):
        src, sport = f"192.0.2.{n + 1}", 1000 + 37 * n
        for dst, dport, tcp, ring in ((VIP_A, 53, False, RING_A), (VIP_B, 443, True, RING_B)):
            f = frame(src, sport, dst, dport, tcp)
            real = ring[slot_of(src, sport)]
            out = lb.run(f)
            if real is None:                        # an empty slot of ring_b
                assert out.action == XdpAction.DROP
            else:
                assert (out.action, out.frame) == (XdpAction.TX, balanced(f, real))
            slots_seen.add((dst, slot_of(src, sport)))
    assert len(slots_seen) >= 6                     # several slots of both rings were used


def test_unknown_services_fall_back_or_pass(lb):
    web = frame("192.0.2.7", 4321, "10.100.0.9", 80, tcp=True)
    real = RING_B[slot_of("192.0.2.7", 4321)]       # the loader put ring_b in `fallback`
    out = lb.run(web)
    assert out.action == (XdpAction.TX if real else XdpAction.DROP)
    other = frame("192.0.2.7", 4321, VIP_A, 54)     # a port the service does not have
    assert (lb.run(other).action, lb.run(other).frame) == (XdpAction.PASS, other)
    assert lb.delete("vips", vip_key(VIP_A, 53, 17))
    gone = frame("192.0.2.7", 4321, VIP_A, 53)
    assert lb.run(gone).action == XdpAction.PASS


def test_only_maps_like_the_inner_template_go_in(lb):
    """A map of maps takes maps of its inner template's type and sizes: -EINVAL otherwise
    (bpf_map_meta_equal), here `fallback` itself, a map of maps."""
    with pytest.raises(OSError) as refused:
        lb.set_inner_map("vips", vip_key("10.100.0.3", 1, 17), "fallback")
    assert refused.value.errno == errno.EINVAL
