"""The kernel target of ``xdpnic run``: same FrameResults and map dumps as the model."""

import json
import struct

import pytest

from firmware.commands import run as run_command
from firmware.ebpf.asm import assemble
from firmware.ebpf.xdp import Disposition
from firmware.kernel.run import run_frames
from firmware.program import ProgramError, ProgramImage

from .test_xdp import DST, SRC, STATS, SWAP_AND_COUNT, frame

pytestmark = pytest.mark.usefixtures("bpf")


def image() -> ProgramImage:
    return ProgramImage("swap_count", assemble(SWAP_AND_COUNT, "swap_and_count"), [STATS],
                        "swap_and_count.s")


FRAMES = [frame(0x0800, bytes(range(46))), bytes(10), frame(0x88B5, bytes(50)),
          frame(0x86DD, b"\x01" * 100)]


def test_kernel_frames_and_maps_match_the_model():
    options = {"ingress_port": 0, "ports": 2, "budget": 10_000, "trace": False}
    kernel = run_frames(image(), FRAMES, dict(options))
    model_options = dict(options)
    model = run_command.run_on_model(image(), FRAMES, model_options)
    assert [r.disposition for r in kernel] == [Disposition.TX, Disposition.DISCARD,
                                               Disposition.DROP, Disposition.TX]
    assert [r.disposition for r in kernel] == [r.disposition for r in model]
    assert [r.egress_port for r in kernel] == [r.egress_port for r in model] == [0, None, None, 0]
    assert [r.frame for r in kernel] == [r.frame for r in model]
    assert kernel[0].frame == SRC + DST + FRAMES[0][12:]
    assert kernel[1].reason == model[1].reason == "runt"
    assert kernel[0].insn_count is None


def test_map_dumps_have_the_models_format_and_values():
    options = {"ingress_port": 0}
    run_frames(image(), FRAMES, options)
    model_options = {"ingress_port": 0, "ports": 2, "budget": 10_000, "trace": False}
    run_command.run_on_model(image(), FRAMES, model_options)
    kernel_dump = [m.dump() for m in options["maps"].maps]
    assert kernel_dump == [m.dump() for m in model_options["maps"].maps]
    assert kernel_dump[0]["entries"][0] == {
        "key": "00000000", "value": struct.pack("<QQ", 2, 60 + 114).hex()}


def test_refused_program_is_a_program_error_with_the_kernel_log():
    bad = ProgramImage("unchecked", assemble("ldxw %r2, [%r1+0]\nldxh %r0, [%r2+12]\nexit",
                                             "unchecked"), [], "unchecked.s")
    with pytest.raises(ProgramError, match=r"unchecked.s: kernel: BPF_PROG_LOAD of "
                                           r"'unchecked': EACCES .*invalid access to packet"):
        run_frames(bad, FRAMES, {"ingress_port": 0})


def test_xdpnic_run_with_the_kernel_target_writes_the_same_outputs(tmp_path, monkeypatch):
    """End to end through the run command, with the target registered the way the command
    registers its own (a one-line entry in RUN_TARGETS)."""
    from firmware import cli
    from sim.pcap import PcapWriter
    monkeypatch.setitem(run_command.RUN_TARGETS, "kernel", "firmware.kernel.run:run_frames")
    source = tmp_path / "swap.s"
    source.write_text(SWAP_AND_COUNT)
    # An assembly file carries no map definitions (only map indices), so hand the command
    # the image with its map list, as an object file would give it.
    monkeypatch.setattr(run_command, "load_program", lambda path, section=None: image())
    pcap = tmp_path / "in.pcap"
    writer = PcapWriter(pcap)
    for f in FRAMES:
        writer.write(f)
    writer.close()
    outputs = {}
    for target in ("model", "kernel"):
        out = tmp_path / target
        assert cli.main(["run", str(source), "--pcap", str(pcap), "--out", str(out),
                         "--target", target]) == 0
        report = json.loads((out / "result.json").read_text())
        outputs[target] = report
        assert (out / "tx-port0.pcap").read_bytes() == (tmp_path / "model" / "tx-port0.pcap") \
            .read_bytes()
    for key in ("counters", "maps"):
        assert outputs["kernel"][key] == outputs["model"][key]
    assert [f["action"] for f in outputs["kernel"]["frames"]] == ["tx", "discard", "drop", "tx"]


def test_kernel_timing_weights_frames_by_traffic_and_labels_the_machine():
    from firmware.kernel.timing import jit_enabled, kernel_timing
    traffic = [FRAMES[0]] * 3 + [FRAMES[1], FRAMES[2]]     # FRAMES[1] is a runt
    timing = kernel_timing(image(), traffic, repeat=2000)
    assert timing.packets == 4 and timing.distinct_frames == 2 and timing.repeat == 2000
    a, b = timing.per_frame_ns
    assert timing.ns_per_packet == pytest.approx((3 * a + b) / 4)
    assert 0 < timing.ns_per_packet < 100_000
    assert timing.label.startswith("one ") and " core" in timing.label
    assert ("JIT on" in timing.label) == bool(jit_enabled())
    with pytest.raises(ValueError, match="no frame of the traffic reaches the program"):
        kernel_timing(image(), [bytes(10)])
