"""Byte-level helpers for making bad objects out of good ones: where a section header, a
symbol or a relocation entry lives in the file, found with pyelftools."""

import io
import struct

from elftools.elf.elffile import ELFFile


def _elf(data: bytes) -> ELFFile:
    return ELFFile(io.BytesIO(data))


def section_index(data: bytes, name: str) -> int:
    elf = _elf(data)
    for i, sec in enumerate(elf.iter_sections()):
        if sec.name == name:
            return i
    raise KeyError(name)


def section_header_offset(data: bytes, name: str) -> int:
    """File offset of the named section's 64-byte header."""
    e_shoff, = struct.unpack_from("<Q", data, 40)
    return e_shoff + 64 * section_index(data, name)


def section_range(data: bytes, name: str) -> tuple[int, int]:
    """(file offset, size) of the named section's contents."""
    sec = _elf(data).get_section_by_name(name)
    return sec["sh_offset"], sec["sh_size"]


def symbol(data: bytes, name: str):
    """(file offset of the symbol's 24-byte entry, the pyelftools Symbol)."""
    symtab = _elf(data).get_section_by_name(".symtab")
    for i, sym in enumerate(symtab.iter_symbols()):
        if sym.name == name:
            return symtab["sh_offset"] + 24 * i, sym
    raise KeyError(name)


def relocations(data: bytes, rel_section: str):
    """[(file offset of the 16-byte entry, r_offset, symbol index, type)] of a REL section."""
    sec = _elf(data).get_section_by_name(rel_section)
    out = []
    for i, rel in enumerate(sec.iter_relocations()):
        out.append((sec["sh_offset"] + 16 * i, rel["r_offset"], rel["r_info_sym"],
                    rel["r_info_type"]))
    return out


def patch(data: bytes, offset: int, fmt: str, *values) -> bytes:
    """A copy of ``data`` with ``struct.pack(fmt, *values)`` written at ``offset``."""
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, *values)
    return bytes(out)


def set_reloc(data: bytes, entry_offset: int, sym: int, rtype: int) -> bytes:
    return patch(data, entry_offset + 8, "<Q", (sym << 32) | rtype)
