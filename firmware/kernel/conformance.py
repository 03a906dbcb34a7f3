"""The ``kernel`` target of the conformance runner (``firmware/conformance.py``).

Each case runs in the real kernel as a wrapped XDP program (see ``firmware.kernel.wrap`` and
docs/kernel-target.md): r1 points to a copy of the case's memory (a one-entry array map's
value), r2 holds its length, and the full 64-bit r0 comes back through a result map.

A program the kernel's verifier refuses (or that cannot be wrapped faithfully) was not run,
so it is neither a pass nor a failure of the kernel: its outcome carries ``skip`` with the
verifier's first line of verdict, and ``error`` with the same text prefixed by
``kernel refused:`` for runners that do not know about ``skip``.
"""


from ..conformance import CaseOutcome, ConformanceCase, TargetUnavailable
from ..ebpf.machine import UNWIND_HELPER_ID
from .bpf import KernelError, bpf_unavailable_reason
from .runner import run_wrapped

__all__ = ["run_cases", "run_case"]


def run_case(case: ConformanceCase) -> CaseOutcome:
    """Run one case in the kernel (``KernelError`` when the kernel cannot be used at all)."""
    run = run_wrapped(case.insns, case.mem, name=f"c_{case.name}",
                      unwind_helper=UNWIND_HELPER_ID)
    if run.rejected is not None:
        return CaseOutcome(None, f"kernel refused: {run.rejected}", skip=run.rejected)
    return CaseOutcome(run.r0, None)


def run_cases(cases: list[ConformanceCase], options: dict | None = None) -> list[CaseOutcome]:
    """Run ``cases`` in the kernel, one outcome per case, in order.

    ``options["progress"]``, if set, is called once per case.  Raises ``TargetUnavailable``
    (which the runner reports as a usage error, not 313 failures) when this process cannot
    use ``bpf()``: not root, no BPF.
    """
    options = options or {}
    tick = options.get("progress")
    unavailable = bpf_unavailable_reason()
    if unavailable is not None:
        raise TargetUnavailable(f"target kernel is not available: {unavailable}")
    outcomes: list[CaseOutcome] = []
    for case in cases:
        try:
            outcomes.append(run_case(case))
        except KernelError as exc:
            # Not a verdict on the program (e.g. ENOMEM creating a map): report it as the
            # case's error, with the kernel's words.
            outcomes.append(CaseOutcome(None, f"kernel error: {exc}"))
        if tick:
            tick()
    return outcomes
