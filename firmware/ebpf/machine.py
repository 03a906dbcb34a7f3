"""What the golden model and the hardware agree on: address map, trap causes, helper ids.

The eBPF core sees one flat 64-bit address space.  Pointers live below 4 GiB so that a 32-bit
context field (``xdp_md.data``, ``data_end``) holds a whole pointer, as it does for programs in
the kernel after its context rewrite.  Bits 31..28 of an address select the region; an address
with any of bits 63..32 set, or in no region, is out of bounds.

=========  ===============  ==========================================================
region     base             contents
=========  ===============  ==========================================================
context    ``0x1000_0000``  the program's context (``xdp_md``, or conformance memory)
packet     ``0x2000_0000``  the packet buffer (headroom, frame, tailroom)
stack      ``0x3000_0000``  512 bytes per call frame; frame k's r10 = base + 512*(k+1)
map value  ``0x4000_0000``  map values: map id in bits 27..20, byte offset in 19..0
=========  ===============  ==========================================================
"""

import enum

from .isa import MAX_CALL_DEPTH, STACK_SIZE

__all__ = ["Region", "REGION_SHIFT", "region_base", "region_of", "frame_pointer",
           "MAP_ID_SHIFT", "MAP_OFFSET_MASK", "map_value_address", "TrapCause",
           "DEFAULT_INSN_BUDGET", "UNWIND_HELPER_ID", "XdpAction", "XDP_MD_FIELDS", "XDP_MD_SIZE",
           "PACKET_BUFFER_SIZE", "XDP_HEADROOM", "XDP_FRAME_STRUCT_SIZE", "XDP_TAILROOM",
           "XDP_MAX_FRAME", "XDP_METADATA_MAX", "ETH_HLEN", "port_ifindex", "ifindex_port",
           "prandom_next"]

REGION_SHIFT = 28


class Region(enum.IntEnum):
    """Region number: bits 31..28 of an address."""
    NONE = 0
    CONTEXT = 1
    PACKET = 2
    STACK = 3
    MAP_VALUE = 4


def region_base(region: Region) -> int:
    return int(region) << REGION_SHIFT


def region_of(address: int) -> Region:
    """The region an address falls in (``Region.NONE`` if it cannot be in any)."""
    if address >> 32:
        return Region.NONE
    try:
        return Region(address >> REGION_SHIFT)
    except ValueError:
        return Region.NONE


def frame_pointer(depth: int) -> int:
    """r10 of the call frame at ``depth`` (0 for the program's entry function)."""
    if not 0 <= depth < MAX_CALL_DEPTH:
        raise ValueError(f"call depth {depth} outside 0..{MAX_CALL_DEPTH - 1}")
    return region_base(Region.STACK) + STACK_SIZE * (depth + 1)


MAP_ID_SHIFT = 20
MAP_OFFSET_MASK = (1 << MAP_ID_SHIFT) - 1


def map_value_address(map_id: int, offset: int) -> int:
    if not 0 <= map_id < 256 or not 0 <= offset <= MAP_OFFSET_MASK:
        raise ValueError(f"map id {map_id} / offset {offset} outside the map-value region")
    return region_base(Region.MAP_VALUE) | (map_id << MAP_ID_SHIFT) | offset


class TrapCause(enum.IntEnum):
    """Why a program stopped other than by ``exit``: the hardware's trap cause code."""
    NONE = 0
    ILLEGAL_INSTRUCTION = 1   # unknown opcode or reserved field set
    OUT_OF_BOUNDS = 2         # load/store/atomic outside every region, or a write to r/o
    UNKNOWN_HELPER = 3        # call to a helper id the target does not offer
    CALL_DEPTH = 4            # bpf-to-bpf call deeper than MAX_CALL_DEPTH frames
    BUDGET = 5                # instruction budget exhausted
    PC_OUT_OF_RANGE = 6       # jump or fall-through outside the program


DEFAULT_INSN_BUDGET = 1_000_000

# The bpf_conformance suite's "unwind" helper (see shared/conformance/bpf_conformance/README.md):
# returns r1; if r1 is 0 the program stops at once, as by exit, with r0 = 0.
UNWIND_HELPER_ID = 5


# --- The XDP hook: what the program sees of a frame. ---

class XdpAction(enum.IntEnum):
    """XDP verdicts. Ref: Linux include/uapi/linux/bpf.h enum xdp_action."""
    ABORTED = 0
    DROP = 1
    PASS = 2
    TX = 3
    REDIRECT = 4


# struct xdp_md: six u32 fields, read-only to the program.  data/data_end/data_meta hold
# packet-region addresses (which fit in 32 bits, see the address map above).
# Ref: Linux include/uapi/linux/bpf.h struct xdp_md.
XDP_MD_FIELDS = ("data", "data_end", "data_meta", "ingress_ifindex", "rx_queue_index",
                 "egress_ifindex")
XDP_MD_SIZE = 4 * len(XDP_MD_FIELDS)

# The packet buffer, as the kernel lays out an XDP frame in a page: headroom before the
# frame (XDP_PACKET_HEADROOM), tailroom after it for skb_shared_info.
# Ref: Linux include/uapi/linux/bpf.h XDP_PACKET_HEADROOM; net/core/filter.c
# bpf_xdp_adjust_head/_tail/_meta; sizeof(struct xdp_frame) = 40 and
# SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) = 320 on x86_64.
PACKET_BUFFER_SIZE = 4096
XDP_HEADROOM = 256
XDP_FRAME_STRUCT_SIZE = 40      # adjust_head/meta may not move data below this
XDP_TAILROOM = 320              # adjust_tail may not move data_end into this
XDP_MAX_FRAME = PACKET_BUFFER_SIZE - XDP_HEADROOM - XDP_TAILROOM
XDP_METADATA_MAX = 255          # and a multiple of 4: xdp_metalen_invalid()
ETH_HLEN = 14


def port_ifindex(port: int) -> int:
    """The ifindex a program sees for NIC port ``port`` (ifindex 0 is never a device)."""
    return port + 1


def ifindex_port(ifindex: int) -> int | None:
    """The port with that ifindex, or None."""
    return ifindex - 1 if ifindex >= 1 else None


def prandom_next(state: int) -> int:
    """The next value of ``bpf_get_prandom_u32``: xorshift32 (Marsaglia), cheap in gates.

    Each engine keeps its own state, seeded by the host; a state of 0 would stay 0, so the
    host never seeds 0.  The kernel's generator differs; programs may assume nothing of it.
    """
    state ^= (state << 13) & 0xFFFFFFFF
    state ^= state >> 17
    state ^= (state << 5) & 0xFFFFFFFF
    return state


# --- spreading frames over engines (the NIC's dispatcher; the model uses it to know which
# engine, hence which per-CPU copy and processor id, a frame gets) ---

MAX_ENGINES = 8
ENGINE_BITS = (MAX_ENGINES - 1).bit_length()     # an engine number in hardware
FLOW_HEADER_BYTES = 38          # Ethernet + option-less IPv4 + TCP/UDP ports
FLOW_KEY_BYTES = 13             # protocol, source and destination address, ports
FLOW_HASH_ROTATE = 5


class Dispatch(enum.IntEnum):
    """How the dispatcher picks the engine of a frame."""
    ROUND_ROBIN = 0             # frame k (of those handed to engines) to engine k mod N
    FLOW_HASH = 1               # every frame of a flow to the engine flow_engine() names


def flow_key(frame: bytes) -> bytes:
    """The 13 bytes a frame's flow hash is taken over: for option-less IPv4, the protocol, the
    addresses and (TCP/UDP) the ports; for any other frame a zero then its two MAC addresses.
    Bytes the frame does not have count as zeros."""
    head = bytes(frame[:FLOW_HEADER_BYTES]).ljust(FLOW_HEADER_BYTES, b"\0")
    if len(frame) >= 34 and head[12:14] == b"\x08\x00" and head[14] == 0x45:
        ports = head[34:38] if head[23] in (6, 17) and len(frame) >= 38 else bytes(4)
        return head[23:24] + head[26:34] + ports
    return b"\0" + head[0:12]


def flow_hash(frame: bytes) -> int:
    """A 32-bit hash of :func:`flow_key`: rotate left by 5 and XOR in the next byte -- an XOR
    network in hardware, the same bits here."""
    h = 0
    for byte in flow_key(frame):
        h = ((h << FLOW_HASH_ROTATE) | (h >> (32 - FLOW_HASH_ROTATE))) & 0xFFFFFFFF
        h ^= byte
    return h


FLOW_MIX = 0x9E3779B1           # Fibonacci hashing: the product's top bits mix every key bit


def flow_engine(frame: bytes, engines: int) -> int:
    """The engine the flow hash gives ``frame``: the top 16 bits of ``hash * FLOW_MIX`` scaled
    to ``engines`` (multiplies by constants, no division)."""
    mixed = (flow_hash(frame) * FLOW_MIX) & 0xFFFFFFFF
    return ((mixed >> 16) * engines) >> 16


class DispatchRule:
    """The dispatcher's choice, frame by frame, as the hardware makes it: flow hash, or the next
    engine in turn, where the turn moves only on round-robin hand-overs (it survives a switch
    to flow hash and back, as the hardware's pointer does until reset)."""

    def __init__(self, engines: int):
        if not 1 <= engines <= MAX_ENGINES:
            raise ValueError(f"engines must be 1..{MAX_ENGINES}, not {engines!r}")
        self.engines = engines
        self.next_round_robin = 0

    def engine(self, frame: bytes, mode: Dispatch) -> int:
        """The engine ``frame`` is handed to."""
        if mode == Dispatch.FLOW_HASH:
            return flow_engine(frame, self.engines)
        chosen = self.next_round_robin
        self.next_round_robin = (chosen + 1) % self.engines
        return chosen


def dispatch_engines(frames, engines: int, mode: Dispatch) -> list[int]:
    """The engine of each frame handed to the engines, in order, from reset (frames the
    dispatcher swallows as buffer-full are not in ``frames``)."""
    rule = DispatchRule(engines)
    return [rule.engine(f, mode) for f in frames]
