"""Shared pytest set-up: the opt-in ``--runslow`` flag and the location of ``../shared``."""

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
    skip = pytest.mark.skip(reason="slow: opt in with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


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
