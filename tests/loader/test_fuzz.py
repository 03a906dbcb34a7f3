"""Fuzzing the loader: mutated valid objects must load or raise LoaderError, never another
exception and never hang.  Mutations aim at the parts the loader reads (ELF header, section
header table, symbol and string tables, relocations, .BTF, .maps, code); a systematic sweep
sets every field of every section header, symbol and relocation to hostile values."""

import io
import signal
import struct
from contextlib import contextmanager

import pytest
from elftools.elf.elffile import ELFFile
from hypothesis import HealthCheck, given, settings, strategies as st

from firmware.ebpf.elf import LoadedObject, LoaderError, load_bytes

OBJECTS = ["maps_btf", "global_data", "calls", "legacy_map", "callback"]
HOSTILE = [0, 1, 7, 0xFF, 0x7FFFFFFF, 0xFFFFFFFF, 1 << 40]
TIME_LIMIT = 5   # seconds per load; a hang is a failure, not a slow test


class Hang(Exception):
    pass


@contextmanager
def time_limit(seconds: int):
    def alarm(signum, frame):
        raise Hang(f"load took longer than {seconds}s")
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def load_or_refuse(data: bytes) -> LoadedObject | None:
    """Load; a LoaderError is a fine outcome, anything else fails the test."""
    with time_limit(TIME_LIMIT):
        try:
            return load_bytes(data, "fuzz.o")
        except LoaderError as exc:
            assert str(exc).startswith("fuzz.o: ")
            return None


def interesting_regions(data: bytes) -> list[tuple[int, int]]:
    elf = ELFFile(io.BytesIO(data))
    regions = [(0, 64), (elf.header.e_shoff, 64 * elf.num_sections())]
    for sec in elf.iter_sections():
        name = sec.name
        wanted = (name in (".symtab", ".strtab", ".BTF", ".maps", "maps", ".data", ".rodata",
                           "license")
                  or (name.startswith(".rel") and "debug" not in name and "BTF" not in name)
                  or sec["sh_flags"] & 0x4)
        if wanted and sec["sh_type"] != "SHT_NOBITS" and sec["sh_size"]:
            regions.append((sec["sh_offset"], sec["sh_size"]))
    return regions


@pytest.fixture(scope="module")
def corpus(compile_prog):
    out = []
    for name in OBJECTS:
        data = compile_prog(name).read_bytes()
        out.append((data, interesting_regions(data)))
    return out


mutation = st.tuples(
    st.integers(0, 1 << 16),                       # which region (modulo)
    st.floats(0, 1, exclude_max=True),             # where in it
    st.sampled_from(["byte", "word", "truncate", "insert", "delete"]),
    st.one_of(st.sampled_from(HOSTILE), st.integers(0, (1 << 64) - 1)),
    st.sampled_from([1, 2, 4, 8]),
)


def mutate(data: bytes, regions, mutations) -> bytes:
    out = bytearray(data)
    for which, where, op, value, width in mutations:
        if len(out) < 2:
            break
        start, size = regions[which % len(regions)]
        pos = min(start + int(where * size), len(out) - 1)
        if op == "byte":
            out[pos] = value & 0xFF
        elif op == "word":
            out[pos:pos + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
        elif op == "truncate":
            del out[pos:]
        elif op == "insert":
            out[pos:pos] = bytes(1 + value % 16)
        else:
            del out[pos:pos + 1 + value % 16]
    return bytes(out)


def _fuzz(corpus, index, mutations):
    data, regions = corpus[index % len(corpus)]
    load_or_refuse(mutate(data, regions, mutations))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(OBJECTS) - 1),
       mutations=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_objects_load_or_raise_loader_error(corpus, index, mutations):
    _fuzz(corpus, index, mutations)


@pytest.mark.slow
@settings(max_examples=20000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(OBJECTS) - 1),
       mutations=st.lists(mutation, min_size=1, max_size=6))
def test_mutated_objects_load_or_raise_loader_error_long(corpus, index, mutations):
    _fuzz(corpus, index, mutations)


# --- a systematic sweep of the tables the loader trusts -----------------------------------

def _fields(data: bytes):
    """(name, offset, width) for every field of every section header, symbol and
    relocation entry in the object."""
    elf = ELFFile(io.BytesIO(data))
    shoff = elf.header.e_shoff
    header_fields = [("name", 0, 4), ("type", 4, 4), ("flags", 8, 8), ("offset", 24, 8),
                     ("size", 32, 8), ("link", 40, 4), ("info", 44, 4), ("entsize", 56, 8)]
    for i, sec in enumerate(elf.iter_sections()):
        if sec.name.startswith(".debug") or sec.name.startswith(".rel.debug"):
            continue
        for field, off, width in header_fields:
            yield f"section {i} ({sec.name}) {field}", shoff + 64 * i + off, width
        if sec["sh_type"] == "SHT_SYMTAB":
            for k in range(sec.num_symbols()):
                base = sec["sh_offset"] + 24 * k
                for field, off, width in (("name", 0, 4), ("info", 4, 1), ("shndx", 6, 2),
                                          ("value", 8, 8), ("size", 16, 8)):
                    yield f"symbol {k} {field}", base + off, width
        if sec["sh_type"] == "SHT_REL" and "debug" not in sec.name:
            for k in range(sec.num_relocations()):
                base = sec["sh_offset"] + 16 * k
                yield f"{sec.name}[{k}] offset", base, 8
                yield f"{sec.name}[{k}] type", base + 8, 4
                yield f"{sec.name}[{k}] symbol", base + 12, 4


@pytest.mark.parametrize("name, values", [
    ("maps_btf", (0, 7, 0xFFFFFFFF)),
    pytest.param("maps_btf", HOSTILE, marks=pytest.mark.slow),
    pytest.param("calls", HOSTILE, marks=pytest.mark.slow),
    pytest.param("legacy_map", HOSTILE, marks=pytest.mark.slow),
    pytest.param("global_data", HOSTILE, marks=pytest.mark.slow),
])
def test_every_table_field_set_to_hostile_values(compile_prog, name, values):
    data = compile_prog(name).read_bytes()
    outcomes = {"loaded": 0, "refused": 0}
    for what, offset, width in _fields(data):
        for value in values:
            mutated = bytearray(data)
            mutated[offset:offset + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(
                width, "little")
            try:
                result = load_or_refuse(bytes(mutated))
            except Exception as exc:   # name the field in the failure
                raise AssertionError(f"{what} = {value:#x}: {exc!r}") from exc
            outcomes["loaded" if result else "refused"] += 1
    # Both outcomes happen: some fields (names of unused sections) do not matter.
    assert outcomes["loaded"] and outcomes["refused"]
