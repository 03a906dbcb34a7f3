"""Verifier work and speed on the firmware programs, beside the kernel's own count.

    python -m firmware.ebpf.verifier.bench [--objects build/progs] [--repeat 5] [--json]

For each object in ``--objects`` (build them with ``python -m firmware.progs.build -o DIR``):
the instructions our verifier processes, the kernel's count for the same program loaded as
root (its ``processed N insns`` line; "-" where this process cannot load programs), their
ratio, and our processed instructions per second over ``--repeat`` runs.  The last line sums
them up.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import json
import os
import pathlib
import re
import sys
import time

from . import verify

__all__ = ["measure", "kernel_processed"]

_PROCESSED = re.compile(r"processed (\d+) insns")


def kernel_processed(insns, maps) -> int | None:
    """The kernel's processed-instruction count for an XDP program (maps created and
    relocated), or None when it refuses the program or this process cannot load one."""
    from ...kernel import bpf as kbpf
    from ...kernel.xdp import relocate_maps
    from ..isa import encode_program
    if kbpf.bpf_unavailable_reason() is not None:
        return None
    opened = []
    try:
        for spec in maps:
            try:
                opened.append(kbpf.create_map(
                    int(spec.type), spec.key_size, spec.value_size, spec.max_entries,
                    getattr(spec, "name", "") or "m", int(getattr(spec, "flags", 0) or 0)))
            except kbpf.KernelError:
                return None     # a map this plain creation cannot make (a map of maps)
        code = encode_program(relocate_maps(insns, [m.fd for m in opened]))
        buf = ctypes.create_string_buffer(code, len(code))
        lic = ctypes.create_string_buffer(b"GPL")
        log = ctypes.create_string_buffer(1 << 16)
        # log level 4 (BPF_LOG_STATS): only the statistics line
        attr = kbpf._ProgLoadAttr(prog_type=int(kbpf.ProgType.XDP), insn_cnt=len(code) // 8,
                                  insns=ctypes.addressof(buf), license=ctypes.addressof(lic),
                                  log_level=4, log_size=len(log), log_buf=ctypes.addressof(log),
                                  prog_name=b"vbench")
        try:
            os.close(kbpf._syscall(kbpf.Cmd.PROG_LOAD, attr))
        except OSError as exc:
            if exc.errno in (errno.EPERM, errno.EACCES, errno.EINVAL):
                return None
            raise
        found = _PROCESSED.search(log.value.decode(errors="replace"))
        return int(found.group(1)) if found else None
    finally:
        for m in opened:
            m.close()


def measure(objects: pathlib.Path, repeat: int = 5) -> list[dict]:
    from ...program import ProgramError, load_program
    rows = []
    for path in sorted(objects.glob("*.o")):
        try:
            image = load_program(path)
        except ProgramError as exc:
            rows.append({"program": path.stem, "error": str(exc)})
            continue
        maps = dict(enumerate(image.maps))
        start = time.perf_counter()
        for _ in range(repeat):
            result = verify(image.insns, "xdp", maps)
        seconds = (time.perf_counter() - start) / repeat
        kernel = kernel_processed(image.insns, image.maps)
        rows.append({"program": path.stem, "accepted": result.accepted,
                     "processed": result.insns_processed, "kernel_processed": kernel,
                     "ratio": round(result.insns_processed / kernel, 2) if kernel else None,
                     "seconds": seconds})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m firmware.ebpf.verifier.bench",
        description="Instructions our verifier processes on each firmware object, the "
                    "kernel's count for the same program, and our speed.")
    parser.add_argument("--objects", default="build/progs", metavar="DIR",
                        help="directory of clang objects (default build/progs)")
    parser.add_argument("--repeat", type=int, default=5, metavar="N",
                        help="verifications per program for the timing (default 5)")
    parser.add_argument("--json", action="store_true", help="the rows and totals as JSON")
    args = parser.parse_args(argv)
    objects = pathlib.Path(args.objects)
    if not objects.is_dir():
        print(f"bench: {objects}: no such directory (build the programs with "
              f"python -m firmware.progs.build -o {objects})", file=sys.stderr)
        return 2
    if args.repeat <= 0:
        print(f"bench: --repeat must be positive, not {args.repeat}", file=sys.stderr)
        return 2
    rows = measure(objects, args.repeat)
    good = [r for r in rows if "error" not in r]
    insns = sum(r["processed"] for r in good)
    seconds = sum(r["seconds"] for r in good)
    ratios = [r["ratio"] for r in good if r["ratio"] is not None]
    totals = {"programs": len(good), "processed": insns,
              "insns_per_second": round(insns / seconds) if seconds else None,
              "max_ratio_to_kernel": max(ratios) if ratios else None}
    if args.json:
        print(json.dumps({"rows": rows, "totals": totals}, indent=1))
        return 0
    print(f"{'program':20} {'ours':>7} {'kernel':>7} {'ratio':>6} {'ms':>8}")
    for r in rows:
        if "error" in r:
            print(f"{r['program']:20} error: {r['error']}")
            continue
        kernel = r["kernel_processed"] if r["kernel_processed"] is not None else "-"
        ratio = r["ratio"] if r["ratio"] is not None else "-"
        print(f"{r['program']:20} {r['processed']:>7} {kernel:>7} {ratio:>6} "
              f"{1000 * r['seconds']:>8.2f}")
    print(f"total {insns} processed instructions, {totals['insns_per_second']} per second; "
          f"largest ratio to the kernel's count: {totals['max_ratio_to_kernel']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
