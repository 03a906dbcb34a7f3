"""``xdpnic conformance``: run the bpf_conformance suite on a target; and
``xdpnic conformance-plugin`` (alias ``plugin``): the upstream runner's plugin protocol.

Plugin protocol (Ref: shared/conformance/bpf_conformance/README.md, "How a result is judged"):
the program arrives on stdin as space-separated hex bytes (an ELF image with ``--elf``), the
input memory as hex bytes in the first argument; the plugin prints the final r0 in hex and exits
0, or prints the error and exits 1.
"""

import argparse
import json
import pathlib
import sys

from ..conformance import (ALL_GROUPS, TARGETS, UPSTREAM_DEFAULT_GROUPS, ConformanceCase,
                           DataFileError, TargetUnavailable, load_target, run_suite)
from ..ebpf import isa
from ..ebpf.asm import parse_hex_bytes

__all__ = ["register", "plugin_main"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "conformance", help="run the bpf_conformance *.data suite on a target",
        description="Run every *.data file of a bpf_conformance directory on a target and "
                    "judge it as upstream does: one line per file (PASS/FAIL/SKIP), then "
                    "'N passed, N failed[, N skipped]'. Exit 0 iff nothing failed; 2 on a "
                    "usage problem (missing directory, no *.data files, target unavailable).")
    p.add_argument("directory", metavar="DIR", help="directory holding the *.data files")
    p.add_argument("--target", choices=sorted(TARGETS), default="model",
                   help="where the programs run (default: model, the golden interpreter)")
    p.add_argument("--sim", choices=("verilator", "icarus"), default="verilator",
                   help="RTL simulator for --target rtl (default: verilator)")
    p.add_argument("--waves", action="store_true", help="dump waveforms (--target rtl)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document (per-case records and totals) instead")
    p.add_argument("--filter", metavar="GLOB",
                   help="only files whose name matches GLOB (e.g. 'lock_*' or 'ldx*.data')")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="add instruction counts / cycles to PASS lines")
    p.add_argument("--cpu-version", type=_cpu_version, default=4, metavar="vN",
                   help="skip cases needing a newer instruction-set version, v1..v4 "
                        "(default v4: everything; upstream's runner defaults to v3)")
    p.add_argument("--groups", type=_groups, default=ALL_GROUPS, metavar="G1,G2,...",
                   help="skip cases needing a conformance group not listed "
                        f"(default: all of {','.join(ALL_GROUPS)}; upstream's default is "
                        f"{','.join(UPSTREAM_DEFAULT_GROUPS)})")
    p.set_defaults(func=_run_conformance)

    q = subparsers.add_parser(
        "conformance-plugin", aliases=["plugin"],
        help="bpf_conformance plugin protocol: program on stdin, r0 on stdout",
        description="Act as a bpf_conformance plugin: read the program as space-separated hex "
                    "bytes on stdin (an ELF image with --elf), take the input memory as hex "
                    "bytes in MEMHEX, run it, print the final r0 in hex and exit 0; on error "
                    "print the message and exit 1.")
    _plugin_arguments(q)
    q.set_defaults(func=_run_plugin)


def _cpu_version(text: str) -> int:
    value = text.lower().removeprefix("v")
    if value not in ("1", "2", "3", "4"):
        raise argparse.ArgumentTypeError(f"expected v1, v2, v3 or v4, found {text!r}")
    return int(value)


def _groups(text: str) -> tuple[str, ...]:
    names = tuple(g.strip() for g in text.split(",") if g.strip())
    unknown = [g for g in names if g not in ALL_GROUPS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"expected groups from {','.join(ALL_GROUPS)}, "
                                         f"found {text!r}")
    return names


def _plugin_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("memory", metavar="MEMHEX", nargs="?", default="",
                        help="input memory as hex bytes ('00 01 ff' or '0001ff'); default none")
    parser.add_argument("--target", choices=sorted(TARGETS), default="model",
                        help="where the program runs (default: model)")
    parser.add_argument("--elf", action="store_true",
                        help="stdin is an ELF object: run its first executable section")
    parser.add_argument("--sim", choices=("verilator", "icarus"), default="verilator",
                        help="RTL simulator for --target rtl (default: verilator)")


def _error(message: str) -> int:
    print(f"xdpnic conformance: error: {message}", file=sys.stderr)
    return 2


def _run_conformance(args) -> int:
    options = {"sim": args.sim, "waves": args.waves, "verbose": args.verbose}
    bar = None
    if sys.stderr.isatty() and not args.json:
        from tqdm import tqdm
        bar = tqdm(unit="case", file=sys.stderr, leave=False, desc=f"conformance/{args.target}")
        options["progress"] = bar.update
    try:
        report = run_suite(args.directory, args.target, options, args.filter,
                           cpu_version=args.cpu_version, groups=args.groups)
    except (FileNotFoundError, TargetUnavailable) as exc:
        return _error(str(exc))
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        for result in report.results:
            line = result.line()
            if args.verbose and result.status == "pass" and result.outcome is not None:
                extra = [f"{n} {unit}" for n, unit in ((result.outcome.insn_count, "insns"),
                                                       (result.outcome.cycles, "cycles"))
                         if n is not None]
                if extra:
                    line += f" ({', '.join(extra)})"
            print(line)
        print(report.summary())
    return 1 if report.count("fail") else 0


def program_from_elf(image: bytes) -> bytes:
    """The bytecode of an ELF object: its ``.text`` section, else its first non-empty
    executable section.  Raises ``ValueError`` naming what is missing."""
    import io

    from elftools.common.exceptions import ELFError
    from elftools.elf.constants import SH_FLAGS
    from elftools.elf.elffile import ELFFile
    try:
        elf = ELFFile(io.BytesIO(image))
        sections = list(elf.iter_sections())
    except ELFError as exc:
        raise ValueError(f"not a readable ELF image: {exc}") from None
    text = [s for s in sections if s.name == ".text" and s.data_size]
    code = text or [s for s in sections
                    if s["sh_flags"] & SH_FLAGS.SHF_EXECINSTR and s.data_size]
    if not code:
        raise ValueError("ELF image has no non-empty executable section")
    return code[0].data()


def _run_plugin(args) -> int:
    try:
        memory = parse_hex_bytes(args.memory, what="MEMHEX")
        program = parse_hex_bytes(sys.stdin.read(), what="program on stdin")
        if args.elf:
            program = program_from_elf(program)
        insns = isa.decode_program(program, strict=False)
        run_cases = load_target(args.target)
        case = ConformanceCase("stdin", pathlib.Path("<stdin>"), insns, memory,
                               None, None)
        (outcome,) = run_cases([case], {"sim": args.sim, "waves": False, "verbose": False})
    except (ValueError, isa.IsaError, DataFileError, TargetUnavailable) as exc:
        print(str(exc))
        return 1
    if outcome.error is not None:
        print(outcome.error)
        return 1
    print(f"{outcome.r0:#x}")
    return 0


def plugin_main(argv: list[str] | None = None) -> int:
    """Entry point of the ``xdpnic-conformance-plugin`` console script (the plugin protocol
    without the sub-command word, as upstream's ``--plugin_path`` wants one executable)."""
    parser = argparse.ArgumentParser(prog="xdpnic-conformance-plugin",
                                     description="bpf_conformance plugin for xdpnic targets")
    _plugin_arguments(parser)
    return _run_plugin(parser.parse_args(argv))
