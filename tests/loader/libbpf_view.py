"""libbpf's own view of an object, through ctypes on libbpf.so.1: the oracle the loader's
map specs and program list are checked against.  bpf_object__open_file parses the object
(sections, BTF-defined maps, global data) without touching the kernel."""

import ctypes
import ctypes.util

import pytest

_P = ctypes.c_void_p


def _lib():
    for name in ("libbpf.so.1", ctypes.util.find_library("bpf")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        break
    else:
        pytest.skip("libbpf.so.1 is not installed (apt install libbpf1)")
    lib.bpf_object__open_file.restype = _P
    lib.bpf_object__open_file.argtypes = [ctypes.c_char_p, _P]
    lib.bpf_object__close.argtypes = [_P]
    lib.libbpf_get_error.restype = ctypes.c_long
    lib.libbpf_get_error.argtypes = [_P]
    for fn in ("bpf_object__next_map", "bpf_object__next_program"):
        getattr(lib, fn).restype = _P
        getattr(lib, fn).argtypes = [_P, _P]
    for fn in ("bpf_map__name", "bpf_program__name", "bpf_program__section_name"):
        getattr(lib, fn).restype = ctypes.c_char_p
        getattr(lib, fn).argtypes = [_P]
    for fn in ("bpf_map__type", "bpf_map__key_size", "bpf_map__value_size",
               "bpf_map__max_entries", "bpf_map__map_flags", "bpf_program__type",
               "bpf_program__insn_cnt"):
        getattr(lib, fn).restype = ctypes.c_uint
        getattr(lib, fn).argtypes = [_P]
    lib.bpf_map__initial_value.restype = _P
    lib.bpf_map__initial_value.argtypes = [_P, ctypes.POINTER(ctypes.c_size_t)]
    return lib


def libbpf_view(path) -> tuple[list[dict], list[dict]]:
    """(maps, programs) as libbpf opens the object; skips the test if libbpf is absent."""
    lib = _lib()
    obj = lib.bpf_object__open_file(str(path).encode(), None)
    if not obj or lib.libbpf_get_error(obj):
        raise AssertionError(f"libbpf could not open {path}")
    maps, progs = [], []
    try:
        m = None
        while m := lib.bpf_object__next_map(obj, m):
            size = ctypes.c_size_t()
            value = lib.bpf_map__initial_value(m, ctypes.byref(size))
            maps.append({
                "name": lib.bpf_map__name(m).decode(), "type": lib.bpf_map__type(m),
                "key_size": lib.bpf_map__key_size(m),
                "value_size": lib.bpf_map__value_size(m),
                "max_entries": lib.bpf_map__max_entries(m),
                "flags": lib.bpf_map__map_flags(m),
                "initial": ctypes.string_at(value, size.value) if value else None})
        p = None
        while p := lib.bpf_object__next_program(obj, p):
            progs.append({"name": lib.bpf_program__name(p).decode(),
                          "section": lib.bpf_program__section_name(p).decode(),
                          "type": lib.bpf_program__type(p),
                          "insn_cnt": lib.bpf_program__insn_cnt(p)})
    finally:
        lib.bpf_object__close(obj)
    return maps, progs
