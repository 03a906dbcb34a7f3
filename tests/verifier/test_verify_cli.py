"""``xdpnic verify``: the forms it reads, its log, --json, and exit status 0/1/2."""

import json

import pytest

from firmware.cli import main
from firmware.ebpf import isa
from firmware.ebpf.asm import assemble


def _run(capsys, *argv):
    status = main(["verify", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_accepted_assembly(tmp_path, capsys):
    prog = tmp_path / "ok.s"
    prog.write_text("ldxw %r0, [%r1+16]\nexit\n")
    status, out, err = _run(capsys, str(prog))
    assert status == 0 and err == ""
    assert out.splitlines() == ["processed 2 insns (limit 1000000) max_states_per_insn 0 "
                                "total_states 0 peak_states 0 mark_read 0", "ok: accepted"]


def test_rejected_bytecode_log(tmp_path, capsys):
    prog = tmp_path / "bad.bin"
    prog.write_bytes(isa.encode_program(assemble("ldxw %r2, [%r1]\nldxb %r0, [%r2]\nexit")))
    status, out, _ = _run(capsys, str(prog))
    assert status == 1
    # the kernel's words, line for line (its log for the same program, loaded as root)
    assert out.splitlines() == [
        "0: R1=ctx() R10=fp0",
        "0: (61) r2 = *(u32 *)(r1 +0)          ; R1=ctx() R2=pkt(r=0)",
        "1: (71) r0 = *(u8 *)(r2 +0)",
        "invalid access to packet, off=0 size=1, R2(id=0,off=0,r=0)",
        "processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 "
        "mark_read 0",
        "bad: rejected",
    ]
    status, out, _ = _run(capsys, "--unprivileged", str(prog))
    assert status == 1
    assert ("invalid access to packet, off=0 size=1, R2 proven range: data_end - data >= 0, "
            "data - data_meta >= 0") in out.splitlines()


def test_json(tmp_path, capsys):
    prog = tmp_path / "loop.s"
    prog.write_text("mov %r0, 0\nl:\nadd %r0, 0\nja l\n")
    status, out, _ = _run(capsys, "--json", str(prog))
    doc = json.loads(out)
    assert status == 1
    assert (doc["accepted"], doc["error_pc"], doc["error"]) == (
        False, 1, "infinite loop detected at insn 1")
    assert doc["type"] == "xdp" and doc["platform"] == "xdpnic"


def test_conformance_data_file(conformance_dir, capsys):
    status, out, _ = _run(capsys, str(conformance_dir / "ldxb.data"))
    assert status == 0 and out.splitlines()[-1] == "ldxb: accepted"
    status, out, _ = _run(capsys, "--mem-size", "2", str(conformance_dir / "ldxb.data"))
    assert status == 1
    assert "invalid access to memory, mem_size=2 off=2 size=1" in out.splitlines()


@pytest.mark.parametrize("content,message", [
    ("bogus %r0\n", "bad.s:1: expected an instruction mnemonic, found 'bogus'"),
])
def test_bad_input_exits_2(tmp_path, capsys, content, message):
    prog = tmp_path / "bad.s"
    prog.write_text(content)
    status, out, err = _run(capsys, str(prog))
    assert status == 2 and out == ""
    assert err.startswith("xdpnic verify: error: ") and message in err


def test_missing_file_exits_2(tmp_path, capsys):
    status, _, err = _run(capsys, str(tmp_path / "nope.s"))
    assert status == 2 and "nope.s: no such file" in err


def test_truncated_bytecode_exits_2(tmp_path, capsys):
    prog = tmp_path / "short.bin"
    prog.write_bytes(bytes(12))
    status, _, err = _run(capsys, str(prog))
    assert status == 2 and "short.bin" in err


def test_clang_object(tmp_path, capsys):
    from firmware.build import compile_c
    from tests.conftest import require_tool
    require_tool("clang")
    src = tmp_path / "drop.c"
    src.write_text('#include <linux/bpf.h>\n'
                   '__attribute__((section("xdp"), used)) int drop(struct xdp_md *ctx)\n'
                   '{ return ctx->ingress_ifindex == 3 ? XDP_DROP : XDP_PASS; }\n'
                   'char _license[] __attribute__((section("license"), used)) = "GPL";\n')
    obj = compile_c(src, tmp_path / "drop.o")
    status, out, _ = _run(capsys, obj)
    assert status == 0 and out.splitlines()[-1] == "drop: accepted"


def test_log_level_2_shows_every_instruction(tmp_path, capsys):
    prog = tmp_path / "two.s"
    prog.write_text("mov %r0, 7\nexit\n")
    status, out, _ = _run(capsys, "--log-level", "2", str(prog))
    assert status == 0
    # the kernel's level-2 log of the same program, line for line
    assert out.splitlines() == [
        "func#0 @0", "Live regs before insn:", "      0: .......... (b7) r0 = 7",
        "      1: 0......... (95) exit",
        "0: R1=ctx() R10=fp0", "0: (b7) r0 = 7                        ; R0=7", "1: (95) exit",
        "processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 "
        "mark_read 0", "two: accepted"]


def test_non_xdp_section_is_refused(tmp_path, capsys):
    from firmware.build import compile_c
    from tests.conftest import PROJECT_ROOT, require_tool
    require_tool("clang")
    obj = compile_c(PROJECT_ROOT / "firmware" / "progs" / "tests" / "multi_prog.c",
                    tmp_path / "multi.o")
    status, out, _ = _run(capsys, "--section", "sock_all", obj)
    assert status == 1
    assert out.splitlines() == [
        "section 'socket': program type SOCKET_FILTER is not supported by device xdpnic "
        "(it runs XDP programs; --type xdp verifies it as one anyway)",
        "sock_all: rejected"]
    status, out, _ = _run(capsys, "--section", "xdp_drop", obj)
    assert status == 0 and out.splitlines()[-1] == "xdp_drop: accepted"
