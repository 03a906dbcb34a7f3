"""xdp_pass: every frame goes to the host byte for byte, on every target."""

from firmware.ebpf.machine import XdpAction

from .packets import mixed_traffic


def test_every_frame_passes_unchanged(make_target):
    target = make_target("xdp_pass")
    for frame in mixed_traffic():
        out = target.run(frame)
        assert (out.action, out.frame) == (XdpAction.PASS, frame), frame.hex()
