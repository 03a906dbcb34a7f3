"""What the verifier knows about a target: helper prototypes, map types and context layouts.

Helper prototypes are data (argument and return types, the kernel's ``bpf_func_proto``); a
``Platform`` says which of them, and which map types, a target offers.  ``XDPNIC`` is the NIC
(the helpers and map types of the hardware maps issue), ``CONFORMANCE`` the bpf_conformance
suite's calling convention and ``LINUX`` a wider Linux-like table used to run PREVAIL's cases.

Ref: Linux include/uapi/linux/bpf.h (helper ids and ``enum bpf_map_type``), include/linux/bpf.h
(``enum bpf_arg_type``, ``enum bpf_return_type``), net/core/filter.c (``xdp_is_valid_access``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ..helpers import HelperId
from ..maps import MapType

__all__ = ["Arg", "Ret", "HelperProto", "MapType", "MapInfo", "CtxField", "ContextLayout",
           "Platform", "HELPERS", "XDP_CONTEXT", "XDPNIC", "CONFORMANCE", "LINUX",
           "VALUE_MAPS", "SOCK_COMMON_FIELDS", "SOCK_COMMON_WHOLE", "SOCK_SIZE"]


class Arg(enum.Enum):
    """A helper argument's type (``enum bpf_arg_type``)."""
    ANYTHING = "anything"               # any initialized value
    SCALAR = "scalar"                   # a number
    CONST_MAP_PTR = "map_ptr"
    MAP_KEY = "map_key"                 # readable memory of the map's key_size
    MAP_VALUE = "map_value"             # readable memory of the map's value_size
    MEM = "mem"                         # readable memory; size in the next argument
    MEM_OR_NULL = "mem_or_null"         # as MEM, or the constant 0 with size 0
    UNINIT_MEM = "uninit_mem"           # memory the helper writes; size in the next argument
    CONST_SIZE = "const_size"           # a size > 0 bounding the previous memory argument
    CONST_SIZE_OR_ZERO = "const_size_or_zero"
    CTX = "ctx"
    ALLOC_MEM = "alloc_mem"             # a pointer returned by ringbuf_reserve (not NULL)


class Ret(enum.Enum):
    """A helper's return type (``enum bpf_return_type``)."""
    INTEGER = "integer"
    VOID = "void"
    MAP_VALUE_OR_NULL = "map_value_or_null"
    SOCKET_OR_NULL = "socket_or_null"
    ALLOC_MEM_OR_NULL = "alloc_mem_or_null"     # size: the constant second argument


# Maps whose values are maps: a lookup gives the inner map (or NULL).
MAPS_OF_MAPS = frozenset({MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS})

# Maps whose lookup gives a pointer to a value the program may read and write.
VALUE_MAPS = frozenset({MapType.UNSPEC, MapType.HASH, MapType.ARRAY, MapType.PERCPU_HASH,
                        MapType.PERCPU_ARRAY, MapType.LRU_HASH, MapType.LPM_TRIE})


@dataclass(frozen=True)
class HelperProto:
    """One helper: its name, return type, argument types (r1 first) and side effects.

    ``map_types`` lists the map types its CONST_MAP_PTR argument accepts.
    ``changes_pkt_data``: the helper may move the packet, so every packet pointer dies.
    """
    name: str
    ret: Ret
    args: tuple[Arg, ...] = ()
    map_types: frozenset = VALUE_MAPS
    changes_pkt_data: bool = False


_RINGBUF = frozenset({MapType.RINGBUF})

# Ref: include/uapi/linux/bpf.h ___BPF_FUNC_MAPPER (ids) and each helper's bpf_func_proto.
HELPERS: dict[int, HelperProto] = {
    1: HelperProto("bpf_map_lookup_elem", Ret.MAP_VALUE_OR_NULL, (Arg.CONST_MAP_PTR, Arg.MAP_KEY),
                   map_types=VALUE_MAPS | MAPS_OF_MAPS),
    2: HelperProto("bpf_map_update_elem", Ret.INTEGER,
                   (Arg.CONST_MAP_PTR, Arg.MAP_KEY, Arg.MAP_VALUE, Arg.SCALAR)),
    3: HelperProto("bpf_map_delete_elem", Ret.INTEGER, (Arg.CONST_MAP_PTR, Arg.MAP_KEY)),
    5: HelperProto("bpf_ktime_get_ns", Ret.INTEGER),
    6: HelperProto("bpf_trace_printk", Ret.INTEGER,
                   (Arg.MEM, Arg.CONST_SIZE, Arg.SCALAR, Arg.SCALAR, Arg.SCALAR)),
    7: HelperProto("bpf_get_prandom_u32", Ret.INTEGER),
    8: HelperProto("bpf_get_smp_processor_id", Ret.INTEGER),
    12: HelperProto("bpf_tail_call", Ret.VOID, (Arg.CTX, Arg.CONST_MAP_PTR, Arg.SCALAR),
                    map_types=frozenset({MapType.PROG_ARRAY})),
    23: HelperProto("bpf_redirect", Ret.INTEGER, (Arg.SCALAR, Arg.SCALAR)),
    28: HelperProto("bpf_csum_diff", Ret.INTEGER,
                    (Arg.MEM_OR_NULL, Arg.CONST_SIZE_OR_ZERO, Arg.MEM_OR_NULL,
                     Arg.CONST_SIZE_OR_ZERO, Arg.SCALAR)),
    44: HelperProto("bpf_xdp_adjust_head", Ret.INTEGER, (Arg.CTX, Arg.SCALAR),
                    changes_pkt_data=True),
    51: HelperProto("bpf_redirect_map", Ret.INTEGER,
                    (Arg.CONST_MAP_PTR, Arg.SCALAR, Arg.SCALAR),
                    map_types=frozenset({MapType.DEVMAP, MapType.DEVMAP_HASH,
                                         MapType.CPUMAP, MapType.XSKMAP})),
    54: HelperProto("bpf_xdp_adjust_meta", Ret.INTEGER, (Arg.CTX, Arg.SCALAR),
                    changes_pkt_data=True),
    65: HelperProto("bpf_xdp_adjust_tail", Ret.INTEGER, (Arg.CTX, Arg.SCALAR),
                    changes_pkt_data=True),
    67: HelperProto("bpf_get_stack", Ret.INTEGER,
                    (Arg.CTX, Arg.UNINIT_MEM, Arg.CONST_SIZE_OR_ZERO, Arg.SCALAR)),
    # params is read and written (ARG_PTR_TO_MEM): what it held is unknown after the call
    69: HelperProto("bpf_fib_lookup", Ret.INTEGER,
                    (Arg.CTX, Arg.UNINIT_MEM, Arg.CONST_SIZE, Arg.SCALAR)),
    99: HelperProto("bpf_skc_lookup_tcp", Ret.SOCKET_OR_NULL,
                    (Arg.CTX, Arg.MEM, Arg.CONST_SIZE, Arg.SCALAR, Arg.SCALAR)),
    130: HelperProto("bpf_ringbuf_output", Ret.INTEGER,
                     (Arg.CONST_MAP_PTR, Arg.MEM, Arg.CONST_SIZE_OR_ZERO, Arg.SCALAR),
                     map_types=_RINGBUF),
    131: HelperProto("bpf_ringbuf_reserve", Ret.ALLOC_MEM_OR_NULL,
                     (Arg.CONST_MAP_PTR, Arg.CONST_SIZE, Arg.SCALAR), map_types=_RINGBUF),
    132: HelperProto("bpf_ringbuf_submit", Ret.VOID, (Arg.ALLOC_MEM, Arg.SCALAR)),
    133: HelperProto("bpf_ringbuf_discard", Ret.VOID, (Arg.ALLOC_MEM, Arg.SCALAR)),
}


@dataclass(frozen=True)
class MapInfo:
    """What the verifier needs of one map: its type and sizes.

    A loader's ``maps.MapSpec`` serves as well (the verifier reads these attributes and,
    when present, ``flags`` for ``BPF_F_RDONLY_PROG``).
    """
    type: int
    key_size: int
    value_size: int
    max_entries: int
    name: str = ""


# Bytes of struct bpf_sock a PTR_TO_SOCK_COMMON may read: (offset, size) of each field
# (family, src_ip4, src_ip6, src_port, dst_port, dst_ip4, dst_ip6, state); an access must lie
# within one of them.  Ref: net/core/filter.c bpf_sock_common_is_valid_access and
# bpf_sock_is_valid_access; include/uapi/linux/bpf.h struct bpf_sock.
SOCK_COMMON_FIELDS = ((4, 4), (24, 4), (28, 16), (44, 4), (48, 2), (52, 4), (56, 16), (72, 4))
# Accesses allowed besides those: dst_port (a __be16 followed by padding) read as a u32.
SOCK_COMMON_WHOLE = ((48, 4),)
SOCK_SIZE = 80


@dataclass(frozen=True)
class CtxField:
    """A field of the context structure.

    ``kind`` is ``"scalar"`` or the pointer a load gives: ``"packet"`` (data),
    ``"packet_end"`` (data_end) or ``"packet_meta"`` (data_meta).
    """
    name: str
    offset: int
    size: int
    kind: str = "scalar"
    writable: bool = False


@dataclass(frozen=True)
class ContextLayout:
    """The context a program receives in r1.

    With ``exact_fields`` (the kernel's rule for ``xdp_md``) a load must read one whole field;
    otherwise any bytes of ``size`` outside the pointer fields may be read and written at any
    width (PREVAIL's test context), and pointer fields are read whole and never written.
    """
    name: str
    size: int
    fields: tuple[CtxField, ...]
    exact_fields: bool = True


# Ref: include/uapi/linux/bpf.h struct xdp_md; net/core/filter.c xdp_is_valid_access (all
# fields are read-only for XDP, and each is read as a whole u32).
XDP_CONTEXT = ContextLayout("xdp_md", 24, (
    CtxField("data", 0, 4, "packet"),
    CtxField("data_end", 4, 4, "packet_end"),
    CtxField("data_meta", 8, 4, "packet_meta"),
    CtxField("ingress_ifindex", 12, 4),
    CtxField("rx_queue_index", 16, 4),
    CtxField("egress_ifindex", 20, 4),
))


@dataclass(frozen=True)
class Platform:
    """A target: the helpers and map types it offers and the context of each program type.

    ``return_scalar`` names program types whose r0 at exit must be a number.
    """
    name: str
    helpers: dict[int, HelperProto]
    map_types: frozenset
    contexts: dict[str, ContextLayout] = field(default_factory=dict)
    return_scalar: frozenset = frozenset({"xdp"})
    max_packet_size: int = 0xFFFF
    max_meta_size: int = 4098
    # A map type that every helper accepts (PREVAIL's test maps have type 0); None: none.
    wildcard_map_type: int | None = None

    def helper(self, helper_id: int) -> HelperProto | None:
        return self.helpers.get(helper_id)


def _pick(*ids: int) -> dict[int, HelperProto]:
    return {i: HELPERS[i] for i in ids}


# The NIC: the helpers of ``helpers.HelperId`` and the map types of the golden model (a
# device without some of them, the RTL today without DEVMAP_HASH and CPUMAP, says so through
# its capability registers and the driver refuses the program naming the map).
XDPNIC = Platform(
    "xdpnic",
    helpers=_pick(*HelperId),
    map_types=frozenset({MapType.HASH, MapType.ARRAY, MapType.PERCPU_HASH,
                         MapType.PERCPU_ARRAY, MapType.LRU_HASH, MapType.LPM_TRIE,
                         MapType.DEVMAP, MapType.DEVMAP_HASH, MapType.CPUMAP,
                         MapType.PROG_ARRAY} | MAPS_OF_MAPS),
    contexts={"xdp": XDP_CONTEXT},
)

# bpf_conformance: helper 5 is the suite's "unwind" helper (returns its scalar r1).
CONFORMANCE = Platform(
    "bpf_conformance",
    helpers={5: HelperProto("unwind", Ret.INTEGER, (Arg.SCALAR,))},
    map_types=frozenset(),
    contexts={},
    return_scalar=frozenset({"conformance"}),
)

# A Linux-like table with every helper above and every map type: what PREVAIL's test
# platform offers its YAML cases.
LINUX = Platform("linux", helpers=dict(HELPERS), map_types=frozenset(MapType),
                 contexts={"xdp": XDP_CONTEXT})
