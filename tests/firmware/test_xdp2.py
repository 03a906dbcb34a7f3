"""xdp2: per-protocol counts as xdp1; UDP reflected with MACs swapped, the rest dropped."""

from firmware.ebpf.machine import XdpAction

from .expect import array_entries, u64
from .packets import mixed_traffic, swap_macs
from .test_xdp1 import run_and_count


def expected(frame, proto):
    if proto == 17:
        return XdpAction.TX, swap_macs(frame)
    return XdpAction.DROP, None


def test_udp_is_reflected_and_everything_is_counted(make_target):
    target = make_target("xdp2")
    frames = mixed_traffic()
    counts = run_and_count(target, frames, expected)
    assert counts[17] >= 3          # IPv4, IPv6 and VLAN-tagged UDP were all reflected
    assert target.entries("rxcnt") == array_entries(
        256, {p: u64(n) for p, n in counts.items()}, 8)
