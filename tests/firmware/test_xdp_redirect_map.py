"""xdp_redirect_map: every frame, MACs swapped, to the port in the devmap; the host re-points
and empties the slot while traffic flows."""

import struct

from firmware.ebpf.machine import XdpAction

from .expect import u64
from .packets import mixed_traffic, swap_macs

SLOT = struct.pack("<I", 0)


def test_every_frame_follows_the_devmap(make_target):
    target = make_target("xdp_redirect_map")
    frames = mixed_traffic()
    sent = 0
    # Empty slot: the redirect falls back to XDP_DROP.
    out = target.run(frames[0])
    assert (out.action, out.frame) == (XdpAction.DROP, None)
    sent += 1
    # ifindex 2 and 3 are ports 1 and 2 (in the kernel: ifb0, ifb1 of the host namespace).
    for ifindex in (2, 3):
        target.update("tx_port", SLOT, struct.pack("<I", ifindex))
        assert target.lookup("tx_port", SLOT) == struct.pack("<I", ifindex)
        for frame in frames:
            out = target.run(frame)
            assert (out.action, out.frame) == (XdpAction.REDIRECT, swap_macs(frame))
            if target.observes_redirect:
                assert out.redirect_ifindex == ifindex
            sent += 1
    assert target.delete("tx_port", SLOT)
    assert target.entries("tx_port") == {}
    assert target.run(frames[1]).action == XdpAction.DROP
    sent += 1
    assert target.entries("rxcnt") == {SLOT: u64(sent)}
