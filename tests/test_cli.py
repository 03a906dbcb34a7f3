"""The xdpnic command line: conformance, conformance-plugin, asm, disasm (exit codes, output)."""

import io
import json
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT, require_tool
from firmware import conformance
from firmware.cli import main
from firmware.conformance import CaseOutcome


def run(capsys, *argv, stdin: str | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cases_dir(tmp_path):
    (tmp_path / "good.data").write_text("-- asm\nmov %r0, %r2\nexit\n-- mem\n00 01 02\n"
                                        "-- result\n0x3\n")
    (tmp_path / "wrong.data").write_text("-- asm\nmov %r0, 3\nexit\n-- result\n0x4\n")
    (tmp_path / "odd.data").write_text("-- asm\nexit\n-- mystery\n-- result\n0\n")
    return tmp_path


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in ("conformance", "conformance-plugin", "disasm", "asm"):
        assert name in out


def test_conformance_suite_on_model_exit_0_and_final_line(capsys, conformance_dir):
    code, out, _ = run(capsys, "conformance", str(conformance_dir), "--target", "model")
    lines = out.splitlines()
    assert code == 0
    assert lines[-1] == "313 passed, 0 failed"
    assert len(lines) == 314 and lines[0] == "PASS add"


def test_conformance_failures_and_skips(capsys, cases_dir):
    code, out, err = run(capsys, "conformance", str(cases_dir))
    assert code == 1
    assert out.splitlines() == ["PASS good", "SKIP odd: unknown directive '-- mystery' at line 3",
                                "FAIL wrong: expected 0x4 got 0x3",
                                "1 passed, 1 failed, 1 skipped"]
    assert err == ""          # no progress bar when stderr is not a terminal


def test_conformance_filter_and_verbose(capsys, cases_dir):
    code, out, _ = run(capsys, "conformance", str(cases_dir), "--filter", "go*", "-v")
    assert code == 0
    assert out.splitlines() == ["PASS good (2 insns)", "1 passed, 0 failed"]


def test_conformance_json(capsys, cases_dir):
    code, out, _ = run(capsys, "conformance", str(cases_dir), "--json")
    doc = json.loads(out)
    assert code == 1
    assert doc["totals"] == {"passed": 1, "failed": 1, "skipped": 1, "total": 3}
    wrong = next(c for c in doc["cases"] if c["name"] == "wrong")
    assert (wrong["status"], wrong["expected_r0"], wrong["r0"]) == ("fail", "0x4", "0x3")


@pytest.mark.parametrize("make,message", [
    (lambda d: d / "missing", "no such directory"),
    (lambda d: d, "no *.data files found"),
    (lambda d: d / "a.data" if (d / "a.data").write_text("-- asm\n") else None,
     "not a directory"),
])
def test_conformance_bad_directory_is_one_error_line_exit_2(capsys, tmp_path, make, message):
    path = make(tmp_path)
    code, out, err = run(capsys, "conformance", str(path))
    assert code == 2 and out == ""
    assert err == f"xdpnic conformance: error: {path}: {message}\n"


def test_conformance_filter_matching_nothing_exit_2(capsys, cases_dir):
    code, _, err = run(capsys, "conformance", str(cases_dir), "--filter", "zzz*")
    assert code == 2
    assert err == (f"xdpnic conformance: error: {cases_dir}: no *.data files matching 'zzz*' "
                   "found\n")


def test_conformance_unavailable_target_exit_2(capsys, cases_dir, monkeypatch):
    monkeypatch.setitem(conformance.TARGETS, "later", "firmware.not_written_yet:run_cases")
    code, out, err = run(capsys, "conformance", str(cases_dir), "--target", "later")
    assert code == 2 and out == ""
    assert err == ("xdpnic conformance: error: target later is not available: No module named "
                   "'firmware.not_written_yet'\n")


SEEN_OPTIONS = []


def fake_run_cases(cases, options):
    """A target for the tests: r0 = number of slots, 10 cycles each; records the options."""
    SEEN_OPTIONS.append({k: options[k] for k in ("sim", "waves", "verbose")})
    return [CaseOutcome(len(c.insns), None, insn_count=len(c.insns), cycles=10 * len(c.insns))
            for c in cases]


def test_conformance_passes_options_to_target_and_shows_cycles(capsys, cases_dir, monkeypatch):
    monkeypatch.setitem(conformance.TARGETS, "fake", f"{__name__}:fake_run_cases")
    SEEN_OPTIONS.clear()
    code, out, _ = run(capsys, "conformance", str(cases_dir), "--target", "fake", "--sim",
                       "icarus", "--waves", "-v", "--filter", "good")
    assert SEEN_OPTIONS == [{"sim": "icarus", "waves": True, "verbose": True}]
    assert out.splitlines() == ["FAIL good: expected 0x3 got 0x2", "0 passed, 1 failed"]
    assert code == 1


def test_console_entry_point_exit_code_and_final_line(cases_dir):
    proc = subprocess.run([sys.executable, "-m", "firmware.cli", "conformance", str(cases_dir)],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[-1] == "1 passed, 1 failed, 1 skipped"


# --- Plugin protocol ------------------------------------------------------------------------

MOV_R0_R2_EXIT = "bf 20 00 00 00 00 00 00 95 00 00 00 00 00 00 00"


def test_plugin_prints_r0_in_hex(capsys, monkeypatch):
    code, out, _ = run(capsys, "conformance-plugin", "00 01 02 03", stdin=MOV_R0_R2_EXIT + "\n",
                       monkeypatch=monkeypatch)
    assert (code, out) == (0, "0x4\n")


def test_plugin_alias_and_memory_read(capsys, monkeypatch):
    # ldxdw %r0, [%r1]; exit  with 8 bytes of memory, little-endian.
    program = "79 10 00 00 00 00 00 00 95 00 00 00 00 00 00 00"
    code, out, _ = run(capsys, "plugin", "8877665544332211", stdin=program,
                       monkeypatch=monkeypatch)
    assert (code, out) == (0, "0x1122334455667788\n")


def test_plugin_without_memory(capsys, monkeypatch):
    code, out, _ = run(capsys, "plugin", stdin=MOV_R0_R2_EXIT, monkeypatch=monkeypatch)
    assert (code, out) == (0, "0x0\n")


def test_plugin_trap_exits_1_with_message(capsys, monkeypatch):
    # ldxw %r0, [%r1+100] with no memory: out of bounds.
    code, out, _ = run(capsys, "plugin", stdin="61 10 64 00 00 00 00 00 95 00 00 00 00 00 00 00",
                       monkeypatch=monkeypatch)
    assert code == 1
    assert out.startswith("OUT_OF_BOUNDS at pc 0: ")


def test_plugin_unknown_opcode_exits_1(capsys, monkeypatch):
    code, out, _ = run(capsys, "plugin", stdin="8e 00 00 00 00 00 00 00",
                       monkeypatch=monkeypatch)
    assert code == 1
    assert out.startswith("ILLEGAL_INSTRUCTION at pc 0: ")


def test_plugin_bad_hex_exits_1(capsys, monkeypatch):
    code, out, _ = run(capsys, "plugin", "zz", stdin=MOV_R0_R2_EXIT, monkeypatch=monkeypatch)
    assert (code, out) == (1, "MEMHEX: token 1: expected hex bytes (pairs of hex digits), "
                              "found 'zz'\n")


def test_plugin_elf_runs_the_text_section(capsys, monkeypatch, tmp_path):
    clang = require_tool("clang")
    src = tmp_path / "p.c"
    src.write_text("unsigned long f(void) { return 0x1234; }\n")
    obj = tmp_path / "p.o"
    subprocess.run([clang, "-O2", "-target", "bpf", "-c", str(src), "-o", str(obj)], check=True,
                   timeout=120)
    code, out, _ = run(capsys, "plugin", "--elf", stdin=obj.read_bytes().hex(" "),
                       monkeypatch=monkeypatch)
    assert (code, out) == (0, "0x1234\n")


def test_plugin_main_console_function(capsys, monkeypatch):
    from firmware.commands.conformance import plugin_main
    monkeypatch.setattr(sys, "stdin", io.StringIO(MOV_R0_R2_EXIT))
    assert plugin_main(["00 00"]) == 0
    assert capsys.readouterr().out == "0x2\n"


# --- asm / disasm ---------------------------------------------------------------------------

def test_asm_to_hex_and_words(capsys, tmp_path):
    src = tmp_path / "p.s"
    src.write_text("lddw %r0, 0x1122334455667788\nexit\n")
    code, out, _ = run(capsys, "asm", str(src))
    assert (code, out) == (0, "18 00 00 00 88 77 66 55 00 00 00 00 44 33 22 11 "
                              "95 00 00 00 00 00 00 00\n")
    code, out, _ = run(capsys, "asm", str(src), "--format", "words")
    assert out.splitlines() == ["0x5566778800000018", "0x1122334400000000",
                                "0x0000000000000095"]


def test_asm_error_is_file_line_exit_1(capsys, tmp_path):
    src = tmp_path / "p.s"
    src.write_text("mov %r0, 1\nmov %r0\n")
    code, out, err = run(capsys, "asm", str(src))
    assert code == 1 and out == ""
    assert err == (f"xdpnic asm: error: {src}:2: expected operands as in 'mov %dst, imm or "
                   "mov %dst, %src', found 1 operand(s)\n")


def test_disasm_binary_and_data_files(capsys, tmp_path, conformance_dir):
    binary = tmp_path / "p.bin"
    binary.write_bytes(bytes.fromhex("b700000001000000" "0500ffff00000000" "9500000000000000"))
    code, out, _ = run(capsys, "disasm", str(binary))
    assert (code, out) == (0, "mov %r0, 1\nL1:\nja L1\nexit\n")
    code, out, _ = run(capsys, "disasm", str(binary), "--no-labels", "--pc")
    assert out == "    0:  mov %r0, 1\n    1:  ja -1\n    2:  exit\n"
    code, out, _ = run(capsys, "disasm", str(conformance_dir / "lddw.data"))
    assert out == "lddw %r0, 0x1122334455667788\nexit\n"


def test_disasm_unknown_opcode_exit_2_unless_lenient(capsys, tmp_path):
    words = tmp_path / "p.raw"
    words.write_text("0x00000001000000b7\n0x00000000000000ff\n")
    code, out, err = run(capsys, "disasm", str(words))
    assert code == 2 and out == ""
    assert err == (f"xdpnic disasm: error: {words}: instruction 1: unknown opcode 0xff "
                   "(src=0 off=0 imm=0)\n")
    code, out, _ = run(capsys, "disasm", str(words), "--lenient")
    assert (code, out) == (0, "mov %r0, 1\n.insn 0xff, 0, 0, 0, 0\n")


def test_disasm_json(capsys, tmp_path):
    hexfile = tmp_path / "p.hex"
    hexfile.write_text("b7 00 00 00 01 00 00 00 95 00 00 00 00 00 00 00\n")
    code, out, _ = run(capsys, "disasm", str(hexfile), "--json")
    doc = json.loads(out)
    assert doc["listing"] == ["mov %r0, 1", "exit"]
    assert doc["insns"][0] == {"pc": 0, "bytes": "b7 00 00 00 01 00 00 00", "text": "mov %r0, 1"}


def test_disasm_missing_file_exit_2(capsys, tmp_path):
    code, _, err = run(capsys, "disasm", str(tmp_path / "nope.bin"))
    assert code == 2 and err.startswith(f"xdpnic disasm: error: {tmp_path / 'nope.bin'}: ")


def test_conformance_cpu_version_and_groups(capsys, conformance_dir):
    code, out, _ = run(capsys, "conformance", str(conformance_dir), "--cpu-version", "v3",
                       "--groups", "atomic32,atomic64,base32,base64,divmul32,divmul64")
    assert code == 0
    assert out.splitlines()[-1] == "253 passed, 0 failed, 60 skipped"


def test_conformance_bad_groups_is_a_usage_error(capsys, conformance_dir):
    with pytest.raises(SystemExit) as info:
        main(["conformance", str(conformance_dir), "--groups", "base32,nonsense"])
    assert info.value.code == 2
    assert "expected groups from atomic32,atomic64,base32,base64,callx,divmul32,divmul64," \
           "packet, found 'base32,nonsense'" in capsys.readouterr().err
