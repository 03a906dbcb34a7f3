"""firmware.build: the clang command line and its errors."""

import platform

import pytest

from firmware.build import BuildError, clang_command, compile_c, find_clang


def test_clang_command_is_the_libbpf_one():
    cmd = clang_command("x.c", "x.o", "clang")
    machine = {"arm64": "aarch64"}.get(platform.machine(), platform.machine())
    assert cmd == ["clang", "-O2", "-g", "-target", "bpf",
                   f"-I/usr/include/{machine}-linux-gnu", "-c", "x.c", "-o", "x.o"]


def test_compile_error_carries_clang_diagnostics(tmp_path):
    if find_clang() is None:
        pytest.skip("clang is not installed (scripts/setup.sh installs it)")
    src = tmp_path / "broken.c"
    src.write_text("int f(void) { return undeclared; }\n")
    with pytest.raises(BuildError, match=r"broken\.c:1:22: error: use of undeclared "
                                         r"identifier 'undeclared'"):
        compile_c(src, tmp_path / "broken.o")


def test_missing_clang_is_a_build_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CLANG", "no-such-clang-xdpnic")
    with pytest.raises(BuildError, match="clang is not installed"):
        compile_c(tmp_path / "x.c", tmp_path / "x.o")
