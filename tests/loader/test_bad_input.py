"""Bad input: every kind of object the loader must refuse, each refused with a LoaderError
naming the file, the section and the symbol."""

import re
import struct
import subprocess

import pytest

from firmware.build import clang_command, find_clang
from firmware.ebpf.btf import Btf, Kind
from firmware.ebpf.elf import LoaderError, load_bytes, load_object
from tests.loader import elfpatch
from tests.loader.conftest import PROGS

PATH = "bad.o"


def refused(data: bytes, pattern: str) -> str:
    """Load ``data``; it must fail with a LoaderError matching ``pattern``, naming bad.o."""
    with pytest.raises(LoaderError) as caught:
        load_bytes(data, PATH)
    message = str(caught.value)
    assert message.startswith(f"{PATH}: "), message
    assert re.search(pattern, message), message
    return message


@pytest.fixture(scope="module")
def good(compile_prog) -> bytes:
    return compile_prog("maps_btf").read_bytes()


# --- not an object we can read --------------------------------------------------------

def test_missing_file_is_refused(tmp_path):
    with pytest.raises(LoaderError, match=r"nope\.o: cannot read: No such file"):
        load_object(tmp_path / "nope.o")


@pytest.mark.parametrize("data", [b"", b"hello world", b"\x7fELX" + bytes(60),
                                  b"#include <linux/bpf.h>\n"])
def test_not_elf_is_refused(data):
    refused(data, r"not an ELF file")


@pytest.mark.parametrize("keep", [4, 16, 63])
def test_truncated_header_is_refused(good, keep):
    refused(good[:keep], r"truncated ELF header")


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.999])
def test_truncated_object_is_refused(good, fraction):
    # clang puts the section header table at the end: any cut loses it.
    refused(good[:int(len(good) * fraction)], r"truncated: \d+ section headers at offset")


def test_truncated_section_contents_are_refused(good):
    offset, size = elfpatch.section_range(good, "xdp")
    header = elfpatch.section_header_offset(good, "xdp")
    data = elfpatch.patch(good, header + 24, "<Q", len(good) - 8)   # sh_offset near the end
    refused(data, r"truncated: section \d+ \[\d+, \d+\) extends past the end of the file")


def test_wrong_machine_is_refused(good):
    refused(elfpatch.patch(good, 18, "<H", 62), r"ELF machine 62 is not EM_BPF \(247\)")


def test_host_object_is_refused(build_dir):
    clang = find_clang()
    if clang is None:
        pytest.skip("clang is not installed")
    src = build_dir / "host.c"
    src.write_text("int add(int a, int b) { return a + b; }\n")
    out = build_dir / "host.o"
    subprocess.run([clang, "-O2", "-c", str(src), "-o", str(out)], check=True)
    with pytest.raises(LoaderError, match=r"host\.o: ELF machine \d+ is not EM_BPF"):
        load_object(out)


def test_big_endian_object_is_refused(build_dir):
    clang = find_clang()
    if clang is None:
        pytest.skip("clang is not installed")
    out = build_dir / "maps_btf_eb.o"
    cmd = clang_command(str(PROGS / "maps_btf.c"), str(out), clang)
    cmd[cmd.index("bpf")] = "bpfeb"
    subprocess.run(cmd, check=True, capture_output=True)
    with pytest.raises(LoaderError, match=r"maps_btf_eb\.o: big-endian ELF \(clang -target "
                                          r"bpfeb\)"):
        load_object(out)


def test_elf32_is_refused(good):
    refused(elfpatch.patch(good, 4, "B", 1), r"ELF class 1 is not ELFCLASS64")


def test_executable_is_refused(good):
    refused(elfpatch.patch(good, 16, "<H", 2), r"ELF type 2 is not ET_REL")


# --- programs ---------------------------------------------------------------------------

def test_object_without_program_section_is_refused(compile_prog):
    path = compile_prog("no_program")
    with pytest.raises(LoaderError, match=r"no_program\.o: no program section: expected a "
                                          r"function in SEC\(\"xdp\"\).*1 function\(s\) in "
                                          r"\.text"):
        load_object(path)


def test_static_program_is_refused(compile_source):
    path = compile_source("static_prog", """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp") static int hidden(struct xdp_md *ctx) { return XDP_PASS; }
SEC("xdp") int visible(struct xdp_md *ctx) { return hidden(ctx); }
""")
    with pytest.raises(LoaderError, match=r"section 'xdp': symbol 'hidden': program is static"):
        load_object(path)


def test_code_section_of_odd_size_is_refused(good):
    header = elfpatch.section_header_offset(good, "xdp")
    refused(elfpatch.patch(good, header + 32, "<Q", 13),
            r"section 'xdp': size 13 is not a multiple of 8")


def test_call_into_middle_of_function_is_refused(compile_prog):
    data = compile_prog("calls").read_bytes()
    # add_one calls the static twice with no relocation (same section): aim one slot later.
    offset, _ = elfpatch.section_range(data, ".text")
    _, add_one = elfpatch.symbol(data, "add_one")
    code = data[offset:offset + 8 * 64]
    call = next(i for i in range(add_one["st_value"] // 8, 64)
                if code[8 * i] == 0x85 and code[8 * i + 1] >> 4 == 1)
    imm, = struct.unpack_from("<i", data, offset + 8 * call + 4)
    refused(elfpatch.patch(data, offset + 8 * call + 4, "<i", imm + 1),
            r"section '\.text': symbol 'add_one': call at instruction add_one\+\d+ targets "
            r"slot \d+, which is not the start of a function")


# --- relocations ------------------------------------------------------------------------

def _first_map_reloc(good):
    return elfpatch.relocations(good, ".relxdp")[0]


def test_unknown_relocation_type_is_refused(good):
    entry, r_offset, sym, _ = _first_map_reloc(good)
    refused(elfpatch.set_reloc(good, entry, sym, 7),
            rf"section 'xdp': symbol 'flows': unsupported relocation type 7 at instruction "
            rf"xdp_count\+{r_offset // 8}")


def test_data_relocation_type_on_code_is_refused(good):
    entry, _, sym, _ = _first_map_reloc(good)
    refused(elfpatch.set_reloc(good, entry, sym, 2),
            r"section 'xdp': symbol 'flows': unsupported relocation R_BPF_64_ABS64")


def test_relocation_to_unknown_symbol_is_refused(good):
    entry, _, _, rtype = _first_map_reloc(good)
    refused(elfpatch.set_reloc(good, entry, 9999, rtype),
            r"section 'xdp': relocation refers to symbol index 9999, but the symbol table "
            r"has \d+ entries")


def test_relocation_to_non_map_data_is_refused(good):
    entry, _, _, rtype = _first_map_reloc(good)
    license_index = [s.name for s in _symbols(good)].index("_license")
    refused(elfpatch.set_reloc(good, entry, license_index, rtype),
            r"section 'xdp': symbol '_license': lddw at instruction xdp_count\+\d+ refers to "
            r"a symbol in section 'license', which is neither a map, global data nor a "
            r"function")


def _symbols(data):
    import io
    from elftools.elf.elffile import ELFFile
    return list(ELFFile(io.BytesIO(data)).get_section_by_name(".symtab").iter_symbols())


def test_map_relocation_on_non_lddw_is_refused(good):
    entry, r_offset, sym, rtype = _first_map_reloc(good)
    data = elfpatch.patch(good, entry, "<Q", 0)                    # slot 0: not an lddw
    refused(data, r"symbol 'flows': R_BPF_64_64 relocation at instruction xdp_count\+0 "
                  r"applies to opcode 0x[0-9a-f]{2}, not lddw")


def test_relocation_on_second_lddw_slot_is_refused(good):
    entry, r_offset, _, _ = _first_map_reloc(good)
    refused(elfpatch.patch(good, entry, "<Q", r_offset + 8),
            r"symbol 'flows': relocation at instruction xdp_count\+\d+ targets the second "
            r"slot of an lddw")


def test_relocation_not_at_instruction_is_refused(good):
    entry, r_offset, _, _ = _first_map_reloc(good)
    refused(elfpatch.patch(good, entry, "<Q", r_offset + 3),
            rf"section 'xdp': relocation \(\.relxdp\) at offset {r_offset + 3} is not at an "
            r"instruction")


def test_call_relocation_on_non_call_is_refused(good):
    entry, _, sym, _ = _first_map_reloc(good)
    refused(elfpatch.set_reloc(good, entry, sym, 10),
            r"symbol 'flows': R_BPF_64_32 relocation at instruction xdp_count\+\d+ applies to "
            r"opcode 0x18 src 0, not a bpf-to-bpf call")


def test_externs_and_kfuncs_are_refused(compile_source):
    kconfig = compile_source("kconfig", """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
extern int LINUX_KERNEL_VERSION __kconfig;
SEC("xdp") int k(struct xdp_md *c) { return LINUX_KERNEL_VERSION; }
""")
    with pytest.raises(LoaderError, match=r"kconfig\.o: section 'xdp': symbol "
                                          r"'LINUX_KERNEL_VERSION': lddw at instruction k\+0 "
                                          r"refers to extern symbol"):
        load_object(kconfig)
    kfunc = compile_source("kfunc", """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
extern void bpf_rcu_read_lock(void) __ksym;
SEC("xdp") int k(struct xdp_md *c) { bpf_rcu_read_lock(); return XDP_PASS; }
""")
    with pytest.raises(LoaderError, match=r"symbol 'bpf_rcu_read_lock': call at instruction "
                                          r"k\+0 to extern function \(kfunc"):
        load_object(kfunc)


def test_pointer_in_initialised_data_is_refused(compile_source):
    path = compile_source("data_pointer", """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
int target = 1;
int *pointer = &target;
SEC("xdp") int k(struct xdp_md *c) { return *pointer; }
""")
    with pytest.raises(LoaderError, match=r"section '\.rel\.data': relocations against "
                                          r"section '\.data' \(pointers in initialised data\)"):
        load_object(path)


def test_map_in_map_values_must_be_maps_of_a_map_of_maps(compile_source):
    path = compile_source("map_in_map", """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __u32);
               __uint(max_entries, 1); } inner1 SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1);
         __type(key, __u32); __array(values, struct inner); } outer SEC(".maps") = {
    .values = { &inner1 } };
SEC("xdp") int k(struct xdp_md *c) { return XDP_PASS; }
""")
    with pytest.raises(LoaderError, match=r"section '\.maps': symbol 'outer': __array\(values, "
                                          r"\.\.\.\) of maps needs a ARRAY_OF_MAPS or "
                                          r"HASH_OF_MAPS map"):
        load_object(path)


# --- maps -------------------------------------------------------------------------------

BTF_MAP = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct {{ {body} }} m SEC(".maps");
SEC("xdp") int k(struct xdp_md *c) {{ return bpf_map_lookup_elem(&m, &(__u32){{0}}) != 0; }}
"""


@pytest.mark.parametrize("name, body, pattern", [
    ("no_type", "__type(key, __u32); __type(value, __u32); __uint(max_entries, 1);",
     r"map definition has no type"),
    ("bad_type", "__uint(type, 99); __type(key, __u32); __type(value, __u32);",
     r"unknown map type 99"),
    ("size_mismatch", "__uint(type, BPF_MAP_TYPE_HASH); __type(key, __u32); "
     "__uint(key_size, 8); __type(value, __u32);",
     r"key_size 8 disagrees with the key type's size 4"),
    ("unknown_attr", "__uint(type, BPF_MAP_TYPE_HASH); __uint(colour, 3);",
     r"unknown map attribute 'colour'"),
    ("not_uint", "int type; __type(key, __u32);",
     r"attribute 'type': expected __uint\(\) \(pointer to array\), got \[\d+\] INT 'int'"),
    ("not_type", "__uint(type, BPF_MAP_TYPE_HASH); int key;",
     r"attribute 'key': expected __type\(\) \(a pointer\), got \[\d+\] INT 'int'"),
    ("extra", "__uint(type, BPF_MAP_TYPE_BLOOM_FILTER); __uint(map_extra, 3);",
     r"map_extra is not supported"),
])
def test_bad_btf_map_definitions_are_refused(compile_source, name, body, pattern):
    path = compile_source(f"map_{name}", BTF_MAP.format(body=body))
    with pytest.raises(LoaderError, match=rf"map_{name}\.o: section '\.maps': symbol 'm': "
                                          + pattern):
        load_object(path)


def test_btf_maps_without_btf_are_refused(build_dir):
    clang = find_clang()
    if clang is None:
        pytest.skip("clang is not installed")
    out = build_dir / "maps_btf_nog.o"
    cmd = [a for a in clang_command(str(PROGS / "maps_btf.c"), str(out), clang) if a != "-g"]
    subprocess.run(cmd, check=True, capture_output=True)
    with pytest.raises(LoaderError, match=r"section '\.maps': BTF-defined maps need the "
                                          r"object's BTF.*compile with -g"):
        load_object(out)


def test_btf_map_section_too_small_is_refused(good):
    header = elfpatch.section_header_offset(good, ".maps")
    refused(elfpatch.patch(good, header + 32, "<Q", 48),
            r"section '\.maps': symbol 'stats': map definition of 32 bytes at offset 40 "
            r"\(symbol size 32\) does not fit the section \(48 bytes\)")


def test_btf_map_symbol_of_wrong_size_is_refused(good):
    entry, _ = elfpatch.symbol(good, "flows")
    refused(elfpatch.patch(good, entry + 16, "<Q", 8),
            r"section '\.maps': symbol 'flows': map definition of 40 bytes at offset 0 "
            r"\(symbol size 8\)")


LEGACY = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
{decls}
SEC("xdp") int k(struct xdp_md *c) {{ return bpf_map_lookup_elem(&a, &(__u32){{0}}) != 0; }}
"""


@pytest.mark.parametrize("name, decls, pattern", [
    ("short", "struct d { unsigned t, k, v; } a SEC(\"maps\") = {2, 4, 4};",
     r"section 'maps': map definition size 12 bytes: expected 20 \(struct bpf_map_def"),
    ("extra", "struct d { unsigned t, k, v, n, f, id, pin; } a SEC(\"maps\") = "
     "{2, 4, 4, 1, 0, 7, 0};",
     r"section 'maps': symbol 'a': map definition has non-zero fields beyond struct "
     r"bpf_map_def"),
    ("uneven", "struct d { unsigned t, k, v, n, f; }; struct e { unsigned t, k, v, n, f, x; };"
     " struct d a SEC(\"maps\") = {2, 4, 4, 1}; struct d b SEC(\"maps\") = {2, 4, 4, 1};"
     " struct e c SEC(\"maps\") = {2, 4, 4, 1};",
     r"section 'maps': section size 64 is not a multiple of the number of maps \(3\)"),
    ("type", "struct d { unsigned t, k, v, n, f; } a SEC(\"maps\") = {77, 4, 4, 1};",
     r"section 'maps': symbol 'a': unknown map type 77"),
    ("unspec", "struct d { unsigned t, k, v, n, f; } a SEC(\"maps\") = {0, 4, 4, 1};",
     r"section 'maps': symbol 'a': map type 0 \(BPF_MAP_TYPE_UNSPEC\) is not a map type"),
])
def test_bad_legacy_map_sections_are_refused(compile_source, name, decls, pattern):
    path = compile_source(f"legacy_{name}", LEGACY.format(decls=decls))
    with pytest.raises(LoaderError, match=rf"legacy_{name}\.o: " + pattern):
        load_object(path)


# --- malformed BTF inside an object -----------------------------------------------------

_EXTRA = {Kind.INT: 4, Kind.ARRAY: 12, Kind.VAR: 4, Kind.DECL_TAG: 4}
_PER_MEMBER = {Kind.STRUCT: 12, Kind.UNION: 12, Kind.ENUM: 8, Kind.FUNC_PROTO: 8,
               Kind.DATASEC: 12, Kind.ENUM64: 12}


def _btf_record_offsets(data: bytes) -> tuple[int, Btf, dict[int, int]]:
    """(file offset of .BTF, parsed BTF, type id -> file offset of its record)."""
    start, size = elfpatch.section_range(data, ".BTF")
    btf = Btf.parse(data[start:start + size])
    hdr_len, type_off = struct.unpack_from("<II", data, start + 4)
    pos = start + hdr_len + type_off
    offsets = {}
    for t in btf.types[1:]:
        offsets[t.id] = pos
        pos += 12 + _EXTRA.get(t.kind, 0) + _PER_MEMBER.get(t.kind, 0) * t.vlen
    return start, btf, offsets


def test_btf_bad_magic_is_refused(good):
    start, _, _ = _btf_record_offsets(good)
    refused(elfpatch.patch(good, start, "<H", 0xBEEF), r"section '\.BTF': bad magic 0xbeef")


def test_btf_offsets_out_of_range_are_refused(good):
    start, _, _ = _btf_record_offsets(good)
    refused(elfpatch.patch(good, start + 12, "<I", 0x100000),
            r"section '\.BTF': type section \[0, 1048576\) extends past the end")
    refused(elfpatch.patch(good, start + 16, "<I", 0x100000),
            r"section '\.BTF': string section \[1048576, ")


def test_btf_type_id_out_of_range_is_refused(good):
    _, btf, offsets = _btf_record_offsets(good)
    ptr = next(t for t in btf.types[1:] if t.kind == Kind.PTR)
    refused(elfpatch.patch(good, offsets[ptr.id] + 8, "<I", 99999),
            rf"section '\.BTF': type \[{ptr.id}\] PTR '\(anon\)': referenced type id 99999 "
            r"out of range")


def test_btf_loop_is_refused(good):
    _, btf, offsets = _btf_record_offsets(good)
    typedef = next(t for t in btf.types[1:] if t.kind == Kind.TYPEDEF)
    refused(elfpatch.patch(good, offsets[typedef.id] + 8, "<I", typedef.id),
            rf"section '\.BTF': type loop: \[{typedef.id}\] TYPEDEF '{typedef.name}' contains "
            r"itself by value")


def test_btf_map_key_without_size_is_refused(good):
    # Point the key's pointer at a FUNC_PROTO: a type with no size.
    _, btf, offsets = _btf_record_offsets(good)
    flows = btf.skip_mods_and_typedefs(btf.find("flows", Kind.VAR).type)
    key_ptr = next(m.type for m in flows.members if m.name == "key")
    proto = next(t for t in btf.types[1:] if t.kind == Kind.FUNC_PROTO)
    refused(elfpatch.patch(good, offsets[key_ptr] + 8, "<I", proto.id),
            rf"section '\.maps': symbol 'flows': attribute 'key': section '\.BTF': type "
            rf"\[{proto.id}\] FUNC_PROTO '\(anon\)' has no size")
