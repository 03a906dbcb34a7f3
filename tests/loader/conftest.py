"""Fixtures for the loader tests: the C test objects in firmware/progs/tests, compiled once
per session with clang into a temporary directory (the tests skip when clang is missing)."""

import pathlib

import pytest

from firmware.build import BuildError, compile_c, find_clang

PROGS = pathlib.Path(__file__).resolve().parents[2] / "firmware" / "progs" / "tests"


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> pathlib.Path:
    return tmp_path_factory.mktemp("bpf-objects")


@pytest.fixture(scope="session")
def compile_prog(build_dir):
    """compile_prog(name, *flags) -> path of firmware/progs/tests/<name>.c compiled."""
    if find_clang() is None:
        pytest.skip("clang is not installed (scripts/setup.sh installs it)")
    cache: dict[tuple, pathlib.Path] = {}

    def build(name: str, *flags: str) -> pathlib.Path:
        key = (name, flags)
        if key not in cache:
            suffix = "".join(f.strip("-").replace("=", "_") for f in flags)
            out = build_dir / f"{name}{('-' + suffix) if suffix else ''}.o"
            try:
                compile_c(PROGS / f"{name}.c", out, flags)
            except BuildError as exc:
                pytest.fail(str(exc))
            cache[key] = out
        return cache[key]

    return build


@pytest.fixture(scope="session")
def compile_source(build_dir):
    """compile_source(name, c_text) -> path of an object compiled from inline C."""
    if find_clang() is None:
        pytest.skip("clang is not installed (scripts/setup.sh installs it)")

    def build(name: str, text: str) -> pathlib.Path:
        src = build_dir / f"{name}.c"
        src.write_text(text)
        out = build_dir / f"{name}.o"
        try:
            compile_c(src, out)
        except BuildError as exc:
            pytest.fail(str(exc))
        return out

    return build
