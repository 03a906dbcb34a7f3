"""The pipelined core (``hw.core.pipelined``) in the Amaranth simulator: the bpf_conformance
suite and random programs (malformed ones included) against the golden model, and every run's
``cycles`` against the cost model of :mod:`sim.core_costs`, written apart from the RTL."""

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.conformance import find_data_files, judge, parse_data_file
from firmware.ebpf import asm, isa, model
from hw.core.pipelined.core import Core
from hw.core.pipelined.multiplier import LATENCY, Multiplier
from sim.conformance import outcome_of
from sim.core_costs import DIV_CYCLES, FILL, predict_cycles
from sim.driver import run_on_amaranth
from sim.units import SimTop

from .fuzz import assert_matches_model, program
from .simhelp import run_testbench
from .test_fuzz import BUDGET

COMMON = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def run(programs, **kwargs):
    return run_on_amaranth(programs, top=SimTop(core_class=Core), **kwargs)


def test_conformance_suite_passes_with_the_model_counts_and_the_cost_models_cycles(
        conformance_dir):
    cases = [parse_data_file(p) for p in find_data_files(conformance_dir)]
    results = run([(c.insns, c.mem) for c in cases], read_state=False)
    for case, result in zip(cases, results):
        outcome = outcome_of(result)
        passed, why = judge(case, outcome)
        assert passed, f"{case.name}: {why}"
        want = model.run(case.insns, context=case.mem, helpers=model.conformance_helpers())
        assert result.insn_count == want.insn_count, case.name
        assert result.cycles == predict_cycles(case.insns, context=case.mem), case.name


@settings(max_examples=2, **COMMON)
@given(st.lists(program(), min_size=40, max_size=40))
def test_random_programs_match_the_model_and_the_cost_model(programs):
    results = run(programs, budget=BUDGET)
    for (insns, ctx), got in zip(programs, results):
        assert_matches_model(insns, ctx, got, BUDGET)
        assert got.cycles == predict_cycles(insns, context=ctx, budget=BUDGET)


@pytest.mark.slow
@settings(max_examples=200, **COMMON)
@given(st.lists(program(max_body=48), min_size=50, max_size=50))
def test_random_programs_match_the_model_long(programs):
    test_random_programs_match_the_model_and_the_cost_model.hypothesis.inner_test(programs)


def _cycles(source: str, context: bytes = b"") -> int:
    insns = isa.decode_program(asm.assemble_bytes(source))
    (result,) = run([(insns, context)], read_state=False)
    return result.cycles


# Hand-derived figures: FILL, then one cycle per instruction in execute, plus the costs the
# docstring of sim.core_costs gives; the final exit is 1.

def test_dependent_alu_chain_runs_one_instruction_per_cycle():
    chain = "mov %r0, 1\n" + "add %r0, %r0\nxor %r0, 3\nlsh %r0, 1\n" * 10 + "exit"
    assert _cycles(chain) == FILL + 31 + 1


def test_taken_branch_costs_two_bubbles_and_not_taken_none():
    assert _cycles("mov %r0, 0\njeq %r0, 0, +1\nmov %r0, 1\nexit") == FILL + 1 + 3 + 1
    assert _cycles("mov %r0, 0\njeq %r0, 1, +1\nmov %r0, 1\nexit") == FILL + 1 + 1 + 1 + 1


def test_load_use_and_stores():
    # stxdw: the write (1); ldxdw: RAM read, registered, data (3); the add uses the load
    # at once.
    assert _cycles("mov %r1, 5\nstxdw [%r10-8], %r1\nldxdw %r0, [%r10-8]\nadd %r0, %r0\n"
                   "exit") == FILL + 1 + 1 + 3 + 1 + 1


def test_base_register_written_just_before_costs_a_bubble():
    # Decode forms the address from the register file: r1 written by the mov is not there yet.
    assert _cycles("mov %r1, %r10\nstxdw [%r1-8], %r1\nexit") == FILL + 1 + 1 + 1 + 1
    assert _cycles("mov %r1, %r10\nmov %r0, 0\nstxdw [%r1-8], %r1\nexit") == \
        FILL + 1 + 1 + 1 + 1


def test_lddw_bubble_only_after_a_one_cycle_instruction():
    # After mov (1 cycle) the pair costs a bubble; after mul (4 cycles) it was assembled
    # while the multiply ran.
    assert _cycles("mov %r0, 2\nlddw %r1, 0x100000000\nexit") == FILL + 1 + 2 + 1
    assert _cycles("mov %r0, 2\nmul %r0, 3\nlddw %r1, 0x100000000\nexit") == \
        FILL + 1 + 4 + 1 + 1


def test_divide_is_iterative():
    assert _cycles("mov %r0, 100\ndiv %r0, 7\nexit") == FILL + 1 + DIV_CYCLES[64] + 1
    assert _cycles("mov32 %r0, 100\ndiv32 %r0, 7\nexit") == FILL + 1 + DIV_CYCLES[32] + 1
    assert _cycles("mov %r0, 100\ndiv %r0, 0\nexit") == FILL + 1 + 2 + 1


def test_multiplier_matches_isa_with_its_latency():
    rng = random.Random(3)
    edges = [0, 1, 3, 0xFFFF, 0x1_0000, 0xFFFFFFFF, 1 << 63, (1 << 64) - 1]
    cases = [(rng.choice(edges + [rng.getrandbits(64)] * 4),
              rng.choice(edges + [rng.getrandbits(64)] * 4), rng.random() < 0.5)
             for _ in range(300)]
    dut = Multiplier()

    async def bench(ctx):
        for a, b, is64 in cases:
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            ctx.set(dut.is64, is64)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            ticks = 1
            while not ctx.get(dut.done):
                await ctx.tick()
                ticks += 1
            assert ticks == LATENCY
            assert ctx.get(dut.result) == isa.alu(isa.AluOp.MUL, is64, a, b, 0, 0, True), \
                (hex(a), hex(b), is64)

    run_testbench(dut, bench)
