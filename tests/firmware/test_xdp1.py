"""xdp1: per-protocol per-CPU packet counts, every frame dropped."""

import collections

from firmware.ebpf.machine import XdpAction

from .expect import array_entries, ip_protocol, u64
from .packets import mixed_traffic


def run_and_count(target, frames, expected_action):
    counts = collections.Counter()
    for frame in frames:
        out = target.run(frame)
        proto = ip_protocol(frame)
        want = expected_action(frame, proto)
        assert out.action == want[0], (frame.hex(), out.action_name)
        assert out.frame == want[1], frame.hex()
        if proto is not None:
            counts[proto] += 1
    return counts


def test_counts_per_protocol_and_drops(make_target):
    target = make_target("xdp1")
    frames = mixed_traffic() * 2
    counts = run_and_count(target, frames, lambda f, p: (XdpAction.DROP, None))
    # TCP, UDP, ICMP, ICMPv6, GRE and "not IP / cut short" all appear.
    assert {6, 17, 1, 58, 47, 0} <= set(counts)
    assert target.entries("rxcnt") == array_entries(
        256, {p: u64(n) for p, n in counts.items()}, 8)


def test_host_reset_of_a_counter_is_seen_by_the_next_frames(make_target):
    target = make_target("xdp1")
    udp = mixed_traffic()[1]
    for _ in range(3):
        target.run(udp)
    assert target.lookup("rxcnt", (17).to_bytes(4, "little")) == u64(3)
    # The host's write goes to every CPU's copy (zero, so the sum does not depend on how
    # many CPUs or engines there are).
    target.update("rxcnt", (17).to_bytes(4, "little"), u64(0))
    target.run(udp)
    target.run(udp)
    assert target.lookup("rxcnt", (17).to_bytes(4, "little")) == u64(2)


def test_every_truncation_of_tagged_frames(make_target):
    """Each prefix (14 bytes up) of a QinQ IPv6 and a VLAN IPv4 frame: the count lands where
    the header walk over the bytes says, byte-exact at every header boundary."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Dot1AD, Dot1Q

    from .packets import eth
    target = make_target("xdp1")
    frames = []
    for full in (bytes(eth() / Dot1AD(vlan=1) / Dot1Q(vlan=2) / IPv6(nh=6) / TCP()),
                 bytes(eth() / Dot1Q(vlan=3) / IP(proto=17) / TCP())):
        frames += [full[:n] for n in range(14, len(full) + 1)]
    counts = run_and_count(target, frames, lambda f, p: (XdpAction.DROP, None))
    assert counts[6] == 1 + 20 and counts[17] == 1 + 20   # the whole IP header, then more
    assert target.entries("rxcnt") == array_entries(
        256, {p: u64(n) for p, n in counts.items()}, 8)
