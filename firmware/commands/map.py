"""``xdpnic map list|dump|lookup|update|delete``: the maps of a NIC that ``xdpnic attach`` runs.

Talks to the attachment through its control socket (``/run/xdpnic/NAME/control.sock``) and
prints what ``bpftool map`` prints for a map without BTF: ``list`` as ``bpftool map show``,
``dump`` as ``bpftool map dump`` (hex bytes, ``Found N elements``), ``-j`` as bpftool's JSON
(``bytes_key``..., keys and values as ``"0x0a"`` lists).  Keys and values are given as to
``bpftool map update``: ``key [hex] BYTE... value [hex] BYTE... [any|exist|noexist]``.
Exit status 0, 1 when the map refuses the operation (the errno named), 2 on bad input or no
attached NIC.
"""

import argparse
import json
import sys
from types import SimpleNamespace

__all__ = ["register", "main"]

COMMANDS = ("list", "show", "dump", "lookup", "update", "delete")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "map", help="list, dump, update the maps of an attached NIC (as bpftool map)",
        description="Read and change the maps of the NIC 'xdpnic attach' runs, while frames "
                    "flow, with bpftool's syntax and output: 'list' (alias 'show'), 'dump MAP', "
                    "'lookup MAP key BYTES', 'update MAP key [hex] BYTES value [hex] BYTES "
                    "[any|exist|noexist]', 'delete MAP key BYTES'. Exit status 0, 1 when the "
                    "map refuses, 2 on bad input.",
        epilog="example: xdpnic map update blocklist key 169 254 77 1 value 0 0 0 0 0 0 0 0")
    p.add_argument("command", choices=COMMANDS, metavar="COMMAND",
                   help="list, dump, lookup, update, delete")
    p.add_argument("words", nargs=argparse.REMAINDER, metavar="ARGS",
                   help="MAP and key/value bytes, as bpftool takes them")
    p.add_argument("--name", default="xdpnic", help="the attachment (attach --name; default "
                                                    "xdpnic)")
    p.add_argument("-j", "--json", action="store_true", help="bpftool's JSON output")
    p.set_defaults(func=main)


def _bpftool_bytes(text: str) -> list[str]:
    return [f"0x{text[i:i + 2]}" for i in range(0, len(text), 2)]


def _spaced(text: str) -> str:
    return " ".join(text[i:i + 2] for i in range(0, len(text), 2))


def _show_json(m: dict) -> dict:
    return {"id": m["id"], "type": m["type"].lower(), "name": m["name"], "flags": m["flags"],
            "bytes_key": m["key_size"], "bytes_value": m["value_size"],
            "max_entries": m["max_entries"]}


def _dump_json(m: dict) -> list[dict]:
    out = []
    for e in m["entries"]:
        if isinstance(e["value"], list):
            out.append({"key": _bpftool_bytes(e["key"]),
                        "values": [{"cpu": c, "value": _bpftool_bytes(v)}
                                   for c, v in enumerate(e["value"])]})
        else:
            out.append({"key": _bpftool_bytes(e["key"]), "value": _bpftool_bytes(e["value"])})
    return out


def main(args) -> int:
    from sim.attach import AttachError, control_request

    from ..driver.map_entries import PER_CPU_TYPES, MapEntryError, parse_key_args, parse_update
    from .maps import format_map

    # options after the map's words land among them (argparse's REMAINDER): take them out
    words, as_json, nic_name = [], args.json, args.name
    rest = iter(args.words)
    for word in rest:
        if word in ("-j", "--json"):
            as_json = True
        elif word == "--name" or word.startswith("--name="):
            nic_name = word.partition("=")[2] or next(rest, "")
        else:
            words.append(word)

    def fail(message: str, status: int = 2) -> int:
        print(f"xdpnic map: {message}", file=sys.stderr)
        return status

    def ask(request: dict) -> dict:
        answer = control_request(nic_name, request)
        if "error" in answer and "errno" not in answer:
            raise AttachError(answer["error"])
        return answer

    try:
        listing = ask({"op": "list"})["maps"]
        specs = [SimpleNamespace(**m) for m in listing]
        command = "list" if args.command == "show" else args.command
        if command == "list":
            if words:
                return fail(f"'list' takes no arguments, not {' '.join(words)!r}")
            if as_json:
                print(json.dumps([_show_json(m) for m in listing]))
            else:
                for m in listing:
                    print("\n".join(format_map({**m, "entries": []}, show_only=True)))
            return 0
        if not words:
            return fail(f"'{command}' needs a map name (the NIC's maps: "
                        f"{', '.join(m['name'] for m in listing) or 'none'})")
        if command == "dump":
            named = words[0] == "name" and len(words) > 1
            name, extra = (words[1], words[2:]) if named else (words[0], words[1:])
            if extra:
                return fail(f"'dump {name}' takes nothing more, not {' '.join(extra)!r}")
            m = ask({"op": "dump", "map": name})["map"]
            if as_json:
                print(json.dumps(_dump_json(m)))
            else:
                print("\n".join(format_map(m)[2:]))
            return 0
        if command == "update":
            entry = parse_update(words, specs, where="update")
            answer = ask({"op": "update", "map": entry.map, "key": entry.key.hex(),
                          "value": entry.value.hex(), "flags": entry.flags})
        else:
            spec, key = parse_key_args(words, specs, where=command)
            answer = ask({"op": command, "map": spec.name, "key": key.hex()})
            if command == "lookup":
                if answer["value"] is None:
                    return fail(f"lookup failed: key {key.hex()} not found", 1)
                value, width = answer["value"], 2 * spec.value_size
                copies = [value[i:i + width] for i in range(0, len(value), width)]
                if spec.type not in {t.name for t in PER_CPU_TYPES}:
                    if as_json:
                        print(json.dumps({"key": _bpftool_bytes(key.hex()),
                                          "value": _bpftool_bytes(value)}))
                    else:
                        print(f"key: {_spaced(key.hex())}  value: {_spaced(value)}")
                elif as_json:
                    print(json.dumps({"key": _bpftool_bytes(key.hex()),
                                      "values": [{"cpu": c, "value": _bpftool_bytes(v)}
                                                 for c, v in enumerate(copies)]}))
                else:           # bpftool's per-CPU form: one line per CPU
                    print(f"key:\n{_spaced(key.hex())}")
                    for c, v in enumerate(copies):
                        print(f"value (CPU {c:02d}): {_spaced(v)}")
                return 0
        if "errno" in answer:
            return fail(f"{command} failed: {answer['error']}", 1)
        if as_json:
            print("null")           # what bpftool -j prints for a successful update/delete
        return 0
    except (AttachError, MapEntryError) as exc:
        return fail(str(exc))
