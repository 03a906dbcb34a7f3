"""The kernel conformance target's contract with the runner, without needing the kernel."""

import pathlib

import pytest

import firmware.kernel.conformance as kernel_conformance
from firmware.conformance import ConformanceCase, TargetUnavailable
from firmware.kernel.build import make


def test_no_bpf_is_one_clear_target_error_not_a_failure_per_case(monkeypatch):
    monkeypatch.setattr(kernel_conformance, "bpf_unavailable_reason",
                        lambda: "BPF_MAP_CREATE: EPERM (Operation not permitted)")
    case = ConformanceCase("c", pathlib.Path("c.data"), [make("mov", 0, imm=1), make("exit")],
                           b"", 1, None)
    with pytest.raises(TargetUnavailable, match="target kernel is not available: "
                                                "BPF_MAP_CREATE: EPERM"):
        kernel_conformance.run_cases([case], {})


@pytest.mark.usefixtures("bpf")
def test_outcomes_come_in_order_with_progress_ticks():
    cases = [ConformanceCase(f"c{i}", pathlib.Path(f"c{i}.data"),
                             [make("mov", 0, imm=i), make("exit")], b"", i, None)
             for i in range(3)]
    cases.append(ConformanceCase("bad", pathlib.Path("bad.data"), [make("exit")], b"", 0, None))
    ticks = []
    outcomes = kernel_conformance.run_cases(cases, {"progress": lambda: ticks.append(1)})
    assert [o.r0 for o in outcomes] == [0, 1, 2, None]
    assert [o.skip for o in outcomes] == [None, None, None, "R0 !read_ok"]
    assert outcomes[3].error == "kernel refused: R0 !read_ok"
    assert len(ticks) == 4
