"""The bpf_conformance suite: ``*.data`` parser, targets, judging and the suite runner.

One corpus, many back ends: the same parsed cases run on the golden model (``run_model``
here), on the RTL (``sim.conformance:run_cases``) and on the Linux kernel
(``firmware.kernel.conformance:run_cases``).  Every target has the signature
``run_cases(cases: list[ConformanceCase], options: dict) -> list[CaseOutcome]`` (one outcome per
case, in order) and is imported only when asked for.

The ``.data`` format, as upstream's ``bpf_test_parser.cc`` reads it
(Ref: shared/conformance/bpf_conformance/README.md): ``#`` starts a comment; a line containing
``--`` starts a section, found by searching the line for ``asm``, ``result``, ``mem``, ``raw``,
``no register offset``, `` c``, ``error`` in that order; an unknown directive skips the file.
``raw`` (64-bit words) is used in preference to ``asm``.  Judging is upstream's: a case passes
iff it ends without error and r0 equals ``result`` (64 bits exact), or, when the file has an
``error`` section, iff it fails with exactly that text (trailing whitespace ignored).
"""

import fnmatch
import importlib
import pathlib
from dataclasses import dataclass, field

from .ebpf import isa
from .ebpf.asm import AsmError, assemble, parse_hex_bytes, parse_raw_words
from .ebpf.isa import MASK64, Insn

__all__ = ["ConformanceCase", "CaseOutcome", "CaseResult", "SuiteReport", "SkipCase",
           "DataFileError", "TargetUnavailable", "TARGETS", "parse_data_text", "parse_data_file",
           "find_data_files", "load_target", "run_model", "judge", "run_suite",
           "outcome_for_program", "requirement_skip", "ALL_GROUPS", "UPSTREAM_DEFAULT_GROUPS"]

# Target name -> "module:function"; imported lazily, so a target that another part of the
# project has not written yet only fails when it is asked for.
TARGETS = {
    "model": "firmware.conformance:run_model",
    "rtl": "sim.conformance:run_cases",
    "kernel": "firmware.kernel.conformance:run_cases",
}

# Section keywords in upstream's search order: a directive line is matched against these
# substrings, first hit wins (so "-- no register offset" is not read as "-- raw").
_SECTIONS = ("asm", "result", "mem", "raw", "no register offset", " c", "error")
_IGNORED_SECTIONS = ("no register offset", " c")


@dataclass
class ConformanceCase:
    """One parsed ``.data`` file."""
    name: str                    # file name without .data
    path: pathlib.Path
    insns: list[Insn]            # as isa.decode_program returns them (lddw + filler slot)
    mem: bytes                   # the -- mem bytes (r1 points at them, r2 holds the length)
    expected_r0: int | None      # the -- result value, 64-bit
    expected_error: str | None   # the -- error text, when the program must fail


@dataclass
class CaseOutcome:
    """What a target reports for one case: r0 on exit, or the error that stopped it; or
    ``skip``, why the target would not run the program at all (the kernel's verifier
    refusing it, say)."""
    r0: int | None
    error: str | None
    insn_count: int | None = None
    cycles: int | None = None
    skip: str | None = None


@dataclass
class CaseResult:
    """The verdict on one file."""
    name: str
    path: pathlib.Path
    status: str                  # "pass", "fail" or "skip"
    detail: str = ""             # why it failed or was skipped
    expected_r0: int | None = None
    expected_error: str | None = None
    outcome: CaseOutcome | None = None

    def line(self) -> str:
        """The runner's one-line report: ``PASS name``, ``FAIL name: ...``, ``SKIP name: ...``."""
        if self.status == "pass":
            return f"PASS {self.name}"
        return f"{self.status.upper()} {self.name}: {self.detail}"

    def to_json(self) -> dict:
        out = {"name": self.name, "path": str(self.path), "status": self.status,
               "detail": self.detail, "expected_r0": _hex(self.expected_r0),
               "expected_error": self.expected_error}
        if self.outcome is not None:
            out.update(r0=_hex(self.outcome.r0), error=self.outcome.error,
                       insn_count=self.outcome.insn_count, cycles=self.outcome.cycles)
        return out


@dataclass
class SuiteReport:
    """All verdicts of one run, in file-name order."""
    target: str
    results: list[CaseResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    def summary(self) -> str:
        """``N passed, N failed`` (``, N skipped`` when any were)."""
        text = f"{self.count('pass')} passed, {self.count('fail')} failed"
        skipped = self.count("skip")
        return f"{text}, {skipped} skipped" if skipped else text

    def to_json(self) -> dict:
        return {"target": self.target, "cases": [r.to_json() for r in self.results],
                "totals": {"passed": self.count("pass"), "failed": self.count("fail"),
                           "skipped": self.count("skip"), "total": len(self.results)}}


class SkipCase(Exception):
    """The file is to be skipped (as upstream skips it); the message is the reason."""


class DataFileError(ValueError):
    """The file is malformed; the message names file and line."""


class TargetUnavailable(RuntimeError):
    """The target's module or function cannot be loaded."""


def _hex(value: int | None) -> str | None:
    return None if value is None else f"{value:#x}"


def parse_data_text(text: str, path: pathlib.Path | str) -> ConformanceCase:
    """Parse the text of a ``.data`` file (see the module docstring for the format).

    Raises ``SkipCase`` for an unknown directive and ``DataFileError`` (``FILE:LINE: ...``)
    for a section that cannot be read or a file with neither ``result`` nor ``error``.
    """
    path = pathlib.Path(path)
    sections: dict[str, list[tuple[int, str]]] = {}
    starts: dict[str, int] = {}
    current: str | None = None
    for lineno, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.split("#", 1)[0].rstrip("\r")
        if "--" in line:
            current = next((s for s in _SECTIONS if s in line), None)
            if current is None:
                raise SkipCase(f"unknown directive {line.strip()!r} at line {lineno}")
            sections.setdefault(current, [])
            starts.setdefault(current, lineno)
            continue
        if current is None:
            if line.strip():
                raise DataFileError(f"{path}:{lineno}: expected a '-- section' line before "
                                    f"content, found {line.strip()!r}")
            continue
        sections[current].append((lineno, line))

    def body(name: str) -> tuple[str, int]:
        lines = sections[name]
        first = lines[0][0] if lines else starts[name] + 1
        # Keep line numbers: a section seen twice is joined with blank lines between.
        out, expect = [], first
        for lineno, content in lines:
            out.extend([""] * (lineno - expect))
            out.append(content)
            expect = lineno + 1
        return "\n".join(out), first

    if "raw" in sections:
        source, first = body("raw")
        try:
            code = parse_raw_words(source, str(path), first)
        except AsmError as exc:
            raise DataFileError(str(exc)) from None
        try:
            # Not strict: an illegal instruction is the target's to reject (and to report).
            insns = isa.decode_program(code, strict=False)
        except isa.IsaError as exc:
            raise DataFileError(f"{path}:{starts['raw']}: -- raw: {exc}") from None
    elif "asm" in sections:
        source, first = body("asm")
        try:
            insns = assemble(source, str(path), first)
        except AsmError as exc:
            raise DataFileError(str(exc)) from None
    else:
        raise DataFileError(f"{path}:1: expected an '-- asm' or '-- raw' section, found none")

    mem = b""
    if "mem" in sections:
        try:
            mem = b"".join(parse_hex_bytes(line, what=f"{path}:{lineno}: -- mem")
                           for lineno, line in sections["mem"])
        except ValueError as exc:
            raise DataFileError(str(exc)) from None

    expected_r0 = None
    if "result" in sections:
        tokens = [(n, t.strip()) for n, t in sections["result"]]
        tokens = [(n, t) for n, t in tokens if t]
        if len(tokens) != 1:
            raise DataFileError(f"{path}:{starts['result']}: expected one value in -- result, "
                                f"found {len(tokens)}")
        lineno, token = tokens[0]
        expected_r0 = _parse_result(token)
        if expected_r0 is None:
            raise DataFileError(f"{path}:{lineno}: expected a 64-bit result (0x... or "
                                f"decimal), found {token!r}")
    expected_error = None
    if "error" in sections:
        expected_error = "\n".join(t for _, t in sections["error"]).strip()
    if expected_r0 is None and expected_error is None:
        raise DataFileError(f"{path}:1: expected a '-- result' or '-- error' section, "
                            f"found neither")
    return ConformanceCase(path.name.removesuffix(".data"), path, insns, mem, expected_r0,
                           expected_error)


def _parse_result(token: str) -> int | None:
    """upstream reads hex when the text has 0x, else decimal; 64 bits."""
    try:
        value = int(token, 16) if "0x" in token.lower() else int(token, 10)
    except ValueError:
        return None
    if not -(1 << 63) <= value <= MASK64:
        return None
    return value & MASK64


def parse_data_file(path) -> ConformanceCase:
    """Parse one ``.data`` file; an unreadable file is a ``DataFileError``."""
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path}: cannot read: {exc}") from None
    return parse_data_text(text, path)


def find_data_files(directory, pattern: str | None = None) -> list[pathlib.Path]:
    """The ``*.data`` files in ``directory`` (sorted), optionally those whose name (with or
    without ``.data``) matches the glob ``pattern``."""
    files = sorted(pathlib.Path(directory).glob("*.data"))
    if pattern:
        files = [f for f in files
                 if fnmatch.fnmatch(f.name, pattern) or fnmatch.fnmatch(f.stem, pattern)]
    return files


def load_target(name: str):
    """The ``run_cases`` function of a target in ``TARGETS``; ``TargetUnavailable`` if it
    cannot be imported (e.g. another part of the project has not provided it yet)."""
    if name not in TARGETS:
        raise TargetUnavailable(f"unknown target {name!r} (choose from {', '.join(TARGETS)})")
    module_name, _, func_name = TARGETS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TargetUnavailable(f"target {name} is not available: {exc}") from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise TargetUnavailable(f"target {name} is not available: {module_name} has no "
                                f"function {func_name}()")
    return func


def outcome_for_program(insns: list[Insn], mem: bytes) -> CaseOutcome:
    """Run one program on the golden model with the suite's calling convention and helpers."""
    from .ebpf import model
    from .ebpf.machine import TrapCause
    result = model.run(insns, context=mem, helpers=model.conformance_helpers())
    if result.trap != TrapCause.NONE:
        pc = "?" if result.trap_pc is None else result.trap_pc
        return CaseOutcome(None, f"{result.trap.name} at pc {pc}: {result.trap_message}",
                           insn_count=result.insn_count)
    return CaseOutcome(result.r0 & MASK64, None, insn_count=result.insn_count)


def run_model(cases: list[ConformanceCase], options: dict) -> list[CaseOutcome]:
    """The golden-model target.  ``options["progress"]``, if set, is called once per case."""
    tick = options.get("progress")
    outcomes = []
    for case in cases:
        outcomes.append(outcome_for_program(case.insns, case.mem))
        if tick:
            tick()
    return outcomes


def judge(case: ConformanceCase, outcome: CaseOutcome) -> tuple[bool, str]:
    """Upstream's verdict: (passed, why not)."""
    if case.expected_error is not None:
        if outcome.error is None:
            return False, (f"expected error {case.expected_error!r} got "
                           f"{_hex(outcome.r0)}")
        if outcome.error.rstrip() == case.expected_error.rstrip():
            return True, ""
        return False, f"expected error {case.expected_error!r} got error {outcome.error!r}"
    if outcome.error is not None:
        return False, f"expected {case.expected_r0:#x} got error: {outcome.error}"
    if outcome.r0 is None:
        return False, f"expected {case.expected_r0:#x} got no result"
    if (outcome.r0 & MASK64) == case.expected_r0:
        return True, ""
    return False, f"expected {case.expected_r0:#x} got {outcome.r0 & MASK64:#x}"


ALL_GROUPS = tuple(sorted({spec.group for spec in isa.OPCODES}))
# Upstream runner's defaults (--cpu_version v3 and these groups); ours run everything.
UPSTREAM_DEFAULT_GROUPS = ("atomic32", "atomic64", "base32", "base64", "divmul32", "divmul64")


def requirement_skip(case: ConformanceCase, cpu_version: int,
                     groups: "set[str] | tuple[str, ...]") -> str | None:
    """Why upstream would skip this case for a target of ``cpu_version`` offering ``groups``
    (the first instruction that needs more), or None.  Ref: bpf_conformance README, "How a
    result is judged", step 1; the versions and groups are the table's."""
    skip_next = False
    for pc, insn in enumerate(case.insns):
        if skip_next:           # second slot of lddw
            skip_next = False
            continue
        skip_next = insn.imm64 is not None
        spec = insn.spec
        if spec is None:
            continue
        if spec.version > cpu_version:
            return f"needs cpu v{spec.version} ({spec.mnemonic} at pc {pc}), target is " \
                   f"v{cpu_version}"
        if spec.group not in groups:
            return f"needs group {spec.group} ({spec.mnemonic} at pc {pc})"
    return None


def run_suite(directory, target: str = "model", options: dict | None = None,
              pattern: str | None = None, cpu_version: int = 4,
              groups: "set[str] | tuple[str, ...]" = ALL_GROUPS) -> SuiteReport:
    """Parse every ``*.data`` file in ``directory`` (matching ``pattern``), run the parsable
    ones on ``target`` in one batch, and judge them.  A case that needs an instruction of a
    higher ``cpu_version`` (1-4) or of a group not in ``groups`` is skipped, as upstream does.

    Raises ``FileNotFoundError`` when the directory is missing or holds no matching file, and
    ``TargetUnavailable`` when the target cannot be loaded.
    """
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        what = "not a directory" if directory.exists() else "no such directory"
        raise FileNotFoundError(f"{directory}: {what}")
    files = find_data_files(directory, pattern)
    if not files:
        what = f"matching {pattern!r} " if pattern else ""
        raise FileNotFoundError(f"{directory}: no *.data files {what}found")
    run_cases = load_target(target)
    report = SuiteReport(target)
    by_name: dict[str, CaseResult] = {}
    cases: list[ConformanceCase] = []
    for path in files:
        stem = path.name.removesuffix(".data")
        try:
            case = parse_data_file(path)
        except SkipCase as exc:
            by_name[path.name] = CaseResult(stem, path, "skip", str(exc))
            continue
        except DataFileError as exc:
            by_name[path.name] = CaseResult(stem, path, "fail", f"cannot load: {exc}")
            continue
        why = requirement_skip(case, cpu_version, groups)
        if why:
            by_name[path.name] = CaseResult(stem, path, "skip", why, case.expected_r0,
                                            case.expected_error)
            continue
        cases.append(case)
    outcomes = run_cases(cases, dict(options or {})) if cases else []
    if len(outcomes) != len(cases):
        raise RuntimeError(f"target {target} returned {len(outcomes)} outcomes for "
                           f"{len(cases)} cases")
    for case, outcome in zip(cases, outcomes):
        if outcome.skip:
            by_name[case.path.name] = CaseResult(case.name, case.path, "skip", outcome.skip,
                                                 case.expected_r0, case.expected_error, outcome)
            continue
        passed, why = judge(case, outcome)
        by_name[case.path.name] = CaseResult(case.name, case.path, "pass" if passed else "fail",
                                             why, case.expected_r0, case.expected_error,
                                             outcome)
    report.results = [by_name[path.name] for path in files]
    return report
