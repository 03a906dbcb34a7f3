"""xdp_tx: every frame goes back out with its MAC addresses swapped (XDP_TX)."""

from firmware.ebpf.machine import XdpAction

from .packets import mixed_traffic, swap_macs


def test_every_frame_is_reflected_with_macs_swapped(make_target):
    target = make_target("xdp_tx")
    for frame in mixed_traffic():
        out = target.run(frame)
        assert (out.action, out.frame) == (XdpAction.TX, swap_macs(frame)), frame.hex()


def test_minimal_frame_is_reflected(make_target):
    # 14 bytes: just an Ethernet header, the shortest frame either target accepts.
    frame = bytes.fromhex("020000000001020000000002ffff")
    out = make_target("xdp_tx").run(frame)
    assert (out.action, out.frame) == (XdpAction.TX, frame[6:12] + frame[:6] + frame[12:])
