"""The conformance runner: the .data parser, judging, targets, and the whole suite on the model."""

import pathlib

import pytest

from firmware import conformance
from firmware.conformance import (CaseOutcome, ConformanceCase, DataFileError, SkipCase,
                                  TargetUnavailable, judge, load_target, parse_data_text,
                                  run_suite)
from firmware.ebpf import isa
from firmware.ebpf.asm import assemble


def test_whole_suite_passes_on_the_model(conformance_dir):
    report = run_suite(conformance_dir, "model")
    failures = [r.line() for r in report.results if r.status != "pass"]
    assert failures == []
    assert report.summary() == "313 passed, 0 failed"


def test_model_outcomes_carry_instruction_counts(conformance_dir):
    report = run_suite(conformance_dir, "model", pattern="exit")
    (result,) = report.results
    assert result.outcome == CaseOutcome(0, None, insn_count=2)


# --- Parser ---------------------------------------------------------------------------------

def parse(text: str) -> ConformanceCase:
    return parse_data_text(text, pathlib.Path("t.data"))


def test_sections_comments_and_crlf():
    case = parse("# header\r\n-- asm\r\nmov %r0, 2 # two\r\nexit\r\n-- mem\r\n"
                 "00 01 # c\r\nff\r\n-- result\r\n0x2\r\n")
    assert case.name == "t"
    assert case.insns == assemble("mov %r0, 2\nexit")
    assert case.mem == bytes([0, 1, 0xff])
    assert (case.expected_r0, case.expected_error) == (2, None)


def test_raw_is_preferred_over_asm():
    case = parse("-- asm\nmov %r0, 1\nexit\n-- raw\n0x00000002000000b7\n149\n-- result\n0x2\n")
    assert isa.encode_program(case.insns) == bytes.fromhex("b70000000200000095" + "00" * 7)


def test_raw_with_an_unknown_opcode_is_left_for_the_target():
    case = parse("-- raw\n0xff\n0x95\n-- result\n0\n")
    assert case.insns[0].spec is None and case.insns[0].opcode == 0xff


def test_result_decimal_and_64_bit():
    assert parse("-- asm\nexit\n-- result\n42\n").expected_r0 == 42
    assert parse("-- asm\nexit\n-- result\n0xFFFFFFFFFFFFFFF6\n").expected_r0 == \
        0xFFFFFFFFFFFFFFF6


def test_ignored_sections():
    case = parse("-- c\nint i = 0;\n-- asm\nexit\n-- no register offset\ncall instruction\n"
                 "-- result\n0\n")
    assert case.insns == assemble("exit")


def test_error_section():
    case = parse("-- asm\nexit\n-- error\nsome failure  \n")
    assert (case.expected_r0, case.expected_error) == (None, "some failure")


def test_unknown_directive_skips_with_reason():
    with pytest.raises(SkipCase) as info:
        parse("-- asm\nexit\n-- frobnicate\n-- result\n0\n")
    assert str(info.value) == "unknown directive '-- frobnicate' at line 3"


def test_section_search_order_matches_upstream():
    # "-- no register offset" is not "raw"/"result"; "-- asm result" is asm (searched first).
    case = parse("-- asm result\nexit\n-- result\n0\n")
    assert case.insns == assemble("exit")


@pytest.mark.parametrize("text,message", [
    ("-- asm\nmov %r0, 1\nfrob\n-- result\n1\n",
     "t.data:3: expected an instruction mnemonic, found 'frob'"),
    ("-- asm\nexit\n-- result\n0xzz\n",
     "t.data:4: expected a 64-bit result (0x... or decimal), found '0xzz'"),
    ("-- asm\nexit\n-- result\n1\n2\n", "t.data:3: expected one value in -- result, found 2"),
    ("-- asm\nexit\n", "t.data:1: expected a '-- result' or '-- error' section, found neither"),
    ("-- result\n0\n", "t.data:1: expected an '-- asm' or '-- raw' section, found none"),
    ("mov %r0, 1\n-- asm\nexit\n-- result\n0\n",
     "t.data:1: expected a '-- section' line before content, found 'mov %r0, 1'"),
    ("-- asm\nexit\n-- mem\n00 01\n0g\n-- result\n0\n",
     "t.data:5: -- mem: token 1: expected hex bytes (pairs of hex digits), found '0g'"),
])
def test_malformed_files_name_file_and_line(text, message):
    with pytest.raises(DataFileError) as info:
        parse(text)
    assert str(info.value) == message


def test_truncated_raw_lddw_loads_and_traps_where_it_runs():
    # Raw bytecode is decoded leniently so that the target, not the parser, refuses it.
    result = conformance.run_model([parse("-- raw\n0x18\n-- result\n0\n")], {})[0]
    assert (result.r0, result.error) == (
        None, "ILLEGAL_INSTRUCTION at pc 0: lddw without a valid second slot")


# --- Judging --------------------------------------------------------------------------------

def case(expected_r0=None, expected_error=None) -> ConformanceCase:
    return ConformanceCase("c", pathlib.Path("c.data"), [], b"", expected_r0, expected_error)


def test_judge_exact_64_bit_match():
    assert judge(case(0xFFFFFFFFFFFFFFFF), CaseOutcome(0xFFFFFFFFFFFFFFFF, None)) == (True, "")
    assert judge(case(0x1), CaseOutcome(0x100000001, None)) == \
        (False, "expected 0x1 got 0x100000001")


def test_judge_error_when_a_result_was_expected():
    assert judge(case(2), CaseOutcome(None, "BUDGET at pc 3: x")) == \
        (False, "expected 0x2 got error: BUDGET at pc 3: x")


def test_judge_expected_error_text():
    assert judge(case(None, "bad"), CaseOutcome(None, "bad  \n")) == (True, "")
    assert judge(case(None, "bad"), CaseOutcome(None, "worse"))[0] is False
    assert judge(case(None, "bad"), CaseOutcome(0, None)) == \
        (False, "expected error 'bad' got 0x0")


# --- Targets --------------------------------------------------------------------------------

def test_target_registry_names_module_and_function():
    assert conformance.TARGETS == {"model": "firmware.conformance:run_model",
                                   "rtl": "sim.conformance:run_cases",
                                   "kernel": "firmware.kernel.conformance:run_cases"}
    assert load_target("model") is conformance.run_model


def test_missing_target_module_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(conformance.TARGETS, "nowhere", "firmware.no_such_module:run_cases")
    with pytest.raises(TargetUnavailable) as info:
        load_target("nowhere")
    assert str(info.value) == ("target nowhere is not available: No module named "
                               "'firmware.no_such_module'")
    with pytest.raises(TargetUnavailable, match="unknown target 'x'"):
        load_target("x")


def test_model_trap_becomes_error_naming_cause_and_pc():
    insns = assemble("mov %r0, 1\nldxw %r0, [%r1+100]\nexit")
    (outcome,) = conformance.run_model([ConformanceCase("c", pathlib.Path("c"), insns, b"",
                                                        1, None)], {})
    assert outcome.r0 is None
    assert outcome.error.startswith("OUT_OF_BOUNDS at pc 1: ")


def test_suite_results_are_in_file_order_with_skips_and_load_failures(tmp_path):
    (tmp_path / "b.data").write_text("-- asm\nmov %r0, 3\nexit\n-- result\n0x3\n")
    (tmp_path / "a.data").write_text("-- asm\nmov %r0, 3\nexit\n-- result\n0x4\n")
    (tmp_path / "c.data").write_text("-- asm\nexit\n-- what\n-- result\n0\n")
    (tmp_path / "d.data").write_text("-- asm\nbad\n-- result\n0\n")
    report = run_suite(tmp_path)
    assert [r.line() for r in report.results] == [
        "FAIL a: expected 0x4 got 0x3",
        "PASS b",
        "SKIP c: unknown directive '-- what' at line 3",
        f"FAIL d: cannot load: {tmp_path / 'd.data'}:2: expected an instruction mnemonic, "
        "found 'bad'",
    ]
    assert report.summary() == "1 passed, 2 failed, 1 skipped"


def test_suite_with_no_data_files_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no \\*.data files"):
        run_suite(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such directory"):
        run_suite(tmp_path / "missing")


def test_upstream_default_selection_runs_253_and_skips_60(conformance_dir):
    # The README's numbers for upstream's defaults (--cpu_version v3, six groups) and for v4.
    v3 = run_suite(conformance_dir, cpu_version=3, groups=conformance.UPSTREAM_DEFAULT_GROUPS)
    assert v3.summary() == "253 passed, 0 failed, 60 skipped"
    v4 = run_suite(conformance_dir, cpu_version=4, groups=conformance.UPSTREAM_DEFAULT_GROUPS)
    assert v4.summary() == "312 passed, 0 failed, 1 skipped"
    (skipped,) = [r.line() for r in v4.results if r.status == "skip"]
    assert skipped == "SKIP callx: needs group callx (callx at pc 2)"


def test_requirement_skip_names_first_instruction_needing_more():
    insns = assemble("lddw %r0, 1\nmovsx832 %r0, %r1\nexit")
    c = ConformanceCase("c", pathlib.Path("c"), insns, b"", 0, None)
    assert conformance.requirement_skip(c, 3, conformance.ALL_GROUPS) == \
        "needs cpu v4 (movsx832 at pc 2), target is v3"
    assert conformance.requirement_skip(c, 4, ("base32",)) == \
        "needs group base64 (lddw at pc 0)"
    assert conformance.requirement_skip(c, 4, conformance.ALL_GROUPS) is None
