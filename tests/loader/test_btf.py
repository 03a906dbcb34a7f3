"""The BTF parser: every kind decoded exactly, sizes resolved, C spellings, each malformation
refused with a message naming the type, and agreement with bpftool's dump of clang's BTF."""

import re
import struct
import subprocess

import pytest

from firmware.ebpf.btf import Btf, BtfError, IntEncoding, Kind, Member
from tests.conftest import require_tool
from tests.loader.btfbuild import BtfBuilder


def every_kind() -> tuple[BtfBuilder, dict[str, int]]:
    b = BtfBuilder()
    ids = {}
    ids["u32"] = b.int("unsigned int", 4)
    ids["char"] = b.int("char", 1, encoding=IntEncoding.CHAR | IntEncoding.SIGNED)
    ids["ptr_u32"] = b.ptr(ids["u32"])
    ids["arr"] = b.array(ids["char"], ids["u32"], 6)
    ids["fwd"] = b.fwd("later")
    ids["node_ptr"] = b.ptr(0)                # patched below to point at the struct
    ids["node"] = b.struct("node", 16, [("value", ids["u32"], 0), ("next", ids["node_ptr"], 64)])
    ids["bits"] = b.struct("bits", 4, [("lo", ids["u32"], (3 << 24) | 0),
                                       ("hi", ids["u32"], (5 << 24) | 3)], kind_flag=True)
    ids["either"] = b.struct("either", 8, [("a", ids["u32"], 0), ("b", ids["arr"], 0)],
                             union=True)
    ids["color"] = b.enum("color", 4, [("RED", 0), ("BLUE", -1)], signed=True)
    ids["big"] = b.enum64("big", 8, [("HUGE", 1 << 40)])
    ids["td"] = b.ref(Kind.TYPEDEF, ids["u32"], "__u32")
    ids["vol"] = b.ref(Kind.VOLATILE, ids["td"])
    ids["cst"] = b.ref(Kind.CONST, ids["vol"])
    ids["restrict"] = b.ref(Kind.RESTRICT, ids["ptr_u32"])
    ids["proto"] = b.func_proto(ids["u32"], [("x", ids["td"]), ("p", ids["ptr_u32"])])
    ids["func"] = b.func("f", ids["proto"], linkage=1)
    ids["var"] = b.var("limit", ids["cst"], linkage=1)
    ids["datasec"] = b.datasec(".rodata", 4, [(ids["var"], 0, 4)])
    ids["float"] = b.float("double", 8)
    ids["tag"] = b.decl_tag("kernel", ids["func"], -1)
    ids["type_tag"] = b.ref(Kind.TYPE_TAG, ids["u32"], "user")
    ids["ptr_tagged"] = b.ptr(ids["type_tag"])
    ids["matrix"] = b.array(ids["arr"], ids["u32"], 3)
    ids["fn_ptr"] = b.ptr(ids["proto"])
    ids["const_char"] = b.ref(Kind.CONST, ids["char"])
    ids["str"] = b.ptr(ids["const_char"])
    ids["const_ptr"] = b.ref(Kind.CONST, ids["str"])
    # Point node_ptr at node (a forward reference, as clang emits for self-reference).
    b.records[ids["node_ptr"] - 1] = struct.pack("<III", 0, int(Kind.PTR) << 24, ids["node"])
    return b, ids


def test_every_kind_parses_exactly():
    b, ids = every_kind()
    btf = Btf.parse(b.build())
    t = btf.types
    assert len(t) == len(ids) + 1
    assert (t[ids["u32"]].kind, t[ids["u32"]].size, t[ids["u32"]].int_bits,
            t[ids["u32"]].int_encoding) == (Kind.INT, 4, 32, IntEncoding(0))
    assert t[ids["char"]].int_encoding == IntEncoding.CHAR | IntEncoding.SIGNED
    assert (t[ids["arr"]].elem_type, t[ids["arr"]].index_type, t[ids["arr"]].nelems) == \
        (ids["char"], ids["u32"], 6)
    assert t[ids["node"]].members == (Member("value", ids["u32"], 0),
                                      Member("next", ids["node_ptr"], 64))
    assert t[ids["bits"]].members == (Member("lo", ids["u32"], 0, 3),
                                      Member("hi", ids["u32"], 3, 5))
    assert t[ids["either"]].kind == Kind.UNION
    assert [(e.name, e.value) for e in t[ids["color"]].enumerators] == [("RED", 0), ("BLUE", -1)]
    assert [(e.name, e.value) for e in t[ids["big"]].enumerators] == [("HUGE", 1 << 40)]
    assert [(p.name, p.type) for p in t[ids["proto"]].params] == \
        [("x", ids["td"]), ("p", ids["ptr_u32"])]
    assert (t[ids["func"]].linkage, t[ids["var"]].linkage) == (1, 1)
    assert [(s.type, s.offset, s.size) for s in t[ids["datasec"]].secinfos] == \
        [(ids["var"], 0, 4)]
    assert t[ids["tag"]].component_idx == -1
    sizes = {name: btf.resolve_size(ids[name]) for name in
             ("u32", "char", "ptr_u32", "arr", "node", "either", "color", "big", "td", "vol",
              "cst", "restrict", "var", "datasec", "float", "type_tag", "matrix", "fn_ptr")}
    assert sizes == {"u32": 4, "char": 1, "ptr_u32": 8, "arr": 6, "node": 16, "either": 8,
                     "color": 4, "big": 8, "td": 4, "vol": 4, "cst": 4, "restrict": 8,
                     "var": 4, "datasec": 4, "float": 8, "type_tag": 4, "matrix": 18,
                     "fn_ptr": 8}
    assert btf.skip_mods_and_typedefs(ids["cst"]).id == ids["u32"]
    assert btf.find("node", Kind.STRUCT).id == ids["node"]
    assert btf.datasec(".rodata").id == ids["datasec"]


@pytest.mark.parametrize("name, spelled", [
    ("u32", "unsigned int"), ("ptr_u32", "unsigned int *"), ("arr", "char[6]"),
    ("matrix", "char[3][6]"), ("node", "struct node"), ("node_ptr", "struct node *"),
    ("either", "union either"), ("color", "enum color"), ("fwd", "struct later"),
    ("td", "__u32"), ("cst", "const volatile __u32"), ("restrict", "unsigned int *restrict"),
    ("proto", "unsigned int (__u32, unsigned int *)"),
    ("fn_ptr", "unsigned int (*)(__u32, unsigned int *)"), ("ptr_tagged", "unsigned int *"),
    ("str", "const char *"), ("const_ptr", "const char *const"),
    ("var", "const volatile __u32"), ("float", "double"), ("datasec", ".rodata"),
])
def test_type_names_are_c_spellings(name, spelled):
    b, ids = every_kind()
    assert Btf.parse(b.build()).type_name(ids[name]) == spelled


@pytest.mark.parametrize("name", ["fwd", "proto", "func"])
def test_types_without_size_refuse_resolve(name):
    b, ids = every_kind()
    btf = Btf.parse(b.build())
    with pytest.raises(BtfError, match=rf"type \[{ids[name]}\] .* has no size"):
        btf.resolve_size(ids[name])
    with pytest.raises(BtfError, match="has no size"):
        btf.resolve_size(0)
    with pytest.raises(BtfError, match="type id 999 out of range"):
        btf.type(999)


def test_long_modifier_chain_parses_without_recursion():
    b = BtfBuilder()
    last = b.int("int", 4)
    for _ in range(5000):
        last = b.ref(Kind.CONST, last)
    btf = Btf.parse(b.build())
    assert btf.resolve_size(last) == 4
    assert btf.skip_mods_and_typedefs(last).name == "int"
    with pytest.raises(BtfError, match="deeper than 32"):
        btf.type_name(last)


def _good() -> BtfBuilder:
    b = BtfBuilder()
    b.int("int", 4)
    return b


def _typedef_loop():
    b = BtfBuilder()
    b.ref(Kind.TYPEDEF, 2, "a")
    b.ref(Kind.CONST, 1)
    return b.build()


def _struct_loop():
    b = BtfBuilder()
    b.int("int", 4)
    b.struct("s", 8, [("x", 1, 0), ("self", 2, 32)])
    return b.build()


def _array_loop():
    b = BtfBuilder()
    b.int("int", 4)
    b.array(2, 1, 2)
    return b.build()


def _ptr_loop():
    b = BtfBuilder()
    b.ptr(2)
    b.ptr(1)
    return b.build()


def _with(builder_fn):
    b = BtfBuilder()
    builder_fn(b)
    return b.build()


BAD = {
    "too short": (b"\x9f\xeb\x01\x00", r"too short"),
    "big-endian magic": (_good().build()[:0] + struct.pack(">HBBIIIII", 0xEB9F, 1, 0, 24, 0,
                                                            16, 16, 5) + bytes(21),
                         r"big-endian BTF"),
    "bad magic": (_good().build(magic=0x1234), r"bad magic 0x1234"),
    "version": (_good().build(version=2), r"unsupported BTF version 2"),
    "header too short": (_good().build(hdr_len=20), r"header length 20"),
    "header past end": (_good().build(hdr_len=4096), r"header length 4096"),
    "extended header": (_good().build(hdr_len=28, header_tail=b"\1\0\0\0"),
                        r"non-zero fields in the extended header"),
    "type offset unaligned": (_good().build(type_off=2), r"not 4-byte aligned"),
    "types past end": (_good().build(type_len=400), r"type section \[0, 400\) extends past"),
    "strings past end": (_good().build(str_len=400), r"string section .* extends past"),
    "overlap": (_good().build(str_off=8), r"overlap"),
    "strings without leading NUL": (_good().build(strings=b"int\0"), r"start and end with a NUL"),
    "strings without final NUL": (_good().build(strings=b"\0int"), r"start and end with a NUL"),
    "truncated record": (_with(lambda b: (b.int("int", 4), b.raw(bytes(8)))),
                         r"type id 2: record truncated at byte 16"),
    "truncated kind data": (_with(lambda b: b.raw(struct.pack("<III", 0, int(Kind.INT) << 24,
                                                              4))), r"INT data needs 4 bytes"),
    "unknown kind": (_with(lambda b: b.add(20)), r"type id 1: unknown kind 20"),
    "kind 0": (_with(lambda b: b.add(0)), r"kind 0 \(UNKN\)"),
    "reserved info bits": (_with(lambda b: b.raw(struct.pack("<III", 0, (2 << 24) | (1 << 16),
                                                             0))), r"reserved bits"),
    "name offset": (_with(lambda b: b.raw(struct.pack("<III", 999, int(Kind.PTR) << 24, 0))),
                    r"type id 1: name offset 999 outside the string section"),
    "ptr target out of range": (_with(lambda b: b.ptr(7)),
                                r"\[1\] PTR '\(anon\)': referenced type id 7 out of range"),
    "member out of range": (_with(lambda b: b.struct("s", 4, [("m", 9, 0)])),
                            r"\[1\] STRUCT 's': member 'm' type id 9 out of range"),
    "array element out of range": (_with(lambda b: b.array(5, 0, 1)),
                                   r"element type id 5 out of range"),
    "typedef loop": (_typedef_loop(), r"type loop: .* contains itself by value"),
    "struct contains itself": (_struct_loop(), r"type loop: \[2\] STRUCT 's'"),
    "array of itself": (_array_loop(), r"type loop: \[2\] ARRAY"),
    "pointer to itself": (_ptr_loop(), r"type loop: .* PTR .* refers to itself"),
    "func without proto": (_with(lambda b: (b.int("int", 4), b.func("f", 1))),
                           r"\[2\] FUNC 'f': refers to \[1\] INT 'int', not a FUNC_PROTO"),
    "datasec entry not var": (_with(lambda b: (b.int("int", 4),
                                               b.datasec(".data", 4, [(1, 0, 4)]))),
                              r"entry \[1\] INT 'int' is not a VAR"),
    "bad int": (_with(lambda b: b.int("int", 3)), r"invalid INT size 3"),
    "int bits past size": (_with(lambda b: b.int("int", 4, bits=33)), r"invalid INT"),
    "array too big": (_with(lambda b: (b.int("int", 4), b.array(1, 1, 1 << 31))),
                      r"does not fit in 32 bits"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_btf_is_refused(case):
    data, pattern = BAD[case]
    with pytest.raises(BtfError, match=pattern) as caught:
        Btf.parse(data)
    assert str(caught.value).startswith(".BTF: ")


def _bpftool_raw(bpftool, path) -> dict[int, dict]:
    text = subprocess.run([bpftool, "btf", "dump", "file", str(path), "format", "raw"],
                          capture_output=True, text=True, check=True).stdout
    out = {}
    for line in text.splitlines():
        m = re.match(r"\[(\d+)\] (\w+) '([^']*)'(.*)", line)
        if m:
            fields = dict(re.findall(r"(\w+)=([^\s,]+)", m.group(4)))
            out[int(m.group(1))] = {"kind": m.group(2), "name": m.group(3), **fields}
    return out


@pytest.mark.parametrize("name", ["maps_btf", "legacy_map", "global_data", "calls",
                                  "multi_prog", "callback"])
def test_btf_of_clang_objects_agrees_with_bpftool(compile_prog, name):
    from elftools.elf.elffile import ELFFile
    bpftool = require_tool("bpftool")
    path = compile_prog(name)
    with open(path, "rb") as f:
        btf = Btf.parse(ELFFile(f).get_section_by_name(".BTF").data())
    theirs = _bpftool_raw(bpftool, path)
    assert sorted(theirs) == list(range(1, len(btf.types)))
    for tid, dumped in theirs.items():
        t = btf.types[tid]
        assert (t.kind.name, t.name or "(anon)") == (dumped["kind"], dumped["name"]), tid
        if "size" in dumped:
            assert t.size == int(dumped["size"]), tid
        if "type_id" in dumped and t.kind != Kind.ARRAY:
            assert t.type == int(dumped["type_id"]), tid
        if t.kind == Kind.ARRAY:
            assert (t.elem_type, t.index_type, t.nelems) == (
                int(dumped["type_id"]), int(dumped["index_type_id"]),
                int(dumped["nr_elems"])), tid
        if "vlen" in dumped:
            assert t.vlen == int(dumped["vlen"]), tid
        if "nr_bits" in dumped:
            assert (t.int_bits, t.int_offset) == (int(dumped["nr_bits"]),
                                                  int(dumped["bits_offset"])), tid
