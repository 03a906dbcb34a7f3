"""Issue #10's design targets judged from the report's rows, the synthesis results and the
anchors; where each engine's cycles per packet go."""

import math

from .anchors import ANCHORS, ECP5_TARGET_MHZ, WORKLOADS
from .linerate import FCS, line_rate_mpps
from .main_paths import MAIN_PATHS
from .runs import BEAT_BYTES

__all__ = ["row_at", "breakdown", "OBSTACLES", "evaluate_targets", "cycle_comparison"]


# -- figures derived from the rows ---------------------------------------------------------

def row_at(result: dict, program: str, size: int, engines: int) -> dict | None:
    for entry in result["programs"]:
        if entry["program"] == program:
            for row in entry["rows"]:
                if (row["size"] == size and row["engines"] == engines and "skipped" not in row
                        and row.get("cycles_per_packet")):
                    return row
    return None


def _workload_program(workload: str) -> str:
    return next(p for p, path in MAIN_PATHS.items() if path.workload == workload)


def breakdown(row: dict, fixed: float | None = None) -> dict:
    """Where one row's cycles per packet go (per engine): receive beats (no cut-through:
    the whole frame is in before the program starts), instructions executed (one per cycle),
    egress beats (not overlapped with the next frame's receive), and the rest.  ``fixed``:
    the rest measured for xdp_drop at the same size and engines (it touches no packet byte,
    calls nothing: buffer clean, context set-up, verdict, the stack's epoch sweep); the rest
    beyond it is ``stalls`` (packet loads and stores, map and helper calls waiting)."""
    per_engine = row["cycles_per_packet"] * row["engines"]
    receive = math.ceil((row["size"] - FCS) / BEAT_BYTES)
    insns = row["paths"][0]["insns"] if row.get("paths") else row.get("model_insns", 0)
    egress = row.get("egress_beats", 0.0)
    other = per_engine - receive - insns - egress
    out = {"cycles_per_packet_per_engine": per_engine, "receive_beats": receive,
           "insns": insns, "egress_beats": egress, "other": other}
    if fixed is not None:
        out["fixed"] = fixed
        out["stalls"] = other - fixed
    return out


# The parts of :func:`breakdown`, as the report names what stands in the way.
OBSTACLES = {
    "receive_beats": "receiving the whole frame before the program starts (no cut-through)",
    "insns": "one instruction per cycle (hXDP's compiler packs several per cycle and drops "
             "bounds checks)",
    "egress_beats": "sending the frame out before the next is received (one buffer)",
    "fixed": "fixed per-packet work (buffer clean, context set-up, verdict, stack sweep)",
    "stalls": "stalls on packet loads/stores and map/helper calls",
    "other": "fixed per-packet work and stalls on packet, map and helper accesses",
}


def evaluate_targets(result: dict) -> list[dict]:
    """Issue #10's design targets, each ``{"target", "verdict" (met / not met / unknown),
    "detail"}``, computed from the rows, the synthesis results and :data:`ANCHORS`."""
    out = []
    engines = sorted(result["engines"])
    ref = result["reference_clock_mhz"]
    # 1. Fmax on ECP5.
    reached = result["clock_reached"][str(engines[0])]
    if reached["kind"] == "nic":
        ok = reached["mhz"] >= ECP5_TARGET_MHZ
        out.append({"target": f"Fmax >= {ECP5_TARGET_MHZ:g} MHz on ECP5",
                    "verdict": "met" if ok else "not met",
                    "detail": f"the NIC reaches {reached['mhz']:g} MHz ({reached['file']})"})
    elif reached["kind"] == "core bound":
        out.append({"target": f"Fmax >= {ECP5_TARGET_MHZ:g} MHz on ECP5", "verdict": "not met",
                    "detail": reached["note"]})
    else:
        out.append({"target": f"Fmax >= {ECP5_TARGET_MHZ:g} MHz on ECP5", "verdict": "unknown",
                    "detail": reached["note"] + " (run xdpnic synth)"})
    # 2, 3. XDP_DROP and XDP_TX above hXDP's at the clock reached.
    for workload in ("drop", "tx"):
        anchor = next(a for a in ANCHORS if a.system == "hXDP" and a.workload == workload)
        out.append(_throughput_target(result, _workload_program(workload), anchor.mpps,
                                      f"{WORKLOADS[workload]} above hXDP's {anchor.text()} Mpps "
                                      "at the clock reached (64-byte frames)", engines, ref,
                                      above=True))
    # 4. The firewall at 10G line rate.
    line10 = line_rate_mpps(64, 10)
    out.append(_throughput_target(result, _workload_program("firewall"), line10,
                                  f"firewall at 10G line rate ({line10:.2f} Mpps, 64-byte "
                                  "frames) with the engines it takes", engines, ref,
                                  above=False))
    return out


def _throughput_target(result, program, need, title, engines, ref, above) -> dict:
    rows = {e: row_at(result, program, 64, e) for e in engines}
    rows = {e: r for e, r in rows.items() if r is not None}
    if not rows:
        return {"target": title, "verdict": "unknown",
                "detail": f"{program} was not measured on 64-byte frames"}
    parts, met_at, met_at_bound = [], None, None
    for e, r in rows.items():
        reached = result["clock_reached"][str(e)]
        cpp = r["cycles_per_packet"]
        if reached["mhz"]:
            mpps = reached["mhz"] / cpp
            ok = mpps > need if above else mpps >= need
            # The core's Fmax is an upper bound on the NIC's: falling short there is a
            # verdict, reaching the figure there is not.
            if ok and reached["kind"] == "nic" and met_at is None:
                met_at = e
            elif ok and met_at_bound is None:
                met_at_bound = e
            parts.append(f"{e} engine(s): {mpps:.2f} Mpps at {reached['mhz']:g} MHz"
                         + (" (the core's bound)" if reached["kind"] == "core bound" else ""))
        parts.append(f"{e} engine(s): {ref / cpp:.2f} Mpps at the {ref:g} MHz reference clock"
                     f"; {cpp:.2f} cycles per packet, so {need * cpp:.0f} MHz needed")
    e1 = min(rows)
    per_engine_mpps = ref / (rows[e1]["cycles_per_packet"] * e1)
    if met_at is None and not above:
        take = math.ceil(need / per_engine_mpps)
        parts.append(f"at {ref:g} MHz, scaling linearly from {e1} engine(s) (an extrapolation, "
                     f"not measured): {take} engines")
    any_clock = any(result["clock_reached"][str(e)]["mhz"] for e in rows)
    if met_at is not None:
        verdict = "met" if above else f"met with {met_at} engine(s)"
    elif met_at_bound is not None:
        verdict = "unknown"
        parts.insert(0, f"reached with {met_at_bound} engine(s) only at the core's Fmax, an "
                        "upper bound the NIC may not reach")
    elif any_clock:
        verdict = "not met"
    else:
        verdict = "unknown"
        parts.insert(0, "no clock reached (no synthesis result)")
    return {"target": title, "verdict": verdict, "program": program,
            "detail": "; ".join(parts)}


def cycle_comparison(result: dict) -> list[dict]:
    """Per engine, 64-byte frames, one engine count (the smallest measured): xdpnic's cycles
    per packet beside hXDP's (its clock / its Mpps) for each workload hXDP published, with
    the breakdown and the largest share named."""
    out = []
    e = min(result["engines"])
    for anchor in (a for a in ANCHORS if a.system == "hXDP"):
        program = _workload_program(anchor.workload)
        row = row_at(result, program, 64, e)
        hxdp = anchor.clock_mhz / anchor.mpps
        item = {"workload": WORKLOADS[anchor.workload], "program": program, "engines": e,
                "hxdp_cycles": hxdp}
        if row is None:
            item["missing"] = f"{program} was not measured on 64-byte frames"
        else:
            drop = row_at(result, "xdp_drop", 64, e)
            fixed = breakdown(drop)["other"] if drop is not None else None
            b = breakdown(row, fixed)
            item.update(b)
            item["ratio"] = b["cycles_per_packet_per_engine"] / hxdp
            parts = (("receive_beats", "insns", "egress_beats", "fixed", "stalls")
                     if fixed is not None else ("receive_beats", "insns", "egress_beats",
                                                "other"))
            item["largest"] = OBSTACLES[max(parts, key=lambda k: b[k])]
        out.append(item)
    return out

