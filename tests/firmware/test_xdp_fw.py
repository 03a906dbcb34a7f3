"""xdp_fw: the stateful firewall against a Python reference of its policy, while the host
adds, changes and deletes rules and connections between frames."""

import socket
import struct

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from firmware.ebpf.machine import XdpAction

from .expect import array_entries, u64
from .packets import eth

MAX_RULES = 64
DENY, ALLOW = 0, 1
PASS, DROP = XdpAction.PASS, XdpAction.DROP


def rule_key(daddr, dport, proto) -> bytes:
    return socket.inet_aton(daddr) + struct.pack(">HBx", dport, proto)


def flow_key(flow) -> bytes:
    saddr, daddr, sport, dport, proto = flow
    return socket.inet_aton(saddr) + socket.inet_aton(daddr) + \
        struct.pack(">HHB3x", sport, dport, proto)


class Reference:
    """The firewall's policy, written from its specification (not from the C)."""

    def __init__(self):
        self.rules = {}         # (daddr, dport, proto) -> (action, id)
        self.conns = {}         # 5-tuple -> [rule id, packets]
        self.stats = {}         # rule id -> [packets, bytes]

    def _count(self, rule_id, frame, action):
        s = self.stats.setdefault(rule_id, [0, 0])
        s[0] += 1
        s[1] += len(frame)
        return action

    def packet(self, frame: bytes):
        ethertype = frame[12:14]
        if ethertype == b"\x08\x06":
            return PASS
        if ethertype != b"\x08\x00" or len(frame) < 34 or frame[14] & 0xF != 5:
            return self._count(0, frame, DROP)
        proto, l4 = frame[23], frame[34:]
        if proto not in (6, 17) or len(l4) < (20 if proto == 6 else 8):
            return self._count(0, frame, DROP)
        sport, dport = struct.unpack_from(">HH", l4)
        flags = l4[13] if proto == 6 else 0
        saddr, daddr = socket.inet_ntoa(frame[26:30]), socket.inet_ntoa(frame[30:34])
        flow = (saddr, daddr, sport, dport, proto)
        for key in (flow, (daddr, saddr, dport, sport, proto)):
            if key in self.conns:
                conn = self.conns[key]
                conn[1] += 1
                if flags & 0x04:            # RST
                    del self.conns[key]
                return self._count(conn[0], frame, PASS)
        rule = self.rules.get((daddr, dport, proto)) or self.rules.get(("0.0.0.0", dport, proto))
        if rule is None:
            return self._count(0, frame, DROP)
        action, rule_id = rule
        if action != ALLOW:
            return self._count(rule_id, frame, DROP)
        if proto == 6 and flags & 0x16 != 0x02:     # a new connection starts with a bare SYN
            return self._count(0, frame, DROP)
        self.conns[flow] = [rule_id, 1]
        return self._count(rule_id, frame, PASS)


class Harness:
    """Drives a target and the reference side by side."""

    def __init__(self, target):
        self.target = target
        self.ref = Reference()

    def set_rule(self, daddr, dport, proto, action, rule_id):
        self.ref.rules[(daddr, dport, proto)] = (action, rule_id)
        self.target.update("rules", rule_key(daddr, dport, proto),
                           struct.pack("<II", action, rule_id))

    def delete_rule(self, daddr, dport, proto):
        del self.ref.rules[(daddr, dport, proto)]
        assert self.target.delete("rules", rule_key(daddr, dport, proto))

    def delete_conn(self, flow):
        del self.ref.conns[flow]
        assert self.target.delete("conntrack", flow_key(flow))

    def send(self, pkt, expect=None):
        frame = bytes(pkt)
        want = self.ref.packet(frame)
        if expect is not None:
            assert want == expect, "the test's own scenario is wrong"
        out = self.target.run(frame)
        assert (out.action_name, out.frame) == \
            (XdpAction(want).name, frame if want == PASS else None), pkt.summary()

    def check_maps(self):
        assert self.target.entries("conntrack") == {
            flow_key(f): struct.pack("<IIQ", rule_id, 0, n)
            for f, (rule_id, n) in self.ref.conns.items()}
        assert self.target.entries("rule_stats") == array_entries(
            MAX_RULES, {i: u64(*s) for i, s in self.ref.stats.items()}, 16)
        assert self.target.entries("rules") == {
            rule_key(*k): struct.pack("<II", *v) for k, v in self.ref.rules.items()}


CLIENT, SERVER, DNS = "192.0.2.1", "10.0.0.10", "10.0.0.53"


def tcp(src, dst, sport, dport, flags, payload=b""):
    return eth() / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags) / payload


def udp(src, dst, sport, dport, payload=b"q"):
    return eth() / IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / payload


def test_policy_state_and_host_updates_while_traffic_flows(make_target):
    h = Harness(make_target("xdp_fw"))
    h.set_rule(SERVER, 22, 6, ALLOW, 1)
    h.set_rule("0.0.0.0", 53, 17, ALLOW, 2)
    h.set_rule(SERVER, 23, 6, DENY, 3)
    h.set_rule("0.0.0.0", 80, 6, ALLOW, 4)

    ssh = (CLIENT, SERVER, 40000, 22, 6)
    h.send(tcp(CLIENT, SERVER, 40000, 22, "S"), PASS)              # opens the connection
    h.send(tcp(SERVER, CLIENT, 22, 40000, "SA"), PASS)             # reply direction
    h.send(tcp(CLIENT, SERVER, 40000, 22, "A", b"x" * 100), PASS)
    h.send(tcp(CLIENT, SERVER, 40001, 22, "A"), DROP)              # mid-stream, untracked
    h.send(tcp(CLIENT, SERVER, 40002, 22, "SA"), DROP)             # SYN-ACK cannot open
    h.send(tcp(CLIENT, SERVER, 40003, 23, "S"), DROP)              # denied by rule 3
    h.send(tcp(CLIENT, "10.0.0.99", 40004, 80, "S"), PASS)         # wildcard rule 4
    h.send(tcp(CLIENT, SERVER, 40005, 8080, "S"), DROP)            # no rule: default deny
    h.send(udp(CLIENT, DNS, 5353, 53), PASS)                       # UDP opens without SYN
    h.send(udp(DNS, CLIENT, 53, 5353, b"answer"), PASS)
    h.send(eth() / IP(src=CLIENT, dst=SERVER) / ICMP(), DROP)
    h.send(eth() / IPv6() / TCP(dport=22, flags="S"), DROP)
    h.send(eth() / ARP(pdst=SERVER), PASS)
    h.send(eth() / IP(src=CLIENT, dst=SERVER, options=b"\x01\x01\x01\x00") / TCP(dport=22), DROP)
    h.send(Ether(bytes(tcp(CLIENT, SERVER, 40000, 22, "A"))[:14 + 20 + 19]), DROP)
    h.send(Ether(bytes(udp(CLIENT, DNS, 5353, 53))[:14 + 20 + 7]), DROP)
    h.send(Ether(bytes(tcp(CLIENT, SERVER, 40000, 22, "A"))[:14 + 19]), DROP)
    h.check_maps()

    # The host removes the ssh rule: the open connection lives on, new ones are refused.
    h.delete_rule(SERVER, 22, 6)
    h.send(tcp(CLIENT, SERVER, 40000, 22, "A", b"more"), PASS)
    h.send(tcp(CLIENT, SERVER, 40010, 22, "S"), DROP)
    # The host flushes the DNS connection: its late reply finds no state and no rule.
    h.delete_conn((CLIENT, DNS, 5353, 53, 17))
    h.send(udp(DNS, CLIENT, 53, 5353, b"late"), DROP)
    # Rule 4 turns to deny: new web connections drop under it, the open one continues.
    h.set_rule("0.0.0.0", 80, 6, DENY, 4)
    h.send(tcp(CLIENT, "10.0.0.98", 40020, 80, "S"), DROP)
    h.send(tcp("10.0.0.99", CLIENT, 80, 40004, "A"), PASS)
    h.check_maps()

    # A RST closes the ssh connection; what follows is untracked.
    h.send(tcp(SERVER, CLIENT, 22, 40000, "R"), PASS)
    assert ssh not in h.ref.conns
    h.send(tcp(CLIENT, SERVER, 40000, 22, "A"), DROP)
    h.check_maps()


def test_many_flows_fill_the_connection_table(make_target):
    h = Harness(make_target("xdp_fw"))
    h.set_rule("0.0.0.0", 443, 6, ALLOW, 7)
    for port in range(1000, 1200):
        h.send(tcp(CLIENT, SERVER, port, 443, "S"), PASS)
    for port in range(1000, 1200, 7):
        h.send(tcp(SERVER, CLIENT, 443, port, "SA"), PASS)
    h.check_maps()
    assert len(h.ref.conns) == 200


def test_every_truncation_of_an_allowed_syn(make_target):
    """Each prefix of a SYN an ALLOW rule covers: only the whole TCP header opens the
    connection; every shorter frame drops under rule 0."""
    h = Harness(make_target("xdp_fw"))
    h.set_rule(SERVER, 22, 6, ALLOW, 1)
    full = bytes(tcp(CLIENT, SERVER, 40000, 22, "S"))
    for n in range(14, len(full) + 1):
        h.send(Ether(full[:n]), PASS if n == len(full) else DROP)
    h.check_maps()
