"""What every target does before and around a run: the program type from the section name
(``--type``), the verifier first (``--no-verify`` with a warning), per-CPU values as lists,
and the notes a target adds where it cannot observe something (``xdpnic run``)."""

import json

import pytest

from firmware.cli import main
from firmware.kernel.bpf import bpf_unavailable_reason
from sim.pcap import PcapWriter

FRAME = bytes.fromhex("ffffffffffff" "020000000001" "0800") + bytes(46)


def _capture(tmp_path, frames=(FRAME,)):
    path = tmp_path / "in.pcap"
    writer = PcapWriter(path)
    for frame in frames:
        writer.write(frame)
    writer.close()
    return path


def _run(tmp_path, capsys, prog, *extra):
    out = tmp_path / "out"
    status = main(["run", str(prog), "--pcap", str(_capture(tmp_path)), "--out", str(out),
                   *extra])
    captured = capsys.readouterr()
    report = json.loads((out / "result.json").read_text()) if status == 0 else None
    return status, report, captured.err


def _kernel():
    reason = bpf_unavailable_reason()
    if reason is not None:
        pytest.skip(f"kernel BPF not usable here: {reason}")


def test_legacy_section_names_run_as_xdp(compile_prog, tmp_path, capsys):
    obj = compile_prog("legacy_sections")
    status, report, _ = _run(tmp_path, capsys, obj, "--section", "xdp1")
    assert status == 0 and report["counters"]["drop"] == 1
    status, report, _ = _run(tmp_path, capsys, obj, "--section", "xdp_legacy_pass")
    assert status == 0 and report["counters"]["pass"] == 1


def test_untyped_section_needs_type_xdp(compile_prog, tmp_path, capsys):
    obj = compile_prog("legacy_sections")
    status, _, err = _run(tmp_path, capsys, obj, "--section", "prog")
    assert status == 2
    assert "section 'prog': libbpf gives this name no program type" in err
    assert "--type xdp runs it as one anyway" in err
    status, report, _ = _run(tmp_path, capsys, obj, "--section", "prog", "--type", "xdp")
    assert status == 0 and report["counters"]["tx"] == 1


def test_non_xdp_section_is_refused_by_run(compile_prog, tmp_path, capsys):
    status, _, err = _run(tmp_path, capsys, compile_prog("multi_prog"), "--section", "sock_all")
    assert status == 2
    assert "program type SOCKET_FILTER is not supported by device xdpnic" in err


UNCHECKED = "ldxw %r2, [%r1+0]\nldxb %r0, [%r2+30000]\nmov %r0, 2\nexit\n"


def test_model_verifies_before_it_runs(tmp_path, capsys):
    prog = tmp_path / "unchecked.s"
    prog.write_text(UNCHECKED)
    status, _, err = _run(tmp_path, capsys, prog)
    assert status == 2
    assert "the verifier rejects unchecked at insn 1: invalid access to packet" in err
    assert not (tmp_path / "out" / "result.json").exists()


def test_no_verify_runs_with_a_warning_in_the_output(tmp_path, capsys):
    prog = tmp_path / "unchecked.s"
    prog.write_text(UNCHECKED)
    status, report, err = _run(tmp_path, capsys, prog, "--no-verify")
    assert status == 0
    assert "warning: --no-verify: unchecked runs on model unverified" in err
    assert report["notes"][0].startswith("--no-verify: unchecked runs on model unverified")
    # a 60-byte frame: the load at data + 30000 (past the packet buffer) traps, as the verifier said it could
    assert report["counters"]["aborted"] == 1 and report["counters"]["traps"] == {
        "OUT_OF_BOUNDS": 1}


PERCPU_COUNTER = """
    mov %r6, 0
    stxw [%r10-4], %r6
    mov %r2, %r10
    add %r2, -4
    lddw %r1, 0
    call 1
    jeq %r0, 0, out
    mov %r1, 1
    lock add [%r0+0], %r1
out:
    mov %r0, 2
    exit
"""


def test_per_cpu_values_are_lists_on_the_model(tmp_path, capsys, monkeypatch):
    from dataclasses import replace

    from firmware.commands import run as run_command
    from firmware.ebpf import asm
    from firmware.ebpf.isa import Pseudo
    from firmware.ebpf.maps import MapSpec, MapType
    from firmware.program import ProgramImage

    insns = asm.assemble(PERCPU_COUNTER)
    insns[4] = replace(insns[4], src=Pseudo.MAP_IDX)          # lddw r1, map 0
    spec = MapSpec("counts", MapType.PERCPU_ARRAY, 4, 8, 1)
    image = ProgramImage("percpu", insns, [spec], "percpu.s")
    options = {"ports": 2, "ingress_port": 0, "budget": 1000, "trace": False}
    run_command.run_on_model(image, [FRAME, FRAME], options)
    (dump,) = [m.dump() for m in options["maps"].maps]
    assert dump["entries"] == [{"key": "00000000", "value": [(2).to_bytes(8, "little").hex()]}]


REDIRECT_TO_PORT_9 = "mov %r1, 10\nmov %r2, 0\ncall 23\nexit\n"    # ifindex 10: port 9


def test_failed_redirect_model_aborts_and_kernel_says_why_it_cannot(tmp_path, capsys):
    prog = tmp_path / "redirect.s"
    prog.write_text(REDIRECT_TO_PORT_9)
    status, model, _ = _run(tmp_path, capsys, prog)
    assert status == 0 and model["counters"]["aborted"] == 1
    assert "redirect to ifindex 10 failed: no such port" in model["frames"][0]["reason"]
    _kernel()
    status, kernel, _ = _run(tmp_path, capsys, prog, "--target", "kernel")
    assert status == 0 and kernel["counters"]["redirect"] == 1
    assert any("a test run does not perform XDP_REDIRECT" in n for n in kernel["notes"])


def test_kernel_target_names_a_helper_this_kernel_refuses(tmp_path, capsys):
    """bpf_xdp_adjust_meta: upstream Linux gives it to XDP programs; a kernel that does not
    makes the kernel target unable to judge the program, and it says so by name."""
    _kernel()
    from firmware.ebpf import asm
    from firmware.kernel.xdp import kernel_verdict
    prog = tmp_path / "meta.s"
    prog.write_text("mov %r2, -4\ncall 54\nmov %r0, 2\nexit\n")
    verdict = kernel_verdict(asm.assemble(prog.read_text()), [])
    status, _, err = _run(tmp_path, capsys, prog, "--target", "kernel")
    if verdict.accepted:
        assert status == 0
    else:
        assert status == 2
        assert "refuses helper bpf_xdp_adjust_meta#54 in XDP programs" in err
        assert "the kernel target cannot judge this program here" in err


@pytest.mark.parametrize("command", [["load", "--verify-only"], ["bench", "--packets", "1"]])
def test_load_and_bench_take_the_section_type_too(command, compile_prog, capsys):
    obj = compile_prog("legacy_sections")
    name, *extra = command
    assert main([name, str(obj), "--section", "prog", *extra]) == 2
    assert "section 'prog': libbpf gives this name no program type" in capsys.readouterr().err
    if name == "load":
        assert main([name, str(obj), "--section", "prog", "--type", "xdp", *extra]) == 0
        assert "untyped_tx" in capsys.readouterr().out
