"""xdp_lb: the Katran-style load balancer against a Python reference (jhash ring, LRU
connection table, IP-in-IP), with the host rebuilding rings, retiring connections and
changing servers and configuration between frames."""

import socket
import struct

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from firmware.ebpf.machine import XdpAction

from .expect import array_entries, u64
from .packets import eth

MAX_VIPS, RING_SIZE, MAX_REALS = 16, 64, 64
CONN_HIT, CONN_MISS = 0, 1
M32 = 0xFFFFFFFF
PASS, DROP, TX = XdpAction.PASS, XdpAction.DROP, XdpAction.TX


def rol32(w, s):
    return ((w << s) | (w >> (32 - s))) & M32


def jhash_3words(a, b, c, initval):
    """Linux include/linux/jhash.h jhash_3words (lookup3's final mix)."""
    initval = (initval + 0xDEADBEEF + (3 << 2)) & M32
    a, b, c = (a + initval) & M32, (b + initval) & M32, (c + initval) & M32
    c ^= b; c = (c - rol32(b, 14)) & M32
    a ^= c; a = (a - rol32(c, 11)) & M32
    b ^= a; b = (b - rol32(a, 25)) & M32
    c ^= b; c = (c - rol32(b, 16)) & M32
    a ^= c; a = (a - rol32(c, 4)) & M32
    b ^= a; b = (b - rol32(a, 14)) & M32
    c ^= b; c = (c - rol32(b, 24)) & M32
    return c


def vip_key(addr, port, proto):
    return socket.inet_aton(addr) + struct.pack(">HBx", port, proto)


def u32(n):
    return struct.pack("<I", n)


class Reference:
    """The balancer's behaviour, written from its specification."""

    def __init__(self):
        self.vips = {}                  # (addr, port, proto) -> vip number
        self.ring = [0] * (MAX_VIPS * RING_SIZE)
        self.reals = ["0.0.0.0"] * MAX_REALS
        self.conns = {}                 # flow key bytes -> real index
        self.gw_mac, self.tunnel_src = "00:00:00:00:00:00", "0.0.0.0"
        self.vip_stats = {}
        self.lb_stats = [0, 0]

    def packet(self, frame: bytes):
        if frame[12:14] != b"\x08\x00":
            return PASS, frame
        if len(frame) < 34:
            return DROP, None
        ip = frame[14:34]
        if ip[0] & 0xF != 5 or struct.unpack(">H", ip[6:8])[0] & 0x3FFF:
            return DROP, None
        proto = ip[9]
        if proto not in (6, 17):
            return PASS, frame
        if len(frame) < 34 + (20 if proto == 6 else 8):
            return DROP, None
        sport, dport = struct.unpack_from(">HH", frame, 34)
        daddr = socket.inet_ntoa(ip[16:20])
        num = self.vips.get((daddr, dport, proto))
        if num is None:
            return PASS, frame
        st = self.vip_stats.setdefault(num, [0, 0])
        st[0] += 1
        st[1] += len(frame)
        flow = ip[12:20] + frame[34:38] + bytes([proto]) + bytes(3)
        if flow in self.conns:
            index = self.conns[flow]
            self.lb_stats[CONN_HIT] += 1
        else:
            words = struct.unpack("<III", ip[12:20] + frame[34:38])
            slot = jhash_3words(*words, num) & (RING_SIZE - 1)
            index = self.ring[num * RING_SIZE + slot]
            self.conns[flow] = index
            self.lb_stats[CONN_MISS] += 1
        real = self.reals[index]
        if real == "0.0.0.0":
            return DROP, None
        inner = Ether(frame)
        outer = (Ether(dst=self.gw_mac, src=inner.dst, type=0x0800)
                 / IP(version=4, ihl=5, tos=ip[1], len=(struct.unpack(">H", ip[2:4])[0] + 20)
                      & 0xFFFF, id=0, flags=0, frag=0, ttl=64, proto=4, src=self.tunnel_src,
                      dst=real)
                 / Raw(frame[14:]))
        return TX, bytes(outer)


class Harness:
    def __init__(self, target):
        self.target = target
        self.ref = Reference()
        self.sent = []          # (frame, outer destination) of what went out

    def vip(self, addr, port, proto, num):
        self.ref.vips[(addr, port, proto)] = num
        self.target.update("vips", vip_key(addr, port, proto), u32(num))

    def ring(self, num, reals):
        for slot in range(RING_SIZE):
            index = reals[slot % len(reals)]
            self.ref.ring[num * RING_SIZE + slot] = index
            self.target.update("ring", u32(num * RING_SIZE + slot), u32(index))

    def real(self, index, addr):
        self.ref.reals[index] = addr
        self.target.update("reals", u32(index), socket.inet_aton(addr))

    def config(self, gw_mac, tunnel_src):
        self.ref.gw_mac, self.ref.tunnel_src = gw_mac, tunnel_src
        self.target.update("lb_config", u32(0), bytes.fromhex(gw_mac.replace(":", ""))
                           + bytes(2) + socket.inet_aton(tunnel_src))

    def forget(self, frame):
        """The host retires the connection of ``frame`` from the connection table."""
        flow = frame[26:34] + frame[34:38] + frame[23:24] + bytes(3)
        del self.ref.conns[flow]
        assert self.target.delete("conn_table", flow)

    def send(self, pkt, expect=None):
        frame = bytes(pkt)
        action, want = self.ref.packet(frame)
        if expect is not None:
            assert action == expect, "the test's own scenario is wrong"
        out = self.target.run(frame)
        assert (out.action_name, out.frame) == (XdpAction(action).name, want), \
            Ether(frame).summary()
        if action == TX:
            return Ether(out.frame)[IP].dst
        return None

    def check_maps(self):
        t, r = self.target, self.ref
        assert t.entries("conn_table") == {k: u32(v) for k, v in r.conns.items()}
        assert t.entries("vip_stats") == array_entries(
            MAX_VIPS, {n: u64(*s) for n, s in r.vip_stats.items()}, 16)
        assert t.entries("lb_stats") == {u32(0): u64(r.lb_stats[0]), u32(1): u64(r.lb_stats[1])}


WEB, DNS = "10.0.0.100", "10.0.0.100"


def client(port, dst=WEB, dport=80, proto="tcp", src="198.51.100.1", payload=b"hello"):
    l4 = TCP(sport=port, dport=dport, flags="PA") if proto == "tcp" else UDP(sport=port,
                                                                            dport=dport)
    return eth() / IP(src=src, dst=dst, tos=0x10) / l4 / payload


def setup(h):
    h.config("02:00:00:00:99:99", "172.16.0.1")
    for index in range(1, 7):
        h.real(index, f"192.168.10.{index}")
    h.vip(WEB, 80, 6, 0)
    h.vip(DNS, 53, 17, 1)
    h.vip("10.0.0.200", 443, 6, 2)          # its ring is all index 0: no server
    h.ring(0, [1, 2, 3])
    h.ring(1, [4, 5])


def test_balancing_sticky_connections_and_host_updates(make_target):
    h = Harness(make_target("xdp_lb"))
    setup(h)
    servers = {h.send(client(port), TX) for port in range(20000, 20040)}
    assert servers == {"192.168.10.1", "192.168.10.2", "192.168.10.3"}   # spread over the ring
    for port in range(20000, 20040, 3):
        h.send(client(port), TX)                          # known connections: table hits
    h.send(client(5300, dst=DNS, dport=53, proto="udp", src="198.51.100.7"), TX)
    h.send(client(1000, dst="10.0.0.200", dport=443), DROP)   # no real server
    h.send(client(1000, dport=81), PASS)                  # not a VIP
    h.send(client(1000, dst=WEB, dport=53), PASS)         # VIP address and port, wrong proto
    h.send(eth() / IP(dst=WEB) / ICMP(), PASS)
    h.send(eth() / IPv6() / TCP(dport=80), PASS)
    h.send(eth() / ARP(pdst=WEB), PASS)
    h.send(eth() / IP(dst=WEB, flags="MF") / TCP(dport=80), DROP)     # fragment
    h.send(eth() / IP(dst=WEB, frag=10) / Raw(bytes(20)), DROP)
    h.send(eth() / IP(dst=WEB, options=b"\x01\x01\x01\x00") / TCP(dport=80), DROP)
    h.send(Ether(bytes(client(1))[:14 + 20 + 19]), DROP)
    h.send(Ether(bytes(client(1, proto="udp", dport=53))[:14 + 20 + 7]), DROP)
    h.send(Ether(bytes(client(1))[:14 + 19]), DROP)
    h.check_maps()

    # The host rebuilds the web ring onto server 6: open connections keep their servers,
    # new ones go to 6.
    h.ring(0, [6])
    assert {h.send(client(port), TX) for port in range(20000, 20040)} == servers
    assert {h.send(client(port), TX) for port in range(30000, 30010)} == {"192.168.10.6"}
    # Retiring a connection sends it through the ring again.
    h.forget(bytes(client(20001)))
    assert h.send(client(20001), TX) == "192.168.10.6"
    # Server 6 moves; the gateway and tunnel source change.
    h.real(6, "192.168.20.6")
    h.config("02:00:00:00:88:88", "172.16.0.2")
    assert h.send(client(30000), TX) == "192.168.20.6"
    # A new VIP, added while traffic flows.
    h.vip("10.0.0.201", 8080, 6, 3)
    h.ring(3, [2])
    assert h.send(client(7, dst="10.0.0.201", dport=8080), TX) == "192.168.10.2"
    # Its server is withdrawn: reals[2] = 0 drops even known connections.
    h.real(2, "0.0.0.0")
    h.send(client(7, dst="10.0.0.201", dport=8080), DROP)
    h.check_maps()


def test_every_truncation_of_a_vip_packet(make_target):
    h = Harness(make_target("xdp_lb"))
    setup(h)
    for full in (bytes(client(4242, payload=b"")), bytes(client(53, dst=DNS, dport=53,
                                                                proto="udp", payload=b""))):
        for n in range(14, len(full) + 1):
            h.send(Ether(full[:n]), TX if n == len(full) else DROP)
    h.check_maps()
