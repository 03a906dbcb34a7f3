"""The loader on real clang objects (firmware/progs/tests/*.c): exact map specs, exact lddw
rewrites, exact call offsets, checked against the object's own symbols and relocations and
against libbpf (libbpf.so through ctypes), bpftool and llvm-objdump where they are present."""

import io
import re
import subprocess

import pytest
from elftools.elf.elffile import ELFFile

from firmware.ebpf.elf import (LoaderError, ProgType, XDP_FLAG_HAS_FRAGS, load_bytes,
                               load_object)
from firmware.ebpf.isa import CallKind, Insn, Pseudo, decode_program
from firmware.ebpf.maps import MapFlag, MapSpec, MapType
from tests.conftest import require_tool
from tests.loader.libbpf_view import libbpf_view

LDDW = 0x18
CALL = 0x85
ALL_OBJECTS = ["maps_btf", "legacy_map", "global_data", "calls", "multi_prog", "callback"]


class ObjectFacts:
    """What the object file itself says, read with pyelftools independently of the loader:
    each section's original instructions, symbols and relocations."""

    def __init__(self, path):
        self.data = path.read_bytes()
        elf = ELFFile(io.BytesIO(self.data))
        self.sections = {s.name: s for s in elf.iter_sections()}
        self.names = [s.name for s in elf.iter_sections()]
        self.symbols = list(self.sections[".symtab"].iter_symbols())

    def code(self, section: str) -> list[Insn]:
        return decode_program(self.sections[section].data())

    def function(self, name: str):
        sym = next(s for s in self.symbols if s.name == name and
                   s["st_info"]["type"] == "STT_FUNC")
        section = self.names[sym["st_shndx"]]
        start, count = sym["st_value"] // 8, sym["st_size"] // 8
        return section, start, count

    def relocs(self, section: str) -> list[tuple[int, str, str, int]]:
        """[(slot, relocation type number, symbol name, symbol value)]"""
        rel = self.sections.get(f".rel{section}")
        if rel is None:
            return []
        out = []
        for r in rel.iter_relocations():
            sym = self.symbols[r["r_info_sym"]]
            name = sym.name or self.names[sym["st_shndx"]]
            out.append((r["r_offset"] // 8, r["r_info_type"], name, sym["st_value"]))
        return out


def test_btf_defined_maps_exact_specs(compile_prog):
    obj = load_object(compile_prog("maps_btf"))
    assert obj.license == "GPL"
    assert obj.maps == [
        MapSpec("flows", MapType.HASH, key_size=16, value_size=8, max_entries=1024,
                flags=MapFlag.NO_PREALLOC, btf_key_type="struct flow_key",
                btf_value_type="__u64", section=".maps"),
        MapSpec("stats", MapType.ARRAY, key_size=4, value_size=16, max_entries=8, flags=0,
                section=".maps"),
    ]
    assert list(obj.programs) == ["xdp_count"]
    prog = obj.program("xdp_count")
    assert (prog.section, prog.type, prog.prog_flags) == ("xdp", ProgType.XDP, 0)


def test_btf_map_lddw_becomes_map_idx(compile_prog):
    path = compile_prog("maps_btf")
    facts = ObjectFacts(path)
    prog = load_object(path).program()
    original = facts.code("xdp")
    relocs = facts.relocs("xdp")
    assert sorted(name for _, _, name, _ in relocs) == ["flows", "stats"]
    index = {"flows": 0, "stats": 1}
    for slot, rtype, name, _ in relocs:
        assert rtype == 1                                  # R_BPF_64_64
        got, filler = prog.insns[slot], prog.insns[slot + 1]
        assert (got.opcode, got.dst, got.src, got.off, got.imm, got.imm64) == \
            (LDDW, original[slot].dst, Pseudo.MAP_IDX, 0, index[name], index[name])
        assert (filler.opcode, filler.imm) == (0, 0)
    # Everything else is exactly the object's code.
    touched = {slot for slot, *_ in relocs} | {slot + 1 for slot, *_ in relocs}
    assert len(prog.insns) == len(original)
    for slot, insn in enumerate(original):
        if slot not in touched:
            assert prog.insns[slot] == insn, slot


def test_legacy_maps_exact_specs(compile_prog):
    path = compile_prog("legacy_map")
    obj = load_object(path)
    assert obj.license == "Dual BSD/GPL"
    # Symbol-table order, as libbpf took legacy maps.
    facts = ObjectFacts(path)
    order = [s.name for s in facts.symbols if s.name in ("tx_port", "counters")]
    specs = {
        "tx_port": MapSpec("tx_port", MapType.DEVMAP, 4, 4, 64, 0, section="maps"),
        "counters": MapSpec("counters", MapType.PERCPU_ARRAY, 4, 8, 256, 0,
                            btf_key_type="__u32", btf_value_type="__u64", section="maps"),
    }
    assert obj.maps == [specs[name] for name in order]
    prog = obj.program()
    for slot, _, name, _ in facts.relocs("xdp"):
        insn = prog.insns[slot]
        assert (insn.src, insn.imm, insn.imm64) == (Pseudo.MAP_IDX, order.index(name),
                                                    order.index(name))


def test_global_data_maps_exact_specs(compile_prog):
    obj = load_object(compile_prog("global_data"))
    by_name = {m.name: m for m in obj.maps}
    assert by_name[".data"] == MapSpec(
        ".data", MapType.ARRAY, 4, 8, 1, 0, initial=(3).to_bytes(4, "little") +
        (0x1234).to_bytes(4, "little"), btf_value_type=".data", section=".data")
    assert by_name[".rodata"] == MapSpec(
        ".rodata", MapType.ARRAY, 4, 8, 1, MapFlag.RDONLY_PROG,
        initial=(53).to_bytes(4, "little") + (80).to_bytes(4, "little"),
        btf_value_type=".rodata", section=".rodata")
    assert by_name[".bss"] == MapSpec(".bss", MapType.ARRAY, 4, 12, 1, 0, initial=bytes(12),
                                      btf_value_type=".bss", section=".bss")
    assert by_name[".rodata.str1.1"] == MapSpec(
        ".rodata.str1.1", MapType.ARRAY, 4, 7, 1, MapFlag.RDONLY_PROG, initial=b"xdpnic\0",
        section=".rodata.str1.1")
    # libbpf's order: global-data maps in ELF section order.
    facts = ObjectFacts(compile_prog("global_data"))
    assert [m.name for m in obj.maps] == [n for n in facts.names if n in by_name]
    assert all(m.is_global_data for m in obj.maps)


def test_global_data_lddw_has_map_value_offset(compile_prog):
    path = compile_prog("global_data")
    facts = ObjectFacts(path)
    obj = load_object(path)
    prog = obj.program()
    original = facts.code("xdp")
    variables = {s.name: (facts.names[s["st_shndx"]], s["st_value"]) for s in facts.symbols
                 if s["st_info"]["type"] == "STT_OBJECT"}
    seen = set()
    for slot, rtype, name, _ in facts.relocs("xdp"):
        assert rtype == 1
        if name in variables:                 # a global: relocation against its symbol
            section, offset = variables[name]
        else:                                 # a static or a literal: section + addend
            section, offset = name, original[slot].imm
        seen.add((section, offset))
        got, filler = prog.insns[slot], prog.insns[slot + 1]
        index = obj.map_index(section)
        assert (got.src, got.imm, filler.imm, got.imm64) == \
            (Pseudo.MAP_IDX_VALUE, index, offset, index | (offset << 32))
    # Every variable the program touches, at its offset: bytes at 4, pass_port at 4, the
    # static last_len behind the 8-byte seen, the string literal at 0.
    assert seen == {(".data", 0), (".data", 4), (".rodata", 0), (".rodata", 4), (".bss", 0),
                    (".bss", variables["last_len"][1]), (".rodata.str1.1", 0)}
    assert variables["last_len"] == (".bss", 8)


def test_calls_appended_depth_first_with_fixed_offsets(compile_prog):
    path = compile_prog("calls")
    facts = ObjectFacts(path)
    obj = load_object(path)
    assert list(obj.programs) == ["xdp_calls", "xdp_other"]
    prog = obj.program("xdp_calls")
    sizes = {name: facts.function(name)[2] for name in
             ("xdp_calls", "add_one", "twice", "square")}
    # libbpf's order: add_one when first called, twice (called by add_one) before square.
    expected_starts = {"xdp_calls": 0}
    expected_starts["add_one"] = sizes["xdp_calls"]
    expected_starts["twice"] = expected_starts["add_one"] + sizes["add_one"]
    expected_starts["square"] = expected_starts["twice"] + sizes["twice"]
    assert prog.functions == expected_starts
    assert len(prog.insns) == sum(sizes.values())

    def call_targets(function: str) -> list[str]:
        start = prog.functions[function]
        out = []
        for pc in range(start, start + sizes[function]):
            insn = prog.insns[pc]
            if insn.opcode == CALL and insn.src == CallKind.LOCAL:
                target = pc + insn.imm + 1
                out.append(next(n for n, s in prog.functions.items() if s == target))
        return out

    assert call_targets("xdp_calls") == ["add_one", "square"]
    assert call_targets("add_one") == ["twice"]
    assert call_targets("twice") == call_targets("square") == []
    # Each appended function is the object's code for it, calls aside.
    for name, start in prog.functions.items():
        section, first, count = facts.function(name)
        for k, insn in enumerate(facts.code(section)[first:first + count]):
            if insn.opcode != CALL:
                assert prog.insns[start + k] == insn, (name, k)

    other = obj.program("xdp/other")
    assert other.name == "xdp_other" and other.type == ProgType.XDP
    assert other.functions == {"xdp_other": 0, "twice": sizes_of(facts, "xdp_other")}
    (call_pc,) = [pc for pc, i in enumerate(other.insns) if i.opcode == CALL]
    assert call_pc + other.insns[call_pc].imm + 1 == other.functions["twice"]


def sizes_of(facts, name):
    return facts.function(name)[2]


def test_function_address_becomes_pseudo_func(compile_prog):
    path = compile_prog("callback")
    facts = ObjectFacts(path)
    prog = load_object(path).program("xdp_loop")
    main_size = sizes_of(facts, "xdp_loop")
    assert prog.functions == {"xdp_loop": 0, "add_index": main_size}
    ((slot, rtype, name, _),) = facts.relocs("xdp")
    assert (rtype, name) == (1, ".text")
    insn = prog.insns[slot]
    rel = main_size - slot - 1
    assert (insn.opcode, insn.src, insn.imm, insn.imm64, prog.insns[slot + 1].imm) == \
        (LDDW, Pseudo.FUNC, rel, rel, 0)


def test_several_programs_types_and_selection(compile_prog):
    obj = load_object(compile_prog("multi_prog"))
    got = {p.name: (p.section, p.type, p.prog_flags) for p in obj.programs.values()}
    assert got == {
        "xdp_pass": ("xdp", ProgType.XDP, 0),
        "xdp_also_pass": ("xdp", ProgType.XDP, 0),
        "xdp_drop": ("xdp/drop", ProgType.XDP, 0),
        "xdp_frags": ("xdp.frags", ProgType.XDP, XDP_FLAG_HAS_FRAGS),
        "tc_ok": ("tc", ProgType.SCHED_CLS, 0),
        "cls_ok": ("classifier/egress", ProgType.SCHED_CLS, 0),
        "sock_all": ("socket", ProgType.SOCKET_FILTER, 0),
        "probe": ("kprobe/unknown_to_the_nic", ProgType.KPROBE, 0),
        "custom": ("my_section", ProgType.UNSPEC, 0),
    }
    # Two programs in one section: each is its own function's code only.
    assert [i.opcode for i in obj.program("xdp_also_pass").insns] == [0xB7, 0x95]
    assert obj.program("xdp_also_pass").insns[0].imm == 2         # XDP_PASS
    assert obj.program("xdp/drop").name == "xdp_drop"
    assert obj.program("xdp/drop").insns[0].imm == 1              # XDP_DROP
    with pytest.raises(LoaderError, match=r"section 'xdp' holds several programs "
                                          r"\(xdp_pass, xdp_also_pass\)"):
        obj.program("xdp")
    with pytest.raises(LoaderError, match=r"no program or section named 'nope'.*xdp_pass"):
        obj.program("nope")
    with pytest.raises(LoaderError, match=r"9 programs; choose one"):
        obj.program()


def test_program_bytecode_round_trips(compile_prog):
    for name in ALL_OBJECTS:
        for prog in load_object(compile_prog(name)).programs.values():
            assert decode_program(prog.bytecode) == prog.insns


def test_load_bytes_equals_load_object(compile_prog):
    path = compile_prog("global_data")
    a, b = load_object(path), load_bytes(path.read_bytes(), str(path))
    assert (a.maps, a.programs, a.license) == (b.maps, b.programs, b.license)


# --- cross-checks against the LLVM and libbpf tools ---------------------------------------

@pytest.mark.parametrize("name", ALL_OBJECTS)
def test_relocations_agree_with_llvm_objdump(compile_prog, name):
    """The relocation lists our expectations use agree with llvm-objdump -r."""
    tool = require_tool("llvm-objdump")
    path = compile_prog(name)
    text = subprocess.run([tool, "-r", str(path)], capture_output=True, text=True,
                          check=True).stdout
    listed: dict[str, list[tuple[int, str, str]]] = {}
    current = None
    for line in text.splitlines():
        if m := re.match(r"RELOCATION RECORDS FOR \[(.*)\]:", line):
            current = m.group(1)
        elif current and (m := re.match(r"([0-9a-f]{16}) (R_BPF_\S+)\s+(\S+)", line)):
            listed.setdefault(current, []).append((int(m.group(1), 16) // 8, m.group(2),
                                                   m.group(3)))
    facts = ObjectFacts(path)
    types = {1: "R_BPF_64_64", 10: "R_BPF_64_32"}
    for section in {p.section for p in load_object(path).programs.values()} | {".text"}:
        if section not in facts.sections:
            continue
        ours = [(slot, types[t], n) for slot, t, n, _ in facts.relocs(section)]
        assert ours == listed.get(section, []), section


@pytest.mark.parametrize("name", ["maps_btf", "global_data", "calls", "multi_prog",
                                  "callback"])
def test_maps_and_programs_agree_with_libbpf(compile_prog, name):
    path = compile_prog(name)
    obj = load_object(path)
    maps, progs = libbpf_view(path)
    assert len(maps) == len(obj.maps)
    for ours, theirs in zip(obj.maps, maps):
        # libbpf prefixes global-data maps with the object name ("global_.data").
        if ours.is_global_data and ours.name in (".data", ".rodata", ".bss"):
            assert theirs["name"].endswith(ours.name)
        else:
            assert theirs["name"] == ours.name
        # libbpf adds BPF_F_MMAPABLE so user space can mmap global data; the NIC's host
        # reaches maps over the control bus instead.
        assert (theirs["type"], theirs["key_size"], theirs["value_size"],
                theirs["max_entries"], theirs["flags"] & ~MapFlag.MMAPABLE) == \
            (ours.type, ours.key_size, ours.value_size, ours.max_entries, ours.flags)
        if ours.is_global_data:
            assert theirs["initial"] == ours.initial
    assert [(p["name"], p["section"]) for p in progs] == \
        [(p.name, p.section) for p in obj.programs.values()]
    for theirs in progs:
        ours = obj.programs[theirs["name"]]
        main_size = min([s for s in ours.functions.values() if s] + [len(ours.insns)])
        assert theirs["insn_cnt"] == main_size
        if theirs["type"]:   # libbpf 1.x no longer knows "xdp/<anything>" or custom names
            assert theirs["type"] == ours.type


@pytest.mark.parametrize("name", ALL_OBJECTS)
def test_bpftool_linked_object_loads_the_same(compile_prog, tmp_path, name):
    """bpftool gen object (libbpf's static linker) re-lays the sections and rewrites the
    BTF; the loader must find the same maps and programs in its output."""
    bpftool = require_tool("bpftool")
    path = compile_prog(name)
    linked = tmp_path / f"{name}.linked.o"
    subprocess.run([bpftool, "gen", "object", str(linked), str(path)], check=True,
                   capture_output=True)
    a, b = load_object(path), load_object(linked)
    assert a.maps == b.maps
    assert a.programs.keys() == b.programs.keys()
    for key, prog in a.programs.items():
        other = b.programs[key]
        assert (prog.insns, prog.functions, prog.type) == \
            (other.insns, other.functions, other.type), key


def test_module_command_lists_maps_and_programs(compile_prog, capsys):
    import json
    from firmware.ebpf.elf import main
    path = compile_prog("maps_btf")
    assert main([str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f'{path}: license "GPL"',
        "map 0: flows  hash  key 16B  value 8B  max_entries 1024  flags 0x1 key struct "
        "flow_key value __u64",
        "map 1: stats  array  key 4B  value 16B  max_entries 8  flags 0x0",
        f"prog xdp_count: section xdp  type xdp  {len(load_object(path).program().insns)} "
        "insns  functions xdp_count@0",
    ]
    assert main([str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in summary["maps"]] == ["flows", "stats"]
    assert summary["programs"][0]["type"] == "xdp"


def test_module_command_exit_status_2_on_refusal(tmp_path, capsys):
    from firmware.ebpf.elf import main
    bad = tmp_path / "bad.o"
    bad.write_bytes(b"not elf")
    assert main([str(bad)]) == 2
    assert capsys.readouterr().err == f"error: {bad}: not an ELF file (bad magic)\n"


def test_global_text_function_calling_global_function(compile_source):
    """Calls between global .text functions carry R_BPF_64_32 relocations in .rel.text; a
    function called twice is appended once."""
    path = compile_source("global_calls", """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
__attribute__((noinline)) int inner(int x) { return x ^ 5; }
__attribute__((noinline)) int outer(int x) { return inner(x) + 7; }
SEC("xdp") int entry(struct xdp_md *ctx) { return outer(ctx->rx_queue_index) + inner(3); }
char _license[] SEC("license") = "GPL";
""")
    facts = ObjectFacts(path)
    assert {(t, n) for _, t, n, _ in facts.relocs(".text")} == {(10, "inner")}
    prog = load_object(path).program()
    n_entry, n_outer = sizes_of(facts, "entry"), sizes_of(facts, "outer")
    assert prog.functions == {"entry": 0, "outer": n_entry, "inner": n_entry + n_outer}
    targets = [pc + i.imm + 1 for pc, i in enumerate(prog.insns)
               if i.opcode == CALL and i.src == CallKind.LOCAL]
    assert targets == [prog.functions["outer"], prog.functions["inner"],
                       prog.functions["inner"]]


def _firmware_programs():
    try:
        from firmware.progs.build import PROGRAMS
    except ImportError:
        return []
    return list(PROGRAMS)


@pytest.mark.parametrize("name", _firmware_programs())
def test_firmware_programs_load_as_libbpf_sees_them(tmp_path, name):
    """The real firmware (firmware/progs/*.c) loads, and its maps are the ones libbpf finds."""
    from firmware.build import find_clang
    from firmware.progs.build import build_program
    if find_clang() is None:
        pytest.skip("clang is not installed (scripts/setup.sh installs it)")
    path = build_program(name, tmp_path)
    obj = load_object(path)
    maps, progs = libbpf_view(path)
    assert [(m["type"], m["key_size"], m["value_size"], m["max_entries"],
             m["flags"] & ~MapFlag.MMAPABLE) for m in maps] == \
        [(m.type, m.key_size, m.value_size, m.max_entries, m.flags) for m in obj.maps]
    assert [p["name"] for p in progs] == list(obj.programs)
