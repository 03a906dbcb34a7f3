"""The XDP hook on the golden model: context, packet helpers' limits, verdicts, discards."""

import errno
import struct

import pytest

from firmware.ebpf import isa
from firmware.ebpf.asm import assemble
from firmware.ebpf.machine import (PACKET_BUFFER_SIZE, XDP_HEADROOM, XDP_MAX_FRAME,
                                   XDP_TAILROOM, Region, TrapCause, region_base)
from firmware.ebpf.xdp import Disposition, XdpBuffer, run_frame

PKT = region_base(Region.PACKET)
FRAME = bytes(range(64))


def frame_result(text: str, frame: bytes = FRAME, **kwargs):
    return run_frame(assemble(text), frame, **kwargs)


def neg(e: int) -> int:
    return -e & isa.MASK64


def test_context_fields_read_as_the_kernel_lays_out_xdp_md():
    xdp = XdpBuffer.from_frame(FRAME, ingress_port=1, rx_queue=3)
    assert struct.unpack("<6I", xdp.context()) == (
        PKT + XDP_HEADROOM, PKT + XDP_HEADROOM + 64, PKT + XDP_HEADROOM, 2, 3, 0)


@pytest.mark.parametrize("field, expected", [
    (0, PKT + XDP_HEADROOM), (4, PKT + XDP_HEADROOM + 64), (8, PKT + XDP_HEADROOM),
    (12, 1), (16, 0), (20, 0)])
def test_program_reads_each_context_field(field, expected):
    r = frame_result(f"ldxw %r0, [%r1+{field}]\nexit")
    assert r.r0 == expected


def test_program_reads_the_frame_through_data():
    r = frame_result("ldxw %r2, [%r1+0]\nldxb %r0, [%r2+5]\nexit")
    assert r.r0 == 5


def test_context_is_read_only():
    r = frame_result("stw [%r1+0], 0\nmov %r0, 2\nexit")
    assert r.disposition == Disposition.ABORTED
    assert (r.trap, r.trap_pc) == (TrapCause.OUT_OF_BOUNDS, 0)
    assert r.frame == b""


@pytest.mark.parametrize("action, disposition, egress", [
    (1, Disposition.DROP, None), (2, Disposition.PASS, None), (3, Disposition.TX, 1),
    (0, Disposition.ABORTED, None), (5, Disposition.ABORTED, None),
    (0x100000002, Disposition.PASS, None)])     # the verdict is read as u32
def test_verdicts(action, disposition, egress):
    r = frame_result(f"lddw %r0, {action:#x}\nexit", ingress_port=1)
    assert (r.disposition, r.egress_port) == (disposition, egress)
    assert r.frame == (FRAME if disposition in (Disposition.PASS, Disposition.TX) else b"")


def test_redirect_to_a_port_and_its_failures():
    ok = frame_result("mov %r1, 2\nmov %r2, 0\ncall 23\nexit", ingress_port=0)
    assert (ok.disposition, ok.egress_port, ok.r0, ok.frame) == (Disposition.REDIRECT, 1, 4,
                                                                  FRAME)
    flags = frame_result("mov %r1, 2\nmov %r2, 1\ncall 23\nexit")
    assert (flags.disposition, flags.r0) == (Disposition.ABORTED, 0)
    nowhere = frame_result("mov %r1, 9\nmov %r2, 0\ncall 23\nexit")
    assert nowhere.disposition == Disposition.ABORTED
    assert "ifindex 9" in nowhere.reason
    unset = frame_result("mov %r0, 4\nexit")
    assert unset.disposition == Disposition.ABORTED


ADJUST = "mov %r6, %r1\nmov %r2, {delta}\ncall {helper}\nmov %r7, %r0\n"


def test_adjust_head_grows_into_headroom_and_the_program_sees_new_data():
    text = ADJUST.format(delta=-14, helper=44) + """
        ldxw %r2, [%r6+0]
        stb [%r2+0], 0xee
        mov %r0, 2
        exit"""
    r = frame_result(text)
    assert r.disposition == Disposition.PASS
    assert r.frame == b"\xee" + bytes(13) + FRAME


@pytest.mark.parametrize("delta, expected", [
    (-(XDP_HEADROOM - 40), 0), (-(XDP_HEADROOM - 39), neg(errno.EINVAL)),
    (64 - 14, 0), (64 - 13, neg(errno.EINVAL))])
def test_adjust_head_limits(delta, expected):
    r = frame_result(ADJUST.format(delta=delta, helper=44) + "mov %r0, %r7\nexit")
    assert r.r0 == expected


@pytest.mark.parametrize("delta, expected", [(-(XDP_HEADROOM - 40 - 16), 0),
                                             (-(XDP_HEADROOM - 40 - 15), neg(errno.EINVAL))])
def test_adjust_head_limit_counts_the_metadata(delta, expected):
    text = ADJUST.format(delta=-16, helper=54) + f"""
        mov %r1, %r6
        mov %r2, {delta}
        call 44
        exit"""
    assert frame_result(text).r0 == expected


def test_adjust_tail_shrinks_and_grows_with_zeros():
    shrink = frame_result(ADJUST.format(delta=-50, helper=65) + "mov %r0, 2\nexit")
    assert shrink.frame == FRAME[:14]
    grow = frame_result(ADJUST.format(delta=6, helper=65) + "mov %r0, 2\nexit")
    assert grow.frame == FRAME + bytes(6)


@pytest.mark.parametrize("delta, expected", [
    (-50, 0), (-51, neg(errno.EINVAL)),
    (PACKET_BUFFER_SIZE - XDP_TAILROOM - XDP_HEADROOM - 64, 0),
    (PACKET_BUFFER_SIZE - XDP_TAILROOM - XDP_HEADROOM - 63, neg(errno.EINVAL))])
def test_adjust_tail_limits(delta, expected):
    r = frame_result(ADJUST.format(delta=delta, helper=65) + "mov %r0, %r7\nexit")
    assert r.r0 == expected


@pytest.mark.parametrize("delta, expected", [
    # Metadata may not reach below the xdp_frame struct (40 bytes) at the buffer's start, so
    # with 256 bytes of headroom it can be 216 bytes, not the 255 that a longer headroom allows.
    (-4, 0), (-3, neg(errno.EACCES)), (-216, 0), (-220, neg(errno.EINVAL)),
    (4, neg(errno.EINVAL))])
def test_adjust_meta_limits(delta, expected):
    r = frame_result(ADJUST.format(delta=delta, helper=54) + "mov %r0, %r7\nexit")
    assert r.r0 == expected


def test_metadata_moves_with_adjust_head():
    text = ADJUST.format(delta=-4, helper=54) + """
        ldxw %r2, [%r6+8]
        stw [%r2+0], 0x44332211
        mov %r1, %r6
        mov %r2, -8
        call 44
        mov %r0, 2
        exit"""
    r = frame_result(text)
    assert r.metadata == bytes([0x11, 0x22, 0x33, 0x44])
    assert len(r.frame) == 72 and r.frame[8:] == FRAME


@pytest.mark.parametrize("frame, flag, reason", [
    (b"", False, "runt"), (bytes(13), False, "runt"), (bytes(14), True, "mac-error"),
    (bytes(XDP_MAX_FRAME + 1), False, "oversize")])
def test_ingress_discards_never_run_the_program(frame, flag, reason):
    r = run_frame(assemble("mov %r0, 2\nexit"), frame, error_flag=flag)
    assert (r.disposition, r.reason, r.insn_count) == (Disposition.DISCARD, reason, 0)


def test_largest_frame_is_accepted():
    r = run_frame(assemble("mov %r0, 2\nexit"), bytes(XDP_MAX_FRAME))
    assert r.disposition == Disposition.PASS and len(r.frame) == XDP_MAX_FRAME
