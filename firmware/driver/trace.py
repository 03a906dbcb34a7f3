"""``bpf_trace_printk`` records from the NIC's trace FIFO -> the golden model's text lines.

The record format is declared in :mod:`hw.xdp.trace` (header, format bytes, the three
arguments, one captured block per ``%s``).  A line is formatted here by the golden model's own
:func:`firmware.ebpf.model_helpers.format_trace`, fed the record's format, arguments and
captured strings, and cut to 1023 characters as the model's helper cuts it -- so a line read
from the hardware is the line the model would have printed for the same call.
"""

import re

from hw.xdp import trace as rec

from ..ebpf.model_helpers import TRACE_ARGS_MAX, TRACE_BUF_MAX, format_trace

__all__ = ["TraceDecodeError", "decode_words", "decode_records"]

FAULT_TEXT = "(fault)"      # what the model's read_string returns for an unreadable %s

# A '%%' pair, or a conversion's flags and ASCII width digits.
_WIDTH = re.compile(rb"%%|%([-0+ ]*)([0-9]+)")


def _clamp_widths(fmt: bytes) -> bytes:
    """``fmt`` with every width above ``rec.WIDTH_MAX`` lowered to it.

    The line is cut at 1023 characters, and a field at least ``WIDTH_MAX`` (4095) wide has
    only padding (or, left-aligned, its value then padding) in its first 1023 characters
    whatever the value (at most 1024 characters), so the cut line is unchanged; the model's
    %-formatting would build the whole field (gigabytes for "%999999999d", an error beyond
    sys.maxsize).  The hardware measures widths saturated at the same bound."""
    def lower(match):
        if match.group(0) == b"%%" or int(match.group(2)) <= rec.WIDTH_MAX:
            return match.group(0)
        return b"%" + match.group(1) + str(rec.WIDTH_MAX).encode()
    return _WIDTH.sub(lower, fmt)


class TraceDecodeError(ValueError):
    """Words that are not trace records (the message names the word index)."""


def _bytes_of(words: list[int], length: int) -> bytes:
    return b"".join((w & 0xFFFFFFFF).to_bytes(4, "little") for w in words)[:length]


def _decode_record(words: list[int], start: int) -> str:
    """The line of the whole record ``words`` (which begins at word ``start`` of the input)."""
    header = words[0]
    fmt_len = (header >> rec.RECORD_FMT_SHIFT) & rec.RECORD_FMT_MASK
    if fmt_len >= TRACE_BUF_MAX:
        raise TraceDecodeError(f"word {start}: record header {header:#010x} has a "
                               f"{fmt_len}-byte format (at most {TRACE_BUF_MAX - 1})")
    at = 1 + (fmt_len + 3) // 4
    fmt = _bytes_of(words[1:at], fmt_len)
    if len(words) < at + rec.RECORD_ARG_WORDS:
        raise TraceDecodeError(f"word {start}: record of {len(words)} words is too short for "
                               f"a {fmt_len}-byte format and {TRACE_ARGS_MAX} arguments")
    args = [words[at + 2 * i] | (words[at + 2 * i + 1] << 32) for i in range(TRACE_ARGS_MAX)]
    at += rec.RECORD_ARG_WORDS

    def read_string(address: int) -> str:
        nonlocal at
        if at >= len(words):
            raise TraceDecodeError(f"word {start}: record has fewer string blocks than the "
                                   f"format's %s conversions")
        head = words[at]
        length = head & rec.STRING_LEN_MASK
        end = at + 1 + (length + 3) // 4
        if length > TRACE_BUF_MAX or end > len(words):
            raise TraceDecodeError(f"word {start + at}: string block header {head:#010x} "
                                   f"does not fit its record")
        data = _bytes_of(words[at + 1:end], length)
        at = end
        return FAULT_TEXT if head & rec.STRING_FAULT else data.decode("latin-1")

    text = format_trace(_clamp_widths(fmt), args, read_string)
    if text is None:
        raise TraceDecodeError(f"word {start}: format {fmt!r} is one the model refuses; the "
                               f"hardware writes no record for it")
    if at != len(words):
        raise TraceDecodeError(f"word {start}: record has {len(words) - at} words after its "
                               f"last string block")
    return text[:TRACE_BUF_MAX - 1]


def decode_words(words: list[int]) -> tuple[list[str], list[int]]:
    """Trace FIFO words -> (the lines of the whole records, the words of a record not yet
    complete, to be passed again with the words read later).

    Raises :class:`TraceDecodeError` (naming the word index) for words that are not records.
    """
    lines = []
    i = 0
    while i < len(words):
        header = words[i]
        if header >> rec.RECORD_MAGIC_SHIFT != rec.RECORD_MAGIC:
            raise TraceDecodeError(f"word {i}: {header:#010x} is not a trace record header "
                                   f"(magic {rec.RECORD_MAGIC:#04x} in bits 31..24)")
        count = header & rec.RECORD_WORDS_MASK
        if count == 0:
            raise TraceDecodeError(f"word {i}: record header {header:#010x} has length 0")
        if i + count > len(words):
            break
        lines.append(_decode_record(list(words[i:i + count]), i))
        i += count
    return lines, list(words[i:])


def decode_records(words: list[int]) -> list[str]:
    """The lines of ``words``, which must be whole records (what ``TRACE_STATUS.words``
    counts); raises :class:`TraceDecodeError` if the last record is cut short."""
    lines, rest = decode_words(words)
    if rest:
        raise TraceDecodeError(f"word {len(words) - len(rest)}: record of "
                               f"{rest[0] & rec.RECORD_WORDS_MASK} words cut short after "
                               f"{len(rest)}")
    return lines
