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


def require_namespaces() -> None:
    """Skip with the reason when this machine cannot give the test namespaces and TAPs
    (not root, no iproute2 or ping, no /dev/net/tun, namespaces refused)."""
    import os
    import subprocess
    if os.geteuid() != 0:
        pytest.skip("needs root: xdpnic attach creates network namespaces and TAP interfaces")
    require_tool("ip")
    require_tool("ping")
    if not os.path.exists("/dev/net/tun"):
        pytest.skip("/dev/net/tun is missing: no TAP devices in this container")
    probe = f"xdpnic-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode:
        pytest.skip(f"network namespaces are not available: {made.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
