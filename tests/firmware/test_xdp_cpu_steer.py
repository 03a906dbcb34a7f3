"""xdp_cpu_steer: IPv4 UDP/TCP flows spread over host queues (CPUMAP entries) by a hash of
addresses and ports, forwarded UDP ports out of a DEVMAP_HASH's device, discard-port UDP
dropped, the rest passed.  Expected queues are computed here from the frame's bytes with the
program's hash as its source states it; where the target observes it (the model) the queue
and the device are checked too, else the verdict.  The RTL refuses CPUMAP and DEVMAP_HASH
maps (its map unit has neither) and says so."""

import errno
import struct

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6

from firmware.ebpf.machine import XdpAction

from .expect import u64
from .packets import eth

QSIZE = 192                 # the kernel wants a queue size on a CPUMAP entry (0 empties it)
QUEUES = 2                  # this machine's CPUs 0 and 1 exist: the kernel needs real CPUs


def u32(value):
    return struct.pack("<I", value)


def cpumap_val(qsize):
    return struct.pack("<II", qsize, 0)         # struct bpf_cpumap_val {qsize, bpf_prog.fd}


def expected_queue(frame: bytes, queues: int) -> int:
    """The program's hash: saddr ^ daddr ^ (sport << 16 | dport), each field as the program
    loads it (network bytes read little-endian), folded by >> 16 and >> 8, modulo queues."""
    ip = frame[14:34]
    ports = frame[34:38]
    saddr, daddr = struct.unpack("<II", ip[12:20])
    sport, dport = struct.unpack("<HH", ports)
    h = saddr ^ daddr ^ ((sport << 16 | dport) & 0xFFFFFFFF)
    h ^= h >> 16
    h ^= h >> 8
    return h % queues


def flows():
    out = []
    for n in range(12):
        l4 = UDP(sport=2000 + 7 * n, dport=53) if n % 2 else TCP(sport=3000 + n, dport=80 + n)
        out.append(bytes(eth() / IP(src=f"10.0.{n}.1", dst="192.0.2.7") / l4 / b"data"))
    return out


def test_flows_spread_over_the_host_queues(make_target):
    target = make_target("xdp_cpu_steer")
    target.update("queue_count", u32(0), u32(QUEUES))
    for q in range(QUEUES):
        target.update("cpu_map", u32(q), cpumap_val(QSIZE))
    counts = [0] * QUEUES
    for frame in flows():
        queue = expected_queue(frame, QUEUES)
        out = target.run(frame)
        assert (out.action, out.frame) == (XdpAction.REDIRECT, frame)
        if target.observes_redirect:
            assert out.host_queue == queue
        counts[queue] += 1
    assert 0 not in counts                      # both queues were exercised
    assert target.entries("steered") == {u32(q): u64(n) for q, n in enumerate(counts)} | {
        u32(q): u64(0) for q in range(QUEUES, 4)}


def test_an_empty_queue_entry_falls_back_to_pass(make_target):
    target = make_target("xdp_cpu_steer")
    target.update("queue_count", u32(0), u32(QUEUES))
    target.update("cpu_map", u32(0), cpumap_val(QSIZE))
    # qsize 0 empties an entry, as a delete does
    target.update("cpu_map", u32(1), cpumap_val(QSIZE))
    target.update("cpu_map", u32(1), cpumap_val(0))
    assert target.entries("cpu_map") == {u32(0): cpumap_val(QSIZE)}
    for frame in flows():
        out = target.run(frame)
        want = XdpAction.REDIRECT if expected_queue(frame, QUEUES) == 0 else XdpAction.PASS
        assert (out.action, out.frame) == (want, frame)
    assert target.delete("cpu_map", u32(0))
    assert target.run(flows()[0]).action == XdpAction.PASS


def test_forwarded_port_leaves_by_its_device_and_the_rest_is_filtered(make_target):
    target = make_target("xdp_cpu_steer")
    target.update("cpu_map", u32(0), cpumap_val(QSIZE))     # queue_count 0: one queue
    # ifindex 2 is port 1 on the NIC, ifb0 in the kernel's namespace
    target.update("port_fwd", u32(5000), u32(2))
    assert target.entries("port_fwd") == {u32(5000): u32(2)}
    udp = lambda port: bytes(eth() / IP(src="10.1.1.1", dst="10.2.2.2")
                             / UDP(sport=1234, dport=port) / b"x")
    out = target.run(udp(5000))
    assert (out.action, out.frame) == (XdpAction.REDIRECT, udp(5000))
    if target.observes_redirect:
        assert (out.redirect_ifindex, out.host_queue) == (2, None)
    out = target.run(udp(5001))                  # no device for it: on to queue 0
    assert out.action == XdpAction.REDIRECT
    if target.observes_redirect:
        assert (out.redirect_ifindex, out.host_queue) == (None, 0)
    assert target.run(udp(9)).action == XdpAction.DROP
    icmp = bytes(eth() / IP() / ICMP())
    v6 = bytes(eth(0x86DD) / IPv6() / UDP(dport=53))
    for frame in (icmp, v6):
        assert (target.run(frame).action, target.run(frame).frame) == (XdpAction.PASS, frame)
    assert target.delete("port_fwd", u32(5000))
    assert not target.delete("port_fwd", u32(5000))
    assert target.entries("steered") == {u32(0): u64(1), u32(1): u64(0), u32(2): u64(0),
                                         u32(3): u64(0)}


def test_map_updates_the_kernel_refuses_are_refused(make_target):
    target = make_target("xdp_cpu_steer")
    with pytest.raises(OSError) as e2big:
        target.update("cpu_map", u32(4), cpumap_val(QSIZE))       # past max_entries
    with pytest.raises(OSError) as overflow:
        target.update("cpu_map", u32(0), cpumap_val(16385))       # qsize above 16384
    with pytest.raises(OSError) as no_device:
        target.update("port_fwd", u32(7), u32(0))                 # ifindex 0
    assert (e2big.value.errno, overflow.value.errno, no_device.value.errno) == (
        errno.E2BIG, errno.EOVERFLOW, errno.EINVAL)
