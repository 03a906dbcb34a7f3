"""Map definitions as the loader finds them in an object file.

A ``MapSpec`` is what a BPF object asks for: the map's type, key and value sizes, capacity and
flags, and (for global-data maps) its initial contents.  It says nothing about whether the NIC
can provide it; the platform (verifier and driver) decides that and refuses, naming the map,
a type or flag it does not offer.

Ref: Linux include/uapi/linux/bpf.h (``enum bpf_map_type``, ``BPF_F_*`` map flags).
"""

import enum
from dataclasses import dataclass

__all__ = ["MapType", "MapFlag", "MapSpec", "MAP_NAME_MAX"]

# Ref: include/uapi/linux/bpf.h BPF_OBJ_NAME_LEN (16, with the NUL).  The kernel truncates
# longer names; we keep the object's full name and let the driver truncate if it must.
MAP_NAME_MAX = 15


class MapType(enum.IntEnum):
    """``enum bpf_map_type``, with the kernel's numbers."""
    UNSPEC = 0
    HASH = 1
    ARRAY = 2
    PROG_ARRAY = 3
    PERF_EVENT_ARRAY = 4
    PERCPU_HASH = 5
    PERCPU_ARRAY = 6
    STACK_TRACE = 7
    CGROUP_ARRAY = 8
    LRU_HASH = 9
    LRU_PERCPU_HASH = 10
    LPM_TRIE = 11
    ARRAY_OF_MAPS = 12
    HASH_OF_MAPS = 13
    DEVMAP = 14
    SOCKMAP = 15
    CPUMAP = 16
    XSKMAP = 17
    SOCKHASH = 18
    CGROUP_STORAGE = 19
    REUSEPORT_SOCKARRAY = 20
    PERCPU_CGROUP_STORAGE = 21
    QUEUE = 22
    STACK = 23
    SK_STORAGE = 24
    DEVMAP_HASH = 25
    STRUCT_OPS = 26
    RINGBUF = 27
    INODE_STORAGE = 28
    TASK_STORAGE = 29
    BLOOM_FILTER = 30
    USER_RINGBUF = 31
    CGRP_STORAGE = 32
    ARENA = 33


class MapFlag(enum.IntFlag):
    """``BPF_F_*`` flags of ``bpf_attr.map_flags``."""
    NO_PREALLOC = 1 << 0
    NO_COMMON_LRU = 1 << 1
    NUMA_NODE = 1 << 2
    RDONLY = 1 << 3
    WRONLY = 1 << 4
    STACK_BUILD_ID = 1 << 5
    ZERO_SEED = 1 << 6
    RDONLY_PROG = 1 << 7
    WRONLY_PROG = 1 << 8
    CLONE = 1 << 9
    MMAPABLE = 1 << 10
    PRESERVE_ELEMS = 1 << 11
    INNER_MAP = 1 << 12
    LINK = 1 << 13
    PATH_FD = 1 << 14
    VTYPE_BTF_OBJ_FD = 1 << 15
    TOKEN_FD = 1 << 16
    SEGV_ON_FAULT = 1 << 17
    NO_USER_CONV = 1 << 18


@dataclass(frozen=True)
class MapSpec:
    """One map an object declares.

    Parameters / Members
    --------------------
    name : str
        The map's symbol name (``.maps`` and legacy ``maps``), or the ELF section name for a
        global-data map (``.data``, ``.rodata``, ``.bss``, ``.rodata.str1.1``...).
    type : MapType
        The map type, with the kernel's number.
    key_size, value_size, max_entries : int
        In bytes, bytes and entries.  Global-data maps have key 4, value = section size, 1 entry.
    flags : int
        ``map_flags`` (``MapFlag`` bits).  ``.rodata*`` maps carry ``RDONLY_PROG``, as libbpf
        sets it, so that the verifier refuses program writes to them.
    initial : bytes or None
        Initial value of the single entry of a global-data map (all zeros for ``.bss``); None
        for maps that start empty.
    btf_key_type, btf_value_type : str or None
        C spelling of the key and value types when the object's BTF names them (``__u32``,
        ``struct flow_key``); for a global-data map the value type is its DATASEC name.
    section : str
        ELF section the definition came from (``.maps``, ``maps``, or the data section).
    init_slots : tuple of (int, str)
        A ``PROG_ARRAY``'s initial entries from BTF ``__array(values, ...)``: (index, name of
        the program the loader puts there), as libbpf fills them after loading; for a map of
        maps (``ARRAY_OF_MAPS``, ``HASH_OF_MAPS``) the name of the inner map (key = slot).
    inner : MapSpec or None
        A map of maps: the inner maps' template (``__array(values, struct {...})``); every
        map put in it must have its type, sizes and flags.
    """
    name: str
    type: MapType
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    initial: bytes | None = None
    btf_key_type: str | None = None
    btf_value_type: str | None = None
    section: str = ".maps"
    init_slots: tuple[tuple[int, str], ...] = ()
    inner: "MapSpec | None" = None

    @property
    def is_global_data(self) -> bool:
        """Whether this map backs a global-data section (a single-entry array)."""
        return self.initial is not None

    @property
    def readonly_for_program(self) -> bool:
        return bool(self.flags & MapFlag.RDONLY_PROG)
