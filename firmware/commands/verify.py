"""``xdpnic verify``: run the verifier on a program and print its log, as the kernel would.

The program is an assembly file, raw bytecode (``.bin``), a clang ``-target bpf`` object
(through the loader, with its maps) or a bpf_conformance ``.data`` file (verified under that
suite's calling convention: r1 points to its memory, r2 holds the length).  Exit status: 0
accepted, 1 rejected, 2 bad input.
"""

import json
import pathlib
import sys

from ..ebpf.verifier import (CONFORMANCE, COMPLEXITY_LIMIT, LINUX, XDPNIC, memory_entry_state,
                             verify)

__all__ = ["register"]

_PLATFORMS = {"xdpnic": XDPNIC, "linux": LINUX, "conformance": CONFORMANCE}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "verify", help="verify a program (assembly, .bin, clang object or .data) and print "
                       "the verifier log",
        description="Verify an eBPF program the way the kernel does before it reaches the "
                    "NIC: types, packet bounds proven against data_end, stack, map values "
                    "checked for NULL, helper arguments, calls, loops. Prints the log "
                    "(on rejection: the instruction index, its disassembly, the registers "
                    "and the reason). Exit status 0 accepted, 1 rejected, 2 bad input.")
    p.add_argument("file", metavar="FILE",
                   help="assembly text, raw bytecode (.bin), a clang object (.o) or a "
                        "bpf_conformance .data file")
    p.add_argument("--section", metavar="NAME",
                   help="for an object with several programs: the function or section name")
    p.add_argument("--type", dest="program_type", choices=("xdp", "conformance"),
                   help="program type (default: conformance for .data files, else xdp)")
    p.add_argument("--platform", choices=sorted(_PLATFORMS),
                   help="helpers and map types on offer (default: xdpnic; conformance for "
                        "the conformance type)")
    p.add_argument("--mem-size", type=int, metavar="N",
                   help="conformance type: bytes r1 points to (default: the .data file's "
                        "memory, else 0)")
    p.add_argument("--max-insns", type=int, default=COMPLEXITY_LIMIT, metavar="N",
                   help=f"complexity limit: instructions processed (default {COMPLEXITY_LIMIT})")
    p.add_argument("--safety-only", action="store_true",
                   help="judge safety alone: accept what RFC 9669 defines but Linux refuses "
                        "(division by the immediate 0, out-of-range immediate shifts)")
    p.add_argument("--unprivileged", action="store_true",
                   help="the stricter rules (no uninitialized stack reads, no pointer leaks, "
                        "packet pointers a helper invalidates unreadable); default: the rules "
                        "Linux 6.18 applies to a root loader such as bpftool")
    p.add_argument("--log-level", type=int, choices=(1, 2), default=1,
                   help="1: the failing instruction and reason (default); 2: also every "
                        "instruction processed, with the registers before it")
    p.add_argument("--json", action="store_true",
                   help="one JSON object: accepted, error_pc, error, insns_processed, log")
    p.set_defaults(func=_run)


def _bad(message: str) -> int:
    print(f"xdpnic verify: error: {message}", file=sys.stderr)
    return 2


def _run(args) -> int:
    path = pathlib.Path(args.file)
    if not path.exists():
        return _bad(f"{path}: no such file")
    if args.max_insns <= 0:
        return _bad(f"--max-insns must be positive, not {args.max_insns}")
    mem = b""
    maps = None
    name = path.stem
    if path.suffix == ".data":
        from ..conformance import DataFileError, SkipCase, parse_data_file
        try:
            case = parse_data_file(path)
        except (DataFileError, SkipCase, OSError, ValueError) as exc:
            return _bad(str(exc))
        insns, mem = case.insns, case.mem
        default_type = "conformance"
    else:
        from ..program import ProgramError, check_program_type, load_program
        try:
            image = load_program(path, args.section)
        except ProgramError as exc:
            return _bad(str(exc))
        insns, name = image.insns, image.name
        maps = dict(enumerate(image.maps)) if image.maps else None
        default_type = "xdp"
        if not args.program_type:
            try:
                check_program_type(image, verb="verifies")
            except ProgramError as exc:
                refusal = str(exc)
                return _report(args, path, name, "xdp", "-", False, None, refusal, 0,
                               [refusal])
    program_type = args.program_type or default_type
    platform = _PLATFORMS[args.platform or ("conformance" if program_type == "conformance"
                                            else "xdpnic")]
    entry = None
    if program_type == "conformance":
        size = args.mem_size if args.mem_size is not None else len(mem)
        if size < 0:
            return _bad(f"--mem-size must be >= 0, not {size}")
        entry = memory_entry_state(size, platform)
    result = verify(insns, program_type, maps, platform, entry, max_insns=args.max_insns,
                    log_level=args.log_level, linux_compat=not args.safety_only,
                    privileged=not args.unprivileged)
    return _report(args, path, name, program_type, platform.name, result.accepted,
                   result.error_pc, result.error, result.insns_processed, result.log)


def _report(args, path, name, program_type, platform, accepted, error_pc, error, processed,
            log) -> int:
    if args.json:
        print(json.dumps({"file": str(path), "program": name, "type": program_type,
                          "platform": platform, "accepted": accepted, "error_pc": error_pc,
                          "error": error, "insns_processed": processed, "log": log},
                         indent=1))
    else:
        for line in log:
            print(line)
        print(f"{name}: {'accepted' if accepted else 'rejected'}")
    return 0 if accepted else 1

