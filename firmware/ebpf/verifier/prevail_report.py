"""Agreement with PREVAIL's verdicts, per YAML file: ``python -m firmware.ebpf.verifier.prevail_report``.

For each case PREVAIL's verdict (reject iff it expects an error message) is compared with
ours.  A case PREVAIL rejects and we accept is a *soundness* bug; a case PREVAIL accepts and
we reject is a *precision gap*.  Cases we cannot run (PREVAIL's malformed-test and observe
cases, or syntax with no eBPF encoding) are counted as skipped, with the reason.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from dataclasses import dataclass, field

from . import verify
from .prevail_syntax import (PREVAIL_PLATFORM, PROGRAM_TYPE, PrevailCase, TestMaps,
                             load_suite)

__all__ = ["CaseResult", "FileReport", "run_case", "run_file", "run_all", "DEFAULT_DIR",
           "HARNESS_INSN_LIMIT", "PREVAIL_IMPRECISE"]

DEFAULT_DIR = pathlib.Path(__file__).resolve().parents[3].parent / "shared" / "conformance" / "prevail"

# PREVAIL proves loops terminate by widening; we walk them.  A loop bounded only by an
# unknown value would be walked to the kernel's 1M-insn limit (minutes in Python) and then
# rejected anyway, so the harness uses a lower limit: the verdict is the same (rejected as
# too complex), only sooner.
HARNESS_INSN_LIMIT = 20_000


# Cases PREVAIL rejects although the program is safe, as the case's own comments say (its
# domain keeps no disjunctions / inequalities between paths).  Each was checked by hand; our
# path-sensitive analysis proves them, so accepting them is not a soundness bug.  They are
# reported in their own column, never silently counted as agreement.
PREVAIL_IMPRECISE = {
    ("jump.yaml", "multiple types add fail"):
        "r1/r2 are (4, ctx) or (ctx, 4) on the two paths; r3 = r1 + r2 is ctx+4 either way "
        "and is never dereferenced (the case says: 'we can't yet tell that this is safe')",
    ("jump.yaml", "lost implications in correlated branches"):
        "the load at r1-8 (8 bytes at packet offset 46) runs only when r4 == 0, i.e. on the "
        "path where r1 = data+54 <= data_end was proven (the case says: 'this should be "
        "safe to dereference but the verifier fails it')",
}


@dataclass
class CaseResult:
    case: PrevailCase
    ours_reject: bool | None          # None when skipped
    error: str | None = None
    error_pc: int | None = None       # in PREVAIL's instruction numbering

    @property
    def kind(self) -> str:
        c = self.case
        if self.ours_reject is None:
            return "skipped"
        if c.expect_reject == self.ours_reject:
            return "agree"
        if c.expect_reject and (c.file, c.name) in PREVAIL_IMPRECISE:
            return "prevail_imprecise"
        return "soundness" if c.expect_reject else "precision"


@dataclass
class FileReport:
    name: str
    results: list[CaseResult] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for r in self.results if r.kind == kind)


def run_case(case: PrevailCase) -> CaseResult:
    """Verify one case from its ``pre`` entry state(s) with PREVAIL's options."""
    if case.skip:
        return CaseResult(case, None)
    # PREVAIL judges safety: the stricter rules (no uninitialized reads, no pointer leaks),
    # without the kernel's refusals of safe RFC 9669 instructions (immediate shifts past
    # the width, division by the immediate 0)
    res = verify(case.insns, program_type=PROGRAM_TYPE, maps=TestMaps(), privileged=False,
                 linux_compat=False,
                 platform=PREVAIL_PLATFORM, entry_state=case.entries,
                 allow_division_by_zero="!allow_division_by_zero" not in case.options,
                 max_insns=HARNESS_INSN_LIMIT, log_level=0)
    pc = None
    if res.error_pc is not None and res.error_pc < len(case.index_of):
        pc = case.index_of[res.error_pc]
    return CaseResult(case, not res.accepted, res.error, pc)


def run_file(path) -> FileReport:
    path = pathlib.Path(path)
    rep = FileReport(path.name)
    for case in load_suite(path):
        rep.results.append(run_case(case))
    return rep


def run_all(directory=DEFAULT_DIR) -> list[FileReport]:
    directory = pathlib.Path(directory)
    files = sorted(p for p in directory.glob("*.yaml") if p.name != "test-schema.yaml")
    return [run_file(p) for p in files]


def _table(reports: list[FileReport]) -> list[str]:
    head = (f"{'file':<16}{'cases':>6}{'agree':>7}{'acc/acc':>8}{'rej/rej':>8}"
            f"{'unsound':>8}{'gap':>6}{'skip':>6}{'pv-impr':>8}")
    lines = [head, "-" * len(head)]
    widths = (6, 7, 8, 8, 8, 6, 6, 8)
    tot = [0] * 8
    for rep in reports:
        row = [len(rep.results), rep.count("agree"),
               sum(1 for r in rep.results if r.kind == "agree" and not r.case.expect_reject),
               sum(1 for r in rep.results if r.kind == "agree" and r.case.expect_reject),
               rep.count("soundness"), rep.count("precision"), rep.count("skipped"),
               rep.count("prevail_imprecise")]
        tot = [a + b for a, b in zip(tot, row)]
        lines.append(f"{rep.name:<16}" + "".join(f"{v:>{w}}" for v, w in zip(row, widths)))
    lines.append("-" * len(head))
    lines.append(f"{'total':<16}" + "".join(f"{v:>{w}}" for v, w in zip(tot, widths)))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m firmware.ebpf.verifier.prevail_report",
        description="Run PREVAIL's YAML cases through the xdpnic verifier and report "
                    "accept/reject agreement per file.")
    parser.add_argument("--dir", default=str(DEFAULT_DIR), help="PREVAIL test-data directory")
    parser.add_argument("--list", choices=["soundness", "precision", "skipped",
                                           "prevail_imprecise", "agree", "all"],
                        help="also list the cases of this kind, with our reason")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    directory = pathlib.Path(args.dir)
    if not directory.is_dir():
        print(f"prevail_report: no PREVAIL test data at {directory}", file=sys.stderr)
        return 2
    reports = run_all(directory)
    if args.json:
        out = {rep.name: {k: rep.count(k) for k in ("agree", "soundness", "precision",
                                                    "skipped", "prevail_imprecise")}
               | {"cases": len(rep.results)}
               for rep in reports}
        out["cases"] = [
            {"file": r.case.file, "name": r.case.name, "kind": r.kind,
             "prevail": "reject" if r.case.expect_reject else "accept",
             "ours": None if r.ours_reject is None else ("reject" if r.ours_reject
                                                         else "accept"),
             "error": r.error, "error_pc": r.error_pc, "expected_pc": r.case.expected_pc,
             "skip": r.case.skip}
            for rep in reports for r in rep.results]
        print(json.dumps(out, indent=1))
        return 0
    print("\n".join(_table(reports)))
    if args.list:
        for rep in reports:
            for r in rep.results:
                if args.list == "all" or r.kind == args.list:
                    why = r.case.skip or r.error or ""
                    print(f"{r.kind:<10} {rep.name}: {r.case.name}: "
                          f"pc={r.error_pc} (PREVAIL {r.case.expected_pc}) {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
