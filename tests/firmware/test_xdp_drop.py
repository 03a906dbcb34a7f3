"""xdp_drop: every frame is dropped, on every target; no maps."""

from firmware.ebpf.machine import XdpAction

from .packets import mixed_traffic


def test_every_frame_is_dropped(make_target, load_image):
    assert load_image("xdp_drop").maps == []
    target = make_target("xdp_drop")
    for frame in mixed_traffic():
        out = target.run(frame)
        assert (out.action, out.frame) == (XdpAction.DROP, None), frame.hex()
