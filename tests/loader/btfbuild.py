"""A small BTF writer for tests: builds .BTF blobs type by type, including malformed ones."""

import struct

from firmware.ebpf.btf import Kind


class BtfBuilder:
    def __init__(self):
        self.records: list[bytes] = []
        self.strings = bytearray(b"\0")
        self._offsets = {"": 0}

    def s(self, name: str) -> int:
        if name not in self._offsets:
            self._offsets[name] = len(self.strings)
            self.strings += name.encode() + b"\0"
        return self._offsets[name]

    def raw(self, record: bytes) -> int:
        self.records.append(record)
        return len(self.records)

    def add(self, kind: int, name: str = "", vlen: int = 0, size_or_type: int = 0,
            extra: bytes = b"", kind_flag: bool = False) -> int:
        info = (int(kind_flag) << 31) | (int(kind) << 24) | vlen
        return self.raw(struct.pack("<III", self.s(name), info, size_or_type) + extra)

    def int(self, name, size, bits=None, encoding=0, offset=0):
        bits = size * 8 if bits is None else bits
        return self.add(Kind.INT, name, 0, size,
                        struct.pack("<I", (encoding << 24) | (offset << 16) | bits))

    def ptr(self, t):
        return self.add(Kind.PTR, "", 0, t)

    def array(self, elem, index, nelems):
        return self.add(Kind.ARRAY, "", 0, 0, struct.pack("<III", elem, index, nelems))

    def struct(self, name, size, members, union=False, kind_flag=False):
        extra = b"".join(struct.pack("<III", self.s(n), t, off) for n, t, off in members)
        return self.add(Kind.UNION if union else Kind.STRUCT, name, len(members), size, extra,
                        kind_flag)

    def enum(self, name, size, values, signed=False):
        extra = b"".join(struct.pack("<Ii" if signed else "<II", self.s(n), v)
                         for n, v in values)
        return self.add(Kind.ENUM, name, len(values), size, extra, signed)

    def enum64(self, name, size, values, signed=False):
        extra = b"".join(struct.pack("<III", self.s(n), v & 0xFFFFFFFF, (v >> 32) & 0xFFFFFFFF)
                         for n, v in values)
        return self.add(Kind.ENUM64, name, len(values), size, extra, signed)

    def fwd(self, name, union=False):
        return self.add(Kind.FWD, name, 0, 0, kind_flag=union)

    def ref(self, kind, t, name=""):
        return self.add(kind, name, 0, t)

    def func_proto(self, ret, params):
        extra = b"".join(struct.pack("<II", self.s(n), t) for n, t in params)
        return self.add(Kind.FUNC_PROTO, "", len(params), ret, extra)

    def func(self, name, proto, linkage=1):
        return self.add(Kind.FUNC, name, linkage, proto)

    def var(self, name, t, linkage=1):
        return self.add(Kind.VAR, name, 0, t, struct.pack("<I", linkage))

    def datasec(self, name, size, entries):
        extra = b"".join(struct.pack("<III", *e) for e in entries)
        return self.add(Kind.DATASEC, name, len(entries), size, extra)

    def float(self, name, size):
        return self.add(Kind.FLOAT, name, 0, size)

    def decl_tag(self, name, t, component_idx=-1):
        return self.add(Kind.DECL_TAG, name, 0, t, struct.pack("<i", component_idx))

    def build(self, magic=0xEB9F, version=1, flags=0, hdr_len=24, type_off=0, type_len=None,
              str_off=None, str_len=None, header_tail=b"", strings=None) -> bytes:
        types = b"".join(self.records)
        strs = bytes(self.strings if strings is None else strings)
        type_len = len(types) if type_len is None else type_len
        str_off = len(types) if str_off is None else str_off
        str_len = len(strs) if str_len is None else str_len
        header = struct.pack("<HBBIIIII", magic, version, flags, hdr_len, type_off, type_len,
                             str_off, str_len) + header_tail
        return header + types + strs
