"""Build (and optionally verify) the XDP programs in ``firmware/progs``.

``build_all(out_dir)`` compiles every program of ``PROGRAMS`` with ``firmware.build.compile_c``
(``clang -O2 -g -target bpf``), with ``firmware/progs/include`` on the include path, and returns
``{name: object path}``.  From the shell::

    python -m firmware.progs.build [-o DIR] [--verify] [--json] [NAME ...]

``--verify`` runs the xdpnic verifier on each object (what ``xdpnic verify`` does) and fails
when it refuses one.
"""

import argparse
import json
import os
import pathlib
import sys

from ..build import BuildError, compile_c

__all__ = ["PROGS_DIR", "INCLUDE_DIR", "PROGRAMS", "FEATURE_PROGRAMS", "source_path", "build_program", "build_all",
           "verify_object"]

PROGS_DIR = pathlib.Path(__file__).resolve().parent
INCLUDE_DIR = PROGS_DIR / "include"

# The programs, in the order docs/firmware.md lists them.
PROGRAMS = ("xdp_drop", "xdp_pass", "xdp_tx", "xdp1", "xdp2", "xdp_adjust_tail",
            "xdp_router_ipv4", "xdp_rxq_info", "xdp_tx_iptunnel", "xdp_fw", "xdp_lb",
            "xdp_redirect_map")
# Programs using what the model and the kernel run but the RTL does not have yet (tail calls,
# CPUMAP and DEVMAP_HASH redirects): tested on those targets, left out of the RTL's reports.
FEATURE_PROGRAMS = ("xdp_cpu_steer", "xdp_tail_dispatch", "xdp_fib_router", "xdp_vip_lb")


def source_path(name: str) -> pathlib.Path:
    """The C source of program ``name``; ValueError naming the known ones otherwise."""
    if name not in PROGRAMS + FEATURE_PROGRAMS:
        raise ValueError(f"no program {name!r} (have: {', '.join(PROGRAMS + FEATURE_PROGRAMS)})")
    return PROGS_DIR / f"{name}.c"


def build_program(name: str, out_dir: str | os.PathLike) -> pathlib.Path:
    """Compile one program into ``out_dir/<name>.o``; raises ``BuildError`` on failure."""
    out = pathlib.Path(out_dir) / f"{name}.o"
    out.parent.mkdir(parents=True, exist_ok=True)
    compile_c(source_path(name), out, (f"-I{INCLUDE_DIR}",))
    return out


def build_all(out_dir: str | os.PathLike, names=None) -> dict[str, pathlib.Path]:
    """Compile ``names`` (default: every program) into ``out_dir``; ``{name: path}``."""
    return {name: build_program(name, out_dir) for name in (names or PROGRAMS)}


def verify_object(path: str | os.PathLike):
    """Run the xdpnic verifier on an object's program; returns its ``VerifierResult``."""
    from ..ebpf.verifier import verify
    from ..program import load_program
    image = load_program(path)
    return verify(image.insns, "xdp", dict(enumerate(image.maps)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m firmware.progs.build",
        description="Compile the xdpnic XDP programs (firmware/progs/*.c) with clang.")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"programs to build (default: all of {', '.join(PROGRAMS)})")
    parser.add_argument("-o", "--out", default="build/progs", help="output directory")
    parser.add_argument("--verify", action="store_true",
                        help="run the xdpnic verifier on each object")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    report, status = [], 0
    for name in args.names or PROGRAMS:
        entry = {"name": name}
        try:
            path = build_program(name, args.out)
        except (BuildError, ValueError) as exc:
            entry.update(ok=False, error=str(exc))
            report.append(entry)
            status = 1
            continue
        entry.update(ok=True, object=str(path))
        if args.verify:
            from ..program import ProgramError
            try:
                result = verify_object(path)
            except ProgramError as exc:
                entry.update(ok=False, error=str(exc))
                status = 1
            else:
                entry["verified"] = result.accepted
                if not result.accepted:
                    entry.update(ok=False, error=f"verifier: {result.error} "
                                                 f"(instruction {result.error_pc})")
                    status = 1
        report.append(entry)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for entry in report:
            line = f"{entry['name']:<18} " + (entry.get("object", "") if entry["ok"]
                                              else f"FAILED: {entry['error']}")
            if entry.get("verified"):
                line += " (verified)"
            print(line, file=sys.stdout if entry["ok"] else sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
