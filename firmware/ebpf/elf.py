"""Load a ``clang -target bpf`` object file the way libbpf does.

``load_object(path)`` reads an ELF relocatable object and returns a ``LoadedObject``: its
license, its maps (``MapSpec``) and its programs, each a list of ``isa.Insn`` ready for the
verifier, with every relocation resolved:

* **Programs** are the global functions in executable sections other than ``.text``; the
  section name gives the program type (``xdp``, ``xdp/...``, ``tc``, ``classifier``,
  ``socket``, ... see ``SECTION_TYPES``).  Several programs may share an object or a section.
* **Subprograms** (functions in ``.text``, or any function reached by a bpf-to-bpf call) are
  appended to each program that calls them, depth first in call order, and the ``call``
  immediates rewritten to the appended copy, as libbpf's ``bpf_object__reloc_code`` does,
  so a program is one self-contained instruction list.
* **Maps**: legacy ``struct bpf_map_def`` in section ``maps``, BTF-defined maps in ``.maps``
  (attributes read from ``.BTF``), then one single-entry array per global-data section
  (``.data``, ``.rodata``, ``.bss`` and their ``.<suffix>`` variants such as
  ``.rodata.str1.1``), in that order, as libbpf orders them.
* **lddw of a map** becomes ``src=Pseudo.MAP_IDX, imm=<index into maps>``; **lddw of global
  data** becomes ``src=Pseudo.MAP_IDX_VALUE, imm=<map index>`` with the byte offset in the
  second slot's imm (libbpf's ``BPF_PSEUDO_MAP_VALUE`` with the map index in place of an fd).

Everything the loader cannot represent (extern symbols and kfuncs, map-in-map initial
values, relocations against non-map data, unknown relocation types) and every malformed
input raises ``LoaderError`` naming the file, the section and the symbol.  Only this module
talks to pyelftools; every offset it would trust is checked first, so corrupt input gives a
``LoaderError``, never another exception or a hang.

Ref: libbpf ``src/libbpf.c`` (section definitions, ``bpf_object__collect_relos``,
``bpf_program__record_reloc``, ``bpf_object__reloc_code``, ``parse_btf_map_def``,
``bpf_object__init_internal_map``); Linux ``include/uapi/linux/bpf.h``;
"BPF ELF relocations", Documentation/bpf/llvm_reloc.rst.
"""

import enum
import io
import os
import struct
from dataclasses import dataclass, field, replace

from elftools.common.exceptions import ELFError
from elftools.construct.core import ConstructError
from elftools.elf.elffile import ELFFile

from .btf import Btf, BtfError, Kind
from .isa import Cls, CallKind, Insn, IsaError, JmpOp, Mode, Pseudo, Size, decode_program, \
    lookup, sign_extend, MASK32
from .maps import MapFlag, MapSpec, MapType

__all__ = ["LoaderError", "ProgType", "Program", "LoadedObject", "load_object", "load_bytes",
           "section_program_type", "SECTION_TYPES", "Reloc", "XDP_FLAG_HAS_FRAGS"]

EM_BPF = 247
ET_REL = 1
INSN_SIZE = 8
_LDDW = Cls.LD | Size.DW | Mode.IMM
_CALL = Cls.JMP | JmpOp.CALL


class Reloc(enum.IntEnum):
    """``R_BPF_*`` relocation types.  Ref: Documentation/bpf/llvm_reloc.rst."""
    NONE = 0
    R_BPF_64_64 = 1          # lddw: map, global data or function address
    R_BPF_64_ABS64 = 2       # data (.BTF, .BTF.ext, DWARF): ignored
    R_BPF_64_ABS32 = 3       # data: ignored
    R_BPF_64_NODYLD32 = 4    # .BTF/.BTF.ext: ignored
    R_BPF_64_32 = 10         # call imm: bpf-to-bpf call


class ProgType(enum.IntEnum):
    """``enum bpf_prog_type``, with the kernel's numbers."""
    UNSPEC = 0
    SOCKET_FILTER = 1
    KPROBE = 2
    SCHED_CLS = 3
    SCHED_ACT = 4
    TRACEPOINT = 5
    XDP = 6
    PERF_EVENT = 7
    CGROUP_SKB = 8
    CGROUP_SOCK = 9
    LWT_IN = 10
    LWT_OUT = 11
    LWT_XMIT = 12
    SOCK_OPS = 13
    SK_SKB = 14
    CGROUP_DEVICE = 15
    SK_MSG = 16
    RAW_TRACEPOINT = 17
    CGROUP_SOCK_ADDR = 18
    LWT_SEG6LOCAL = 19
    LIRC_MODE2 = 20
    SK_REUSEPORT = 21
    FLOW_DISSECTOR = 22
    CGROUP_SYSCTL = 23
    RAW_TRACEPOINT_WRITABLE = 24
    CGROUP_SOCKOPT = 25
    TRACING = 26
    STRUCT_OPS = 27
    EXT = 28
    LSM = 29
    SK_LOOKUP = 30
    SYSCALL = 31
    NETFILTER = 32


# Ref: include/uapi/linux/bpf.h BPF_F_XDP_HAS_FRAGS (bpf_attr.prog_flags).
XDP_FLAG_HAS_FRAGS = 1 << 5

# libbpf's section table (``section_defs`` in src/libbpf.c of libbpf 0.8, the last release
# with the legacy non-strict names): (SEC name, type, prog_flags, sloppy), first match wins.
# A name ending in "/" needs that prefix; "+" means the name alone or "name/<extras>"; any
# other name matches exactly, or (``sloppy``, libbpf's SEC_SLOPPY_PFX outside its strict
# mode) as a plain prefix: so "xdp1", "xdp_icmp", "xdp-test" and "xdp/anything" are XDP, as
# the kernel's samples/bpf and xdp-tutorial (built against libbpf < 1.0) use them.
# Ref: libbpf src/libbpf.c section_defs, sec_def_matches (v0.8.0).
SECTION_TYPES: tuple[tuple[str, ProgType, int, bool], ...] = (
    ("socket", ProgType.SOCKET_FILTER, 0, True),
    ("sk_reuseport/migrate", ProgType.SK_REUSEPORT, 0, True),
    ("sk_reuseport", ProgType.SK_REUSEPORT, 0, True),
    ("kprobe+", ProgType.KPROBE, 0, False),
    ("uprobe+", ProgType.KPROBE, 0, False),
    ("kretprobe+", ProgType.KPROBE, 0, False),
    ("uretprobe+", ProgType.KPROBE, 0, False),
    ("kprobe.multi+", ProgType.KPROBE, 0, False),
    ("kretprobe.multi+", ProgType.KPROBE, 0, False),
    ("usdt+", ProgType.KPROBE, 0, False),
    ("tc", ProgType.SCHED_CLS, 0, False),
    ("classifier", ProgType.SCHED_CLS, 0, True),
    ("action", ProgType.SCHED_ACT, 0, True),
    ("tracepoint+", ProgType.TRACEPOINT, 0, False),
    ("tp+", ProgType.TRACEPOINT, 0, False),
    ("raw_tracepoint+", ProgType.RAW_TRACEPOINT, 0, False),
    ("raw_tp+", ProgType.RAW_TRACEPOINT, 0, False),
    ("raw_tracepoint.w+", ProgType.RAW_TRACEPOINT_WRITABLE, 0, False),
    ("raw_tp.w+", ProgType.RAW_TRACEPOINT_WRITABLE, 0, False),
    ("tp_btf+", ProgType.TRACING, 0, False),
    ("fentry+", ProgType.TRACING, 0, False),
    ("fmod_ret+", ProgType.TRACING, 0, False),
    ("fexit+", ProgType.TRACING, 0, False),
    ("fentry.s+", ProgType.TRACING, 0, False),
    ("fmod_ret.s+", ProgType.TRACING, 0, False),
    ("fexit.s+", ProgType.TRACING, 0, False),
    ("freplace+", ProgType.EXT, 0, False),
    ("lsm+", ProgType.LSM, 0, False),
    ("lsm.s+", ProgType.LSM, 0, False),
    ("iter+", ProgType.TRACING, 0, False),
    ("iter.s+", ProgType.TRACING, 0, False),
    ("syscall", ProgType.SYSCALL, 0, False),
    ("xdp.frags/devmap", ProgType.XDP, XDP_FLAG_HAS_FRAGS, False),
    ("xdp/devmap", ProgType.XDP, 0, False),
    ("xdp_devmap/", ProgType.XDP, 0, False),
    ("xdp.frags/cpumap", ProgType.XDP, XDP_FLAG_HAS_FRAGS, False),
    ("xdp/cpumap", ProgType.XDP, 0, False),
    ("xdp_cpumap/", ProgType.XDP, 0, False),
    ("xdp.frags", ProgType.XDP, XDP_FLAG_HAS_FRAGS, False),
    ("xdp", ProgType.XDP, 0, True),
    ("perf_event", ProgType.PERF_EVENT, 0, True),
    ("lwt_in", ProgType.LWT_IN, 0, True),
    ("lwt_out", ProgType.LWT_OUT, 0, True),
    ("lwt_xmit", ProgType.LWT_XMIT, 0, True),
    ("lwt_seg6local", ProgType.LWT_SEG6LOCAL, 0, True),
    ("cgroup_skb/ingress", ProgType.CGROUP_SKB, 0, True),
    ("cgroup_skb/egress", ProgType.CGROUP_SKB, 0, True),
    ("cgroup/skb", ProgType.CGROUP_SKB, 0, True),
    ("cgroup/sock_create", ProgType.CGROUP_SOCK, 0, True),
    ("cgroup/sock_release", ProgType.CGROUP_SOCK, 0, True),
    ("cgroup/sock", ProgType.CGROUP_SOCK, 0, True),
    ("cgroup/post_bind4", ProgType.CGROUP_SOCK, 0, True),
    ("cgroup/post_bind6", ProgType.CGROUP_SOCK, 0, True),
    ("cgroup/dev", ProgType.CGROUP_DEVICE, 0, True),
    ("sockops", ProgType.SOCK_OPS, 0, True),
    ("sk_skb/stream_parser", ProgType.SK_SKB, 0, True),
    ("sk_skb/stream_verdict", ProgType.SK_SKB, 0, True),
    ("sk_skb", ProgType.SK_SKB, 0, True),
    ("sk_msg", ProgType.SK_MSG, 0, True),
    ("lirc_mode2", ProgType.LIRC_MODE2, 0, True),
    ("flow_dissector", ProgType.FLOW_DISSECTOR, 0, True),
    ("cgroup/bind4", ProgType.CGROUP_SOCK_ADDR, 0, True),
    ("cgroup/bind6", ProgType.CGROUP_SOCK_ADDR, 0, True),
    ("cgroup/connect4", ProgType.CGROUP_SOCK_ADDR, 0, True),
    ("cgroup/connect6", ProgType.CGROUP_SOCK_ADDR, 0, True),
    ("cgroup/sendmsg4", ProgType.CGROUP_SOCK_ADDR, 0, True),
    ("cgroup/sendmsg6", ProgType.CGROUP_SOCK_ADDR, 0, True),
    ("cgroup/recvmsg4", ProgType.CGROUP_SOCK_ADDR, 0, True),
    ("cgroup/recvmsg6", ProgType.CGROUP_SOCK_ADDR, 0, True),
    ("cgroup/getpeername4", ProgType.CGROUP_SOCK_ADDR, 0, True),
    ("cgroup/getpeername6", ProgType.CGROUP_SOCK_ADDR, 0, True),
    ("cgroup/getsockname4", ProgType.CGROUP_SOCK_ADDR, 0, True),
    ("cgroup/getsockname6", ProgType.CGROUP_SOCK_ADDR, 0, True),
    ("cgroup/sysctl", ProgType.CGROUP_SYSCTL, 0, True),
    ("cgroup/getsockopt", ProgType.CGROUP_SOCKOPT, 0, True),
    ("cgroup/setsockopt", ProgType.CGROUP_SOCKOPT, 0, True),
    ("struct_ops+", ProgType.STRUCT_OPS, 0, False),
    ("sk_lookup", ProgType.SK_LOOKUP, 0, True),
)


def _section_matches(sec_def: str, sloppy: bool, section: str) -> bool:
    """libbpf's ``sec_def_matches`` with the strict-names mode off."""
    if sec_def.endswith("/"):
        return section.startswith(sec_def)
    if sec_def.endswith("+"):
        base = sec_def[:-1]
        return section == base or section.startswith(base + "/")
    if sloppy:
        return section.startswith(sec_def)
    return section == sec_def


def section_program_type(section: str) -> tuple[ProgType, int]:
    """(program type, prog_flags) for a program section name; ``UNSPEC`` if unknown."""
    for sec_def, prog_type, flags, sloppy in SECTION_TYPES:
        if _section_matches(sec_def, sloppy, section):
            return prog_type, flags
    return ProgType.UNSPEC, 0


class LoaderError(Exception):
    """An object file the loader refuses; the message names the file, section and symbol."""


@dataclass
class Program:
    """One entry program, linked with the subprograms it calls.

    Members
    -------
    name : str
        The entry function's symbol name.
    section : str
        Its ELF section (``xdp``, ``xdp/drop``...).
    insns : list[Insn]
        One ``Insn`` per slot in ``isa.decode_program`` shape (an lddw is followed by its
        filler slot), all relocations resolved (see the module docstring).
    type : ProgType
        From the section name; ``UNSPEC`` when libbpf would not know the section either.
    prog_flags : int
        ``bpf_attr.prog_flags`` implied by the section (``XDP_FLAG_HAS_FRAGS`` for
        ``xdp.frags``).
    functions : dict[str, int]
        Start slot of every function in ``insns``: the entry at 0, then each appended
        subprogram.
    """
    name: str
    section: str
    insns: list[Insn]
    type: ProgType
    prog_flags: int = 0
    functions: dict[str, int] = field(default_factory=dict)

    @property
    def bytecode(self) -> bytes:
        """The program as raw little-endian bytecode."""
        from .isa import encode_program
        return encode_program(self.insns)


@dataclass
class LoadedObject:
    """Everything the loader took from one object file."""
    path: str
    license: str
    programs: dict[str, Program]
    maps: list[MapSpec]
    btf: Btf | None = None

    def program(self, selector: str | None = None) -> Program:
        """The program whose function name or section is ``selector``.

        With no selector the object must hold exactly one program.  A section name that
        several programs share is ambiguous; name the function instead.
        """
        available = ", ".join(f"{p.name} (section '{p.section}')"
                              for p in self.programs.values()) or "none"
        if selector is None:
            if len(self.programs) == 1:
                return next(iter(self.programs.values()))
            raise LoaderError(f"{self.path}: {len(self.programs)} programs; choose one by"
                              f" function or section name: {available}")
        if selector in self.programs:
            return self.programs[selector]
        matches = [p for p in self.programs.values() if p.section == selector]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise LoaderError(f"{self.path}: section '{selector}' holds several programs"
                              f" ({', '.join(p.name for p in matches)}); name the function")
        raise LoaderError(f"{self.path}: no program or section named '{selector}';"
                          f" available: {available}")

    def map_index(self, name: str) -> int:
        """Index in ``maps`` of the map called ``name`` (what MAP_IDX immediates hold)."""
        for index, spec in enumerate(self.maps):
            if spec.name == name:
                return index
        raise KeyError(name)


def load_object(path: str | os.PathLike) -> LoadedObject:
    """Load a BPF ELF object file; raises ``LoaderError`` for anything it cannot load."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise LoaderError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return load_bytes(data, path)


def load_bytes(data: bytes, path: str = "<bytes>") -> LoadedObject:
    """Load an object from memory; ``path`` is only used to name it in errors."""
    return _Loader(bytes(data), path).load()


# --- ELF reading: the only place pyelftools is used -------------------------------------

# What pyelftools raises on corrupt input; turned into LoaderError at the boundary.
_ELF_ERRORS = (ELFError, ConstructError, struct.error, ValueError, IndexError, KeyError,
               OverflowError, UnicodeDecodeError, EOFError, ZeroDivisionError)

SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
SHF_COMPRESSED = 0x800
_MAX_NOBITS = 1 << 24


@dataclass
class _Section:
    index: int
    name: str
    type: str
    flags: int
    offset: int
    size: int
    link: int
    info: int
    entsize: int
    data: bytes          # zeros for SHT_NOBITS

    @property
    def executable(self) -> bool:
        return self.type == "SHT_PROGBITS" and bool(self.flags & SHF_EXECINSTR)


@dataclass
class _Symbol:
    index: int
    name: str
    value: int
    size: int
    type: str            # STT_*
    bind: str            # STB_*
    shndx: int | str     # section index, or SHN_UNDEF / SHN_ABS / SHN_COMMON


@dataclass
class _Function:
    name: str
    section: _Section
    start: int           # slot index in the section
    insns: list[Insn]
    symbol: _Symbol
    # (slot in this function, target function, is a function-address lddw)
    calls: list[tuple[int, "_Function", bool]] = field(default_factory=list)


class _Loader:
    def __init__(self, data: bytes, path: str):
        self.data = data
        self.path = path
        self.sections: list[_Section] = []
        self.symbols: list[_Symbol] = []
        self.btf: Btf | None = None
        self.maps: list[MapSpec] = []
        # (section index, offset in section) -> map index, for .maps / maps symbols
        self.map_at: dict[tuple[int, int], int] = {}
        self.maps_relocs: list[tuple[int, int]] = []       # (offset, r_info) in .maps
        self.values_at: dict[int, tuple[int, int, str]] = {}   # map: (start, end, name)
        # section index -> map index, for global-data sections
        self.data_map: dict[int, int] = {}

    def error(self, message: str, section: str | None = None,
              symbol: str | None = None) -> LoaderError:
        where = self.path
        if section is not None:
            where += f": section '{section}'"
        if symbol is not None:
            where += f": symbol '{symbol}'"
        return LoaderError(f"{where}: {message}")

    # -- top level --

    def load(self) -> LoadedObject:
        self._check_ident()
        try:
            self._read_elf()
        except LoaderError:
            raise
        except _ELF_ERRORS as exc:
            raise self.error(f"malformed ELF: {exc}") from None
        sec_by_name = {s.name: s for s in self.sections}
        license_sec = sec_by_name.get("license")
        license_text = ""
        if license_sec is not None:
            license_text = license_sec.data.split(b"\0", 1)[0].decode("utf-8", "replace")
        btf_sec = sec_by_name.get(".BTF")
        if btf_sec is not None:
            try:
                self.btf = Btf.parse(btf_sec.data, "section '.BTF'")
            except BtfError as exc:
                raise LoaderError(f"{self.path}: {exc}") from None
        self._collect_legacy_maps()
        self._collect_btf_maps()
        self._collect_data_maps()
        functions = self._collect_functions()
        entries = [f for f in functions if f.section.name != ".text"]
        if not entries:
            found = f" (only {len(functions)} function(s) in .text)" if functions else ""
            raise self.error("no program section: expected a function in SEC(\"xdp\") or"
                             f" another libbpf program section{found}")
        self._relocate(functions)
        programs: dict[str, Program] = {}
        for entry in entries:
            prog_type, flags = section_program_type(entry.section.name)
            insns, starts = self._link(entry)
            programs[entry.name] = Program(entry.name, entry.section.name, insns, prog_type,
                                           flags, starts)
        return LoadedObject(self.path, license_text, programs, self.maps, self.btf)

    def _check_ident(self) -> None:
        data = self.data
        if len(data) < 4 or data[:4] != b"\x7fELF":
            raise self.error("not an ELF file (bad magic)")
        if len(data) < 64:
            raise self.error(f"truncated ELF header ({len(data)} bytes, need 64)")
        if data[4] != 2:
            raise self.error(f"ELF class {data[4]} is not ELFCLASS64 (BPF objects are 64-bit)")
        if data[5] == 2:
            raise self.error("big-endian ELF (clang -target bpfeb); the NIC runs"
                             " little-endian BPF: compile with -target bpf or bpfel")
        if data[5] != 1:
            raise self.error(f"ELF data encoding {data[5]} is neither little nor big endian")
        e_type, e_machine = struct.unpack_from("<HH", data, 16)
        if e_machine != EM_BPF:
            raise self.error(f"ELF machine {e_machine} is not EM_BPF ({EM_BPF});"
                             " compile with clang -target bpf")
        if e_type != ET_REL:
            raise self.error(f"ELF type {e_type} is not ET_REL (a relocatable .o from"
                             " clang -c)")
        e_shoff, = struct.unpack_from("<Q", data, 40)
        e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 58)
        if e_shnum == 0:
            raise self.error("no section headers (or extended section numbering, which"
                             " BPF objects do not use)")
        if e_shentsize != 64:
            raise self.error(f"section header size {e_shentsize} is not 64")
        if e_shoff + e_shnum * 64 > len(data):
            raise self.error(f"truncated: {e_shnum} section headers at offset {e_shoff}"
                             f" extend past the end of the file ({len(data)} bytes)")
        if e_shstrndx >= e_shnum:
            raise self.error(f"section name table index {e_shstrndx} out of range"
                             f" ({e_shnum} sections)")
        # Check what pyelftools will trust before it reads: every section's extent, and
        # the links of the string, symbol and relocation tables.
        headers = [struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + 64 * i)
                   for i in range(e_shnum)]
        for i, (_name, sh_type, flags, _addr, offset, size, link, info, _align, entsize) \
                in enumerate(headers):
            if sh_type != 8 and i != 0 and offset + size > len(data):   # 8 = SHT_NOBITS
                raise self.error(f"truncated: section {i} [{offset}, {offset + size})"
                                 f" extends past the end of the file ({len(data)} bytes)")
            if flags & SHF_COMPRESSED:
                raise self.error(f"section {i} is compressed (SHF_COMPRESSED), which BPF"
                                 " objects do not use")
            if sh_type == 2:                          # SHT_SYMTAB
                if entsize != 24 or size % 24:
                    raise self.error(f"symbol table (section {i}) has entry size {entsize}"
                                     f" and size {size}; expected multiples of 24")
                if link >= e_shnum or headers[link][1] != 3:
                    raise self.error(f"symbol table (section {i}) links to section {link},"
                                     " which is not a string table")
            elif sh_type in (9, 4):                   # SHT_REL, SHT_RELA
                if entsize != (16 if sh_type == 9 else 24) or size % max(entsize, 1):
                    raise self.error(f"relocation section {i} has entry size {entsize} and"
                                     f" size {size}")
                if link >= e_shnum or headers[link][1] != 2:
                    raise self.error(f"relocation section {i} links to section {link},"
                                     " which is not a symbol table")
                if info >= e_shnum:
                    raise self.error(f"relocation section {i} applies to section {info},"
                                     f" out of range ({e_shnum} sections)")
        if headers[e_shstrndx][1] != 3:
            raise self.error(f"section name table (section {e_shstrndx}) is not a string"
                             " table")

    def _read_elf(self) -> None:
        elf = ELFFile(io.BytesIO(self.data))
        symtab = None
        for index in range(elf.num_sections()):
            sec = elf.get_section(index)
            h = sec.header
            sh_type = h.sh_type if isinstance(h.sh_type, str) else f"0x{h.sh_type:x}"
            if sh_type == "SHT_NOBITS":
                # Its contents are zeros we materialise; bound them so a corrupt size
                # cannot exhaust memory (a map value is far smaller than this anyway).
                if h.sh_size > _MAX_NOBITS:
                    raise self.error(f"NOBITS section of {h.sh_size} bytes is larger than"
                                     f" {_MAX_NOBITS}", sec.name)
                body = bytes(h.sh_size)
            else:
                body = self.data[h.sh_offset:h.sh_offset + h.sh_size] if index else b""
            self.sections.append(_Section(index, sec.name, sh_type, h.sh_flags, h.sh_offset,
                                          h.sh_size, h.sh_link, h.sh_info, h.sh_entsize,
                                          body))
            if sh_type == "SHT_SYMTAB":
                if symtab is not None:
                    raise self.error("more than one symbol table", sec.name)
                symtab = sec
        if symtab is None:
            raise self.error("no symbol table (.symtab); was the object stripped?")
        for i, sym in enumerate(symtab.iter_symbols()):
            e = sym.entry
            self.symbols.append(_Symbol(i, sym.name, e.st_value, e.st_size,
                                        e.st_info.type, e.st_info.bind, e.st_shndx))
        self.relocs: dict[int, list[tuple[int, int, int, str]]] = {}
        for sec in self.sections:
            if sec.type not in ("SHT_REL", "SHT_RELA"):
                continue
            target = self.sections[sec.info]
            if not target.flags & SHF_ALLOC:
                continue   # .BTF, .BTF.ext, DWARF: libbpf ignores these relocations
            if sec.type == "SHT_RELA":
                raise self.error("RELA relocations are not used by BPF objects", sec.name)
            if target.executable:
                entries = [struct.unpack_from("<QQ", sec.data, off)
                           for off in range(0, sec.size, 16)]
                self.relocs.setdefault(target.index, []).extend(
                    (r_off, r_info >> 32, r_info & MASK32, sec.name) for r_off, r_info in entries)
            elif sec.size and target.name == ".maps":
                # __array(values, ...) initial values: R_BPF_64_ABS64 at the slots
                self.maps_relocs.extend(struct.unpack_from("<QQ", sec.data, off)
                                        for off in range(0, sec.size, 16))
            elif sec.size:
                what = ("map-in-map or prog-array initial values ('values' member)"
                        if target.name == "maps" else "pointers in initialised data")
                raise self.error(f"relocations against section '{target.name}' ({what})"
                                 " are not supported", sec.name)

    def symbol(self, index: int, where: str) -> _Symbol:
        if not 0 <= index < len(self.symbols):
            raise self.error(f"relocation refers to symbol index {index}, but the symbol"
                             f" table has {len(self.symbols)} entries", where)
        return self.symbols[index]

    def section_of(self, sym: _Symbol, where: str) -> _Section | None:
        if not isinstance(sym.shndx, int):
            return None
        if not 0 < sym.shndx < len(self.sections):
            raise self.error(f"symbol's section index {sym.shndx} out of range", where,
                             sym.name)
        return self.sections[sym.shndx]

    # -- maps --

    def _add_map(self, spec: MapSpec) -> int:
        if any(m.name == spec.name for m in self.maps):
            raise self.error("map declared twice", spec.section, spec.name)
        self.maps.append(spec)
        return len(self.maps) - 1

    def _map_type(self, number: int, section: str, name: str) -> MapType:
        try:
            map_type = MapType(number)
        except ValueError:
            raise self.error(f"unknown map type {number}", section, name) from None
        if map_type == MapType.UNSPEC:
            raise self.error("map type 0 (BPF_MAP_TYPE_UNSPEC) is not a map type", section,
                             name)
        return map_type

    def _collect_legacy_maps(self) -> None:
        sec = next((s for s in self.sections if s.name == "maps"), None)
        if sec is None:
            return
        syms = [s for s in self.symbols if s.shndx == sec.index and s.type != "STT_SECTION"]
        if not syms:
            if sec.size:
                raise self.error("legacy map section without map symbols", sec.name)
            return
        # libbpf's rule: every definition has the same size, section size / number of maps.
        if sec.size % len(syms):
            raise self.error(f"section size {sec.size} is not a multiple of the number of"
                             f" maps ({len(syms)}): cannot tell the bpf_map_def size",
                             sec.name)
        def_size = sec.size // len(syms)
        if def_size < 16 or def_size % 4:
            raise self.error(f"map definition size {def_size} bytes: expected 20 (struct"
                             " bpf_map_def: type, key_size, value_size, max_entries,"
                             " map_flags)", sec.name)
        for sym in syms:
            if sym.value % 4 or sym.value + def_size > sec.size:
                raise self.error(f"map definition at offset {sym.value} ({def_size} bytes)"
                                 f" does not fit the section ({sec.size} bytes)", sec.name,
                                 sym.name)
            raw = sec.data[sym.value:sym.value + def_size]
            if def_size > 20 and any(raw[20:]):
                raise self.error("map definition has non-zero fields beyond struct"
                                 " bpf_map_def (iproute2 bpf_elf_map?)", sec.name, sym.name)
            fields = struct.unpack_from(f"<{min(def_size, 20) // 4}I", raw) + (0,)
            map_type, key_size, value_size, max_entries, flags = fields[:5]
            key_t = value_t = None
            if self.btf is not None:   # BPF_ANNOTATE_KV_PAIR's struct ____btf_map_<name>
                kv = self.btf.find(f"____btf_map_{sym.name}", Kind.STRUCT)
                if kv is not None:
                    by_name = {m.name: m.type for m in kv.members}
                    try:
                        if "key" in by_name:
                            key_t = self.btf.type_name(by_name["key"])
                        if "value" in by_name:
                            value_t = self.btf.type_name(by_name["value"])
                    except BtfError as exc:
                        raise self.error(str(exc), sec.name, sym.name) from None
            index = self._add_map(MapSpec(sym.name, self._map_type(map_type, sec.name,
                                                                   sym.name),
                                          key_size, value_size, max_entries, flags,
                                          btf_key_type=key_t, btf_value_type=value_t,
                                          section=sec.name))
            self.map_at[(sec.index, sym.value)] = index

    def _collect_btf_maps(self) -> None:
        sec = next((s for s in self.sections if s.name == ".maps"), None)
        if sec is None:
            return
        if self.btf is None:
            raise self.error("BTF-defined maps need the object's BTF, but there is no .BTF"
                             " section (compile with -g)", sec.name)
        datasec = self.btf.datasec(".maps")
        if datasec is None:
            if sec.size:
                raise self.error("no DATASEC '.maps' in .BTF describes the maps", sec.name)
            return
        by_name = {s.name: s for s in self.symbols
                   if s.shndx == sec.index and s.type == "STT_OBJECT"}
        for info in datasec.secinfos:
            var = self.btf.type(info.type)
            if var.kind != Kind.VAR:
                raise self.error(f"DATASEC entry {var.describe()} is not a VAR", sec.name)
            sym = by_name.get(var.name)
            if sym is None:
                raise self.error("map described in .BTF has no symbol in the section",
                                 sec.name, var.name)
            try:
                spec = self._btf_map_def(sec, var.name, var.type)
                def_size = self.btf.resolve_size(var.type)
            except BtfError as exc:
                raise self.error(str(exc), sec.name, var.name) from None
            # initial values lengthen the symbol by one pointer per slot given
            extra = sym.size - def_size
            with_values = self.values_offset is not None and extra > 0 and extra % 8 == 0
            if sym.value + def_size > sec.size or (sym.size and sym.size != def_size
                                                   and not with_values):
                raise self.error(f"map definition of {def_size} bytes at offset {sym.value}"
                                 f" (symbol size {sym.size}) does not fit the section"
                                 f" ({sec.size} bytes)", sec.name, var.name)
            index = self._add_map(spec)
            self.map_at[(sec.index, sym.value)] = index
            if self.values_offset is not None:
                start = sym.value + self.values_offset
                self.values_at[index] = (start, sym.value + max(sym.size, def_size), var.name)
        self._collect_init_slots(sec)

    def _collect_init_slots(self, sec: _Section) -> None:
        """A PROG_ARRAY's ``__array(values, ...)`` entries: one R_BPF_64_ABS64 relocation
        per given slot, against the program's symbol (libbpf's init_prog_array_slots)."""
        slots: dict[int, list[tuple[int, str]]] = {}
        for offset, info in self.maps_relocs:
            sym = self.symbol(info >> 32, sec.name)
            owner = next(((i, start, var) for i, (start, end, var) in self.values_at.items()
                          if start <= offset < end), None)
            if owner is None:
                raise self.error(f"relocation at offset {offset} is not in a map's 'values'",
                                 sec.name, sym.name)
            index, start, var = owner
            target = self.section_of(sym, sec.name)
            if self.maps[index].inner is not None:
                if info & MASK32 != Reloc.R_BPF_64_ABS64 or sym.type != "STT_OBJECT" \
                        or target is None or target.index != sec.index:
                    raise self.error("a map of maps' initial value must name a map in .maps",
                                     sec.name, var)
            elif info & MASK32 != Reloc.R_BPF_64_ABS64 or sym.type != "STT_FUNC" \
                    or target is None or not target.executable or target.name == ".text":
                raise self.error("a PROG_ARRAY's initial value must name a program",
                                 sec.name, var)
            slot = (offset - start) // 8
            if (offset - start) % 8 or slot >= self.maps[index].max_entries:
                raise self.error(f"initial value at slot {slot} is outside the map's "
                                 f"{self.maps[index].max_entries} entries", sec.name, var)
            slots.setdefault(index, []).append((slot, sym.name))
        for index, given in slots.items():
            self.maps[index] = replace(self.maps[index], init_slots=tuple(sorted(given)))

    def _btf_map_def(self, sec: _Section, name: str, type_id: int) -> MapSpec:
        btf = self.btf
        struct_t = btf.skip_mods_and_typedefs(type_id)
        if struct_t.kind != Kind.STRUCT:
            raise self.error(f"map definition is {struct_t.describe()}, not a struct",
                             sec.name, name)
        ints: dict[str, int] = {}
        key_t = value_t = None
        key_type_size = value_type_size = None
        inner = None
        self.values_offset = None
        for member in struct_t.members:
            where = f"attribute '{member.name}'"
            mtype = btf.skip_mods_and_typedefs(member.type)
            if member.name in ("type", "max_entries", "map_flags", "numa_node", "key_size",
                               "value_size", "map_extra", "pinning"):
                # __uint(name, val) is "int (*name)[val]": the value is the array length.
                arr = btf.skip_mods_and_typedefs(mtype.type) if mtype.kind == Kind.PTR \
                    else None
                if arr is None or arr.kind != Kind.ARRAY:
                    raise self.error(f"{where}: expected __uint() (pointer to array), got"
                                     f" {mtype.describe()}", sec.name, name)
                ints[member.name] = arr.nelems
            elif member.name in ("key", "value"):
                if mtype.kind != Kind.PTR:
                    raise self.error(f"{where}: expected __type() (a pointer), got"
                                     f" {mtype.describe()}", sec.name, name)
                try:
                    size = btf.resolve_size(mtype.type)
                except BtfError as exc:
                    raise self.error(f"{where}: {exc}", sec.name, name) from None
                spelled = btf.type_name(mtype.type)
                if member.name == "key":
                    key_t, key_type_size = spelled, size
                else:
                    value_t, value_type_size = spelled, size
            elif member.name == "values":
                # __array(values, T) is "typeof(T) *values[]": pointers to programs (a
                # PROG_ARRAY's initial entries); pointers to map definitions (map-in-map)
                # are refused below, by the map type.
                elem = btf.skip_mods_and_typedefs(mtype.elem_type) \
                    if mtype.kind == Kind.ARRAY else None
                target = btf.skip_mods_and_typedefs(elem.type) \
                    if elem is not None and elem.kind == Kind.PTR else None
                if target is None or target.kind not in (Kind.FUNC_PROTO, Kind.STRUCT):
                    raise self.error("'values' must be __array(values, <program prototype or "
                                     "inner map definition>)", sec.name, name)
                offset = member.bit_offset // 8
                if target.kind == Kind.STRUCT:      # map of maps: the inner map's template
                    inner = self._btf_map_def(sec, f"{name}.inner", elem.type)
                self.values_offset = offset
            else:
                raise self.error(f"unknown map attribute '{member.name}'", sec.name, name)
        if "type" not in ints:
            raise self.error("map definition has no type (__uint(type, ...))", sec.name, name)
        for which, from_type in (("key", key_type_size), ("value", value_type_size)):
            given = ints.get(f"{which}_size")
            if from_type is not None and given is not None and given != from_type:
                raise self.error(f"{which}_size {given} disagrees with the {which} type's"
                                 f" size {from_type}", sec.name, name)
        if ints.get("map_extra"):
            raise self.error("map_extra is not supported", sec.name, name)
        if ints.get("pinning", 0) > 1:
            raise self.error(f"unknown pinning value {ints['pinning']}", sec.name, name)
        key_size = key_type_size if key_type_size is not None else ints.get("key_size", 0)
        value_size = value_type_size if value_type_size is not None else \
            ints.get("value_size", 0)
        if self.values_offset is not None:
            wanted = (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS) if inner is not None \
                else (MapType.PROG_ARRAY,)
            if ints["type"] not in wanted:
                raise self.error(f"__array(values, ...) of {'maps' if inner else 'programs'} "
                                 f"needs a {' or '.join(t.name for t in wanted)} map",
                                 sec.name, name)
            value_size = value_size or 4        # a program's or map's fd, as libbpf sets it
        return MapSpec(name, self._map_type(ints["type"], sec.name, name), key_size,
                       value_size, ints.get("max_entries", 0), ints.get("map_flags", 0),
                       btf_key_type=key_t, btf_value_type=value_t, section=sec.name,
                       inner=inner)

    def _collect_data_maps(self) -> None:
        for sec in self.sections:
            base = next((b for b in (".data", ".rodata", ".bss")
                         if sec.name == b or sec.name.startswith(b + ".")), None)
            if base is None or not sec.flags & SHF_ALLOC or sec.size == 0:
                continue
            if sec.type not in ("SHT_PROGBITS", "SHT_NOBITS"):
                continue
            flags = MapFlag.RDONLY_PROG if base == ".rodata" else 0
            datasec = self.btf.datasec(sec.name) if self.btf is not None else None
            self.data_map[sec.index] = self._add_map(MapSpec(
                sec.name, MapType.ARRAY, 4, sec.size, 1, int(flags), bytes(sec.data),
                btf_value_type=datasec.name if datasec is not None else None,
                section=sec.name))

    # -- functions and relocations --

    def _collect_functions(self) -> list[_Function]:
        functions: list[_Function] = []
        for sec in self.sections:
            if not sec.executable or sec.size == 0:
                continue
            if sec.size % INSN_SIZE:
                raise self.error(f"size {sec.size} is not a multiple of {INSN_SIZE}",
                                 sec.name)
            syms = sorted((s for s in self.symbols
                           if s.shndx == sec.index and s.type == "STT_FUNC"),
                          key=lambda s: s.value)
            if not syms:
                raise self.error("executable section has no function symbols", sec.name)
            for n, sym in enumerate(syms):
                if sec.name != ".text" and sym.bind == "STB_LOCAL":
                    raise self.error("program is static; libbpf programs must be global",
                                     sec.name, sym.name)
                size = sym.size
                if size == 0:   # hand-written assembly: runs to the next function
                    size = (syms[n + 1].value if n + 1 < len(syms) else sec.size) - sym.value
                if sym.value % INSN_SIZE or size % INSN_SIZE or size <= 0 or \
                        sym.value + size > sec.size:
                    raise self.error(f"function [{sym.value}, {sym.value + size}) is not a"
                                     f" whole number of instructions inside the section"
                                     f" ({sec.size} bytes)", sec.name, sym.name)
                if n + 1 < len(syms) and sym.value + size > syms[n + 1].value:
                    raise self.error(f"function overlaps '{syms[n + 1].name}'", sec.name,
                                     sym.name)
                try:
                    insns = decode_program(sec.data[sym.value:sym.value + size], strict=False)
                except IsaError as exc:
                    raise self.error(str(exc), sec.name, sym.name) from None
                functions.append(_Function(sym.name, sec, sym.value // INSN_SIZE, insns, sym))
        seen: set[str] = set()
        for f in functions:
            if f.name in seen:
                raise self.error("function defined more than once", f.section.name, f.name)
            seen.add(f.name)
        return functions

    def _function_at(self, functions, sec: _Section, slot: int) -> _Function | None:
        for f in functions:
            if f.section is sec and f.start <= slot < f.start + len(f.insns):
                return f
        return None

    def _relocate(self, functions: list[_Function]) -> None:
        """Resolve map and data references in place; record calls for linking."""
        relocated: set[tuple[int, int]] = set()
        for sec_index, entries in self.relocs.items():
            sec = self.sections[sec_index]
            for r_offset, sym_index, r_type, rel_name in entries:
                if r_type == Reloc.NONE:
                    continue
                if r_offset % INSN_SIZE or r_offset >= sec.size:
                    raise self.error(f"relocation ({rel_name}) at offset {r_offset} is not"
                                     " at an instruction", sec.name)
                slot = r_offset // INSN_SIZE
                func = self._function_at(functions, sec, slot)
                sym = self.symbol(sym_index, sec.name)
                if func is None:
                    raise self.error(f"relocation at instruction {slot} is outside every"
                                     " function", sec.name, sym.name)
                local = slot - func.start
                insn = func.insns[local]
                where = f"{func.name}+{local}"
                if local and func.insns[local - 1].imm64 is not None:
                    raise self.error(f"relocation at instruction {where} targets the second"
                                     " slot of an lddw", sec.name, sym.name)
                relocated.add((sec.index, slot))
                if r_type == Reloc.R_BPF_64_64:
                    self._reloc_lddw(functions, func, local, insn, sym, where)
                elif r_type == Reloc.R_BPF_64_32:
                    self._reloc_call(functions, func, local, insn, sym, where)
                else:
                    try:
                        type_name = Reloc(r_type).name
                    except ValueError:
                        type_name = f"type {r_type}"
                    raise self.error(f"unsupported relocation {type_name} at instruction"
                                     f" {where}", sec.name, sym.name)
        # Calls (and function-address lddw) within one section need no relocation: the
        # immediate already counts slots from the next instruction.
        for func in functions:
            for local, insn in enumerate(func.insns):
                if (func.section.index, func.start + local) in relocated:
                    continue
                is_call = insn.opcode == _CALL and insn.src == CallKind.LOCAL
                is_addr = insn.opcode == _LDDW and insn.src == Pseudo.FUNC
                if not (is_call or is_addr):
                    continue
                if is_call and local and func.insns[local - 1].imm64 is not None:
                    continue   # it is the second slot of an lddw
                target_slot = func.start + local + insn.imm + 1
                target = self._function_at(functions, func.section, target_slot)
                if target is None or target.start != target_slot:
                    raise self.error(f"{'call' if is_call else 'function address'} at"
                                     f" instruction {func.name}+{local} targets slot"
                                     f" {target_slot}, which is not the start of a function",
                                     func.section.name, func.name)
                func.calls.append((local, target, is_addr))
        for func in functions:
            func.calls.sort(key=lambda c: c[0])

    def _reloc_lddw(self, functions, func: _Function, local: int, insn: Insn, sym: _Symbol,
                    where: str) -> None:
        secname = func.section.name
        if insn.opcode != _LDDW or insn.imm64 is None:
            raise self.error(f"R_BPF_64_64 relocation at instruction {where} applies to"
                             f" opcode 0x{insn.opcode:02x}, not lddw", secname, sym.name)
        target = self.section_of(sym, secname)
        if target is None:
            raise self.error(f"lddw at instruction {where} refers to extern symbol"
                             f" ({sym.shndx}); externs (.kconfig, .ksyms) are not supported",
                             secname, sym.name)
        addend = sign_extend(insn.imm64 & MASK32, 32)
        filler = func.insns[local + 1]
        if (target.index, sym.value) in self.map_at or target.name in (".maps", "maps"):
            offset = sym.value + (addend if sym.type == "STT_SECTION" else 0)
            index = self.map_at.get((target.index, offset))
            if index is None or (sym.type != "STT_SECTION" and addend):
                raise self.error(f"lddw at instruction {where} refers to offset"
                                 f" {sym.value + addend} of '{target.name}', which is not the"
                                 " start of a map", secname, sym.name)
            _set_lddw(insn, filler, Pseudo.MAP_IDX, index, 0)
        elif target.index in self.data_map:
            index = self.data_map[target.index]
            offset = sym.value + addend
            if not 0 <= offset < target.size:
                raise self.error(f"lddw at instruction {where} refers to offset {offset},"
                                 f" outside '{target.name}' ({target.size} bytes)", secname,
                                 sym.name)
            _set_lddw(insn, filler, Pseudo.MAP_IDX_VALUE, index, offset)
        elif target.executable:
            # A function's address (bpf_loop and for_each_map_elem callbacks): clang leaves
            # src_reg 0 and libbpf marks it BPF_PSEUDO_FUNC, then relocates it like a call.
            self._record_call(functions, func, local, insn, sym, target, where, True)
        else:
            raise self.error(f"lddw at instruction {where} refers to a symbol in section"
                             f" '{target.name}', which is neither a map, global data nor a"
                             " function", secname, sym.name)

    def _reloc_call(self, functions, func: _Function, local: int, insn: Insn, sym: _Symbol,
                    where: str) -> None:
        secname = func.section.name
        if insn.opcode != _CALL or insn.src != CallKind.LOCAL:
            kind = "a kfunc call" if insn.opcode == _CALL and \
                insn.src == CallKind.KFUNC else f"opcode 0x{insn.opcode:02x}" \
                f" src {insn.src}"
            raise self.error(f"R_BPF_64_32 relocation at instruction {where} applies to"
                             f" {kind}, not a bpf-to-bpf call", secname, sym.name)
        target = self.section_of(sym, secname)
        if target is None:
            raise self.error(f"call at instruction {where} to extern function (kfunc or"
                             " unresolved symbol) is not supported", secname, sym.name)
        if not target.executable:
            raise self.error(f"call at instruction {where} targets section"
                             f" '{target.name}', which holds no code", secname, sym.name)
        self._record_call(functions, func, local, insn, sym, target, where, False)

    def _record_call(self, functions, func, local, insn, sym, target, where, is_addr):
        secname = func.section.name
        if sym.value % INSN_SIZE:
            raise self.error(f"call at instruction {where} targets a symbol at byte"
                             f" {sym.value}, not an instruction", secname, sym.name)
        # libbpf: the target slot is the symbol's slot plus the call's imm + 1 (a global
        # function: imm = -1; a static one, through the section symbol: imm = its slot - 1).
        # A function address lddw holds a byte offset in its imm instead.
        if is_addr:
            imm = sign_extend(insn.imm64 & MASK32, 32)
            if imm % INSN_SIZE:
                raise self.error(f"function address at instruction {where} has byte offset"
                                 f" {imm}, not a whole instruction", secname, sym.name)
            slot = sym.value // INSN_SIZE + imm // INSN_SIZE
        else:
            slot = sym.value // INSN_SIZE + insn.imm + 1
        callee = self._function_at(functions, target, slot)
        if callee is None or callee.start != slot:
            raise self.error(f"{'function address' if is_addr else 'call'} at instruction"
                             f" {where} targets slot {slot} of '{target.name}', which is not"
                             " the start of a function", secname, sym.name)
        func.calls.append((local, callee, is_addr))

    def _link(self, entry: _Function) -> tuple[list[Insn], dict[str, int]]:
        """The entry's code followed by every function it reaches, in libbpf's order.

        libbpf appends a subprogram when the scan first meets a call to it and then scans
        the appended code before going on (depth first); an explicit stack does the same
        without Python recursion.
        """
        out: list[Insn] = []
        placed: dict[int, int] = {}

        def place(func: _Function) -> int:
            placed[id(func)] = len(out)
            out.extend(_copy_insns(func.insns))
            starts[func.name] = placed[id(func)]
            return placed[id(func)]

        starts: dict[str, int] = {}
        stack = [(entry, place(entry), iter(entry.calls))]
        while stack:
            func, base, calls = stack[-1]
            for local, callee, is_addr in calls:
                if id(callee) not in placed:
                    place(callee)
                    fix = (base, local, callee, is_addr)
                    _fix_call(out, *fix, placed)
                    stack.append((callee, placed[id(callee)], iter(callee.calls)))
                    break
                _fix_call(out, base, local, callee, is_addr, placed)
            else:
                stack.pop()
        return out, starts


def _fix_call(out: list[Insn], base: int, local: int, callee, is_addr: bool, placed) -> None:
    pc = base + local
    rel = placed[id(callee)] - pc - 1
    insn = out[pc]
    if is_addr:
        _set_lddw(insn, out[pc + 1], Pseudo.FUNC, rel, 0)
    else:
        insn.imm = rel


def _set_lddw(insn: Insn, filler: Insn, pseudo: Pseudo, imm: int, second: int) -> None:
    insn.src = int(pseudo)
    insn.imm = sign_extend(imm, 32)
    filler.imm = sign_extend(second, 32)
    insn.imm64 = (imm & MASK32) | ((second & MASK32) << 32)
    insn.spec = lookup(insn.opcode, insn.src, insn.off, insn.imm)


def _copy_insns(insns: list[Insn]) -> list[Insn]:
    return [replace(i) for i in insns]


def describe(obj: LoadedObject) -> dict:
    """A JSON-ready summary of a loaded object (what ``python -m firmware.ebpf.elf`` prints)."""
    return {
        "path": obj.path,
        "license": obj.license,
        "maps": [{"index": i, "name": m.name, "type": m.type.name.lower(),
                  "key_size": m.key_size, "value_size": m.value_size,
                  "max_entries": m.max_entries, "flags": m.flags, "section": m.section,
                  "btf_key_type": m.btf_key_type, "btf_value_type": m.btf_value_type,
                  "initial": m.initial.hex() if m.initial is not None else None}
                 for i, m in enumerate(obj.maps)],
        "programs": [{"name": p.name, "section": p.section, "type": p.type.name.lower(),
                      "prog_flags": p.prog_flags, "insns": len(p.insns),
                      "functions": p.functions}
                     for p in obj.programs.values()],
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m firmware.ebpf.elf OBJ``: what the loader finds in an object file."""
    import argparse
    import json
    import sys
    parser = argparse.ArgumentParser(
        prog="python -m firmware.ebpf.elf",
        description="Load a clang -target bpf object as xdpnic does and list its maps and "
                    "programs. Exit status 0 when it loads, 2 when it is refused.")
    parser.add_argument("object", help="BPF ELF object file (.o)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    try:
        obj = load_object(args.object)
    except LoaderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = describe(obj)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{obj.path}: license \"{obj.license}\"")
    for m in summary["maps"]:
        key = f" key {m['btf_key_type']}" if m["btf_key_type"] else ""
        value = f" value {m['btf_value_type']}" if m["btf_value_type"] else ""
        print(f"map {m['index']}: {m['name']}  {m['type']}  key {m['key_size']}B"
              f"  value {m['value_size']}B  max_entries {m['max_entries']}"
              f"  flags 0x{m['flags']:x}{key}{value}")
    for p in summary["programs"]:
        calls = ", ".join(f"{name}@{start}" for name, start in p["functions"].items())
        print(f"prog {p['name']}: section {p['section']}  type {p['type']}"
              f"  {p['insns']} insns  functions {calls}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
