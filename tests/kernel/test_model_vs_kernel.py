"""The golden model against the kernel on random programs: r0..r8 and memory must agree.

The kernel is right by definition; a disagreement is a model bug to report (with the shrunk
program hypothesis prints), not a test to relax.
"""

import pytest
from hypothesis import HealthCheck, given, settings

from firmware.ebpf import model
from firmware.ebpf.disasm import disassemble
from firmware.ebpf.machine import TrapCause
from firmware.kernel.runner import run_wrapped

from .randprog import REGS, programs

pytestmark = pytest.mark.usefixtures("bpf")

_COMMON = dict(derandomize=True, database=None, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.function_scoped_fixture])


def check_program(insns, mem: bytes) -> None:
    """r0..r8 and the memory block after the run must be the same on both."""
    kernel = run_wrapped(insns, mem, save_regs=REGS, name="rand", unwind_helper=None)
    listing = "\n".join(disassemble(insns))
    assert kernel.rejected is None, f"kernel refused: {kernel.rejected}\n{listing}\n{kernel.log}"
    result = model.run(insns, context=mem)
    assert result.trap == TrapCause.NONE, f"model trapped: {result.trap_message}\n{listing}"
    diff = {f"r{r}": (f"model {result.regs[r]:#x}", f"kernel {kernel.regs[r]:#x}")
            for r in REGS if result.regs[r] != kernel.regs[r]}
    if result.context != kernel.mem:
        diff["mem"] = (f"model {result.context.hex()}", f"kernel {kernel.mem.hex()}")
    assert not diff, f"model and kernel disagree: {diff}\nmem {mem.hex()}\n{listing}"


@settings(max_examples=200, **_COMMON)
@given(programs())
def test_model_matches_kernel_on_random_programs(program):
    check_program(*program)


@pytest.mark.slow
@settings(max_examples=5000, **_COMMON)
@given(programs(max_body=80))
def test_model_matches_kernel_on_many_random_programs(program):
    check_program(*program)
