"""The ``bpf_trace_printk`` FIFO: whole records in, 32-bit words out to the host.

A record is what one successful ``bpf_trace_printk`` call leaves for the host (written by
:class:`hw.xdp.misc.MiscHelpers`, decoded by :mod:`firmware.driver.trace`).  All words are
little-endian packings of bytes (byte 0 in bits 7..0):

==========================  ==================================================================
word                        contents
==========================  ==================================================================
header                      bits 31..24 ``RECORD_MAGIC``; 23..12 format length in bytes (up to
                            the NUL, 0..1023); 11..0 the record's length in words, header
                            included (``RECORD_WORDS_MASK``)
format                      ``ceil(format length / 4)`` words of the format bytes, zero-padded
arguments                   6 words: r3, r4, r5 (the three arguments), low word first
one block per ``%s``        in the format's order: a string header (bits 10..0 the string's
                            length, 0..1024; bit 31 set when reading it faulted -- the
                            model prints ``(fault)`` -- and then the length is 0), then
                            ``ceil(length / 4)`` words of its bytes, zero-padded
==========================  ==================================================================

Strings are captured when the helper runs (the memory they point to may change later); the
host formats the line from the record with the golden model's ``format_trace``, so the text
is the model's by construction.

The FIFO keeps records whole: the header's word count is checked against the free space when
the header arrives; a record that does not fit is dropped entirely (its header and every
following word of it) and sets ``overflow``.  The host sees only complete records: ``words``
counts the words of records whose last word has arrived, and ``data`` shows the head word
only when ``words`` is non-zero.
"""

from amaranth.hdl import Module, Signal, Mux
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .arbiter import round_robin

__all__ = ["TraceFifo", "TraceMerge", "RECORD_MAGIC", "RECORD_MAGIC_SHIFT", "RECORD_FMT_SHIFT",
           "RECORD_FMT_MASK", "RECORD_WORDS_MASK", "RECORD_ARG_WORDS", "STRING_LEN_MASK",
           "STRING_FAULT", "WIDTH_MAX", "record_header", "record_words"]

RECORD_MAGIC = 0x54          # "T": lets the host check it is at a record boundary
RECORD_MAGIC_SHIFT = 24
RECORD_FMT_SHIFT = 12
RECORD_FMT_MASK = 0xFFF
RECORD_WORDS_MASK = 0xFFF    # the largest record (1023-byte format, three 1024-byte strings)
                             # is 1 + 256 + 6 + 3 * 257 = 1034 words
RECORD_ARG_WORDS = 6
STRING_LEN_MASK = 0x7FF
STRING_FAULT = 1 << 31
WIDTH_MAX = 4095             # MiscHelpers holds a conversion's width saturated here; a wider
                             # field is cut at 1023 characters all the same


def record_words(fmt_len: int, string_lens: list[int]) -> int:
    """Words in a record with a ``fmt_len``-byte format and strings of those lengths (a
    faulted string counts as length 0)."""
    return (1 + (fmt_len + 3) // 4 + RECORD_ARG_WORDS
            + sum(1 + (n + 3) // 4 for n in string_lens))


def record_header(fmt_len: int, words: int) -> int:
    """The header word of a record."""
    return (RECORD_MAGIC << RECORD_MAGIC_SHIFT) | (fmt_len << RECORD_FMT_SHIFT) | words


class TraceFifo(wiring.Component):
    """FIFO of whole trace records (see the module docstring).

    Parameters
    ----------
    depth_words : int
        Capacity in 32-bit words (1..65535; ``TRACE_STATUS.words`` is 16 bits).  Records
        longer than this can never be kept.

    Members
    -------
    push : In(stream.Signature(32))
        Record words from :class:`~hw.xdp.misc.MiscHelpers`; always ready (records that do
        not fit are dropped, the writer never waits).
    words : Out(16)
        Words of complete records waiting (``TRACE_STATUS.words``).
    overflow : Out(1)
        A record was dropped since the last ``clear`` (``TRACE_STATUS.overflow``).
    data : Out(32)
        The head word, 0 when ``words`` is 0 (``TRACE_DATA``).
    pop : In(1)
        Strobe: drop the head word (a host read of ``TRACE_DATA``); ignored when empty.
    clear : In(1)
        Strobe: clear ``overflow`` (``CTRL.clear_counters``).
    """

    push: In(stream.Signature(32))
    words: Out(16)
    overflow: Out(1)
    data: Out(32)
    pop: In(1)
    clear: In(1)

    def __init__(self, depth_words: int = 2048):
        if not isinstance(depth_words, int) or not 1 <= depth_words <= 0xFFFF:
            raise TypeError(f"depth_words must be an integer in 1..65535, not {depth_words!r}")
        self.depth_words = depth_words
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        depth = self.depth_words
        m.submodules.mem = mem = Memory(shape=32, depth=depth, init=[])
        wr = mem.write_port()
        rd = mem.read_port(transparent_for=(wr,))

        wr_ptr = Signal(range(depth))
        rd_ptr = Signal(range(depth))
        committed = Signal(17)       # words of whole records, visible to the host
        used = Signal(17)            # committed + the whole length of the record being written
        remaining = Signal(12)       # words still to come of the current record
        rec_len = Signal(13)         # its length (committed when its last word arrives)
        dropping = Signal()          # the current record did not fit

        def advance(ptr):
            return Mux(ptr == depth - 1, 0, ptr + 1)

        do_pop = self.pop & (committed != 0)
        nxt_rd = Mux(do_pop, advance(rd_ptr), rd_ptr)
        m.d.sync += rd_ptr.eq(nxt_rd)
        m.d.comb += [rd.addr.eq(nxt_rd), rd.en.eq(1),
                     self.words.eq(committed),
                     self.data.eq(Mux(committed != 0, rd.data, 0)),
                     self.push.ready.eq(1)]

        word = self.push.payload
        header_len = Signal(13)
        # a malformed header (length 0) still occupies one word
        m.d.comb += header_len.eq(Mux(word[:12] == 0, 1, word[:12]))
        commit = Signal(13)                  # words that become visible this cycle
        reserve = Signal(13)                 # words reserved this cycle
        store = Signal()

        with m.If(self.push.valid):
            with m.If(remaining == 0):       # a header
                with m.If(header_len <= depth - used):
                    m.d.comb += [store.eq(1), reserve.eq(header_len)]
                    m.d.sync += [dropping.eq(0), rec_len.eq(header_len),
                                 remaining.eq(header_len - 1)]
                    with m.If(header_len == 1):
                        m.d.comb += commit.eq(1)
                with m.Else():
                    m.d.sync += [dropping.eq(1), remaining.eq(header_len - 1),
                                 self.overflow.eq(1)]
            with m.Else():
                m.d.sync += remaining.eq(remaining - 1)
                with m.If(~dropping):
                    m.d.comb += store.eq(1)
                    with m.If(remaining == 1):
                        m.d.comb += commit.eq(rec_len)
        m.d.comb += [wr.addr.eq(wr_ptr), wr.data.eq(word), wr.en.eq(store)]
        with m.If(store):
            m.d.sync += wr_ptr.eq(advance(wr_ptr))
        m.d.sync += [committed.eq(committed + commit - do_pop),
                     used.eq(used + reserve - do_pop)]
        # A clear in the same cycle as a drop leaves the drop visible.
        with m.If(self.clear & ~(self.push.valid & (remaining == 0)
                                 & (header_len > depth - used))):
            m.d.sync += self.overflow.eq(0)
        return m


class TraceMerge(wiring.Component):
    """Records from ``n`` engines into one stream, each record whole (its header's word
    count says where it ends); among engines with a record waiting, round robin.

    Members
    -------
    in<i> : In(stream.Signature(32)); out : Out(stream.Signature(32))
    """

    def __init__(self, n: int):
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"inputs must be a whole number >= 1, not {n!r}")
        self.n = n
        members = {f"in{i}": In(stream.Signature(32)) for i in range(n)}
        members["out"] = Out(stream.Signature(32))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        ins = [getattr(self, f"in{i}") for i in range(self.n)]
        owner = Signal(range(max(self.n, 2)))
        remaining = Signal(12)           # words still to come of the owner's record
        candidates = Signal(self.n)
        for i, s in enumerate(ins):
            m.d.comb += candidates[i].eq(s.valid)
        pick, found = round_robin(m, candidates, owner)
        source = Mux(remaining != 0, owner, pick)
        for i, s in enumerate(ins):
            with m.If((source == i) & ((remaining != 0) | found)):
                m.d.comb += [self.out.valid.eq(s.valid), self.out.payload.eq(s.payload),
                             s.ready.eq(self.out.ready)]
        with m.If(self.out.valid & self.out.ready):
            with m.If(remaining == 0):
                words = self.out.payload[:12]
                m.d.sync += [owner.eq(pick), remaining.eq(Mux(words == 0, 0, words - 1))]
            with m.Else():
                m.d.sync += remaining.eq(remaining - 1)
        return m
