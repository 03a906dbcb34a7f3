"""The saved ``xdpnic synth`` results the experiments read: every NIC and core result, the
NIC's Fmax per device and engine count, the clock the design reached on ECP5."""

import json
import pathlib

__all__ = ["PROJECT_ROOT", "SYNTH_DIR", "ECP5_DEVICE", "synth_results", "nic_fmax",
           "clock_reached", "synth_fmax"]

PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
SYNTH_DIR = PROJECT_ROOT / "build" / "synth"
ECP5_DEVICE = "ecp5-85k"


def synth_results(root: pathlib.Path | None = None) -> list[dict]:
    """Every ``synth.json`` under ``root`` (default build/synth), reduced to what the report
    uses: top, device, engines, fits, fit problems, Fmax, LUTs, source commit, file."""
    root = SYNTH_DIR if root is None else pathlib.Path(root)
    out = []
    for path in sorted(root.glob("*/synth.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(data, dict) or "top" not in data or "device" not in data:
            continue
        pnr = data.get("pnr") or {}
        params = data.get("unit_parameters") or {}
        summary = data.get("summary") or {}
        out.append({"top": data["top"], "device": data["device"],
                    "engines": params.get("engines", 1) if data["top"] == "nic" else None,
                    "fits": data.get("fits"), "fit_problems": data.get("fit_problems") or [],
                    "fmax_mhz": pnr.get("fmax_mhz"), "luts": summary.get("luts"),
                    "flip_flops": summary.get("flip_flops"),
                    "source": data.get("source", "unknown"),
                    "file": _relative(path)})
    return out


def _relative(path: pathlib.Path) -> str:
    """``path`` relative to the project when inside it (a symlinked build/ stays relative)."""
    try:
        return str(path.absolute().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def nic_fmax(synth: list[dict], engines: int) -> dict[str, float]:
    """``{device: Fmax MHz}`` of the NIC with ``engines`` engines, placed and routed."""
    return {s["device"]: s["fmax_mhz"] for s in synth
            if s["top"] == "nic" and s["engines"] == engines and s["fmax_mhz"]}


def clock_reached(synth: list[dict], engines: int = 1) -> dict:
    """The clock the design reached on ECP5, for the targets: the NIC's own Fmax when placed
    and routed; else the core's, which bounds the NIC from above (the core's one-cycle path
    is inside the NIC unchanged); else none.  ``{"mhz", "kind", "file", "note"}``."""
    nic = [s for s in synth if s["top"] == "nic" and s["device"] == ECP5_DEVICE
           and s["engines"] == engines]
    for s in nic:
        if s["fmax_mhz"]:
            return {"mhz": s["fmax_mhz"], "kind": "nic", "file": s["file"],
                    "note": f"the NIC's Fmax on ECP5 ({engines} engine(s))"}
    why = ""
    if nic and nic[0]["fits"] is False:
        why = ("the NIC does not fit the ECP5-85K (" + "; ".join(nic[0]["fit_problems"])
               + f", {nic[0]['file']})")
    elif not nic:
        why = f"no ECP5 synthesis result for the NIC with {engines} engine(s)"
    else:
        why = f"the NIC's ECP5 result has no place-and-route Fmax ({nic[0]['file']})"
    core = [s for s in synth if s["top"] == "core" and s["device"] == ECP5_DEVICE
            and s["fmax_mhz"]]
    if core:
        return {"mhz": core[0]["fmax_mhz"], "kind": "core bound", "file": core[0]["file"],
                "note": f"{why}; the core alone reaches {core[0]['fmax_mhz']:g} MHz on ECP5 "
                        f"({core[0]['file']}), an upper bound for the NIC, whose every "
                        "instruction goes through the core's one-cycle path"}
    return {"mhz": None, "kind": "none", "file": None, "note": why}


def synth_fmax(engines: int = 1, root: pathlib.Path | None = None) -> dict[str, dict]:
    """Fmax per device from ``xdpnic synth`` results of the NIC with ``engines`` engines:
    ``{device: {"fmax_mhz": f, "file": path}}`` (empty when there is none)."""
    root = SYNTH_DIR if root is None else root
    out = {}
    for path in sorted(root.glob("nic-*/*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(data, dict) or data.get("top") != "nic":
            continue
        pnr = data.get("pnr") or {}
        params = data.get("unit_parameters") or {}
        if not pnr.get("fmax_mhz") or params.get("engines", 1) != engines:
            continue
        out[data.get("device", path.parent.name)] = {"fmax_mhz": pnr["fmax_mhz"],
                                                     "file": str(path)}
    return out
