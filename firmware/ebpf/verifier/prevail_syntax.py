"""PREVAIL's YAML test cases: its text syntax assembled to our instructions, ``pre`` to states.

PREVAIL (https://github.com/vbpf/prevail) writes programs in a syntax close to the Linux
verifier log (``r2 = *(u8 *)(r1 + 0)``, ``if w1 s< 0 goto <out>``, ``lock *(u64 *)(r10 - 8)
+= r1 fetch``, ``call 1``, ``assume r1 < 10``) and gives each case an entry state as
constraints (``r1.type=packet``, ``r1.packet_offset=0``, ``packet_size=[0, 65534]``,
``s[504...511].type=number``).  This module turns one case into what ``verify`` takes:

* ``assemble(lines, labels)``: PREVAIL text to ``isa.Insn`` slots (lddw takes two, as in
  bytecode), ``assume`` to the verifier-only ``checks.Assume``;
* ``entry_states(pre, ...)``: the constraints to abstract ``State``s (one per alternative of a
  ``type in {...}``).  Constraints we cannot represent (most relational ones) are dropped:
  that only makes the entry state larger, so a verdict of "safe" stays sound;
* ``load_suite(path)``: every case of a YAML file, with PREVAIL's verdict (reject iff it
  expects a message other than an unreachable-code note or an observation message).

The YAML files are read as data; none of PREVAIL's code is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from .. import isa
from ..isa import (FRAME_POINTER, MASK32, MASK64, AluOp, AtomicOp, Cls, Insn, JmpOp, Mode,
                   Pseudo, Size, Src, STACK_SIZE)
from ..maps import MapType
from .checks import Assume
from .platform import LINUX, MapInfo, Platform, ContextLayout, CtxField
from .scalar import Scalar
from .state import Byte, Frame, PKT_DATA, PKT_END, Reg, State, T

__all__ = ["PrevailSyntaxError", "PrevailCase", "assemble", "entry_states", "load_suite",
           "TEST_MAP", "TestMaps", "PREVAIL_CONTEXT", "PREVAIL_PLATFORM", "PROGRAM_TYPE"]


class PrevailSyntaxError(ValueError):
    """A line of PREVAIL text (or a ``pre`` constraint) we cannot translate; names which."""


# PREVAIL's YAML harness (src/test/ebpf_yaml.cpp): every map fd names one test map
# (key 4, value 4, 4 entries), the program's map table holds one map, and the context is
# 64 bytes with data at 0 and data_end at 4 (no data_meta field).
TEST_MAP = MapInfo(MapType.UNSPEC, 4, 4, 4, "prevail_test_map")
PREVAIL_CONTEXT = ContextLayout("prevail_test_ctx", 64, (
    CtxField("data", 0, 4, "packet"),
    CtxField("data_end", 4, 4, "packet_end"),
), exact_fields=False)
PROGRAM_TYPE = "prevail"
PREVAIL_PLATFORM = Platform("prevail-test", helpers=LINUX.helpers, map_types=LINUX.map_types,
                            contexts={PROGRAM_TYPE: PREVAIL_CONTEXT},
                            return_scalar=frozenset({PROGRAM_TYPE}),
                            wildcard_map_type=MapType.UNSPEC)


class TestMaps:
    """Map lookup as PREVAIL's test platform answers it: any fd, index 0 only."""

    def __init__(self, count: int = 1):
        self.count = count

    def __getitem__(self, fd: int) -> MapInfo:
        return TEST_MAP

    def by_index(self, idx: int) -> MapInfo:
        if not 0 <= idx < self.count:
            raise KeyError(idx)
        return TEST_MAP


# --- the instruction syntax ----------------------------------------------------------------

_REG = r"([rw])(\d+)"
_NUM = r"(-?(?:0x[0-9a-fA-F]+|\d+))"
_ALU_OPS = {"+=": AluOp.ADD, "-=": AluOp.SUB, "*=": AluOp.MUL, "/=": AluOp.DIV,
            "%=": AluOp.MOD, "|=": AluOp.OR, "&=": AluOp.AND, "<<=": AluOp.LSH,
            ">>=": AluOp.RSH, "s>>=": AluOp.ARSH, "^=": AluOp.XOR, "s/=": AluOp.DIV,
            "s%=": AluOp.MOD, "=": AluOp.MOV}
_JMP_OPS = {"==": JmpOp.JEQ, "!=": JmpOp.JNE, ">": JmpOp.JGT, ">=": JmpOp.JGE,
            "<": JmpOp.JLT, "<=": JmpOp.JLE, "s>": JmpOp.JSGT, "s>=": JmpOp.JSGE,
            "s<": JmpOp.JSLT, "s<=": JmpOp.JSLE, "&==": JmpOp.JSET}
_SIZES = {"8": Size.B, "16": Size.H, "32": Size.W, "64": Size.DW}
_ATOMIC_OPS = {"+=": AtomicOp.ADD, "|=": AtomicOp.OR, "&=": AtomicOp.AND,
               "^=": AtomicOp.XOR, "x=": AtomicOp.XCHG, "cx=": AtomicOp.CMPXCHG}

_RE_EXIT = re.compile(r"exit$")
_RE_GOTO = re.compile(r"goto\s+(<\w+>)$")
_RE_CALL_LOCAL = re.compile(r"call\s+(<\w+>)$")
_RE_CALL = re.compile(r"call\s+" + _NUM + r"$")
_RE_CALLX = re.compile(r"callx\s+" + _REG + r"$")
_RE_LDDW = re.compile(_REG + r"\s*=\s*" + _NUM + r"ll$")
_RE_MAP_FD = re.compile(_REG + r"\s*=\s*map_fd\s+" + _NUM + r"$")
_RE_MAP_IDX = re.compile(_REG + r"\s*=\s*map_by_idx\(" + _NUM + r"\)$")
_RE_MAP_VAL = re.compile(_REG + r"\s*=\s*map_val\(" + _NUM + r"\)\s*\+\s*" + _NUM + r"$")
_RE_MVA = re.compile(_REG + r"\s*=\s*mva\(map_by_idx\(" + _NUM + r"\)\)\s*\+\s*" + _NUM + r"$")
_RE_LOAD = re.compile(_REG + r"\s*=\s*\*\(([us])(8|16|32|64)\s*\*\)\(\s*" + _REG
                      + r"\s*([+-])\s*" + _NUM + r"\s*\)$")
_RE_STORE = re.compile(r"\*\(u(8|16|32|64)\s*\*\)\(\s*" + _REG + r"\s*([+-])\s*" + _NUM
                       + r"\s*\)\s*=\s*(?:" + _REG + "|" + _NUM + r")$")
_RE_ATOMIC = re.compile(r"lock\s+\*\(u(32|64)\s*\*\)\(\s*" + _REG + r"\s*([+-])\s*" + _NUM
                        + r"\s*\)\s*(\+=|\|=|&=|\^=|x=|cx=)\s*" + _REG + r"(\s+fetch)?$")
_RE_LDABS = re.compile(_REG + r"\s*=\s*\*\(u(8|16|32)\s*\*\)skb\[(?:" + _NUM + "|" + _REG
                       + r")\]$")
_RE_NEG = re.compile(_REG + r"\s*=\s*-\s*" + _REG + r"$")
_RE_END = re.compile(_REG + r"\s*=\s*(be|le|swap)(16|32|64)\s+" + _REG + r"$")
_RE_MOVSX = re.compile(_REG + r"\s+s(8|16|32)=\s*" + _REG + r"$")
_RE_ALU = re.compile(_REG + r"\s*(s>>=|s/=|s%=|<<=|>>=|\+=|-=|\*=|/=|%=|\|=|&=|\^=|=)\s*(?:"
                     + _REG + "|" + _NUM + r")$")
_RE_COND = re.compile(_REG + r"\s*(&==|&!=|==|!=|s>=|s<=|s>|s<|>=|<=|>|<)\s*(?:" + _REG
                      + "|" + _NUM + r")$")
_RE_IF = re.compile(r"if\s+(.*?)\s+goto\s+(<\w+>)$")
_RE_ASSUME = re.compile(r"assume\s+(.*)$")


def _int(text: str) -> int:
    return int(text, 0)


def _imm32(value: int, line: str) -> int:
    """An immediate field: values that fit 32 bits (signed or unsigned) are kept as s32."""
    if -(1 << 31) <= value <= MASK32:
        return isa.sign_extend(value & MASK32, 32)
    raise PrevailSyntaxError(f"immediate {value} does not fit 32 bits in {line!r}")


def _reg(kind: str, num: str, line: str) -> tuple[int, bool]:
    r = int(num)
    if r > 10:
        raise PrevailSyntaxError(f"no register {kind}{r} in {line!r}")
    return r, kind == "w"


def _mk(opcode: int, dst=0, src=0, off=0, imm=0, cls=Insn) -> Insn:
    insn = cls(opcode, dst, src, off, imm)
    insn.spec = isa.lookup(opcode, src, off, imm)
    if insn.spec is None:
        raise PrevailSyntaxError(f"no instruction for opcode {opcode:#04x}")
    return insn


def _lddw(dst: int, value: int, pseudo: int = Pseudo.IMM64) -> list[Insn]:
    value &= MASK64
    insn = Insn(Cls.LD | Size.DW | Mode.IMM, dst, pseudo, 0, isa.sign_extend(value & MASK32, 32),
                imm64=value)
    insn.spec = isa.lookup(insn.opcode, pseudo, 0, insn.imm)
    filler = Insn(0, 0, 0, 0, isa.sign_extend(value >> 32, 32))
    return [insn, filler]


def _cond(text: str, line: str, cls_insn=Insn) -> Insn:
    m = _RE_COND.match(text.strip())
    if not m:
        raise PrevailSyntaxError(f"cannot read condition {text!r} in {line!r}")
    dk, dn, op, sk, sn, num = m.groups()
    dst, d32 = _reg(dk, dn, line)
    if op == "&!=":
        raise PrevailSyntaxError(f"'&!=' (jump if no bit is set) has no eBPF opcode: {line!r}")
    cls = Cls.JMP32 if d32 else Cls.JMP
    jop = _JMP_OPS[op]
    if sk is not None:
        src, _ = _reg(sk, sn, line)
        return _mk(cls | Src.X | jop, dst, src, 0, 0, cls_insn)
    return _mk(cls | Src.K | jop, dst, 0, 0, _imm32(_int(num), line), cls_insn)


def _one(line: str, pc: int, labels: dict[str, int]) -> list[Insn]:
    """One line of PREVAIL text as instruction slots (the jump offsets need ``labels``)."""
    s = line.strip()

    def target(label: str) -> int:
        if label not in labels:
            raise PrevailSyntaxError(f"unknown label {label} in {line!r}")
        return labels[label] - pc - 1

    if _RE_EXIT.match(s):
        return [_mk(Cls.JMP | JmpOp.EXIT)]
    if m := _RE_GOTO.match(s):
        return [_mk(Cls.JMP | JmpOp.JA, off=target(m.group(1)))]
    if m := _RE_CALL_LOCAL.match(s):
        return [_mk(Cls.JMP | JmpOp.CALL, src=1, imm=target(m.group(1)))]
    if m := _RE_CALL.match(s):
        return [_mk(Cls.JMP | JmpOp.CALL, imm=_imm32(_int(m.group(1)), line))]
    if m := _RE_CALLX.match(s):
        r, _ = _reg(m.group(1), m.group(2), line)
        return [_mk(Cls.JMP | Src.X | JmpOp.CALL, dst=r)]
    if m := _RE_IF.match(s):
        insn = _cond(m.group(1), line)
        insn.off = target(m.group(2))
        return [insn]
    if m := _RE_ASSUME.match(s):
        return [_cond(m.group(1), line, Assume)]
    if m := _RE_LDDW.match(s):
        r, _ = _reg(m.group(1), m.group(2), line)
        return _lddw(r, _int(m.group(3)))
    if m := _RE_MAP_FD.match(s):
        r, _ = _reg(m.group(1), m.group(2), line)
        return _lddw(r, _int(m.group(3)) & MASK32, Pseudo.MAP_FD)
    if m := _RE_MAP_IDX.match(s):
        r, _ = _reg(m.group(1), m.group(2), line)
        return _lddw(r, _int(m.group(3)) & MASK32, Pseudo.MAP_IDX)
    if m := _RE_MAP_VAL.match(s):
        r, _ = _reg(m.group(1), m.group(2), line)
        return _lddw(r, (_int(m.group(3)) & MASK32) | (_int(m.group(4)) << 32),
                     Pseudo.MAP_VALUE)
    if m := _RE_MVA.match(s):
        r, _ = _reg(m.group(1), m.group(2), line)
        return _lddw(r, (_int(m.group(3)) & MASK32) | (_int(m.group(4)) << 32),
                     Pseudo.MAP_IDX_VALUE)
    if m := _RE_LOAD.match(s):
        dk, dn, sign, bits, sk, sn, pm, num = m.groups()
        dst, _ = _reg(dk, dn, line)
        src, _ = _reg(sk, sn, line)
        off = _int(num) * (-1 if pm == "-" else 1)
        if sign == "s" and bits == "64":
            raise PrevailSyntaxError(f"no sign-extending 64-bit load: {line!r}")
        mode = Mode.MEMSX if sign == "s" else Mode.MEM
        return [_mk(Cls.LDX | _SIZES[bits] | mode, dst, src, off)]
    if m := _RE_STORE.match(s):
        bits, dk, dn, pm, num, sk, sn, imm = m.groups()
        dst, _ = _reg(dk, dn, line)
        off = _int(num) * (-1 if pm == "-" else 1)
        if sk is not None:
            src, _ = _reg(sk, sn, line)
            return [_mk(Cls.STX | _SIZES[bits] | Mode.MEM, dst, src, off)]
        return [_mk(Cls.ST | _SIZES[bits] | Mode.MEM, dst, 0, off, _imm32(_int(imm), line))]
    if m := _RE_ATOMIC.match(s):
        bits, dk, dn, pm, num, op, sk, sn, fetch = m.groups()
        dst, _ = _reg(dk, dn, line)
        src, _ = _reg(sk, sn, line)
        off = _int(num) * (-1 if pm == "-" else 1)
        aop = _ATOMIC_OPS[op]
        if fetch and aop in (AtomicOp.ADD, AtomicOp.OR, AtomicOp.AND, AtomicOp.XOR):
            aop |= isa.ATOMIC_FETCH
        return [_mk(Cls.STX | _SIZES[bits] | Mode.ATOMIC, dst, src, off, int(aop))]
    if m := _RE_LDABS.match(s):
        dk, dn, bits, num, sk, sn = m.groups()
        if num is not None:
            return [_mk(Cls.LD | _SIZES[bits] | Mode.ABS, imm=_imm32(_int(num), line))]
        src, _ = _reg(sk, sn, line)
        return [_mk(Cls.LD | _SIZES[bits] | Mode.IND, src=src)]
    if m := _RE_NEG.match(s):
        dk, dn, sk, sn = m.groups()
        dst, d32 = _reg(dk, dn, line)
        return [_mk((Cls.ALU if d32 else Cls.ALU64) | AluOp.NEG, dst)]
    if m := _RE_END.match(s):
        dk, dn, kind, bits, sk, sn = m.groups()
        dst, _ = _reg(dk, dn, line)
        if kind == "swap":
            return [_mk(Cls.ALU64 | Src.K | AluOp.END, dst, imm=int(bits))]
        src_bit = Src.X if kind == "be" else Src.K
        return [_mk(Cls.ALU | src_bit | AluOp.END, dst, imm=int(bits))]
    if m := _RE_MOVSX.match(s):
        dk, dn, bits, sk, sn = m.groups()
        dst, d32 = _reg(dk, dn, line)
        src, _ = _reg(sk, sn, line)
        cls = Cls.ALU if d32 else Cls.ALU64
        return [_mk(cls | Src.X | AluOp.MOV, dst, src, int(bits))]
    if m := _RE_ALU.match(s):
        dk, dn, op, sk, sn, num = m.groups()
        dst, d32 = _reg(dk, dn, line)
        cls = Cls.ALU if d32 else Cls.ALU64
        aop = _ALU_OPS[op]
        off = 1 if op in ("s/=", "s%=") else 0
        if sk is not None:
            src, _ = _reg(sk, sn, line)
            return [_mk(cls | Src.X | aop, dst, src, off)]
        value = _int(num)
        if aop == AluOp.MOV and not d32 and not -(1 << 31) <= value <= MASK32:
            return _lddw(dst, value)
        return [_mk(cls | Src.K | aop, dst, 0, off, _imm32(value, line))]
    raise PrevailSyntaxError(f"cannot read PREVAIL instruction {line!r}")


def _slots(line: str) -> int:
    s = line.strip()
    if (_RE_LDDW.match(s) or _RE_MAP_FD.match(s) or _RE_MAP_IDX.match(s)
            or _RE_MAP_VAL.match(s) or _RE_MVA.match(s)):
        return 2
    if m := _RE_ALU.match(s):
        if m.group(3) == "=" and m.group(1) == "r" and m.group(6) is not None:
            v = _int(m.group(6))
            if not -(1 << 31) <= v <= MASK32:
                return 2
    return 1


def assemble(blocks: list[tuple[str, list[str]]]) -> tuple[list[Insn], list[int]]:
    """Blocks of ``(label, lines)`` to instruction slots, and for each slot the PREVAIL
    instruction index it came from (PREVAIL counts an lddw as one instruction)."""
    clean: list[tuple[str, list[str]]] = []
    for label, lines in blocks:
        kept = []
        for raw in lines:
            text = raw.split(";", 1)[0].strip()
            if text:
                kept.append(text)
        clean.append((label, kept))
    labels: dict[str, int] = {}
    pc = 0
    for label, lines in clean:
        labels[label] = pc
        pc += sum(_slots(line) for line in lines)
    insns: list[Insn] = []
    index_of: list[int] = []
    n = 0
    for label, lines in clean:
        for line in lines:
            out = _one(line, len(insns), labels)
            insns.extend(out)
            index_of.extend([n] * len(out))
            n += 1
    return insns, index_of


# --- the entry state ------------------------------------------------------------------------

_RE_RANGE = re.compile(r"^\[\s*(-?\d+)\s*,\s*(-?\d+)\s*\]$")
_RE_REGC = re.compile(r"^r(\d+)\.(\w+)\s*(=|in)\s*(.+)$")
_RE_STACKC = re.compile(r"^s\[(\d+)\.\.\.(\d+)\]\.(\w+)=(.+)$")


def _value(text: str) -> tuple[int, int] | None:
    """A constant or ``[lo, hi]``; None for anything relational."""
    text = text.strip()
    if m := _RE_RANGE.match(text):
        return int(m.group(1)), int(m.group(2))
    try:
        v = int(text, 0)
    except ValueError:
        return None
    return v, v


_TYPE_NAMES = {"number", "ctx", "stack", "packet", "shared", "map_fd", "map_fd_programs"}


def entry_states(pre: list[str], platform: Platform = PREVAIL_PLATFORM) -> list[State]:
    """The abstract entry states a ``pre`` list describes (several when a register's type is
    one of a set).  Unknown or relational constraints are dropped (a larger, sound state)."""
    regs: dict[int, dict[str, object]] = {}
    stack_bytes: list[tuple[int, int, str, str]] = []
    same_type: list[tuple[int, int]] = []
    pkt_len = (0, platform.max_packet_size)
    # Without meta_offset PREVAIL knows nothing of data_meta, not even that it is <= data.
    meta_len = (-(1 << 32), platform.max_meta_size)
    for c in pre:
        c = c.strip()
        if m := _RE_STACKC.match(c):
            stack_bytes.append((int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)))
            continue
        if c.startswith("packet_size="):
            v = _value(c.split("=", 1)[1])
            if v is not None:
                pkt_len = (max(pkt_len[0], v[0]), min(pkt_len[1], v[1]))
            continue
        if c.startswith("meta_offset="):
            v = _value(c.split("=", 1)[1])
            if v is not None:
                meta_len = (max(0, -v[1]), min(meta_len[1], -v[0]))
            continue
        m = _RE_REGC.match(c)
        if not m:
            raise PrevailSyntaxError(f"cannot read constraint {c!r}")
        r, attr, rel, rhs = int(m.group(1)), m.group(2), m.group(3), m.group(4).strip()
        if r > 10:
            raise PrevailSyntaxError(f"no register r{r} in {c!r}")
        d = regs.setdefault(r, {})
        if attr == "type":
            if rel == "in":
                names = [x.strip() for x in rhs.strip("{}").split(",")]
            elif rhs in _TYPE_NAMES:
                names = [rhs]
            elif m2 := re.match(r"^r(\d+)\.type$", rhs):
                same_type.append((r, int(m2.group(1))))     # r1.type=r2.type
                continue
            else:
                raise PrevailSyntaxError(f"cannot read type constraint {c!r}")
            for name in names:
                if name not in _TYPE_NAMES:
                    raise PrevailSyntaxError(f"unknown type {name!r} in {c!r}")
            d["types"] = names
        elif attr == "uvalue" and rhs == f"r{r}.svalue":
            d["u_eq_s"] = True
        elif attr == "packet_offset" and rhs == "packet_size":
            d["at_end"] = True
        else:
            v = _value(rhs)
            if v is not None:
                d[attr] = v
    # one state per combination of alternative types
    combos: list[dict[int, str]] = [{}]
    for r, d in sorted(regs.items()):
        if "types" not in d:
            continue
        combos = [{**c, r: t} for c in combos for t in d["types"]]
    combos = [c for c in combos if all(c.get(x) == c.get(y) for x, y in same_type)]
    states = []
    for combo in combos:
        st = State([Frame.new(-1, 0)], pkt_len, meta_len)
        # PREVAIL numbers stack bytes from the bottom of its whole stack; r10 (when given)
        # marks the top of the current frame, else we take the usual 512.
        top = STACK_SIZE
        r10 = regs.get(FRAME_POINTER, {})
        if combo.get(FRAME_POINTER) == "stack" and r10.get("stack_offset", (0, 1))[0] == \
                r10.get("stack_offset", (0, 1))[1]:
            top = r10["stack_offset"][0]
        elif any(t == "stack" for t in combo.values()):
            st.stack_floor_known = False
        for r, t in combo.items():
            st.regs[r] = _make_reg(t, regs[r], st, top)
        _fill_stack(st, stack_bytes, combo, regs, top)
        states.append(st)
    return states


def _make_reg(t: str, d: dict, st: State, top: int = STACK_SIZE) -> Reg:
    def offset(key: str) -> Scalar:
        v = d.get(key)
        if v is None:
            return Scalar.unknown()
        return Scalar.srange(v[0], v[1]) or Scalar.unknown()

    if t == "number":
        s = d.get("svalue")
        u = d.get("uvalue")
        smin, smax = s if s is not None else (-(1 << 63), (1 << 63) - 1)
        umin, umax = u if u is not None else (0, MASK64)
        if d.get("u_eq_s"):
            smin = max(smin, 0)
            umin, umax = max(umin, smin), min(umax, smax)
        val = Scalar.make(umin=umin, umax=umax, smin=smin, smax=smax)
        return Reg(T.SCALAR, val if val is not None else Scalar.unknown())
    if t == "ctx":
        return Reg(T.CTX, offset("ctx_offset"))
    if t == "stack":
        v = d.get("stack_offset")
        off = (Scalar.srange(v[0] - top, v[1] - top) if v is not None
               else Scalar.unknown())
        return Reg(T.STACK, off, frame=0)
    if t == "packet":
        if d.get("at_end"):
            return Reg(T.PACKET, Scalar.const(0), base=PKT_END)
        return Reg(T.PACKET, offset("packet_offset"), base=PKT_DATA)
    if t == "shared":
        size = d.get("shared_region_size")
        m = MapInfo(MapType.HASH, 0, size[0] if size and size[0] == size[1] else 0, 1,
                    "pre-shared")
        # a shared pointer's own value is its address: unless it is known to be >= 1 it may
        # be NULL, and must be checked before use
        value = d.get("svalue") or d.get("uvalue")
        if value is not None and value[0] >= 1:
            return Reg(T.MAP_VALUE, offset("shared_offset"), map=m)
        return Reg(T.MAP_VALUE_OR_NULL, offset("shared_offset"), map=m, id=st.fresh_id())
    if t == "map_fd":
        return Reg(T.MAP_PTR, Scalar.const(0), map=TEST_MAP)
    if t == "map_fd_programs":
        return Reg(T.MAP_PTR, Scalar.const(0),
                   map=MapInfo(MapType.PROG_ARRAY, 4, 4, 4, "prevail_test_prog_array"))
    raise PrevailSyntaxError(f"unknown type {t!r}")


def _fill_stack(st: State, stack_bytes, combo, regs, top: int = STACK_SIZE) -> None:
    """Stack-byte constraints (PREVAIL numbers bytes from the bottom of its whole stack;
    ours are the current frame's, whose top is ``top``).  Bytes outside the frame are
    dropped: no access through a pointer into this frame can reach them."""
    frame = st.cur
    shift = STACK_SIZE - top

    def ours(j: int) -> int | None:
        k = j + shift
        return k if 0 <= k < STACK_SIZE else None

    for lo, hi, attr, rhs in stack_bytes:
        if attr == "type" and rhs.strip() == "number":
            for j in range(lo, hi + 1):
                k = ours(j)
                if k is not None and frame.stack[k] == Byte.INVALID:
                    frame.stack[k] = Byte.MISC
    for lo, hi, attr, rhs in stack_bytes:
        k = ours(lo)
        if attr == "svalue" and hi - lo == 7 and k is not None and k % 8 == 0 \
                and ours(hi) is not None:
            v = _value(rhs)
            if v is not None and v[0] == v[1] and all(frame.stack[k + j] == Byte.MISC
                                                      for j in range(8)):
                frame.spills[k // 8] = Reg(T.SCALAR, Scalar.const(v[0]))
                for j in range(8):
                    frame.stack[k + j] = Byte.SPILL
    # r.stack_numeric_size: that many numeric bytes from the register's stack offset
    for r, t in combo.items():
        d = regs[r]
        if t == "stack" and "stack_numeric_size" in d and "stack_offset" in d:
            off = d["stack_offset"]
            size = d["stack_numeric_size"][0]
            if off[0] == off[1]:
                for j in range(off[0], off[0] + size):
                    k = ours(j)
                    if k is not None and frame.stack[k] == Byte.INVALID:
                        frame.stack[k] = Byte.MISC


# --- the suites ----------------------------------------------------------------------------

_PC = re.compile(r"^(?:(?:\d+/)*)(\d+)(?::(\d+))?: ")


@dataclass
class PrevailCase:
    """One YAML case, ready for ``verify``; ``skip`` says why it cannot run here."""
    file: str
    name: str
    options: list[str]
    pre: list[str]
    blocks: list[tuple[str, list[str]]]
    messages: list[str]
    expect_reject: bool
    expected_pc: int | None
    skip: str | None = None
    insns: list[Insn] = field(default_factory=list)
    index_of: list[int] = field(default_factory=list)
    entries: list[State] = field(default_factory=list)


def _is_error(message: str) -> bool:
    return "Code becomes unreachable" not in message and "observation" not in message


def load_suite(path) -> list[PrevailCase]:
    """Every case of one PREVAIL YAML file, assembled (or marked ``skip`` with a reason)."""
    import pathlib
    path = pathlib.Path(path)
    cases = []
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    for doc in docs:
        messages = [str(m) for m in (doc.get("messages") or [])]
        errors = [m for m in messages if _is_error(m)]
        expected_pc = None
        if errors:
            m = _PC.match(errors[0])
            if m:
                expected_pc = int(m.group(1))
        blocks = [(label, str(text).splitlines()) for label, text in doc["code"].items()]
        case = PrevailCase(path.name, str(doc["test-case"]), list(doc.get("options") or []),
                           [str(p) for p in (doc.get("pre") or [])], blocks, messages,
                           bool(errors), expected_pc)
        if "expected-exception" in doc:
            case.skip = "expected-exception case (a malformed test by design)"
        elif doc.get("observe"):
            case.skip = "observe case (invariant checks at a label are out of scope)"
        else:
            try:
                case.insns, case.index_of = assemble(blocks)
                _close(case)
                case.entries = entry_states(case.pre)
            except PrevailSyntaxError as exc:
                case.skip = f"cannot translate: {exc}"
        cases.append(case)
    return cases


def _close(case: PrevailCase) -> None:
    """PREVAIL lets a case end without ``exit`` (the analysis just stops there, with no check
    of r0).  Model that by appending ``r0 = 0; exit`` where the last instruction can fall
    through, or where a label points past the end."""
    insns = case.insns
    last = insns[-1] if insns else None
    if last is not None and last.spec is None and len(insns) >= 2:
        last = insns[-2]          # the filler slot of a final lddw
    falls = last is None or last.spec.fmt not in (isa.Fmt.EXIT, isa.Fmt.JA, isa.Fmt.JA32)
    past_end = any(
        i.spec is not None and i.spec.fmt in (isa.Fmt.JMP_K, isa.Fmt.JMP_X, isa.Fmt.JA)
        and not isinstance(i, Assume) and pc + 1 + i.off == len(insns)
        for pc, i in enumerate(insns) if i.opcode)
    if falls or past_end:
        n = len(case.index_of) and case.index_of[-1] + 1
        insns.append(_mk(Cls.ALU64 | Src.K | AluOp.MOV, 0, 0, 0, 0))
        insns.append(_mk(Cls.JMP | JmpOp.EXIT))
        case.index_of.extend([n, n])
