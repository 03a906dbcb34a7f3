"""``xdpnic maps RESULT``: the maps an ``xdpnic run`` left behind, printed as bpftool does.

Reads ``result.json`` (or the directory holding it) and prints each map's header as
``bpftool map show`` and its entries as ``bpftool map dump`` (plain output, without BTF):
keys and values as hex bytes, per-CPU maps with one ``value (CPU nn)`` line per engine,
``Found N elements`` at the end.  ``--json`` prints the maps as stored.  Exit status 0, or 2
when the file is missing, is not a result of ``xdpnic run``, or has no maps (a target without
a map unit).
"""

import json
import pathlib
import sys

__all__ = ["register", "format_map", "read_maps"]

_PER_CPU = ("PERCPU_ARRAY", "PERCPU_HASH", "LRU_PERCPU_HASH")


class MapsError(Exception):
    """The input has no maps to show; the message says why."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "maps", help="print the maps an 'xdpnic run' left (as bpftool map dump)",
        description="Print the maps dumped by 'xdpnic run' (RESULT is its output directory "
                    "or result.json) the way bpftool shows them: the map header "
                    "('bpftool map show') and every entry ('bpftool map dump'). Exit status 0, "
                    "2 on bad input.")
    p.add_argument("result", metavar="RESULT", help="xdpnic run output directory or result.json")
    p.add_argument("--name", help="only the map with this name")
    p.add_argument("--show", action="store_true", help="headers only (bpftool map show)")
    p.add_argument("--json", action="store_true", help="the maps as JSON, as result.json has them")
    p.set_defaults(func=main)


def read_maps(path: str | pathlib.Path) -> list[dict]:
    """The ``maps`` list of a result.json (path to it or to its directory)."""
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / "result.json"
    try:
        report = json.loads(path.read_text())
    except FileNotFoundError:
        raise MapsError(f"{path}: no such file (give the output directory of 'xdpnic run' "
                        "or its result.json)") from None
    except UnicodeDecodeError:
        raise MapsError(f"{path}: binary file, not a result.json of 'xdpnic run'") from None
    except OSError as exc:
        raise MapsError(f"{path}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise MapsError(f"{path}: not JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(report, dict) or "frames" not in report or "counters" not in report:
        raise MapsError(f"{path}: not a result.json of 'xdpnic run'")
    if "maps" not in report:
        raise MapsError(f"{path}: no maps (the program has none, or target "
                        f"{report.get('target', '?')!r} does not dump them)")
    maps = report["maps"]
    for index, m in enumerate(maps):
        missing = [k for k in ("id", "name", "type", "key_size", "value_size", "max_entries",
                               "entries") if k not in m]
        if missing:
            raise MapsError(f"{path}: map {index} lacks {', '.join(missing)}")
    return maps


def _hex(text: str) -> str:
    return " ".join(text[i:i + 2] for i in range(0, len(text), 2))


def format_map(m: dict, show_only: bool = False) -> list[str]:
    """bpftool's lines for one map (``map show``, then ``map dump`` unless ``show_only``)."""
    lines = [f"{m['id']}: {m['type'].lower()}  name {m['name']}",
             f"\tkey {m['key_size']}B  value {m['value_size']}B  "
             f"max_entries {m['max_entries']}"]
    if show_only:
        return lines
    per_cpu = m["type"] in _PER_CPU
    # bpftool print_entry_plain: long keys or values go on lines of their own
    break_names = m["key_size"] > 16 or m["value_size"] > 16
    single_line = m["key_size"] + m["value_size"] <= 24 and not break_names
    for entry in m["entries"]:
        values = entry["value"] if isinstance(entry["value"], list) else [entry["value"]]
        if per_cpu:
            lines.append("key:")
            lines.append(_hex(entry["key"]))
            for cpu, value in enumerate(values):
                sep = "\n" if m["value_size"] > 16 else " "
                lines.extend(f"value (CPU {cpu:02d}):{sep}{_hex(value)}".split("\n"))
            continue
        key_sep = "\n" if break_names else " "
        text = f"key:{key_sep}{_hex(entry['key'])}" + ("  " if single_line else "\n") + \
            f"value:{key_sep}{_hex(values[0])}"
        lines.extend(text.split("\n"))
    lines.append(f"Found {len(m['entries'])} element{'s' if len(m['entries']) != 1 else ''}")
    return lines


def main(args) -> int:
    try:
        maps = read_maps(args.result)
    except MapsError as exc:
        print(f"xdpnic maps: {exc}", file=sys.stderr)
        return 2
    if args.name is not None:
        chosen = [m for m in maps if m["name"] == args.name]
        if not chosen:
            print(f"xdpnic maps: no map named {args.name!r} (have: "
                  f"{', '.join(m['name'] for m in maps) or 'none'})", file=sys.stderr)
            return 2
        maps = chosen
    if args.json:
        print(json.dumps(maps, indent=1))
        return 0
    for index, m in enumerate(maps):
        if index and not args.show:
            print()
        print("\n".join(format_map(m, args.show)))
    return 0
