"""Fixtures of the live-path tests: the live programs compiled once per session."""

import pytest

from tests.conftest import require_tool


@pytest.fixture(scope="session")
def live_programs(tmp_path_factory):
    """``{name: object path}`` of ``firmware/progs/live``'s programs (skips without clang)."""
    require_tool("clang")
    from firmware.progs.live import LIVE_PROGRAMS, build_live_program
    out = tmp_path_factory.mktemp("live-progs")
    return {name: build_live_program(name, out) for name in LIVE_PROGRAMS}


def require_kernel_bpf() -> None:
    """Skip with the reason when bpf() cannot load programs here (not root)."""
    from firmware.kernel.bpf import bpf_unavailable_reason
    reason = bpf_unavailable_reason()
    if reason:
        pytest.skip(f"the kernel target is not available: {reason}")
