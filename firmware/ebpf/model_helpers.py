"""The non-map helpers on the golden model: time, random numbers, engine id, checksums, trace.

Ref: Linux kernel/bpf/helpers.c and net/core/filter.c (``bpf_csum_diff``),
kernel/trace/bpf_trace.c (``bpf_trace_printk``, ``bpf_bprintf_prepare``).
"""

import errno
from dataclasses import dataclass, field

from .helpers import HelperId
from .isa import MASK32, MASK64
from .machine import prandom_next
from .model import Trap

__all__ = ["EngineState", "misc_helpers", "csum_diff", "format_trace"]

TRACE_BUF_MAX = 1024       # MAX_BPRINTF_BUF
TRACE_ARGS_MAX = 3


@dataclass
class EngineState:
    """What the helpers of one engine keep between calls."""
    engine: int = 0
    now_ns: int = 0                     # what bpf_ktime_get_ns returns
    prandom_state: int = 1              # xorshift32 state (machine.prandom_next)
    trace: list[str] = field(default_factory=list)
    fib: object = None                  # model_fib.Fib: what bpf_fib_lookup consults


def _add32(a: int, b: int) -> int:
    """One's-complement addition of 32-bit values (end-around carry)."""
    s = a + b
    return (s & MASK32) + (s >> 32)


def _csum_partial(data: bytes, seed: int) -> int:
    """x86's csum_partial: 32-bit little-endian words, then a trailing 16-bit and 8-bit part,
    summed with end-around carry into 32 bits."""
    total = seed & MASK32
    whole = len(data) & ~3
    for i in range(0, whole, 4):
        total = _add32(total, int.from_bytes(data[i:i + 4], "little"))
    tail = data[whole:]
    if len(tail) >= 2:
        total = _add32(total, int.from_bytes(tail[:2], "little"))
        tail = tail[2:]
    if tail:
        total = _add32(total, tail[0])
    return total


def _from32to16(total: int) -> int:
    """csum_from32to16: fold a 32-bit sum to 16 bits (rotate and add)."""
    total = (total + (((total >> 16) | (total << 16)) & MASK32)) & MASK32
    return total >> 16


def csum_diff(removed: bytes, added: bytes, seed: int) -> int:
    """``bpf_csum_diff`` as Linux 6.12+ computes it: the one's-complement sum of ``added``
    minus that of ``removed``, plus ``seed``, folded to 16 bits.  Any sizes are accepted.

    Ref: net/core/filter.c bpf_csum_diff (after "bpf: bpf_csum_diff: optimize and homogenize
    for all archs"); arch/x86/lib/csum-partial_64.c.
    """
    seed &= MASK32
    if removed and added:
        total = _add32(_csum_partial(added, seed), ~_csum_partial(removed, 0) & MASK32)
    elif added:
        total = _csum_partial(added, seed)
    elif removed:
        total = ~_csum_partial(removed, ~seed & MASK32) & MASK32
    else:
        total = seed
    return _from32to16(total)


def format_trace(fmt: bytes, args: list[int], read_string) -> str | None:
    """Format as ``bpf_trace_printk`` does, or None where the kernel refuses the format.

    Conversions: ``%d %i %u %x %X`` with ``l``/``ll``, ``%c``, ``%s`` (read through
    ``read_string(address)``), ``%p``/``%px``, ``%%``; flags ``0 + - space`` and a width.
    """
    text = fmt.decode("latin-1")
    out = []
    i = 0
    used = 0
    while i < len(text):
        ch = text[i]
        if ch != "%":
            if not (ch.isprintable() or ch.isspace()):
                return None
            out.append(ch)
            i += 1
            continue
        i += 1
        if i < len(text) and text[i] == "%":
            out.append("%")
            i += 1
            continue
        start = i
        while i < len(text) and text[i] in "0+- ":
            i += 1
        while i < len(text) and text[i].isdigit():
            i += 1
        spec_flags = text[start:i]
        if used == TRACE_ARGS_MAX or i >= len(text):
            return None
        value = args[used]
        used += 1
        conv = text[i]
        if conv == "p":
            if text[i + 1:i + 2] == "x":
                i += 1
            out.append(f"0x{value:016x}")
            i += 1
            continue
        if conv == "s":
            s = read_string(value)
            if s is None:
                return None
            out.append(("%" + spec_flags + "s") % s)
            i += 1
            continue
        if conv == "c":
            out.append(chr(value & 0xFF))
            i += 1
            continue
        longs = 0
        while i < len(text) and text[i] == "l" and longs < 2:
            longs += 1
            i += 1
        if i >= len(text) or text[i] not in "diuxX":
            return None
        conv = text[i]
        i += 1
        bits = 64 if longs else 32
        v = value & ((1 << bits) - 1)
        if conv in "di" and v >> (bits - 1):
            v -= 1 << bits
        out.append(("%" + spec_flags + ("d" if conv in "diu" else conv)) % v)
    return "".join(out)


def misc_helpers(state: EngineState) -> dict:
    """ktime, prandom, smp_processor_id, csum_diff and trace_printk bound to one engine."""
    def ktime(memory, *_):
        return state.now_ns & MASK64

    def prandom(memory, *_):
        state.prandom_state = prandom_next(state.prandom_state)
        return state.prandom_state

    def processor_id(memory, *_):
        return state.engine

    def read(memory, address: int, size: int) -> bytes:
        return bytes(memory.load(address + i, 1) for i in range(size))

    def csum(memory, from_ptr, from_size, to_ptr, to_size, seed):
        from_size, to_size = from_size & MASK32, to_size & MASK32
        removed = read(memory, from_ptr, from_size) if from_size else b""
        added = read(memory, to_ptr, to_size) if to_size else b""
        return csum_diff(removed, added, seed) & MASK64

    def trace_printk(memory, fmt_ptr, fmt_size, a1, a2, a3):
        fmt_size &= MASK32
        if fmt_size == 0 or fmt_size > TRACE_BUF_MAX:
            return -errno.EINVAL & MASK64
        fmt = read(memory, fmt_ptr, fmt_size)
        if fmt[-1] != 0:
            return -errno.EINVAL & MASK64
        fmt = fmt[:fmt.index(0)]

        def read_string(address):
            chars = []
            try:
                while len(chars) < TRACE_BUF_MAX:
                    c = memory.load(address + len(chars), 1)
                    if c == 0:
                        return "".join(chars)
                    chars.append(chr(c))
            except Trap:        # an unreadable %s argument prints as the kernel's marker
                return "(fault)"
            return "".join(chars)

        text = format_trace(fmt, [a1, a2, a3], read_string)
        if text is None:
            return -errno.EINVAL & MASK64
        text = text[:TRACE_BUF_MAX - 1]
        state.trace.append(text)
        return len(text)

    return {HelperId.KTIME_GET_NS: ktime, HelperId.GET_PRANDOM_U32: prandom,
            HelperId.GET_SMP_PROCESSOR_ID: processor_id, HelperId.CSUM_DIFF: csum,
            HelperId.TRACE_PRINTK: trace_printk}
