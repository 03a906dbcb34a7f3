"""Fixtures for the firmware tests: each program compiled once per session, and the targets
(``harness.TARGETS``) every program test runs on; the kernel target skips, with the reason,
where this process cannot load BPF programs."""

import pathlib

import pytest

from firmware.build import BuildError, find_clang
from firmware.program import load_program
from firmware.progs.build import build_program

from .harness import TARGETS


@pytest.fixture(scope="session")
def prog_objects(tmp_path_factory):
    """build(name) -> the object of firmware/progs/<name>.c, compiled once per session."""
    if find_clang() is None:
        pytest.skip("clang is not installed (scripts/setup.sh installs it)")
    out_dir = tmp_path_factory.mktemp("progs")
    cache: dict[str, pathlib.Path] = {}

    def build(name: str) -> pathlib.Path:
        if name not in cache:
            try:
                cache[name] = build_program(name, out_dir)
            except BuildError as exc:
                pytest.fail(str(exc))
        return cache[name]

    return build


@pytest.fixture(scope="session")
def load_image(prog_objects):
    """load_image(name) -> the ProgramImage (instructions and map specs) of a program."""
    return lambda name: load_program(prog_objects(name))


@pytest.fixture(params=sorted(TARGETS))
def target_name(request):
    """Each target a program test runs on: ``model``, ``kernel``, ``rtl``."""
    if request.param == "rtl":
        from tests.conftest import require_verilator
        require_verilator()
    if request.param == "kernel":
        from firmware.kernel.bpf import bpf_unavailable_reason
        reason = bpf_unavailable_reason()
        if reason is not None:
            pytest.skip(f"kernel BPF not usable here: {reason}")
    return request.param


@pytest.fixture
def make_target(target_name, load_image):
    """make_target(name, image=None) -> a Target running program ``name`` (or ``image``, a
    ProgramImage the test changed) on this test's target; closed at the end of the test."""
    opened = []

    def make(name: str, image=None):
        target = TARGETS[target_name](image or load_image(name))
        opened.append(target)
        return target

    yield make
    for target in opened:
        target.close()
