"""Map entries given on the command line, in bpftool's syntax and formats.

Three ways in, one result (a list of :class:`MapEntry`, checked against the program's maps):

* ``--map NAME key [hex] BYTE... value [hex] BYTE... [any|exist|noexist]``: the arguments of
  ``bpftool map update``.  Without ``hex`` each byte is read as C's ``strtoul(s, 0)`` reads it
  (``10`` decimal, ``0x0a`` hex, ``012`` octal); with ``hex`` as ``strtoul(s, 16)`` (``0a``).
  A key takes exactly the map's key size in bytes, a value its value size.
* ``--maps FILE.json``: what ``bpftool map dump -j`` prints: a list of ``{"key": ["0x0a",
  ...], "value": [...]}`` (per-CPU maps: ``"values": [{"cpu": 0, "value": [...]}, ...]``).
  One dump names no map, so the file is either ``{"NAME": DUMP, ...}`` or a bare dump given
  as ``--maps NAME=FILE.json``.

Ref: bpftool's ``map.c`` (``parse_bytes``, ``parse_elem``, ``print_entry_json``).

Per-CPU maps take one value, stored on every CPU (engine), as ``bpftool map update`` does; a
dump whose CPUs hold different values is refused rather than reduced to one of them.
"""

import json
import pathlib
from dataclasses import dataclass

from ..ebpf.maps import MapType

__all__ = ["MapEntry", "MapEntryError", "UPDATE_FLAGS", "parse_bytes", "parse_update",
           "parse_key_args", "read_dump_file", "find_spec", "PER_CPU_TYPES"]

# Ref: include/uapi/linux/bpf.h (BPF_ANY, BPF_NOEXIST, BPF_EXIST); bpftool's keywords.
UPDATE_FLAGS = {"any": 0, "noexist": 1, "exist": 2}
PER_CPU_TYPES = (MapType.PERCPU_ARRAY, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH)


class MapEntryError(ValueError):
    """An entry that cannot be set: the message says what and where."""


@dataclass(frozen=True)
class MapEntry:
    """One ``update`` of map ``map``: ``key`` and ``value`` bytes, bpftool's ``flags``."""
    map: str
    key: bytes
    value: bytes
    flags: int = 0


def find_spec(specs, name: str):
    """The ``MapSpec`` named ``name`` among ``specs``, or MapEntryError naming the maps."""
    for spec in specs:
        if spec.name == name:
            return spec
    have = ", ".join(s.name for s in specs) or "none"
    raise MapEntryError(f"no map named {name!r} (the program's maps: {have})")


def _strtoul(text: str, base: int) -> int:
    """C's ``strtoul`` on a whole token: base 0 takes 0x.. hex, 0.. octal, else decimal."""
    digits = text
    if base == 0:
        if text[:2].lower() == "0x":
            base, digits = 16, text[2:]
        elif len(text) > 1 and text[0] == "0":
            base, digits = 8, text[1:]
        else:
            base = 10
    elif base == 16 and text[:2].lower() == "0x":
        digits = text[2:]
    if not digits or digits.startswith(("+", "-", "_")) or "_" in digits:
        raise ValueError(text)
    return int(digits, base)


def parse_bytes(tokens: list[str], what: str, size: int, where: str) -> bytes:
    """``[hex] BYTE...`` as bpftool's ``parse_bytes`` reads them: exactly ``size`` bytes."""
    base = 0
    if tokens and tokens[0] == "hex":
        base, tokens = 16, tokens[1:]
    out = bytearray()
    for token in tokens:
        try:
            value = _strtoul(token, base)
        except ValueError:
            kind = "a hex byte" if base == 16 else "a byte (decimal, 0x hex or 0 octal)"
            raise MapEntryError(f"{where}: {what} byte {token!r} is not {kind}") from None
        if value > 0xFF:
            raise MapEntryError(f"{where}: {what} byte {token!r} is more than 255 (one token "
                                f"per byte, as bpftool takes them)")
        out.append(value)
    if len(out) != size:
        raise MapEntryError(f"{where}: {what} is {size} bytes, got {len(out)}")
    return bytes(out)


def _map_name(tokens: list[str], where: str) -> tuple[str, list[str]]:
    """``NAME ...`` or bpftool's ``name NAME ...``."""
    if tokens and tokens[0] == "name":
        tokens = tokens[1:]
    if not tokens:
        raise MapEntryError(f"{where}: no map name")
    return tokens[0], tokens[1:]


def parse_key_args(tokens: list[str], specs, where: str = "map") -> tuple[object, bytes]:
    """``NAME key [hex] BYTE...`` (``map delete``, ``map lookup``): the spec and the key."""
    name, rest = _map_name(tokens, where)
    spec = find_spec(specs, name)
    if not rest or rest[0] != "key":
        raise MapEntryError(f"{where}: expected 'key' after the map name {name!r}")
    return spec, parse_bytes(rest[1:], "key", spec.key_size, f"{where} {name}")


def parse_update(tokens: list[str], specs, where: str = "--map") -> MapEntry:
    """``NAME key [hex] BYTE... value [hex] BYTE... [any|exist|noexist]``."""
    name, rest = _map_name(tokens, where)
    spec = find_spec(specs, name)
    where = f"{where} {name}"
    if not rest or rest[0] != "key":
        raise MapEntryError(f"{where}: expected 'key' after the map name")
    if "value" not in rest:
        raise MapEntryError(f"{where}: expected 'value' after the key bytes")
    split = rest.index("value")
    flags = 0
    value_tokens = rest[split + 1:]
    if value_tokens and value_tokens[-1] in UPDATE_FLAGS:
        flags = UPDATE_FLAGS[value_tokens.pop()]
    key = parse_bytes(rest[1:split], "key", spec.key_size, where)
    value = parse_bytes(value_tokens, "value", spec.value_size, where)
    return MapEntry(spec.name, key, value, flags)


def _hex_list(items, what: str, size: int, where: str) -> bytes:
    """bpftool's JSON bytes (``["0x0a", ...]``) of exactly ``size`` bytes."""
    if not isinstance(items, list):
        raise MapEntryError(f"{where}: {what} is not a list of bytes ('0x0a' strings), as "
                            f"bpftool -j prints them")
    tokens = []
    for item in items:
        if not isinstance(item, str):
            raise MapEntryError(f"{where}: {what} byte {item!r} is not a '0x..' string")
        tokens.append(item)
    return parse_bytes(["hex", *tokens], what, size, where)


def _dump_entries(dump, spec, where: str) -> list[MapEntry]:
    if not isinstance(dump, list):
        raise MapEntryError(f"{where}: a map dump is a JSON list of entries "
                            f"(bpftool map dump -j), not {type(dump).__name__}")
    entries = []
    for index, item in enumerate(dump):
        at = f"{where} entry {index}"
        if not isinstance(item, dict) or "key" not in item:
            raise MapEntryError(f"{at}: no 'key' (bpftool -j prints key and value as bytes)")
        key = _hex_list(item["key"], "key", spec.key_size, at)
        if "values" in item:                # per-CPU
            if spec.type not in PER_CPU_TYPES:
                raise MapEntryError(f"{at}: map {spec.name!r} is not per-CPU: give its entries "
                                    f"a 'value', not per-CPU 'values'")
            per_cpu = item["values"]
            if not isinstance(per_cpu, list) or not per_cpu:
                raise MapEntryError(f"{at}: 'values' is not a list of per-CPU values")
            values = {_hex_list(v.get("value") if isinstance(v, dict) else None, "value",
                                spec.value_size, f"{at} cpu {n}")
                      for n, v in enumerate(per_cpu)}
            if len(values) > 1:
                raise MapEntryError(f"{at}: the CPUs hold different values; xdpnic stores one "
                                    f"value on every CPU, as 'bpftool map update' does")
            value = values.pop()
        elif "value" in item:
            value = _hex_list(item["value"], "value", spec.value_size, at)
        else:
            raise MapEntryError(f"{at}: no 'value' or 'values'")
        entries.append(MapEntry(spec.name, key, value))
    return entries


def read_dump_file(argument: str, specs) -> list[MapEntry]:
    """``--maps [NAME=]FILE.json``: every entry of the file, checked against ``specs``."""
    name, sep, path = argument.partition("=")
    if not sep:
        name, path = None, argument
    path = pathlib.Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise MapEntryError(f"--maps {path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise MapEntryError(f"--maps {path}: binary file, not JSON") from None
    except json.JSONDecodeError as exc:
        raise MapEntryError(f"--maps {path}: not JSON (line {exc.lineno}: {exc.msg})") from None
    if name is not None:
        return _dump_entries(data, find_spec(specs, name), f"--maps {path}")
    if isinstance(data, list):
        raise MapEntryError(f"--maps {path}: a bare map dump names no map; give it as "
                            f"--maps NAME={path}, or write {{\"NAME\": [...]}}")
    if not isinstance(data, dict):
        raise MapEntryError(f"--maps {path}: expected {{\"NAME\": [entries], ...}}")
    entries = []
    for map_name, dump in data.items():
        entries += _dump_entries(dump, find_spec(specs, map_name), f"--maps {path} {map_name}")
    return entries
