"""The bpf_conformance suite in the kernel: the kernel target, and the golden model judged
against the kernel on every file the kernel runs."""

import pytest

from firmware.conformance import find_data_files, parse_data_file
from firmware.ebpf import model
from firmware.ebpf.machine import TrapCause
from firmware.kernel.conformance import run_cases

pytestmark = pytest.mark.usefixtures("bpf")

# The files the kernel refuses, and the first line of its verdict.  Shifts by an immediate
# outside 0..width-1 are undefined in C and refused by the kernel (the suite expects the
# masked result); callx is not in the kernel's instruction set.
KERNEL_REFUSES = {
    "callx": "unknown opcode 8d",
    **{f"{op}{w}-imm-{kind}": "invalid shift"
       for op in ("arsh", "lsh", "rsh") for w in (32, 64) for kind in ("high", "neg")},
}


@pytest.fixture(scope="module")
def suite(conformance_dir):
    cases = [parse_data_file(p) for p in find_data_files(conformance_dir)]
    return cases, run_cases(cases, {})


def test_kernel_runs_every_file_it_accepts_to_the_expected_result(suite):
    cases, outcomes = suite
    assert len(outcomes) == len(cases) == 313
    failures = [f"{c.name}: kernel r0 {o.r0:#x}, expected {c.expected_r0:#x}"
                for c, o in zip(cases, outcomes) if o.skip is None and o.r0 != c.expected_r0]
    assert failures == []
    assert sum(o.skip is None for o in outcomes) == 313 - len(KERNEL_REFUSES)


def test_kernel_refuses_exactly_the_known_files_with_its_own_reason(suite):
    cases, outcomes = suite
    refused = {c.name: o.skip for c, o in zip(cases, outcomes) if o.skip is not None}
    assert sorted(refused) == sorted(KERNEL_REFUSES)
    for name, reason in refused.items():
        assert reason.startswith(KERNEL_REFUSES[name]), (name, reason)
        outcome = outcomes[[c.name for c in cases].index(name)]
        assert outcome.r0 is None and outcome.error == f"kernel refused: {reason}"


def test_model_agrees_with_the_kernel_on_every_file_the_kernel_runs(suite):
    cases, outcomes = suite
    disagreements = []
    for case, outcome in zip(cases, outcomes):
        if outcome.skip is not None:
            continue
        result = model.run(case.insns, context=case.mem, helpers=model.conformance_helpers())
        if result.trap != TrapCause.NONE or result.r0 != outcome.r0:
            disagreements.append(f"{case.name}: model r0 {result.r0:#x} trap {result.trap.name}"
                                 f", kernel r0 {outcome.r0:#x}")
    assert disagreements == []


def test_unwind_helper_file_runs_through_the_inlined_helper(suite):
    cases, outcomes = suite
    index = [c.name for c in cases].index("call_unwind_fail")
    assert outcomes[index].skip is None and outcomes[index].r0 == 2
