"""xdp_rxq_info: per-queue, per-interface and global counts; the verdict (and the MAC swap)
come from the config map, which the host changes between frames."""

import shutil
import struct
import subprocess

import pytest
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from firmware.ebpf.machine import XdpAction

from .expect import array_entries, u64
from .packets import eth, mixed_traffic, swap_macs

MAX_RXQS = 64
MAX_IFINDEX = 64
READ_MEM, SWAP_MAC = 1, 2
QUEUES = 80                     # more than the program counts one by one


@pytest.fixture
def multiqueue(target_name):
    """An ifindex with QUEUES receive queues.  The model takes any; in the kernel a test run
    needs a real device with that many queues, so a veth pair is made for the test."""
    if target_name != "kernel":
        yield 70                # beyond MAX_IFINDEX too, like the veth below may be
        return
    ip = shutil.which("ip")
    if ip is None:
        pytest.skip("iproute2's ip is not installed: no multi-queue device for the kernel")
    name = "xdpnic-rxq0"
    subprocess.run([ip, "link", "del", name], capture_output=True)
    made = subprocess.run([ip, "link", "add", name, "numrxqueues", str(QUEUES), "type", "veth",
                           "peer", "name", "xdpnic-rxq1"], capture_output=True, text=True)
    if made.returncode:
        pytest.skip(f"cannot create a {QUEUES}-queue veth pair: {made.stderr.strip()}")
    try:
        with open(f"/sys/class/net/{name}/ifindex") as f:
            yield int(f.read())
    finally:
        subprocess.run([ip, "link", "del", name], capture_output=True)


def set_config(target, action, ifindex=0, options=0):
    target.update("config_map", bytes(4), struct.pack("<3I", action, ifindex, options))


class Counts:
    """The expected per-CPU sums, kept as the traffic is sent."""

    def __init__(self):
        self.glob = [0, 0]
        self.rxq = {}
        self.ifx = {}

    def frame(self, ifindex, queue, mismatch=False):
        self.glob[0] += 1
        if mismatch:
            self.glob[1] += 1
            return
        for table, key, last in ((self.ifx, ifindex, MAX_IFINDEX), (self.rxq, queue, MAX_RXQS)):
            slot = min(key, last)
            rec = table.setdefault(slot, [0, 0])
            rec[0] += 1
            rec[1] += slot == last

    def check(self, target):
        assert target.entries("stats_global_map") == {bytes(4): u64(*self.glob)}
        assert target.entries("ifindex_map") == array_entries(
            MAX_IFINDEX + 1, {k: u64(*v) for k, v in self.ifx.items()}, 16)
        assert target.entries("rx_queue_index_map") == array_entries(
            MAX_RXQS + 1, {k: u64(*v) for k, v in self.rxq.items()}, 16)


def test_drop_counts_per_queue_and_interface(make_target, multiqueue):
    target = make_target("xdp_rxq_info")
    set_config(target, XdpAction.DROP)
    counts = Counts()
    frames = mixed_traffic()
    for i, (ifindex, queue) in enumerate([(1, 0), (2, 0), (multiqueue, 0), (multiqueue, 3),
                                          (multiqueue, 63), (multiqueue, 64), (multiqueue, 79),
                                          (1, 0)]):
        out = target.run(frames[i], ingress_ifindex=ifindex, rx_queue=queue)
        assert (out.action, out.frame) == (XdpAction.DROP, None)
        counts.frame(ifindex, queue)
    counts.check(target)


def test_config_changes_while_traffic_flows(make_target):
    target = make_target("xdp_rxq_info")
    counts = Counts()
    frame = mixed_traffic()[0]

    set_config(target, XdpAction.TX, options=SWAP_MAC)
    out = target.run(frame)
    assert (out.action, out.frame) == (XdpAction.TX, swap_macs(frame))
    counts.frame(1, 0)

    set_config(target, XdpAction.PASS, options=READ_MEM)
    out = target.run(frame)
    assert (out.action, out.frame) == (XdpAction.PASS, frame)
    counts.frame(1, 0)

    # An 802.3 frame (length 46 where the EtherType goes) is refused when the frame is read.
    dot3 = bytes(Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b", type=46)
                 / Raw(bytes(46)))
    assert target.run(dot3).action == XdpAction.ABORTED
    counts.frame(1, 0)
    set_config(target, XdpAction.PASS)          # without options the frame is not read
    assert target.run(dot3).action == XdpAction.PASS
    counts.frame(1, 0)

    # Frames must arrive on ifindex 2 now: those from ifindex 1 are issues, aborted.
    set_config(target, XdpAction.DROP, ifindex=2)
    assert target.run(frame, ingress_ifindex=1).action == XdpAction.ABORTED
    counts.frame(1, 0, mismatch=True)
    assert target.run(frame, ingress_ifindex=2).action == XdpAction.DROP
    counts.frame(2, 0)
    counts.check(target)


def test_unconfigured_program_aborts_every_frame(make_target):
    # The config slot starts zeroed: action 0 is XDP_ABORTED, ifindex 0 accepts any.
    target = make_target("xdp_rxq_info")
    out = target.run(bytes(eth() / Raw(bytes(50))))
    assert (out.action, out.frame) == (XdpAction.ABORTED, None)
    assert target.lookup("stats_global_map", bytes(4)) == u64(1, 0)
