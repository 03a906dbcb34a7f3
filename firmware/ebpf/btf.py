"""A parser for BTF, the BPF Type Format carried in an object's ``.BTF`` section.

The loader needs BTF for BTF-defined maps (``struct { __uint(type, ...); __type(key, ...); }
name SEC(".maps")``): the map's attributes are encoded in the *types* of the struct's members,
and the key and value sizes come from resolving type sizes.  This module parses and validates
the whole section the way the kernel does before it trusts it: header fields and section
bounds, every type record, every type id in range, string offsets in range, and no loops
(a chain of typedefs and modifiers that returns to itself, a struct containing itself by
value, a pointer that points at itself).  Anything wrong raises ``BtfError`` naming the type
id and what is wrong; nothing here recurses without a bound, so malformed input cannot hang
it or exhaust the Python stack.

Ref: Linux Documentation/bpf/btf.rst ("BTF Type Encoding"), include/uapi/linux/btf.h,
kernel/bpf/btf.c (validation rules, MAX_RESOLVE_DEPTH).
"""

import enum
import struct
from dataclasses import dataclass, field

__all__ = ["BtfError", "Kind", "IntEncoding", "Member", "Param", "Enumerator", "VarSecInfo",
           "BtfType", "Btf", "BTF_MAGIC", "MAX_CHAIN_DEPTH"]

# Ref: include/uapi/linux/btf.h BTF_MAGIC, BTF_VERSION, struct btf_header.
BTF_MAGIC = 0xEB9F
BTF_VERSION = 1
_HEADER = struct.Struct("<HBBIIIII")     # magic, version, flags, hdr_len, type/str off/len
_TYPE = struct.Struct("<III")            # name_off, info, size_or_type
# The kernel refuses modifier chains longer than this (kernel/bpf/btf.c MAX_RESOLVE_DEPTH);
# we use the same bound when rendering a type's C spelling.
MAX_CHAIN_DEPTH = 32
_MAX_TYPE_SIZE = (1 << 32) - 1


class BtfError(ValueError):
    """Malformed BTF.  The message names the section and, where there is one, the type id."""


class Kind(enum.IntEnum):
    """``BTF_KIND_*``: bits 24..28 of a type's ``info``."""
    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


class IntEncoding(enum.IntFlag):
    """``BTF_INT_*`` encoding bits of an INT type."""
    SIGNED = 1
    CHAR = 2
    BOOL = 4


# Kinds whose single ``type`` field refers to another type.
_REF_KINDS = {Kind.PTR, Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.FUNC,
              Kind.VAR, Kind.DECL_TAG, Kind.TYPE_TAG}
_MODIFIERS = {Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG}
_SIZED = {Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.DATASEC, Kind.FLOAT}


@dataclass(frozen=True)
class Member:
    """A member of a STRUCT or UNION; ``bit_offset`` from the start of the aggregate."""
    name: str
    type: int
    bit_offset: int
    bitfield_size: int = 0


@dataclass(frozen=True)
class Param:
    name: str
    type: int


@dataclass(frozen=True)
class Enumerator:
    name: str
    value: int


@dataclass(frozen=True)
class VarSecInfo:
    """One variable of a DATASEC: its VAR (or FUNC) type id, offset and size in the section."""
    type: int
    offset: int
    size: int


@dataclass
class BtfType:
    """One decoded type record.  Fields not meaningful for the kind keep their defaults."""
    id: int
    kind: Kind
    name: str = ""
    kind_flag: bool = False
    vlen: int = 0
    size: int | None = None        # INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT
    type: int = 0                  # _REF_KINDS; FUNC_PROTO: return type
    int_encoding: IntEncoding = IntEncoding(0)
    int_offset: int = 0
    int_bits: int = 0
    elem_type: int = 0             # ARRAY
    index_type: int = 0
    nelems: int = 0
    members: tuple[Member, ...] = ()
    enumerators: tuple[Enumerator, ...] = ()
    params: tuple[Param, ...] = ()
    linkage: int = 0               # FUNC (from vlen), VAR
    secinfos: tuple[VarSecInfo, ...] = ()
    component_idx: int = -1        # DECL_TAG

    def describe(self) -> str:
        """``[id] KIND 'name'``, as ``bpftool btf dump`` prints a type's head."""
        return f"[{self.id}] {self.kind.name} '{self.name or '(anon)'}'"


_VOID = BtfType(0, Kind.UNKN, "void")


@dataclass
class Btf:
    """The parsed, validated contents of a ``.BTF`` section.

    ``types[i]`` is the type with id ``i``; id 0 is ``void``.
    """
    types: list[BtfType]
    strings: bytes
    where: str = ".BTF"
    _sizes: list[int | None] = field(default_factory=list, repr=False)

    # --- construction --------------------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes, where: str = ".BTF") -> "Btf":
        """Parse and validate raw BTF; ``where`` prefixes every error (file and section)."""
        def fail(message: str):
            raise BtfError(f"{where}: {message}")

        if len(data) < _HEADER.size:
            fail(f"{len(data)} bytes is too short for the {_HEADER.size}-byte BTF header")
        if data[:2] == BTF_MAGIC.to_bytes(2, "big"):
            fail("big-endian BTF is not supported (the NIC's programs are little-endian)")
        magic, version, _flags, hdr_len, type_off, type_len, str_off, str_len = \
            _HEADER.unpack_from(data)
        if magic != BTF_MAGIC:
            fail(f"bad magic 0x{magic:04x} (expected 0x{BTF_MAGIC:04x})")
        if version != BTF_VERSION:
            fail(f"unsupported BTF version {version} (expected {BTF_VERSION})")
        if hdr_len < _HEADER.size or hdr_len > len(data):
            fail(f"header length {hdr_len} outside {_HEADER.size}..{len(data)}")
        if any(data[_HEADER.size:hdr_len]):
            fail("unknown non-zero fields in the extended header")
        body = data[hdr_len:]
        if type_off % 4:
            fail(f"type section offset {type_off} is not 4-byte aligned")
        if type_off + type_len > len(body):
            fail(f"type section [{type_off}, {type_off + type_len}) extends past the end of"
                 f" the data ({len(body)} bytes after the header)")
        if str_off + str_len > len(body):
            fail(f"string section [{str_off}, {str_off + str_len}) extends past the end of"
                 f" the data ({len(body)} bytes after the header)")
        if type_off < str_off + str_len and str_off < type_off + type_len:
            fail("type and string sections overlap")
        strings = body[str_off:str_off + str_len]
        if not strings or strings[0] != 0 or strings[-1] != 0:
            fail("string section must start and end with a NUL byte")
        types = _parse_types(body[type_off:type_off + type_len], strings, fail)
        btf = cls(types, strings, where)
        btf._validate(fail)
        return btf

    def _validate(self, fail) -> None:
        count = len(self.types)

        def check_id(t: BtfType, ref: int, what: str) -> None:
            if not 0 <= ref < count:
                fail(f"type {t.describe()}: {what} type id {ref} out of range"
                     f" (last type id is {count - 1})")

        for t in self.types[1:]:
            for what, ref in _references(t):
                check_id(t, ref, what)
            if t.kind == Kind.FUNC and self.types[t.type].kind != Kind.FUNC_PROTO:
                fail(f"type {t.describe()}: refers to {self.types[t.type].describe()},"
                     " not a FUNC_PROTO")
            if t.kind == Kind.DATASEC:
                for info in t.secinfos:
                    if self.types[info.type].kind not in (Kind.VAR, Kind.FUNC):
                        fail(f"type {t.describe()}: entry {self.types[info.type].describe()}"
                             " is not a VAR or FUNC")
        # By-value containment must be acyclic (a struct cannot contain itself), and so must
        # the chains we walk to spell a type (a pointer to itself has no C spelling).
        order = _acyclic_order(self.types, _value_edges, fail, "contains itself by value")
        _acyclic_order(self.types, _spelling_edges, fail, "refers to itself")
        sizes: list[int | None] = [None] * count
        for tid in order:
            t = self.types[tid]
            if t.kind in _SIZED:
                sizes[tid] = t.size
            elif t.kind == Kind.PTR:
                sizes[tid] = 8
            elif t.kind in _MODIFIERS or t.kind == Kind.VAR:
                sizes[tid] = sizes[t.type]
            elif t.kind == Kind.ARRAY and sizes[t.elem_type] is not None:
                total = t.nelems * sizes[t.elem_type]
                if total > _MAX_TYPE_SIZE:
                    fail(f"type {t.describe()}: size {total} does not fit in 32 bits")
                sizes[tid] = total
        self._sizes = sizes

    # --- queries -------------------------------------------------------------------------

    def type(self, tid: int) -> BtfType:
        """The type with id ``tid`` (id 0 is ``void``)."""
        if not 0 <= tid < len(self.types):
            raise BtfError(f"{self.where}: type id {tid} out of range"
                           f" (last type id is {len(self.types) - 1})")
        return self.types[tid]

    def resolve_size(self, tid: int) -> int:
        """Size in bytes of the type, through typedefs, modifiers, VARs and arrays."""
        t = self.type(tid)
        size = self._sizes[tid]
        if size is None:
            raise BtfError(f"{self.where}: type {t.describe()} has no size")
        return size

    def skip_mods_and_typedefs(self, tid: int) -> BtfType:
        """The type under any chain of typedefs and const/volatile/restrict/type tags."""
        t = self.type(tid)
        for _ in range(len(self.types)):     # acyclic, so this bound is never reached
            if t.kind not in _MODIFIERS:
                return t
            t = self.types[t.type]
        raise BtfError(f"{self.where}: type chain from id {tid} does not end")

    def find(self, name: str, kind: Kind | None = None) -> BtfType | None:
        """The first type named ``name`` (of ``kind``, if given), or None."""
        for t in self.types[1:]:
            if t.name == name and (kind is None or t.kind == kind):
                return t
        return None

    def datasec(self, name: str) -> BtfType | None:
        """The DATASEC describing ELF section ``name``, or None."""
        return self.find(name, Kind.DATASEC)

    def type_name(self, tid: int) -> str:
        """The C spelling of a type: ``__u32``, ``struct flow_key``, ``const char *``,
        ``__u8[6]``.  Named types are not expanded."""
        return self._spell(tid, "", 0)

    def _spell(self, tid: int, declarator: str, depth: int) -> str:
        if depth > MAX_CHAIN_DEPTH:
            raise BtfError(f"{self.where}: type id {tid}: type chain deeper than"
                           f" {MAX_CHAIN_DEPTH}")
        t = self.type(tid)
        tail = f" {declarator}" if declarator and not declarator.startswith("[") else declarator
        if tid == 0:
            return "void" + tail
        if t.kind in (Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FWD):
            tag = {Kind.STRUCT: "struct", Kind.UNION: "union", Kind.ENUM: "enum",
                   Kind.ENUM64: "enum"}.get(t.kind) or ("union" if t.kind_flag else "struct")
            return f"{tag} {t.name or '(anon)'}{tail}"
        if t.kind in (Kind.INT, Kind.FLOAT, Kind.TYPEDEF, Kind.DATASEC):
            return f"{t.name}{tail}"
        if t.kind == Kind.PTR:
            return self._spell(t.type, f"*{declarator}", depth + 1)
        if t.kind in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT):
            qualifier = t.kind.name.lower()
            inner = self.types[t.type]
            if inner.kind == Kind.PTR:      # a const pointer: the qualifier goes after '*'
                return self._spell(t.type, f"{qualifier} {declarator}".rstrip(), depth + 1)
            return f"{qualifier} {self._spell(t.type, declarator, depth + 1)}"
        if t.kind == Kind.TYPE_TAG:
            return self._spell(t.type, declarator, depth + 1)
        if t.kind == Kind.ARRAY:
            inner = f"({declarator})" if declarator.startswith("*") else declarator
            return self._spell(t.elem_type, f"{inner}[{t.nelems}]", depth + 1)
        if t.kind == Kind.FUNC_PROTO:
            args = ", ".join(self._spell(p.type, "", depth + 1) if p.type else "..."
                             for p in t.params) or "void"
            inner = f"({declarator})" if declarator else ""
            return self._spell(t.type, f"{inner}({args})", depth + 1)
        if t.kind in (Kind.VAR, Kind.FUNC, Kind.DECL_TAG):
            return self._spell(t.type, declarator, depth + 1)
        return f"{t.kind.name} {t.name}{tail}"


def _parse_types(data: bytes, strings: bytes, fail) -> list[BtfType]:
    """Decode every type record; ids count from 1 in order of appearance."""
    def name_at(tid: int, offset: int) -> str:
        if offset >= len(strings):
            fail(f"type id {tid}: name offset {offset} outside the string section"
                 f" ({len(strings)} bytes)")
        end = strings.index(0, offset)      # found: the section ends with NUL
        return strings[offset:end].decode("utf-8", "replace")

    types: list[BtfType] = [_VOID]
    pos = 0
    while pos < len(data):
        tid = len(types)
        if pos + _TYPE.size > len(data):
            fail(f"type id {tid}: record truncated at byte {pos} of the type section")
        name_off, info, size_or_type = _TYPE.unpack_from(data, pos)
        pos += _TYPE.size
        vlen = info & 0xFFFF
        kind_no = (info >> 24) & 0x1F
        kind_flag = bool(info >> 31)
        if info & 0x60FF0000:
            fail(f"type id {tid}: reserved bits set in info 0x{info:08x}")
        try:
            kind = Kind(kind_no)
        except ValueError:
            fail(f"type id {tid}: unknown kind {kind_no}")
        if kind == Kind.UNKN:
            fail(f"type id {tid}: kind 0 (UNKN) is not a valid type")
        t = BtfType(tid, kind, name_at(tid, name_off), kind_flag, vlen)

        def extra(nbytes: int) -> bytes:
            nonlocal pos
            if pos + nbytes > len(data):
                fail(f"type {t.describe()}: {kind.name} data needs {nbytes} bytes at"
                     f" {pos}, past the end of the type section ({len(data)} bytes)")
            chunk = data[pos:pos + nbytes]
            pos += nbytes
            return chunk

        if kind in _SIZED:
            t.size = size_or_type
        else:
            t.type = size_or_type
        if kind == Kind.INT:
            (word,) = struct.unpack("<I", extra(4))
            t.int_encoding = IntEncoding((word >> 24) & 0x0F)
            t.int_offset = (word >> 16) & 0xFF
            t.int_bits = word & 0xFF
            if t.size not in (1, 2, 4, 8, 16) or t.int_bits == 0 or \
                    t.int_offset + t.int_bits > 8 * t.size:
                fail(f"type {t.describe()}: invalid INT size {t.size}, offset"
                     f" {t.int_offset}, bits {t.int_bits}")
        elif kind == Kind.ARRAY:
            t.elem_type, t.index_type, t.nelems = struct.unpack("<III", extra(12))
        elif kind in (Kind.STRUCT, Kind.UNION):
            raw = extra(12 * vlen)
            members = []
            for i in range(vlen):
                m_name, m_type, m_off = struct.unpack_from("<III", raw, 12 * i)
                if kind_flag:   # bitfield size in the top 8 bits of the offset
                    members.append(Member(name_at(tid, m_name), m_type, m_off & 0xFFFFFF,
                                          m_off >> 24))
                else:
                    members.append(Member(name_at(tid, m_name), m_type, m_off))
            t.members = tuple(members)
        elif kind == Kind.ENUM:
            raw = extra(8 * vlen)
            values = []
            for i in range(vlen):
                e_name, value = struct.unpack_from("<Ii" if kind_flag else "<II", raw, 8 * i)
                values.append(Enumerator(name_at(tid, e_name), value))
            t.enumerators = tuple(values)
        elif kind == Kind.ENUM64:
            raw = extra(12 * vlen)
            values = []
            for i in range(vlen):
                e_name, lo, hi = struct.unpack_from("<III", raw, 12 * i)
                value = lo | (hi << 32)
                if kind_flag and value >> 63:
                    value -= 1 << 64
                values.append(Enumerator(name_at(tid, e_name), value))
            t.enumerators = tuple(values)
        elif kind == Kind.FUNC_PROTO:
            raw = extra(8 * vlen)
            t.params = tuple(Param(name_at(tid, p_name), p_type)
                             for p_name, p_type in struct.iter_unpack("<II", raw))
        elif kind == Kind.VAR:
            (t.linkage,) = struct.unpack("<I", extra(4))
        elif kind == Kind.FUNC:
            t.linkage = vlen
        elif kind == Kind.DATASEC:
            raw = extra(12 * vlen)
            t.secinfos = tuple(VarSecInfo(*fields) for fields in struct.iter_unpack("<III", raw))
        elif kind == Kind.DECL_TAG:
            (t.component_idx,) = struct.unpack("<i", extra(4))
        types.append(t)
    return types


def _references(t: BtfType):
    """(what, type id) for every type id the record refers to."""
    if t.kind in _REF_KINDS:
        yield "referenced", t.type
    elif t.kind == Kind.ARRAY:
        yield "element", t.elem_type
        yield "index", t.index_type
    elif t.kind in (Kind.STRUCT, Kind.UNION):
        for m in t.members:
            yield f"member '{m.name}'", m.type
    elif t.kind == Kind.FUNC_PROTO:
        yield "return", t.type
        for p in t.params:
            yield f"parameter '{p.name}'", p.type
    elif t.kind == Kind.DATASEC:
        for info in t.secinfos:
            yield "section variable", info.type


def _value_edges(t: BtfType) -> list[int]:
    """Types whose storage this type contains (or aliases): the edges that must not loop."""
    if t.kind in _MODIFIERS or t.kind in (Kind.VAR, Kind.FUNC, Kind.DECL_TAG):
        return [t.type]
    if t.kind == Kind.ARRAY:
        return [t.elem_type]
    if t.kind in (Kind.STRUCT, Kind.UNION):
        return [m.type for m in t.members]
    if t.kind == Kind.DATASEC:
        return [info.type for info in t.secinfos]
    return []


def _spelling_edges(t: BtfType) -> list[int]:
    """Types walked to spell this one in C; named types end the walk."""
    if t.kind in (Kind.PTR, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG,
                  Kind.VAR, Kind.FUNC, Kind.DECL_TAG):
        return [t.type]
    if t.kind == Kind.ARRAY:
        return [t.elem_type]
    if t.kind == Kind.FUNC_PROTO:
        return [t.type] + [p.type for p in t.params]
    return []


def _acyclic_order(types: list[BtfType], edges, fail, why: str) -> list[int]:
    """Type ids in post-order (dependencies first); a cycle fails naming one of its types.

    Iterative depth-first search, so a long chain cannot overflow the Python stack.
    """
    white, grey, black = 0, 1, 2
    colour = [white] * len(types)
    order: list[int] = []
    for root in range(len(types)):
        if colour[root] != white:
            continue
        colour[root] = grey
        stack = [(root, iter(edges(types[root])))]
        while stack:
            node, children = stack[-1]
            for child in children:
                if colour[child] == grey:
                    fail(f"type loop: {types[child].describe()} {why}"
                         f" (via {types[node].describe()})")
                if colour[child] == white:
                    colour[child] = grey
                    stack.append((child, iter(edges(types[child]))))
                    break
            else:
                colour[node] = black
                order.append(node)
                stack.pop()
    return order
