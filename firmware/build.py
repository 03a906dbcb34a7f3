"""Compile BPF C programs with clang, the way libbpf users do.

``compile_c(source, output)`` runs ``clang -O2 -g -target bpf -I/usr/include/<arch>-linux-gnu
-c``: ``-g`` makes clang emit ``.BTF`` (needed for BTF-defined maps), and the multiarch include
directory supplies ``asm/types.h`` for ``linux/bpf.h``.  Used by the loader's tests and by the
firmware build; ``python -m firmware.build SRC.c [-o OUT.o]`` does one file from the shell.
"""

import argparse
import os
import platform
import shutil
import subprocess
import sys

__all__ = ["BuildError", "find_clang", "clang_command", "compile_c"]

# Debian's multiarch triplets for the machines we run on (uname -m -> directory name).
_MULTIARCH = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu",
              "arm64": "aarch64-linux-gnu", "riscv64": "riscv64-linux-gnu"}


class BuildError(RuntimeError):
    """clang is missing or rejected the source; the message carries clang's diagnostics."""


def find_clang() -> str | None:
    """Path of clang (``$CLANG`` if set), or None when it is not installed."""
    wanted = os.environ.get("CLANG", "clang")
    return shutil.which(wanted)


def clang_command(source: str, output: str, clang: str = "clang",
                  extra_flags: tuple[str, ...] = ()) -> list[str]:
    """The clang command line that compiles ``source`` to the BPF object ``output``."""
    machine = platform.machine()
    include = f"/usr/include/{_MULTIARCH.get(machine, machine + '-linux-gnu')}"
    return [clang, "-O2", "-g", "-target", "bpf", f"-I{include}", *extra_flags,
            "-c", source, "-o", output]


def compile_c(source: str | os.PathLike, output: str | os.PathLike,
              extra_flags: tuple[str, ...] = ()) -> str:
    """Compile one C file to a BPF object; returns the output path.

    Raises ``BuildError`` when clang is missing or the compile fails.
    """
    clang = find_clang()
    if clang is None:
        raise BuildError("clang is not installed (scripts/setup.sh installs it)")
    cmd = clang_command(os.fspath(source), os.fspath(output), clang, tuple(extra_flags))
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode:
        raise BuildError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stderr}")
    return os.fspath(output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware.build",
                                     description="Compile a BPF C program with clang.")
    parser.add_argument("source", help="C source file")
    parser.add_argument("-o", "--output", help="object file (default: SOURCE with .o)")
    parser.add_argument("-D", dest="defines", action="append", default=[],
                        help="preprocessor definition passed to clang")
    args = parser.parse_args(argv)
    output = args.output or os.path.splitext(args.source)[0] + ".o"
    try:
        compile_c(args.source, output, tuple(f"-D{d}" for d in args.defines))
    except BuildError as exc:
        print(f"build: {exc}", file=sys.stderr)
        return 1
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
