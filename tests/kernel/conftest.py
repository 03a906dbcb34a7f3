"""Kernel-tier fixtures: skip (with the reason) where this process cannot use ``bpf()``."""

import pytest

from firmware.kernel.bpf import bpf_unavailable_reason


@pytest.fixture(scope="session")
def bpf():
    """Skip the test unless the kernel lets us create BPF maps and load programs (probed
    once, by creating a one-entry array map)."""
    reason = bpf_unavailable_reason()
    if reason is not None:
        pytest.skip(f"kernel BPF not usable here: {reason}")
    return True
