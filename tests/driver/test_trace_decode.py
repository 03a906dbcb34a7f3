"""The host's trace decoder (firmware/driver/trace.py): records built here from the record
format of hw/xdp/trace.py decode to the golden model's lines for the same call; partial
records wait; malformed words are refused naming the word."""

import pytest

from firmware.driver.trace import TraceDecodeError, decode_records, decode_words
from firmware.ebpf import machine
from firmware.ebpf.helpers import HelperId
from firmware.ebpf.model import Memory
from firmware.ebpf.model_helpers import EngineState, misc_helpers
from hw.xdp import trace as rec

STACK = machine.region_base(machine.Region.STACK)


def words_of(data: bytes) -> list[int]:
    data += bytes(-len(data) % 4)
    return [int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data), 4)]


def encode(fmt: bytes, args, strings=()) -> list[int]:
    """A record as the hardware writes it; ``strings``: bytes, or None for a faulted read."""
    lens = [0 if s is None else len(s) for s in strings]
    out = [rec.record_header(len(fmt), rec.record_words(len(fmt), lens))]
    out += words_of(fmt)
    for a in args:
        out += [a & 0xFFFFFFFF, a >> 32 & 0xFFFFFFFF]
    for s in strings:
        out.append(rec.STRING_FAULT if s is None else len(s))
        out += words_of(s or b"")
    return out


def model_line(fmt: bytes, args, strings=()) -> str:
    """The line the model's bpf_trace_printk writes for ``fmt`` (stored on the stack) with
    string arguments placed on the stack (None: an unreadable address)."""
    memory = Memory()
    state = EngineState()
    memory.stack[:len(fmt) + 1] = fmt + b"\0"
    regs = list(args)
    at = 600
    string_iter = iter(strings)
    for i, a in enumerate(regs):
        if a == "s":
            s = next(string_iter)
            if s is None:
                regs[i] = 0x7000_0000
            else:
                memory.stack[at:at + len(s) + 1] = s + b"\0"
                regs[i] = STACK + at
                at += len(s) + 1
    regs += [0] * (3 - len(regs))
    r0 = misc_helpers(state)[HelperId.TRACE_PRINTK](memory, STACK, len(fmt) + 1, *regs)
    assert r0 == len(state.trace[0])
    return state.trace[0], regs


@pytest.mark.parametrize("fmt, args, strings", [
    (b"hello %d\n", [-3], []),
    (b"%s=%lx %c", ["s", 0xFEED_FACE_CAFE, 0x41], [b"key"]),
    (b"[%-6s|%6s|%s]", ["s", "s", "s"], [b"a", None, b""]),
    (b"%p %px", [0xFFFF_FFFF_FFFF_FFFF, 1], []),
    (b"%1100s!", ["s"], [b"x" * 40]),                     # cut at 1023 characters
    (b"%s", ["s"], [bytes(range(1, 256)) * 4 + b"abcd"]),  # a 1024-byte string
])
def test_records_decode_to_the_model_line(fmt, args, strings):
    line, regs = model_line(fmt, args, strings)
    words = encode(fmt, regs, strings)
    assert decode_records(words) == [line]


def test_several_records_and_a_partial_one():
    a = encode(b"one %u", [1, 0, 0])
    b = encode(b"two", [0, 0, 0])
    c = encode(b"three %s", [0, 0, 0], [b"xyz"])
    lines, rest = decode_words(a + b + c[:4])
    assert lines == ["one 1", "two"] and rest == c[:4]
    lines, rest = decode_words(rest + c[4:])
    assert lines == ["three xyz"] and rest == []
    with pytest.raises(TraceDecodeError, match=r"word 17: record of 11 words cut short after 4"):
        decode_records(a + b + c[:4])


def test_bad_magic_names_the_word():
    words = encode(b"ok", [0, 0, 0])
    with pytest.raises(TraceDecodeError, match=r"word 8: 0xdeadbeef is not a trace record "
                                               r"header \(magic 0x54 in bits 31\.\.24\)"):
        decode_words(words + [0xDEADBEEF])


def test_string_blocks_must_match_the_format():
    short = encode(b"%s %s", [0, 0, 0], [b"a"])
    short[0] = rec.record_header(5, len(short))
    with pytest.raises(TraceDecodeError, match="fewer string blocks"):
        decode_words(short)
    extra = encode(b"%d", [0, 0, 0], [b"a"])      # a string block no %s asks for
    with pytest.raises(TraceDecodeError, match="2 words after its last string block"):
        decode_words(extra)
    extra = extra[:-1]
    extra[0] = rec.record_header(2, len(extra))
    with pytest.raises(TraceDecodeError, match="1 words after its last string block"):
        decode_words(extra)


def test_a_format_the_model_refuses_is_not_a_record():
    with pytest.raises(TraceDecodeError, match=r"word 0: format b'%q' is one the model "
                                               r"refuses"):
        decode_words(encode(b"%q", [0, 0, 0]))


def test_zero_length_header_is_refused():
    with pytest.raises(TraceDecodeError, match="word 0: record header 0x54000000 has length 0"):
        decode_words([rec.record_header(0, 0)])


def test_huge_widths_decode_to_the_cut_line():
    """A width the model could not format (beyond sys.maxsize) or only slowly: the record
    decodes to the first 1023 characters all the same (the hardware returned 1023)."""
    words = encode(b"ab%99999999999999999999dz", [5, 0, 0])
    assert decode_records(words) == ["ab" + " " * 1021]
    words = encode(b"%-999999999s|", [0, 0, 0], [b"text"])
    assert decode_records(words) == ["text" + " " * 1019]
    words = encode(b"%%5000d %08000x", [0xAB, 0, 0])
    assert decode_records(words) == [("%5000d " + "0" * 8000)[:1023]]


@pytest.mark.parametrize("width", [4095, 4096, 5000])
def test_clamped_widths_leave_the_cut_line_as_the_model_makes_it(width):
    for fmt, args, strings in [(b"x%" + str(width).encode() + b"s", ["s"], [b"y" * 1024]),
                               (b"%0" + str(width).encode() + b"lld", [-12345], []),
                               (b"%-" + str(width).encode() + b"u", [77], [])]:
        line, regs = model_line(fmt, args, strings)
        assert decode_records(encode(fmt, regs, strings)) == [line]
