"""The PNGs: the report's Mpps against size and engines (:func:`report_plots`) and one
``xdpnic bench`` run's (:func:`bench_plots`).  Files only (matplotlib's Agg back end), no
date or version in them, so a redraw writes the same bytes."""

import pathlib

from .anchors import ANCHORS, WORKLOADS
from .linerate import LINE_RATES_GBPS, line_rate_mpps

__all__ = ["report_plots", "bench_plots"]


def _save(fig, ax, path: pathlib.Path) -> pathlib.Path:
    """Grid, legend, layout; write ``path`` without a timestamp (so a redraw is
    byte-identical) and free the figure."""
    import matplotlib.pyplot as plt
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path


def report_plots(result: dict, directory: pathlib.Path, stem: str) -> list[pathlib.Path]:
    """``<stem>-size.png`` (Mpps at the reference clock against frame size, the smallest
    engine count, line rates and the published 64-byte anchors drawn) and, with more than one
    engine count, ``<stem>-engines.png`` (Mpps against engines, 64-byte frames, anchors as
    horizontal lines).  PNGs carry no date or version, so a rerun writes the same bytes."""
    import matplotlib
    matplotlib.use("Agg")           # files only, no display
    import matplotlib.pyplot as plt
    ref = result["reference_clock_mhz"]
    e0 = min(result["engines"])
    paths = []
    series = {}
    for entry in result["programs"]:
        pts = [(r["size"], ref / r["cycles_per_packet"]) for r in entry["rows"]
               if r["engines"] == e0 and "skipped" not in r and r.get("cycles_per_packet")]
        if pts:
            series[entry["program"]] = sorted(pts)
    if not series:
        return []
    sizes = sorted({s for pts in series.values() for s, _ in pts})
    fig, ax = plt.subplots(figsize=(8, 5))
    colours = plt.get_cmap("tab20").colors          # twelve programs: no colour twice
    for i, (name, pts) in enumerate(series.items()):
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", markersize=3, linewidth=1,
                label=name, color=colours[i % len(colours)])
    grid = list(range(min(sizes), max(sizes) + 1, 2)) if len(sizes) > 1 else sizes
    for g in LINE_RATES_GBPS:
        ax.plot(grid, [line_rate_mpps(s, g) for s in grid], "k--", linewidth=0.8)
        ax.annotate(f"{g}G", (grid[-1], line_rate_mpps(grid[-1], g)), fontsize=7,
                    textcoords="offset points", xytext=(2, 0))
    markers = {"hXDP": "x", "NFP4000": "s", "x86": "^"}
    for a in ANCHORS:
        top = a.mpps_high or a.mpps
        ax.errorbar([64], [(a.mpps + top) / 2], yerr=[[(top - a.mpps) / 2], [(top - a.mpps) / 2]],
                    fmt=markers.get(a.system, "D"), color="black", capsize=3, markersize=5,
                    fillstyle="none")
        ax.annotate(f"{a.system} {WORKLOADS[a.workload]} {a.text()}", (64, top), fontsize=6,
                    textcoords="offset points", xytext=(6, -2))
    ax.set_xlabel("frame size (bytes, with FCS)")
    ax.set_ylabel(f"Mpps at {ref:g} MHz (reference clock)")
    ax.set_yscale("log")
    ax.set_title(f"xdpnic, {e0} engine(s), back to back; black: published figures "
                 "(64 bytes); dashed: line rate")
    paths.append(_save(fig, ax, directory / f"{stem}-size.png"))
    engines = sorted(result["engines"])
    if len(engines) > 1:
        fig, ax = plt.subplots(figsize=(8, 5))
        colours = plt.get_cmap("tab20").colors
        for i, entry in enumerate(result["programs"]):
            pts = [(r["engines"], ref / r["cycles_per_packet"]) for r in entry["rows"]
                   if r["size"] == 64 and "skipped" not in r and r.get("cycles_per_packet")]
            if pts:
                pts.sort()
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", markersize=3,
                        linewidth=1, label=entry["program"], color=colours[i % len(colours)])
        for a in ANCHORS:
            if a.system == "hXDP":
                ax.axhline(a.mpps, linestyle=":", linewidth=0.8, color="gray")
                ax.annotate(f"hXDP {WORKLOADS[a.workload]}", (engines[0], a.mpps), fontsize=7)
        for g in LINE_RATES_GBPS:
            ax.axhline(line_rate_mpps(64, g), linestyle="--", linewidth=0.8, color="black")
        ax.set_xlabel("engines")
        ax.set_xticks(engines)
        ax.set_ylabel(f"Mpps at {ref:g} MHz (reference clock)")
        ax.set_yscale("log")
        ax.set_title("xdpnic, 64-byte frames; dashed: 10/25/100G line rate, dotted: hXDP")
        paths.append(_save(fig, ax, directory / f"{stem}-engines.png"))
    return paths


def bench_plots(out: pathlib.Path, result: dict) -> list[pathlib.Path]:
    """mpps_vs_size.png and mpps_vs_engines.png, line-rate ceilings drawn."""
    import matplotlib
    matplotlib.use("Agg")           # files only, no display
    import matplotlib.pyplot as plt
    rows = [r for r in result["rows"] if "rtl" in r and "skipped" not in r["rtl"]
            and r["rtl"]["mpps"] is not None]
    if not rows:
        return []
    paths = []
    clock = result["clock_mhz"]
    sizes = sorted({r["mean_size"] for r in rows})
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for e in sorted({r["engines"] for r in rows}):
        pts = sorted((r["mean_size"], r["rtl"]["mpps"]) for r in rows if r["engines"] == e)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-",
                label=f"xdpnic, {e} engine(s) @ {clock:g} MHz")
    grid = list(range(int(min(sizes)), int(max(sizes)) + 1, 2)) if len(sizes) > 1 else sizes
    for g in LINE_RATES_GBPS:
        ax.plot(grid, [line_rate_mpps(s, g) for s in grid], "--", linewidth=1,
                label=f"{g}G line rate")
    ax.set_xlabel("frame size (bytes, with FCS)")
    ax.set_ylabel("Mpps")
    ax.set_yscale("log")
    ax.set_title(f"{pathlib.Path(result['program']).name}: Mpps vs frame size "
                 f"(rate {result['rate']})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "mpps_vs_size.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    labels = sorted({r["label"] for r in rows}, key=lambda lab: next(
        r["mean_size"] for r in rows if r["label"] == lab))
    engines = sorted({r["engines"] for r in rows})
    for lab in labels:
        pts = sorted((r["engines"], r["rtl"]["mpps"]) for r in rows if r["label"] == lab)
        line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=lab)
        ceiling = next(r["line_rate_mpps"] for r in rows if r["label"] == lab)
        for g in LINE_RATES_GBPS:
            ax.axhline(ceiling[f"{g}G"], color=line.get_color(), linestyle=":", linewidth=0.8)
    ax.set_xlabel("engines")
    ax.set_xticks(engines)
    ax.set_ylabel("Mpps")
    ax.set_yscale("log")
    ax.set_title(f"{pathlib.Path(result['program']).name}: Mpps vs engines @ {clock:g} MHz "
                 "(dotted: 10/25/100G line rate per row)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "mpps_vs_engines.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths
