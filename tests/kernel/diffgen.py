"""Structured XDP programs for judging our verifier against the kernel's, and a minimizer.

A program is a prologue (r6 = ctx), a few *snippets* drawn from the kinds below, the verdict
``r0 = XDP_PASS; exit`` and, when a snippet calls one, a bpf-to-bpf subprogram after it.
Each snippet is a small, ordinary piece of XDP code with one random choice that may make it
unsafe (or merely unprovable), so that verdicts split both ways:

- ``pkt_const``: ``data + N`` checked against ``data_end`` (any unsigned condition, either
  operand order, sometimes the wrong edge), then an access at ``data + off``;
- ``pkt_var``: a variable offset from a packet byte (masked, shifted or not), checked (or not)
  as ``data + var + K + M <= data_end``, then an access through it;
- ``map``: a lookup with a key written or not, a NULL check or not, an access at a constant or
  a masked variable offset in the value or past it;
- ``stack``: stores and loads of every size at offsets that may be uninitialized, overlapping
  or misaligned;
- ``spill``: a bounded number spilled (8 or 4 bytes), a helper call, filled back and used as an
  offset into a map value;
- ``loop``: a counter loop bounded by a constant, by a masked packet byte, or not at all;
- ``call``: a bpf-to-bpf call passing a stack pointer (initialized or not) and a number;
- ``helper``: helpers with right and wrong argument types (map pointer, key pointer kinds);
- ``adjust``: ``bpf_xdp_adjust_head`` with an old packet pointer kept, then used in
  arithmetic, compared, or dereferenced (the DHCP relay case);
- ``ptr32``: 32-bit arithmetic and moves on pointers, pointer differences, pointers stored;
- ``scalar``: a loaded number through ALU operations and 64/32-bit comparisons, then an
  offset into a map value or the stack (range tracking);
- ``stack_var``: a stack access at a variable offset; ``ptr_cmp``: pointer comparisons
  (packet with packet, 32-bit, with numbers, metadata); ``ctx``: context reads and writes.

``judge_kernel`` loads a program into this machine's kernel as root (maps created and
relocated) and gives its verdict, reason and processed-instruction count; ``minimize`` drops
snippets and then instructions while a disagreement persists.
"""

from __future__ import annotations

import ctypes
import errno
import random
import re
from dataclasses import dataclass

from firmware.ebpf.isa import Insn, Pseudo, encode_program
from firmware.ebpf.maps import MapType
from firmware.ebpf.verifier import MapInfo
from firmware.kernel import bpf as kbpf
from firmware.kernel.build import lddw, make
from firmware.kernel.xdp import relocate_maps

__all__ = ["MAPS", "generate", "judge_kernel", "KernelJudgement", "minimize", "KINDS",
           "program_from_hex", "program_hex"]

VALUE_SIZE = 16
# map 0: array (constant keys are known in range), map 1: hash
MAPS = {0: MapInfo(MapType.ARRAY, 4, VALUE_SIZE, 4, "arr"),
        1: MapInfo(MapType.HASH, 4, VALUE_SIZE, 8, "hash")}

XDP_PASS = 2
LOOKUP, UPDATE, KTIME, PRANDOM, ADJUST_HEAD = 1, 2, 5, 7, 44

_SIZES = (("b", 1), ("h", 2), ("w", 4), ("dw", 8))
_UNSIGNED = ("jgt", "jge", "jlt", "jle")


class _Snippet:
    """Instructions with forward jumps to the snippet's end (``jump_end``)."""

    def __init__(self):
        self.insns: list = []
        self.to_end: list[int] = []

    def add(self, *insns):
        for insn in insns:
            if isinstance(insn, list):
                self.insns.extend(insn)
            else:
                self.insns.append(insn)

    def jump_end(self, mnemonic: str, dst: int, src: int | None = None, imm: int = 0):
        self.to_end.append(len(self.insns))
        if src is None:
            self.insns.append(make(mnemonic, dst, imm=imm))
        else:
            self.insns.append(make(mnemonic, dst, src, x=True))

    def done(self) -> list[Insn]:
        n = len(self.insns)
        for i in self.to_end:
            self.insns[i].off = n - i - 1
        return self.insns


def _size(rng):
    return rng.choice(_SIZES)


def _load_pkt(s: _Snippet):
    s.add(make("ldxw", 2, 6, off=0), make("ldxw", 3, 6, off=4))


def _pkt_const(rng, s: _Snippet, sub):
    _load_pkt(s)
    n = rng.randint(0, 48)
    s.add(make("mov", 4, 2, x=True), make("add", 4, imm=n))
    cond = rng.choice(_UNSIGNED)
    # the edge on which the access is safe: data+n <= data_end
    if rng.random() < 0.5:
        a, b, bad_taken = 4, 3, {"jgt": True, "jge": True, "jlt": False, "jle": False}[cond]
    else:
        a, b, bad_taken = 3, 4, {"jgt": False, "jge": False, "jlt": True, "jle": True}[cond]
    if rng.random() < 0.1:
        bad_taken = not bad_taken
    if bad_taken:
        s.jump_end(cond, a, b)
    else:
        # taken edge is the safe one: skip the access on fall-through
        s.add(make(cond, a, b, off=1, x=True))
        s.jump_end("ja", 0)
    suffix, size = _size(rng)
    off = rng.randint(-2, n + 2) if rng.random() < 0.3 else rng.randint(0, max(0, n - size))
    if rng.random() < 0.5:
        s.add(make("ldx" + suffix, 5, 2, off=off))
    else:
        s.add(make("st" + suffix, 2, off=off, imm=rng.randint(0, 255)))


def _pkt_var(rng, s: _Snippet, sub):
    _load_pkt(s)
    s.add(make("mov", 4, 2, x=True), make("add", 4, imm=1))
    s.jump_end("jgt", 4, 3)
    s.add(make("ldxb", 5, 2, off=0))
    shape = rng.choice(("and", "and32", "shift", "none", "mod"))
    if shape == "and":
        s.add(make("and", 5, imm=rng.choice((0x0F, 0x3F, 0xFF, 0x3C))))
    elif shape == "and32":
        s.add(make("and32", 5, imm=rng.choice((0x0F, 0x3F))))
    elif shape == "shift":
        s.add(make("and", 5, imm=0x0F), make("lsh", 5, imm=2))
    elif shape == "mod":
        s.add(make("mod", 5, imm=rng.randint(1, 40)))
    s.add(make("mov", 4, 2, x=True), make("add", 4, 5, x=True))
    k = rng.randint(0, 20)
    if k:
        s.add(make("add", 4, imm=k))
    m = rng.randint(0, 16)
    s.add(make("mov", 7, 4, x=True), make("add", 7, imm=m))
    if rng.random() < 0.9:
        s.jump_end(rng.choice(("jgt", "jge")), 7, 3)
    suffix, size = _size(rng)
    off = rng.randint(-1, m + 1)
    s.add(make("ldx" + suffix, 5, 4, off=off))


def _lookup(rng, s: _Snippet, key_ok: bool = True, fd: int | None = None):
    fd = rng.choice((0, 1)) if fd is None else fd
    if key_ok:
        s.add(make("stw", 10, off=-4, imm=rng.choice((0, 1, 3, 7))))
    s.add(lddw(1, fd, Pseudo.MAP_FD), make("mov", 2, 10, x=True), make("add", 2, imm=-4))
    s.add(make("call", imm=LOOKUP))
    return fd


def _map(rng, s: _Snippet, sub):
    _lookup(rng, s, key_ok=rng.random() < 0.9)
    if rng.random() < 0.85:
        s.jump_end("jeq", 0, imm=0)
    suffix, size = _size(rng)
    if rng.random() < 0.4:
        s.add(make("ldxb", 4, 0, off=0), make("and", 4, imm=rng.choice((3, 7, 15, 31))),
              make("add", 0, 4, x=True))
        off = rng.randint(0, 4)
    else:
        off = rng.randint(-1, VALUE_SIZE - size + 1) if rng.random() < 0.3 \
            else rng.randint(0, VALUE_SIZE - size)
    if rng.random() < 0.5:
        s.add(make("ldx" + suffix, 5, 0, off=off))
    else:
        s.add(make("st" + suffix, 0, off=off, imm=1))


def _stack(rng, s: _Snippet, sub):
    for _ in range(rng.randint(0, 3)):
        suffix, size = _size(rng)
        off = -size * rng.randint(1, 32 // size)
        if rng.random() < 0.1:
            off -= rng.randint(1, size - 1) if size > 1 else 0
        if rng.random() < 0.5:
            s.add(make("st" + suffix, 10, off=off, imm=rng.randint(-5, 5)))
        else:
            s.add(make("mov", 5, imm=rng.randint(0, 9)), make("stx" + suffix, 10, 5, off=off))
    suffix, size = _size(rng)
    off = -size * rng.randint(1, 32 // size)
    if rng.random() < 0.1 and size > 1:
        off -= 1
    s.add(make("ldx" + suffix, 5, 10, off=off))
    if rng.random() < 0.3:
        s.add(make("jgt", 5, imm=3, off=0))


def _spill(rng, s: _Snippet, sub):
    _lookup(rng, s, fd=0)
    s.jump_end("jeq", 0, imm=0)
    s.add(make("mov", 8, 0, x=True), make("ldxb", 5, 0, off=0))
    mask = rng.choice((3, 7, 15, 31))
    s.add(make("and", 5, imm=mask))
    wide = rng.random() < 0.6
    if wide:
        s.add(make("stxdw", 10, 5, off=-16))
    else:
        s.add(make("stxw", 10, 5, off=-16))
    s.add(make("call", imm=KTIME))
    if wide:
        s.add(make("ldxdw", 4, 10, off=-16))
    else:
        s.add(make("ldxw", 4, 10, off=-16))
    s.add(make("add", 8, 4, x=True))
    limit = VALUE_SIZE - mask
    s.add(make("ldxb", 5, 8, off=rng.randint(0, max(0, limit))))


def _loop(rng, s: _Snippet, sub):
    kind = rng.choice(("const", "const", "pkt", "forever"))
    if kind == "pkt":
        _load_pkt(s)
        s.add(make("mov", 4, 2, x=True), make("add", 4, imm=1))
        s.jump_end("jgt", 4, 3)
        s.add(make("ldxb", 7, 2, off=0), make("and", 7, imm=rng.choice((7, 31))))
        body = [make("sub", 7, imm=1), make("add", 9, imm=1)]
        back = make("jsgt", 7, imm=0)
    elif kind == "const":
        n = rng.randint(1, 40)
        s.add(make("mov", 7, imm=0))
        cond = rng.choice(("jlt", "jne"))
        # a step of 2 towards an odd bound with != never ends: only < gets it
        step = rng.choice((1, 2)) if cond == "jlt" else 1
        body = [make("add", 7, imm=step), make("add", 9, imm=1)]
        back = make(cond, 7, imm=n)
    else:
        s.add(make("call", imm=PRANDOM), make("mov", 7, 0, x=True))
        body = [make("or", 7, imm=1)]
        back = make("jne", 7, imm=0)
    s.add(make("mov", 9, imm=0))
    s.add(*body)
    back.off = -(len(body) + 1)
    s.add(back)


def _call(rng, s: _Snippet, sub):
    init = rng.random() < 0.8
    if init:
        s.add(make("stdw", 10, off=-24, imm=rng.randint(0, 9)))
    s.add(make("mov", 1, 10, x=True), make("add", 1, imm=-24), make("mov", 2, imm=5))
    kind = rng.choice(("read", "write", "sum"))
    s.add(("call", kind))
    sub.add(kind)
    if rng.random() < 0.3:
        s.add(make("mov", 5, 0, x=True))


SUBPROGS = {
    "read": [make("ldxdw", 0, 1, off=0), make("add", 0, 2, x=True), make("exit")],
    "write": [make("stdw", 1, off=0, imm=7), make("mov", 0, imm=0), make("exit")],
    "sum": [make("mov", 0, 2, x=True), make("add", 0, imm=1), make("exit")],
}


def _helper(rng, s: _Snippet, sub):
    what = rng.choice(("scalar_map", "pkt_key", "ctx_key", "null_key", "update_value",
                       "scalar_key"))
    if what == "pkt_key":
        _load_pkt(s)
        s.add(make("mov", 4, 2, x=True), make("add", 4, imm=rng.choice((2, 4, 8))))
        s.jump_end("jgt", 4, 3)
        s.add(lddw(1, 0, Pseudo.MAP_FD), make("mov", 2, 2, x=True),
              make("call", imm=LOOKUP))
        return
    if what == "update_value":
        s.add(make("stw", 10, off=-4, imm=0))
        if rng.random() < 0.8:
            s.add(make("stdw", 10, off=-24, imm=0))
        if rng.random() < 0.8:
            s.add(make("stdw", 10, off=-16, imm=0))
        s.add(lddw(1, rng.choice((0, 1)), Pseudo.MAP_FD), make("mov", 2, 10, x=True),
              make("add", 2, imm=-4), make("mov", 3, 10, x=True), make("add", 3, imm=-24),
              make("mov", 4, imm=0), make("call", imm=UPDATE))
        return
    s.add(make("stw", 10, off=-4, imm=0))
    if what == "scalar_map":
        s.add(make("mov", 1, imm=0))
    else:
        s.add(lddw(1, 0, Pseudo.MAP_FD))
    if what == "ctx_key":
        s.add(make("mov", 2, 6, x=True))
    elif what == "null_key":
        s.add(make("mov", 2, imm=0))
    elif what == "scalar_key":
        s.add(make("mov", 2, imm=4))
    else:
        s.add(make("mov", 2, 10, x=True), make("add", 2, imm=-4))
    s.add(make("call", imm=LOOKUP))


def _adjust(rng, s: _Snippet, sub):
    _load_pkt(s)
    s.add(make("mov", 4, 2, x=True), make("add", 4, imm=20))
    s.jump_end("jgt", 4, 3)
    s.add(make("mov", 9, 2, x=True), make("add", 9, imm=rng.choice((0, 4))))
    s.add(make("mov", 1, 6, x=True), make("mov", 2, imm=rng.choice((-4, 4, 0))))
    s.add(make("call", imm=ADJUST_HEAD))
    use = rng.choice(("arith", "deref", "reload", "compare", "sub"))
    if use == "arith":
        s.add(make("add", 9, imm=8), make("mov", 5, 9, x=True))
    elif use == "deref":
        s.add(make("ldxb", 5, 9, off=0))
    elif use == "compare":
        _load_pkt(s)
        s.jump_end("jgt", 9, 3)
    elif use == "sub":
        _load_pkt(s)
        s.add(make("mov", 5, 9, x=True), make("sub", 5, 2, x=True))
    else:
        _load_pkt(s)
        s.add(make("mov", 4, 2, x=True), make("add", 4, imm=8))
        s.jump_end("jgt", 4, 3)
        s.add(make("ldxb", 5, 2, off=7))


def _ptr32(rng, s: _Snippet, sub):
    _load_pkt(s)
    what = rng.choice(("mov32", "add32", "sub32", "diff", "diff_bound", "store_map",
                       "store_stack", "cmp_scalar", "and", "ret_ptr"))
    if what == "mov32":
        s.add(make("mov32", 5, 2, x=True), make("add", 5, imm=1))
    elif what == "add32":
        s.add(make("add32", 2, imm=4))
    elif what == "sub32":
        s.add(make("mov", 5, 3, x=True), make("sub32", 5, 2, x=True))
    elif what == "diff":
        s.add(make("mov", 5, 3, x=True), make("sub", 5, 2, x=True))
    elif what == "diff_bound":
        # the packet's length from data_end - data, then an access bounded by it
        s.add(make("mov", 5, 3, x=True), make("sub", 5, 2, x=True))
        s.jump_end("jlt", 5, imm=rng.choice((8, 14)))
        s.add(make("ldxb", 4, 2, off=rng.choice((0, 7, 13))))
    elif what == "store_map":
        s.add(make("mov", 9, 2, x=True))
        _lookup(rng, s, fd=0)
        s.jump_end("jeq", 0, imm=0)
        s.add(make("stxdw", 0, 9, off=0))
    elif what == "store_stack":
        s.add(make("stx" + rng.choice(("dw", "w")), 10, 2, off=-32),
              make("ldxdw", 5, 10, off=-32))
    elif what == "cmp_scalar":
        s.add(make("mov", 5, imm=100))
        s.jump_end(rng.choice(("jgt", "jeq", "jsgt")), 2, 5)
    elif what == "and":
        s.add(make("and", 2, imm=-8))
    else:
        s.add(make("mov", 0, 2, x=True), make("exit"))


_SHAPE_OPS = ("and", "and32", "or", "xor", "add", "add32", "sub", "mul", "lsh", "rsh", "arsh",
              "rsh32", "lsh32", "mov32", "neg", "mod")
_CONDS = ("jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle", "jeq", "jne", "jset",
          "jgt32", "jge32", "jlt32", "jle32", "jsgt32", "jslt32", "jeq32", "jne32")


def _scalar(rng, s: _Snippet, sub):
    """Range tracking: a loaded number shaped by ALU operations and narrowed by comparisons
    (64- and 32-bit), then used as an offset into a map value or the stack."""
    _lookup(rng, s, fd=0)
    s.jump_end("jeq", 0, imm=0)
    s.add(make("ldx" + rng.choice(("b", "h", "w", "dw")), 5, 0, off=0))
    for _ in range(rng.randint(1, 4)):
        op = rng.choice(_SHAPE_OPS)
        if op == "neg":
            s.add(make("neg", 5))
        elif op in ("lsh", "rsh", "arsh", "lsh32", "rsh32"):
            s.add(make(op, 5, imm=rng.randint(0, 8)))
        elif op == "mod":
            s.add(make("mod", 5, imm=rng.randint(1, 16)))
        else:
            s.add(make(op, 5, imm=rng.choice((1, 3, 7, 15, 0xff, -1, -8, 100))))
    for _ in range(rng.randint(0, 2)):
        cond = rng.choice(_CONDS)
        s.jump_end(cond, 5, imm=rng.choice((0, 1, 7, 8, 15, 16, -1, 0x7fffffff)))
    if rng.random() < 0.5:
        s.add(make("add", 0, 5, x=True), make("ldxb", 4, 0, off=rng.randint(0, 2)))
    else:
        s.add(make("mov", 4, 10, x=True), make("add", 4, imm=-16), make("add", 4, 5, x=True),
              make("stb", 4, off=0, imm=1))


def _stack_var(rng, s: _Snippet, sub):
    """A stack access at a variable offset (privileged only in the kernel), the bytes
    written or not."""
    if rng.random() < 0.7:
        s.add(make("stdw", 10, off=-8, imm=0), make("stdw", 10, off=-16, imm=0))
    s.add(make("call", imm=PRANDOM), make("and", 0, imm=rng.choice((7, 8, 15))),
          make("mov", 4, 10, x=True), make("add", 4, imm=-16), make("add", 4, 0, x=True))
    if rng.random() < 0.5:
        s.add(make("ldxb", 5, 4, off=0))
    else:
        s.add(make("stb", 4, off=0, imm=1))


def _ptr_cmp(rng, s: _Snippet, sub):
    """Comparisons of pointers: packet with packet (32-bit too), with numbers, and of map
    values, then an access that needs (or not) what the comparison proved."""
    _load_pkt(s)
    what = rng.choice(("pkt_pkt", "pkt32", "pkt_num", "meta"))
    if what == "meta":
        s.add(make("ldxw", 4, 6, off=8), make("mov", 5, 4, x=True), make("add", 5, imm=4))
        s.jump_end(rng.choice(("jgt", "jge")), 5, 2)
        s.add(make("ldx" + rng.choice(("b", "w")), 5, 4, off=rng.choice((0, 1, 4))))
        return
    s.add(make("mov", 4, 2, x=True), make("add", 4, imm=8))
    if what == "pkt_pkt":
        s.jump_end(rng.choice(("jgt", "jeq", "jsgt", "jne")), 4, 3)
    elif what == "pkt32":
        s.jump_end(rng.choice(("jgt32", "jge32")), 4, 3)
    else:
        s.jump_end(rng.choice(("jgt", "jeq")), 4, imm=rng.choice((0, 100)))
    s.add(make("ldxb", 5, 2, off=rng.choice((0, 7))))


def _ctx(rng, s: _Snippet, sub):
    """Context reads of every size and offset, and writes."""
    n, suffix = rng.choice(((1, "b"), (2, "h"), (4, "w"), (8, "dw")))
    off = rng.choice((0, 4, 8, 12, 16, 20, 24, 2, 3))
    if rng.random() < 0.8:
        s.add(make("ldx" + suffix, 5, 6, off=off))
    else:
        s.add(make("st" + suffix, 6, off=off, imm=0))


KINDS = {"pkt_const": _pkt_const, "pkt_var": _pkt_var, "map": _map, "stack": _stack,
         "spill": _spill, "loop": _loop, "call": _call, "helper": _helper, "adjust": _adjust,
         "ptr32": _ptr32, "scalar": _scalar, "stack_var": _stack_var, "ptr_cmp": _ptr_cmp,
         "ctx": _ctx}


def generate(seed: int, kinds=None) -> tuple[list[list], set]:
    """Program ``seed``: its snippets (each a list of instructions and ``("call", name)``
    placeholders) and the subprograms they call.  ``assemble`` lays it out."""
    rng = random.Random(seed)
    names = list(kinds or KINDS)
    sub: set = set()
    snippets = []
    for _ in range(rng.randint(1, 3)):
        s = _Snippet()
        KINDS[rng.choice(names)](rng, s, sub)
        snippets.append(s.done())
    return snippets, sub


def assemble(snippets: list[list], sub: set) -> list[Insn]:
    """Prologue, snippets, ``r0 = XDP_PASS; exit``, then the subprograms called."""
    body: list = [make("mov", 6, 1, x=True)]
    for snip in snippets:
        body.extend(_copy(i) for i in snip)
    body += [make("mov", 0, imm=XDP_PASS), make("exit")]
    starts, pc = {}, len(body)
    used = [n for n in SUBPROGS if n in sub and any(
        isinstance(i, tuple) and i[1] == n for i in body)]
    for name in used:
        starts[name] = pc
        pc += len(SUBPROGS[name])
    out: list[Insn] = []
    for item in body:
        if isinstance(item, tuple):
            out.append(make("call", src=1, imm=starts[item[1]] - len(out) - 1))
        else:
            out.append(item)
    for name in used:
        out.extend(_copy(i) for i in SUBPROGS[name])
    return out


def _copy(insn):
    if isinstance(insn, tuple):
        return insn
    new = Insn(insn.opcode, insn.dst, insn.src, insn.off, insn.imm, insn.imm64)
    new.spec = insn.spec
    return new


def program_hex(insns: list[Insn]) -> str:
    return encode_program(insns).hex()


def program_from_hex(text: str) -> list[Insn]:
    from firmware.ebpf.isa import decode_program
    return decode_program(bytes.fromhex(text))


@dataclass
class KernelJudgement:
    """The kernel's verdict on one program: accepted, the first line of its reason, and the
    number of instructions it processed (from its statistics line)."""
    accepted: bool
    reason: str
    processed: int | None
    log: str


_PROCESSED = re.compile(r"processed (\d+) insns")
_LOG = ctypes.create_string_buffer(1 << 22)


def judge_kernel(insns: list[Insn], maps=MAPS, log_level: int = 1) -> KernelJudgement:
    """Load ``insns`` as XDP into this machine's kernel (root: the privileged rules) with a
    log of ``log_level`` and statistics, and unload it."""
    fds = []
    opened = []
    try:
        for index in sorted(maps):
            spec = maps[index]
            m = kbpf.create_map(int(spec.type), spec.key_size, spec.value_size,
                                spec.max_entries, spec.name or f"m{index}")
            opened.append(m)
            fds.append(m.fd)
        code = encode_program(relocate_maps(insns, fds))
        buf = ctypes.create_string_buffer(code, len(code))
        lic = ctypes.create_string_buffer(b"GPL")
        attr = kbpf._ProgLoadAttr(prog_type=int(kbpf.ProgType.XDP), insn_cnt=len(code) // 8,
                                  insns=ctypes.addressof(buf), license=ctypes.addressof(lic),
                                  log_level=log_level | 4, log_size=len(_LOG),
                                  log_buf=ctypes.addressof(_LOG), prog_name=b"vdiff")
        _LOG[0] = b"\0"
        try:
            fd = kbpf._syscall(kbpf.Cmd.PROG_LOAD, attr)
        except OSError as exc:
            log = _LOG.value.decode(errors="replace")
            if exc.errno in (errno.EPERM, errno.ENOMEM) and not log:
                raise
            found = _PROCESSED.search(log)
            return KernelJudgement(False, kbpf.verifier_reason(log) or errno.errorcode.get(
                exc.errno, str(exc.errno)), int(found.group(1)) if found else None, log)
        import os
        os.close(fd)
        log = _LOG.value.decode(errors="replace")
        found = _PROCESSED.search(log)
        return KernelJudgement(True, "", int(found.group(1)) if found else None, log)
    finally:
        for m in opened:
            m.close()


def minimize(snippets: list[list], sub: set, disagrees) -> list[Insn]:
    """The smallest program (first by dropping whole snippets, then single instructions of
    the remaining ones that are no jump and no jump target) on which ``disagrees(insns)``
    still holds."""
    cur = list(snippets)
    changed = True
    while changed and len(cur) > 1:
        changed = False
        for i in range(len(cur)):
            trial = cur[:i] + cur[i + 1:]
            if disagrees(assemble(trial, sub)):
                cur = trial
                changed = True
                break
    return assemble(cur, sub)


def judge_ours(insns: list[Insn], privileged: bool = True):
    from firmware.ebpf.verifier import LINUX, verify
    return verify(insns, "xdp", maps=MAPS, platform=LINUX, privileged=privileged,
                  log_level=0)


def _main(argv=None) -> int:
    import argparse
    import json
    import time
    parser = argparse.ArgumentParser(
        description="Judge generated XDP programs by this machine's kernel and by xdpnic's "
                    "verifier: agreement, processed-instruction ratios, speed, and every "
                    "disagreement (minimized) as a JSON line.")
    parser.add_argument("--start", type=int, default=0, help="first seed")
    parser.add_argument("--count", type=int, default=1000, help="programs")
    parser.add_argument("--json", action="store_true", help="a JSON summary on the last line")
    parser.add_argument("--disagreements", metavar="FILE",
                        help="write each disagreement, minimized, as a JSON line")
    args = parser.parse_args(argv)
    agree = 0
    ours_insns = 0
    ours_time = 0.0
    ratios = []
    found = []
    unsafe = 0
    for seed in range(args.start, args.start + args.count):
        snippets, sub = generate(seed)
        prog = assemble(snippets, sub)
        kernel = judge_kernel(prog)
        t = time.perf_counter()
        ours = judge_ours(prog)
        ours_time += time.perf_counter() - t
        ours_insns += ours.insns_processed
        if kernel.accepted == ours.accepted:
            agree += 1
            if kernel.accepted and kernel.processed:
                ratios.append(ours.insns_processed / kernel.processed)
            continue
        unsafe += ours.accepted

        def still(insns, want=kernel.accepted):
            return judge_kernel(insns).accepted == want and judge_ours(insns).accepted != want
        small = minimize(snippets, sub, still)
        found.append({"seed": seed, "hex": program_hex(small), "kernel_accepts": kernel.accepted,
                      "kernel_reason": kernel.reason, "ours": ours.error or "accepted"})
        print(f"seed {seed}: kernel {'accepts' if kernel.accepted else kernel.reason!r}, "
              f"ours {ours.error or 'accepts'!r}")
    ratios.sort()
    summary = {"programs": args.count, "agree": agree,
               "agreement_percent": round(100 * agree / args.count, 3),
               "accepted_by_us_refused_by_kernel": unsafe,
               "processed_ratio_max": round(ratios[-1], 2) if ratios else None,
               "processed_ratio_median": round(ratios[len(ratios) // 2], 2) if ratios else None,
               "processed_ratio_over_2": sum(r > 2 for r in ratios),
               "ours_insns_per_second": round(ours_insns / ours_time) if ours_time else None}
    if args.disagreements:
        with open(args.disagreements, "w") as out:
            for entry in found:
                out.write(json.dumps(entry) + "\n")
    print(json.dumps(summary) if args.json else
          "\n".join(f"{k}: {v}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
