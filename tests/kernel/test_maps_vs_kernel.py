"""The model's maps against the kernel's: random sequences of map helper calls in an XDP
program, run once on each; every helper's return value and the final contents must agree.

Each drawn operation becomes straight-line code: key (and value) stored on the stack,
``bpf_map_update_elem`` / ``bpf_map_lookup_elem`` / ``bpf_map_delete_elem`` called on map 0,
and the result (the return code, or for a lookup the value's first 8 bytes or -1 for NULL)
stored in slot i of map 1 through a direct map-value ``lddw``.  Map types: array, hash (small,
so it fills up) and LPM trie.  LRU and per-CPU maps are left out: their eviction order and CPU
placement are the kernel's implementation choices, not semantics to match.
"""

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.ebpf.disasm import disassemble
from firmware.ebpf.helpers import HelperId
from firmware.ebpf.isa import MASK64, Pseudo
from firmware.ebpf.maps import MapSpec, MapType
from firmware.ebpf.model_maps import MapSet
from firmware.ebpf.xdp import run_frame
from firmware.kernel.build import lddw, make
from firmware.kernel.xdp import KernelXdp

pytestmark = pytest.mark.usefixtures("bpf")

MAX_OPS = 12
MISSING = MASK64            # what a lookup that finds nothing records (-1)
FRAME = bytes(14) + bytes(50)
KEY_AT, VALUE_AT = -8, -24   # stack offsets of the key (up to 8 bytes) and the value

SPECS = {
    "array": MapSpec("m", MapType.ARRAY, 4, 8, 4),
    "hash": MapSpec("m", MapType.HASH, 4, 8, 3),
    "lpm": MapSpec("m", MapType.LPM_TRIE, 8, 8, 8, flags=1),     # BPF_F_NO_PREALLOC
}
RESULTS = MapSpec("results", MapType.ARRAY, 4, 8 * MAX_OPS, 1)


def _store_bytes(offset: int, data: bytes) -> list:
    """st instructions writing ``data`` (4 or 8 bytes) at [r10+offset]."""
    out = []
    for i in range(0, len(data), 4):
        word = struct.unpack_from("<i", data, i)[0]
        out.append(make("stw", 10, off=offset + i, imm=word))
    return out


def program(ops: list[tuple], key_size: int) -> list:
    insns = []
    for index, (kind, key, value, flags) in enumerate(ops):
        insns += _store_bytes(KEY_AT, key)
        insns += lddw(1, 0, Pseudo.MAP_IDX)
        insns += [make("mov", 2, 10, x=True), make("add", 2, imm=KEY_AT)]
        if kind == "update":
            insns += _store_bytes(VALUE_AT, value)
            insns += [make("mov", 3, 10, x=True), make("add", 3, imm=VALUE_AT),
                      make("mov", 4, imm=flags), make("call", imm=HelperId.MAP_UPDATE_ELEM)]
        elif kind == "delete":
            insns += [make("call", imm=HelperId.MAP_DELETE_ELEM)]
        else:
            insns += [make("call", imm=HelperId.MAP_LOOKUP_ELEM),
                      make("jeq", 0, imm=0, off=2),
                      make("ldxdw", 0, 0, off=0),
                      make("ja", off=1),
                      make("mov", 0, imm=-1)]
        # results[index] = r0, through the direct value address (map 1, offset 8 * index)
        insns += lddw(1, 1 | (8 * index) << 32, Pseudo.MAP_IDX_VALUE)
        insns += [make("stxdw", 1, 0, off=0)]
    return insns + [make("mov", 0, imm=2), make("exit")]


def _key(kind: str):
    if kind == "lpm":
        # struct bpf_lpm_trie_key: u32 prefixlen, then the data (4 bytes, network order)
        # Host bits (beyond prefixlen) are cleared here; keys with them set are pinned by
        # the two tests below.
        return st.builds(lambda plen, data: struct.pack("<I", plen) + _masked(data, plen),
                         st.integers(0, 32),
                         st.sampled_from([bytes([10, 0, 0, 0]), bytes([10, 1, 0, 0]),
                                          bytes([10, 1, 2, 0]), bytes([192, 168, 0, 1])]))
    return st.integers(0, 5).map(lambda k: struct.pack("<I", k))


def _masked(data: bytes, plen: int) -> bytes:
    bits = 8 * len(data)
    mask = ((1 << plen) - 1) << (bits - plen) if plen else 0
    return (int.from_bytes(data, "big") & mask).to_bytes(len(data), "big")


@st.composite
def map_programs(draw):
    kind = draw(st.sampled_from(sorted(SPECS)))
    op = st.tuples(st.sampled_from(("update", "update", "lookup", "delete")), _key(kind),
                   st.integers(0, MASK64).map(lambda v: struct.pack("<Q", v)),
                   st.sampled_from((0, 1, 2)))
    return kind, draw(st.lists(op, min_size=1, max_size=MAX_OPS))


_COMMON = dict(derandomize=True, database=None, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@settings(max_examples=120, **_COMMON)
@given(map_programs())
def test_map_helpers_agree_with_the_kernel(drawn):
    check_ops(*drawn)


@pytest.mark.slow
@settings(max_examples=2000, **_COMMON)
@given(map_programs())
def test_many_map_helper_sequences_agree_with_the_kernel(drawn):
    check_ops(*drawn)


def check_ops(kind: str, ops: list[tuple]) -> None:
    """Every helper's result and the final contents of map 0, model against kernel."""
    spec = SPECS[kind]
    insns = program(ops, spec.key_size)
    listing = "\n".join(disassemble(insns))
    maps = MapSet([spec, RESULTS])
    modelled = run_frame(insns, FRAME, maps=maps)
    assert modelled.r0 == 2, f"model: {modelled.reason}\n{listing}"
    model_results = struct.unpack(f"<{MAX_OPS}Q", maps[1].value(maps[1].lookup(bytes(4))))
    model_entries = {bytes.fromhex(e["key"]): bytes.fromhex(e["value"])
                     for e in maps[0].dump()["entries"]}
    with KernelXdp(insns, [spec, RESULTS], name="maps_vs") as xdp:
        assert xdp.run(FRAME).action == 2
        kernel_results = struct.unpack(f"<{MAX_OPS}Q", xdp.lookup(1, bytes(4)))
        kernel_entries = xdp.map_contents(0)
    for i, (op, model_r, kernel_r) in enumerate(zip(ops, model_results, kernel_results)):
        assert model_r == kernel_r, (
            f"{kind} op {i} {op[0]} key {op[1].hex()} flags {op[3]}: model {model_r:#x},"
            f" kernel {kernel_r:#x}\nops {ops}")
    assert model_entries == kernel_entries, f"{kind}: final contents differ\nops {ops}"


def test_lpm_keeps_the_key_bytes_beyond_the_prefix():
    spec = SPECS["lpm"]
    key = struct.pack("<I", 8) + bytes([10, 1, 2, 3])
    insns = program([("update", key, struct.pack("<Q", 7), 0)], spec.key_size)
    maps = MapSet([spec, RESULTS])
    run_frame(insns, FRAME, maps=maps)
    with KernelXdp(insns, [spec, RESULTS], name="lpm_bytes") as xdp:
        xdp.run(FRAME)
        assert xdp.map(0).keys() == [key]          # the kernel keeps 10.1.2.3 after /8
    assert [bytes.fromhex(e["key"]) for e in maps[0].dump()["entries"]] == [key]


def test_lpm_delete_matches_on_the_prefix_only():
    spec = SPECS["lpm"]
    key = struct.pack("<I", 8) + bytes([10, 1, 2, 3])
    ops = [("update", key, struct.pack("<Q", 7), 0), ("delete", key, bytes(8), 0)]
    insns = program(ops, spec.key_size)
    maps = MapSet([spec, RESULTS])
    run_frame(insns, FRAME, maps=maps)
    model_results = struct.unpack(f"<{MAX_OPS}Q", maps[1].value(maps[1].lookup(bytes(4))))
    with KernelXdp(insns, [spec, RESULTS], name="lpm_delete") as xdp:
        xdp.run(FRAME)
        kernel_results = struct.unpack(f"<{MAX_OPS}Q", xdp.lookup(1, bytes(4)))
    assert kernel_results[:2] == (0, 0)
    assert model_results[:2] == (0, 0)
