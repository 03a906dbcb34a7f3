"""``xdpnic bench``'s result as a text table and as CSV (one line per traffic x engines)."""

import csv
import pathlib

from .linerate import LINE_RATES_GBPS

__all__ = ["table", "simulation_speed", "CSV_FIELDS", "write_csv"]


def simulation_speed(result: dict) -> list[str]:
    """Simulated cycles per CPU second of the harness, per engine count (the simulation
    loops of the rows together): how fast the RTL ran, not a figure of the NIC."""
    totals: dict[int, list[float]] = {}
    for row in result["rows"]:
        sim = row.get("rtl", {}).get("sim")
        if sim and sim["cpu_seconds"]:
            t = totals.setdefault(row["engines"], [0, 0.0])
            t[0] += sim["clock_cycles"]
            t[1] += sim["cpu_seconds"]
    return [f"simulation, {e} engine(s): {cycles:,} cycles in {cpu:.2f} CPU s, "
            f"{cycles / cpu / 1e6:.2f} M simulated cycles per CPU second"
            for e, (cycles, cpu) in sorted(totals.items())]


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(result: dict) -> str:
    """The result as a text table, one line per row (traffic x engines)."""
    head = ["traffic", "size", "eng"]
    rtl_on, kernel_on = "rtl" in result["targets"], "kernel" in result["targets"]
    fmax_devices = sorted({d for f in result["fmax"].values() for d in f})
    if rtl_on:
        head += ["cyc/pkt", "pkt/cyc", f"Mpps@{result['clock_mhz']:g}"]
        head += [f"Mpps@{d}" for d in fmax_devices]
        head += ["lat min/med/p99/max cyc", "lost"]
    if kernel_on:
        head += ["kernel ns", "kernel Mpps"]
    head += [f"{g}G Mpps" for g in LINE_RATES_GBPS]
    lines, notes = [head], []
    for row in result["rows"]:
        size = str(row["size"]) if row["size"] else f"~{row['mean_size']:.0f}"
        cells = [row["label"], size, str(row["engines"])]
        if rtl_on:
            r = row["rtl"]
            if "skipped" in r:
                cells += ["-"] * (5 + len(fmax_devices))
                notes.append((row["label"], f"rtl skipped: {r['skipped']}"))
            else:
                cells += [_fmt(r["cycles_per_packet"], ".2f"),
                          _fmt(r["packets_per_cycle"], ".4f"), _fmt(r["mpps"], ".2f")]
                cells += [_fmt(r["mpps_at_fmax"].get(d), ".2f") for d in fmax_devices]
                lat = r["latency"]["cycles"] if r["latency"] else None
                cells.append("/".join(str(lat[k]) for k in ("min", "median", "p99", "max"))
                             if lat else "-")
                cells.append(f"{r['lost_buffer_full']} ({100 * r['loss_ratio']:.1f}%)")
        if kernel_on:
            k = row["kernel"]
            if "skipped" in k:
                cells += ["-", "-"]
                if not result.get("kernel_skipped"):
                    notes.append((row["label"], f"kernel skipped: {k['skipped']}"))
            else:
                cells += [_fmt(k["ns_per_packet"], ".1f"), _fmt(k["mpps"], ".2f")]
                if k.get("note"):
                    notes.append((row["label"], f"kernel: {k['note']}"))
        cells += [f"{row['line_rate_mpps'][f'{g}G']:.2f}" for g in LINE_RATES_GBPS]
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = ["  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in lines]
    if rtl_on:
        text.append(f"rtl: {result['packets']} frames per row, offered "
                    f"{result['method']['offered_load']}; Mpps at an assumed "
                    f"{result['clock_mhz']:g} MHz clock")
        if fmax_devices:
            for e, devices in result["fmax"].items():
                for d, f in devices.items():
                    text.append(f"Fmax {d} ({e} engine(s)): {f['fmax_mhz']:g} MHz from "
                                f"{f['file']}")
        else:
            text.append("Fmax: no synthesis result (run xdpnic synth)")
        text += simulation_speed(result)
    if kernel_on:
        if result.get("kernel_skipped"):
            text.append(f"kernel skipped: {result['kernel_skipped']}")
        else:
            text.append(f"kernel: BPF_PROG_TEST_RUN, one x86 core on this machine, "
                        f"mean of {result['kernel_repeat']} runs, JIT {result['kernel_jit']}")
    text.append("line rate: Gbit/s * 1000 / ((size + 20) * 8), size with the 4-byte FCS "
                "(at least 64)")
    grouped: dict[str, list[str]] = {}
    for label, message in notes:
        grouped.setdefault(message, []).append(label)
    text.extend(f"{', '.join(labels)}: {message}" for message, labels in grouped.items())
    return "\n".join(text)


CSV_FIELDS = ["label", "size", "mean_size", "engines", "rate", "packets", "processed",
              "lost_buffer_full", "loss_ratio", "cycles_per_packet", "packets_per_cycle",
              "mpps", "latency_min_cycles", "latency_median_cycles", "latency_p99_cycles",
              "latency_max_cycles", "latency_min_ns", "latency_median_ns", "latency_p99_ns",
              "latency_max_ns", "rtl_skipped", "kernel_ns_per_packet", "kernel_mpps",
              "kernel_rewrites_frame", "kernel_skipped"] + [
              f"line_{g}G_mpps" for g in LINE_RATES_GBPS]


def write_csv(path: pathlib.Path, result: dict) -> None:
    fmax_devices = sorted({d for f in result["fmax"].values() for d in f})
    fields = CSV_FIELDS + [f"mpps_fmax_{d}" for d in fmax_devices]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row in result["rows"]:
            r, k = row.get("rtl", {}), row.get("kernel", {})
            line = {"label": row["label"], "size": row["size"], "mean_size": row["mean_size"],
                    "engines": row["engines"], "rate": result["rate"],
                    "rtl_skipped": r.get("skipped"),
                    "kernel_ns_per_packet": k.get("ns_per_packet"), "kernel_mpps": k.get("mpps"),
                    "kernel_rewrites_frame": k.get("rewrites_frame"),
                    "kernel_skipped": k.get("skipped"),
                    **{f"line_{g}G_mpps": row["line_rate_mpps"][f"{g}G"]
                       for g in LINE_RATES_GBPS}}
            if r and "skipped" not in r:
                line.update({key: r[key] for key in (
                    "packets", "processed", "lost_buffer_full", "loss_ratio",
                    "cycles_per_packet", "packets_per_cycle", "mpps")})
                for unit in ("cycles", "ns"):
                    for key in ("min", "median", "p99", "max"):
                        line[f"latency_{key}_{unit}"] = (r["latency"][unit][key]
                                                         if r["latency"] else None)
                for d in fmax_devices:
                    line[f"mpps_fmax_{d}"] = r["mpps_at_fmax"].get(d)
            writer.writerow(line)
