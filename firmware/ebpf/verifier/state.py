"""Abstract machine state: typed registers, byte-granular stacks, call frames.

A ``Reg`` is immutable (``with_`` makes a changed copy); a ``State`` is copied at every fork.
Pointer offsets are ``Scalar``s, so a pointer with a variable offset is as precise as the
scalar added to it.  Packet pointers carry a base (``META``, ``DATA``, ``END``: the offset is
counted from ``data_meta``, ``data`` or ``data_end``); the state keeps intervals for the
packet's length (``data_end - data``) and its metadata's (``data - data_meta``), which
comparisons between packet pointers narrow and accesses are checked against.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..isa import NUM_REGS, STACK_SIZE
from .scalar import Scalar

__all__ = ["T", "Reg", "Frame", "State", "Byte", "NOT_INIT", "PKT_META", "PKT_DATA", "PKT_END",
           "covers", "fingerprint"]


class T(enum.Enum):
    """Register types, named as the kernel's verifier log names them."""
    NOT_INIT = "?"
    SCALAR = "scalar"
    CTX = "ctx"
    STACK = "fp"
    PACKET = "pkt"
    MAP_PTR = "map_ptr"
    MAP_PTR_OR_NULL = "map_ptr_or_null"     # a lookup in a map of maps: the inner map
    MAP_VALUE = "map_value"
    MAP_VALUE_OR_NULL = "map_value_or_null"
    SOCKET = "sock_common"
    SOCKET_OR_NULL = "sock_common_or_null"
    MEM = "mem"
    MEM_OR_NULL = "mem_or_null"


OR_NULL = {T.MAP_VALUE_OR_NULL: T.MAP_VALUE, T.SOCKET_OR_NULL: T.SOCKET,
           T.MEM_OR_NULL: T.MEM, T.MAP_PTR_OR_NULL: T.MAP_PTR}

PKT_META, PKT_DATA, PKT_END = "meta", "data", "end"


@dataclass(frozen=True)
class Reg:
    """One register's abstract value.

    ``val`` is the value of a scalar or the offset of a pointer.  ``id`` links copies of one
    maybe-NULL pointer (a NULL check settles them all) or of one scalar (a comparison narrows
    them all).  ``map`` is the map of a map pointer or value; ``size`` the size of a MEM or
    SOCKET region; ``frame`` the call frame a stack pointer points into; ``base`` the packet
    pointer's base; ``alloc`` marks memory from ringbuf_reserve (must be submitted as is).
    A packet pointer moved by a variable amount has an ``id`` naming that variable base and
    ``fixed``, its constant distance from it (the kernel's ``off`` beside ``var_off``).
    ``range`` (privileged rules, as the kernel's ``reg->range``): bytes this packet pointer's
    base (``data`` plus its variable part) is proven readable to, set by a comparison with
    ``data_end`` on every pointer with the same id, lost when a variable is added.
    """
    type: T
    val: Scalar | None = None
    id: int = 0
    map: object = None
    size: int = 0
    frame: int = 0
    base: str = ""
    alloc: bool = False
    readonly: bool = False
    fixed: int = 0
    range: int = 0

    def with_(self, **kw) -> Reg:
        # dataclasses.replace re-runs __init__ and is the hot spot of long walks; a frozen
        # dataclass's fields live in __dict__, so copy that instead
        new = object.__new__(Reg)
        d = new.__dict__
        d.update(self.__dict__)
        d.update(kw)
        return new

    @property
    def is_ptr(self) -> bool:
        return self.type not in (T.NOT_INIT, T.SCALAR)

    def describe(self) -> str:
        if self.type == T.NOT_INIT:
            return "?"
        if self.type == T.SCALAR:
            return f"scalar{self.val!r}" if not self.val.is_const else f"{self.val.smin}"
        name = self.type.value
        if self.type == T.PACKET:
            name = {PKT_META: "pkt_meta", PKT_DATA: "pkt", PKT_END: "pkt_end"}[self.base]
        off = self.val
        extra = f"(off={off!r})" if off is not None and not (off.is_const and off.umin == 0) \
            else ""
        return name + extra


NOT_INIT = Reg(T.NOT_INIT)


class Byte(enum.IntEnum):
    """What one stack byte holds."""
    INVALID = 0    # never written on this path
    MISC = 1       # written with (some bytes of) a number
    SPILL = 2      # part of an 8-byte slot holding a spilled register (see Frame.spills)
    POISON = 3     # written, but may hold bytes of a pointer: never read as a number


class Frame:
    """One call frame: registers, its stack bytes and spilled 8-byte slots."""

    __slots__ = ("regs", "stack", "spills", "callsite", "entry", "narrow")

    def __init__(self, regs, stack, spills, callsite, entry, narrow=None):
        self.regs: list[Reg] = regs
        self.stack: bytearray = stack          # Byte per stack byte, index = offset + 512
        self.spills: dict[int, Reg] = spills    # slot index (offset + 512) // 8 -> register
        self.callsite: int = callsite          # pc of the call (-1 for the main program)
        self.entry: int = entry                # first instruction of the function
        # narrow spills of numbers: first byte index -> (size, value); those bytes are MISC
        self.narrow: dict[int, tuple[int, Scalar]] = narrow if narrow is not None else {}

    @staticmethod
    def new(callsite: int, entry: int) -> Frame:
        return Frame([NOT_INIT] * NUM_REGS, bytearray(STACK_SIZE), {}, callsite, entry)

    def copy(self) -> Frame:
        return Frame(list(self.regs), bytearray(self.stack), dict(self.spills), self.callsite,
                     self.entry, dict(self.narrow))


class State:
    """The whole abstract state on one path."""

    __slots__ = ("frames", "pkt_len", "meta_len", "next_id", "stack_floor_known", "pkt_ranges")

    def __init__(self, frames, pkt_len, meta_len, next_id=0, stack_floor_known=True,
                 pkt_ranges=None):
        self.frames: list[Frame] = frames
        self.pkt_len: tuple[int, int] = pkt_len      # data_end - data, interval
        self.meta_len: tuple[int, int] = meta_len    # data - data_meta, interval
        self.next_id = next_id
        # False when an entry state gives stack pointers but not r10 (PREVAIL's cases): the
        # bottom of the frame is then unknown, so no write below a stack pointer and no
        # comparison of one can be proven in bounds.
        self.stack_floor_known = stack_floor_known
        # variable packet base id -> bytes proven readable from it (never mutated in place)
        self.pkt_ranges: dict[int, int] = pkt_ranges if pkt_ranges is not None else {}

    def copy(self) -> State:
        return State([f.copy() for f in self.frames], self.pkt_len, self.meta_len,
                     self.next_id, self.stack_floor_known, self.pkt_ranges)

    @property
    def cur(self) -> Frame:
        return self.frames[-1]

    @property
    def regs(self) -> list[Reg]:
        return self.frames[-1].regs

    def fresh_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def all_regs(self):
        """(frame, where, reg) for every register and spilled slot, for id propagation."""
        for fi, frame in enumerate(self.frames):
            for r, reg in enumerate(frame.regs):
                yield frame, ("r", r), reg
            for slot, reg in frame.spills.items():
                yield frame, ("s", slot), reg

    def replace_where(self, pred, fn) -> None:
        """Replace every register or spill ``reg`` with ``pred(reg)`` true by ``fn(reg)``."""
        for frame in self.frames:
            for r, reg in enumerate(frame.regs):
                if pred(reg):
                    frame.regs[r] = fn(reg)
            for slot, reg in list(frame.spills.items()):
                if pred(reg):
                    frame.spills[slot] = fn(reg)


# --- subsumption, for state pruning and loop detection -----------------------------------

def _reg_covers(old: Reg, new: Reg, idmap: dict, ranges=({}, {})) -> bool:
    if old.type == T.NOT_INIT:
        return True
    if new.type != old.type:
        return False
    if old.id:
        mapped = idmap.setdefault(("o", old.id), new.id)
        back = idmap.setdefault(("n", new.id), old.id) if new.id else old.id
        if mapped != new.id or back != old.id or not new.id:
            return False
    if old.type == T.SCALAR:
        return old.val.contains(new.val)
    if (old.map is not new.map or old.size != new.size or old.frame != new.frame
            or old.base != new.base or old.alloc != new.alloc or old.readonly != new.readonly):
        return False
    if old.type == T.PACKET and new.range < old.range:
        return False
    if old.type == T.PACKET and old.id:
        # what the new pointer may read beyond itself must be at least what the old one could
        if ranges[1].get(new.id, 0) - new.fixed < ranges[0].get(old.id, 0) - old.fixed:
            return False
    if old.val is None or new.val is None:
        return old.val is new.val
    return old.val.contains(new.val)


def covers(old: State, new: State, live=None, stack_read=None) -> bool:
    """Whether ``old`` admits every concrete state ``new`` does (so ``new`` may be pruned).
    ``live``: per frame, a mask of the registers that may still be read (others are not
    compared); None compares all.  ``stack_read``: frame -> mask of the stack bytes (bit
    ``i`` for byte ``i`` of ``Frame.stack``) the paths from ``old`` read; None compares
    every byte."""
    if len(old.frames) != len(new.frames) or old.stack_floor_known != new.stack_floor_known:
        return False
    if not (old.pkt_len[0] <= new.pkt_len[0] and new.pkt_len[1] <= old.pkt_len[1]
            and old.meta_len[0] <= new.meta_len[0] and new.meta_len[1] <= old.meta_len[1]):
        return False
    idmap: dict = {}
    rng = (old.pkt_ranges, new.pkt_ranges)
    for fi, (fo, fn) in enumerate(zip(old.frames, new.frames)):
        if fo.callsite != fn.callsite:
            return False
        mask = live[fi] if live is not None else -1
        for r, (ro, rn) in enumerate(zip(fo.regs, fn.regs)):
            if mask >> r & 1 and not _reg_covers(ro, rn, idmap, rng):
                return False
        read = stack_read.get(fi, 0) if stack_read is not None else -1
        if not read:
            continue
        if fo.stack != fn.stack:
            for i in range(STACK_SIZE):
                bo, bn = fo.stack[i], fn.stack[i]
                if bo == bn or bo == Byte.INVALID or not read >> i & 1:
                    continue
                if bo == Byte.MISC and bn == Byte.SPILL and fn.spills[i // 8].type == T.SCALAR:
                    continue
                if bo == Byte.POISON and bn in (Byte.MISC, Byte.SPILL):
                    continue
                if (bo == Byte.SPILL and bn == Byte.MISC and fo.spills[i // 8].type == T.SCALAR
                        and fo.spills[i // 8].val.is_unknown and not fo.spills[i // 8].id):
                    continue
                return False
        for k, (m, vo) in fo.narrow.items():
            if not read >> k & ((1 << m) - 1):
                continue
            got = fn.narrow.get(k)
            if got is None or got[0] != m or not vo.contains(got[1]):
                return False
        for slot, ro in fo.spills.items():
            if not read >> (slot * 8) & 0xFF:
                continue
            rn = fn.spills.get(slot)
            if rn is None:
                if fn.stack[slot * 8] == Byte.MISC or fo.stack[slot * 8] != Byte.SPILL:
                    continue     # checked byte by byte above
                return False
            if not _reg_covers(ro, rn, idmap, rng):
                return False
    return True


def fingerprint(state: State, live) -> tuple:
    """Everything ``covers`` compares, as a value: two states with equal fingerprints are
    the same abstract state (ids renumbered by first use).  For the kernel's exact
    comparison against states still being explored (``states_maybe_looping``)."""
    ids: dict = {}
    out: list = [state.pkt_len, state.meta_len, state.stack_floor_known]

    def reg_key(reg: Reg):
        rid = ids.setdefault(reg.id, len(ids)) if reg.id else 0
        return (reg.type, reg.val.key() if reg.val is not None else None, rid,
                id(reg.map), reg.size, reg.frame, reg.base, reg.alloc, reg.readonly,
                reg.fixed, reg.range, state.pkt_ranges.get(reg.id, 0) if reg.id else 0)

    for fi in range(len(state.frames) - 1, -1, -1):
        frame = state.frames[fi]
        mask = live[fi]
        out.append(frame.callsite)
        out.extend(reg_key(reg) if mask >> r & 1 else None
                   for r, reg in enumerate(frame.regs))
        out.append(bytes(frame.stack))
        out.extend((slot, reg_key(reg)) for slot, reg in sorted(frame.spills.items()))
        out.extend((k, m, v.key()) for k, (m, v) in sorted(frame.narrow.items()))
    return tuple(out)
