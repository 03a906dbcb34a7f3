"""The bpf_conformance suite on the core: Amaranth simulator, Verilator and Icarus (cocotb).

Every simulator must pass all 313 files, count the same completed instructions as the golden
model, and (being the same RTL) report identical cycle counts.
"""

import shutil
import sys
import pathlib

import pytest

from firmware.conformance import find_data_files, parse_data_file, run_model, run_suite
from firmware.ebpf import model
from sim.driver import format_trace, run_on_amaranth

VENV_VERILATOR = pathlib.Path(sys.executable).parent / "verilator"


@pytest.fixture(scope="module")
def amaranth_report(conformance_dir):
    return run_suite(conformance_dir, "rtl", {"sim": "amaranth"})


@pytest.fixture(scope="module")
def model_counts(conformance_dir):
    cases = [parse_data_file(p) for p in find_data_files(conformance_dir)]
    return {c.name: o.insn_count for c, o in zip(cases, run_model(cases, {}))}


def _summary(report):
    return report.summary().splitlines()[-1]


def test_suite_passes_on_the_amaranth_simulator(amaranth_report, model_counts):
    assert _summary(amaranth_report) == "313 passed, 0 failed"
    for result in amaranth_report.results:
        assert result.outcome.insn_count == model_counts[result.name], result.name


@pytest.mark.rtl
@pytest.mark.parametrize("sim", ["verilator", "icarus"])
def test_suite_passes_under_cocotb_with_the_same_cycles(sim, conformance_dir, amaranth_report):
    if sim == "verilator" and not VENV_VERILATOR.exists() and shutil.which("verilator") is None:
        pytest.skip("verilator is not installed (scripts/setup.sh puts it in .venv/bin)")
    if sim == "icarus" and shutil.which("iverilog") is None:
        pytest.skip("iverilog is not installed (apt-get install iverilog)")
    report = run_suite(conformance_dir, "rtl", {"sim": sim})
    assert _summary(report) == "313 passed, 0 failed"
    cycles = {r.name: r.outcome.cycles for r in amaranth_report.results}
    for result in report.results:
        assert result.outcome.cycles == cycles[result.name], result.name


def test_rtl_trace_matches_the_model_trace(conformance_dir):
    names = ["call_local", "lock_fetch_add", "lddw2", "prime", "stxb-all", "callx",
             "call_unwind_fail", "mem-len", "jit-bounce"]
    cases = [parse_data_file(conformance_dir / f"{n}.data") for n in names]
    results = run_on_amaranth([(c.insns, c.mem) for c in cases], trace=True)
    for case, got in zip(cases, results):
        want = model.run(case.insns, context=case.mem, helpers=model.conformance_helpers(),
                         trace=True)
        assert format_trace(case.insns, got) == want.trace, case.name


@pytest.mark.rtl
def test_icarus_waves_are_written(conformance_dir, tmp_path, monkeypatch, capsys):
    if shutil.which("iverilog") is None:
        pytest.skip("iverilog is not installed (apt-get install iverilog)")
    report = run_suite(conformance_dir, "rtl", {"sim": "icarus", "waves": True}, "add.data")
    assert _summary(report) == "1 passed, 0 failed"
    err = capsys.readouterr().err
    path = pathlib.Path(err.split("waveform: ")[1].split()[0])
    assert path.suffix == ".vcd" and path.stat().st_size > 1000
    assert path.read_text(errors="replace").startswith("$date")


@pytest.mark.rtl
@pytest.mark.slow
def test_verilator_waves_are_fst(conformance_dir, capsys):
    report = run_suite(conformance_dir, "rtl", {"sim": "verilator", "waves": True}, "add.data")
    assert _summary(report) == "1 passed, 0 failed"
    path = pathlib.Path(capsys.readouterr().err.split("waveform: ")[1].split()[0])
    assert path.suffix == ".fst" and path.read_bytes()[:1] == b"\x00"
