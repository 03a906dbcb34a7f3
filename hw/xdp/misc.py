"""The helpers that need no map, on the datapath's ``aux`` helper port.

Each answers exactly as the golden model's (:mod:`firmware.ebpf.model_helpers`):

* ``bpf_get_smp_processor_id`` (8): the engine number (0: one engine).
* ``bpf_get_prandom_u32`` (7): the next xorshift32 value of the engine's state (reset to 1,
  the model's ``EngineState`` default; ``machine.prandom_next``).
* ``bpf_ktime_get_ns`` (5): ``(now * ns_per_cycle) >> 16`` truncated to 64 bits, where
  ``now`` is the free-running cycle counter the top drives and ``ns_per_cycle`` the host's
  16.16 fixed-point ``KTIME_NS_PER_CYCLE`` (reset 4.0, a 250 MHz clock).  The product is
  exact (96 bits) before the shift, so the time has no drift beyond the register's
  rounding of the clock period.
* ``bpf_csum_diff`` (28): ``model_helpers.csum_diff`` of ``from_size`` bytes at ``r1``
  (removed) and ``to_size`` bytes at ``r3`` (added), seed ``r5``, folded to 16 bits (Linux
  6.12+).  Any sizes; sizes are the low 32 bits of ``r2``/``r4``.
* ``bpf_trace_printk`` (6): validates and measures the format as ``format_trace`` does and
  returns the formatted length (at most 1023), or ``-EINVAL`` where the model does; a valid
  call then writes one record (:mod:`hw.xdp.trace`) to ``trace``.

Every other id is answered "unknown" (the core traps ``UNKNOWN_HELPER``).

Memory is read through ``mem_req``/``mem_resp`` (the datapath routes each address to the
stack, the packet buffer or the map values).  Buffers of known length are read 8 bytes at a
time while 8 remain, then 4, 2, 1 -- never past the buffer, so a read faults exactly when a
byte-by-byte read would; a ``%s`` string (length unknown) is read one byte at a time.  A read
that faults (or an address with bits 63..32 set) makes the helper answer ``fault`` (the core
traps ``OUT_OF_BOUNDS``, as the model's helpers do), except in a ``%s`` string, which the model
prints as ``(fault)``.

``bpf_trace_printk`` reads its memory twice: once to validate and measure (every format byte
is read, as the model reads all ``fmt_size`` bytes, and each ``%s`` string to its NUL), then,
only if the format is valid, again to copy the format and strings into the record whose
length (in its header) the first pass fixed.  The stack and packet cannot change between the
passes (the core waits for the helper); a map value the host rewrites between them would be
copied with its length from the first pass.  A read that faults in the second pass (only
possible if the map unit shrank a value meanwhile) copies zeros, so the record stays whole.

Differences from the model, each where the model raises instead of returning (listed in
docs/helpers.md): a width containing one of the Latin-1 digits ``²``, ``³``, ``¹`` (Python's
``str.isdigit`` accepts them, then ``%`` formatting raises ``ValueError``) before ``%d %i %u
%x %X %s`` is refused with ``-EINVAL``; with ``%c`` and ``%p`` the model ignores the width and
so does this unit.  Widths are held saturated at ``WIDTH_MAX`` (4095): the line is cut at 1023
characters, so the length is the same, and a width beyond ``sys.maxsize`` (the model raises)
returns 1023.

Cycle costs (request accepted to response valid, with an answerer that responds one cycle
after it takes a request; measured in docs/helpers.md): prandom, processor id and ktime 1;
csum_diff ``3 * chunks + 2`` (+1 when both buffers are non-empty), where a buffer of n bytes
is ``n // 8`` chunks plus one per set bit of ``n % 8``; trace_printk 4 cycles per format
chunk plus one per format byte, one per decimal digit of a ``%d %i %u``, 3 per ``%s``
string byte, then about as much again for the copy plus one cycle per record word.
"""

import errno

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out

from firmware.ebpf.helpers import HelperId
from firmware.ebpf.isa import MASK64
from firmware.ebpf.model_helpers import TRACE_ARGS_MAX, TRACE_BUF_MAX, format_trace
from hw.core.decoder import Size
from hw.core.helper import HelperRequest, HelperResponse
from hw.core.lsu import ExtRequest, ExtResponse

from . import trace as rec

__all__ = ["MiscHelpers", "NoMaps", "EINVAL", "WIDTH_MAX"]

EINVAL = -errno.EINVAL & MASK64
WIDTH_MAX = rec.WIDTH_MAX     # a conversion's width is held saturated here (see above)
LINE_MAX = TRACE_BUF_MAX - 1   # the model cuts the line to this many characters


def _literal_ok(byte: int) -> bool:
    """Whether the model accepts ``byte`` as a literal character of a format (asked of
    ``format_trace`` itself, so the table cannot drift from it)."""
    return format_trace(bytes([byte]), [0] * TRACE_ARGS_MAX, lambda address: "") is not None


# The width digits the model's parser accepts (it uses str.isdigit on Latin-1 characters):
# ASCII digits set the width; the other three make the model's %-formatting raise.
_ODD_DIGITS = tuple(b for b in range(256) if chr(b).isdigit() and not 0x30 <= b <= 0x39)


class _S(enum.Enum, shape=5):
    IDLE = 0
    RESPOND = 1
    MEM_REQ = 2        # fetch a chunk at fetch_addr, then go to ``ret``
    MEM_RESP = 3
    CS_RUN = 4         # csum_diff: next chunk of the current buffer, or the buffer's end
    CS_ADD = 5
    TP_FETCH = 6       # trace pass 1: next chunk of the format
    TP_PARSE = 7       # one format byte per cycle
    TP_STR = 8         # read a %s string a byte at a time
    TP_STR_GOT = 9
    TP_END = 10
    E_HEADER = 11      # trace pass 2: the record
    E_COPY = 12        # copy copy_left bytes at copy_addr into words
    E_BYTES = 13
    E_FLUSH = 14
    E_ARGS = 15
    E_STRING = 16
    TP_DIGITS = 17     # count a %d/%i/%u's decimal digits


class _P(enum.Enum, shape=3):
    """The format parser's position (the model's format_trace loop)."""
    LIT = 0      # literal text
    PX = 1       # after %p: an 'x' here belongs to it
    PCT = 2      # after '%'
    FLAGS = 3    # in "0+- "
    WIDTH = 4    # in the width digits
    LONGS = 5    # after a conversion's 'l's


def _chunk_size(m, left, bytewise):
    """Bytes to read next from a buffer with ``left`` bytes to go: 8, 4, 2 or 1."""
    n = Signal(4)
    with m.If(bytewise | (left < 2)):
        m.d.comb += n.eq(1)
    with m.Elif(left < 4):
        m.d.comb += n.eq(2)
    with m.Elif(left < 8):
        m.d.comb += n.eq(4)
    with m.Else():
        m.d.comb += n.eq(8)
    return n


def _add32(a, b, c):
    """One's-complement sum of three 32-bit values with end-around carry: zero only when all
    three are, as the model's chained ``_add32``."""
    s = a + b + c                                  # < 3 * 2**32
    f = s[:32] + s[32:]                            # < 2**32 + 2
    return (f[:32] + f[32:])[:32]


def _fold16(total):
    """csum_from32to16 (``model_helpers._from32to16``)."""
    rot = Cat(total[16:32], total[:16])
    return (total + rot)[16:32]


def _hex_digits(m, value):
    """Hex digits of a 64-bit unsigned value (1..16)."""
    n = Signal(5, init=1)
    for k in range(1, 16):
        with m.If(value[4 * k:] != 0):
            m.d.comb += n.eq(k + 1)
    return n


class MiscHelpers(wiring.Component):
    """ktime, prandom, processor id, csum_diff and trace_printk (see the module docstring).

    ``HELPERS``: the helper ids answered here.

    Parameters
    ----------
    engine : int
        What ``bpf_get_smp_processor_id`` returns.

    Members
    -------
    req : In(stream.Signature(HelperRequest))
        Helper calls (id, r1..r5); one at a time.
    resp : Out(stream.Signature(HelperResponse))
        One response per request: r0, or ``unknown``, or ``fault``.
    mem_req : Out(stream.Signature(ExtRequest))
        Reads (never writes) of 1, 2, 4 or 8 bytes at any address below 4 GiB.
    mem_resp : In(stream.Signature(ExtResponse))
        One response per read, in order; ``fault`` when the address is in no buffer.
    now : In(64)
        Free-running cycle counter.
    ns_per_cycle : In(32)
        Nanoseconds per cycle, unsigned 16.16 fixed point (``KTIME_NS_PER_CYCLE``).
    trace : Out(stream.Signature(32))
        Trace record words, to :class:`hw.xdp.trace.TraceFifo`.
    """

    HELPERS = (HelperId.KTIME_GET_NS, HelperId.TRACE_PRINTK, HelperId.GET_PRANDOM_U32,
               HelperId.GET_SMP_PROCESSOR_ID, HelperId.CSUM_DIFF)

    req: In(stream.Signature(HelperRequest))
    resp: Out(stream.Signature(HelperResponse))
    mem_req: Out(stream.Signature(ExtRequest))
    mem_resp: In(stream.Signature(ExtResponse))
    now: In(64)
    ns_per_cycle: In(32)
    trace: Out(stream.Signature(32))

    def __init__(self, engine: int = 0):
        self.engine = engine
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        state = Signal(_S)
        ret = Signal(_S)               # where MEM_RESP goes with the chunk
        r0 = Signal(64)
        fault = Signal()
        unknown = Signal()

        # --- response ------------------------------------------------------------------
        m.d.comb += [self.resp.payload.r0.eq(r0), self.resp.payload.fault.eq(fault),
                     self.resp.payload.unknown.eq(unknown), self.resp.payload.stop.eq(0),
                     self.resp.valid.eq(state == _S.RESPOND),
                     self.req.ready.eq(state == _S.IDLE)]
        with m.If((state == _S.RESPOND) & self.resp.ready):
            m.d.sync += state.eq(_S.IDLE)

        def respond(value, is_fault=0, is_unknown=0):
            m.d.sync += [r0.eq(value), fault.eq(is_fault), unknown.eq(is_unknown),
                         state.eq(_S.RESPOND)]

        # --- memory reads: one chunk of 1/2/4/8 bytes at fetch_addr -----------------------
        fetch_addr = Signal(64)
        fetch_n = Signal(4)
        catch = Signal()               # a fault sets mem_fault and goes on (%s, pass 2)
        mem_fault = Signal()
        chunk = Signal(64)
        chunk_n = Signal(4)
        chunk_i = Signal(4)
        m.d.comb += [self.mem_req.payload.addr.eq(fetch_addr[:32]),
                     self.mem_req.payload.write.eq(0),
                     self.mem_req.payload.lock.eq(0),
                     self.mem_req.valid.eq((state == _S.MEM_REQ) & (fetch_addr[32:] == 0)),
                     self.mem_resp.ready.eq(state == _S.MEM_RESP)]
        with m.Switch(fetch_n):
            for n, size in ((1, Size.B), (2, Size.H), (4, Size.W), (8, Size.DW)):
                with m.Case(n):
                    m.d.comb += self.mem_req.payload.size.eq(size)

        def fetch(address, n, then, catching=0):
            m.d.sync += [fetch_addr.eq(address), fetch_n.eq(n), ret.eq(then),
                         catch.eq(catching), state.eq(_S.MEM_REQ)]

        def fetch_failed():
            with m.If(catch):
                m.d.sync += [mem_fault.eq(1), chunk.eq(0), chunk_n.eq(fetch_n), chunk_i.eq(0),
                             state.eq(ret)]
            with m.Else():
                respond(0, is_fault=1)

        with m.If(state == _S.MEM_REQ):
            with m.If(fetch_addr[32:] != 0):        # above 4 GiB: in no region
                fetch_failed()
            with m.Elif(self.mem_req.ready):
                m.d.sync += state.eq(_S.MEM_RESP)
        with m.If((state == _S.MEM_RESP) & self.mem_resp.valid):
            with m.If(self.mem_resp.payload.fault):
                fetch_failed()
            with m.Else():
                masked = Signal(64)
                with m.Switch(fetch_n):
                    for n in (1, 2, 4, 8):
                        with m.Case(n):
                            m.d.comb += masked.eq(self.mem_resp.payload.rdata[:8 * n])
                m.d.sync += [mem_fault.eq(0), chunk.eq(masked), chunk_n.eq(fetch_n),
                             chunk_i.eq(0), state.eq(ret)]

        # --- request decode --------------------------------------------------------------
        args = self.req.payload.args
        prng = Signal(32, init=1)
        # xorshift32, as machine.prandom_next
        x1 = prng ^ (prng << 13)[:32]
        x2 = x1 ^ (x1 >> 17)
        x3 = x2 ^ (x2 << 5)[:32]
        ktime = (self.now * self.ns_per_cycle)[16:80]

        # csum_diff state
        cs_ptr2 = Signal(64)           # the "to" buffer, read after "from"
        cs_left2 = Signal(32)
        cs_seed = Signal(32)
        cs_second = Signal()           # reading "to" now
        cs_both = Signal()
        acc = Signal(32)
        copy_addr = Signal(64)
        copy_left = Signal(32)

        # trace_printk state
        fmt_ptr = Signal(64)
        fmt_size = Signal(11)
        targs = [Signal(64, name=f"targ{i}") for i in range(TRACE_ARGS_MAX)]
        pos = Signal(11)               # format bytes fetched so far
        fmt_len = Signal(11)           # index of the first NUL
        seen_nul = Signal()
        last_zero = Signal()
        invalid = Signal()
        pstate = Signal(_P)
        flag_plus = Signal()
        flag_space = Signal()
        width = Signal(range(WIDTH_MAX + 1))
        odd_width = Signal()
        longs = Signal(2)
        used = Signal(2)
        cur_arg = Signal(64)
        total = Signal(16)
        is_str = Signal(TRACE_ARGS_MAX)
        str_fault = Signal(TRACE_ARGS_MAX)
        str_len = [Signal(11, name=f"str_len{i}") for i in range(TRACE_ARGS_MAX)]
        slot = Signal(2)
        scount = Signal(11)
        saved_chunk = Signal(64)
        saved_n = Signal(4)
        saved_i = Signal(4)
        restore = [chunk.eq(saved_chunk), chunk_n.eq(saved_n), chunk_i.eq(saved_i)]

        with m.If(state == _S.IDLE):
            with m.If(self.req.valid):
                with m.Switch(self.req.payload.id):
                    with m.Case(HelperId.GET_SMP_PROCESSOR_ID):
                        respond(self.engine)
                    with m.Case(HelperId.GET_PRANDOM_U32):
                        respond(x3)
                        m.d.sync += prng.eq(x3)
                    with m.Case(HelperId.KTIME_GET_NS):
                        respond(ktime)
                    with m.Case(HelperId.CSUM_DIFF):
                        from_size, to_size, seed = args[1][:32], args[3][:32], args[4][:32]
                        m.d.sync += [cs_ptr2.eq(args[2]), cs_left2.eq(to_size),
                                     cs_seed.eq(seed), cs_both.eq(0), cs_second.eq(0)]
                        with m.If(from_size != 0):
                            m.d.sync += [copy_addr.eq(args[0]), copy_left.eq(from_size),
                                         acc.eq(Mux(to_size != 0, 0, ~seed)),
                                         cs_both.eq(to_size != 0), state.eq(_S.CS_RUN)]
                        with m.Elif(to_size != 0):
                            m.d.sync += [copy_addr.eq(args[2]), copy_left.eq(to_size),
                                         acc.eq(seed), cs_second.eq(1), state.eq(_S.CS_RUN)]
                        with m.Else():
                            respond(_fold16(seed))
                    with m.Case(HelperId.TRACE_PRINTK):
                        size = args[1][:32]
                        with m.If((size == 0) | (size > TRACE_BUF_MAX)):
                            respond(EINVAL)
                        with m.Else():
                            m.d.sync += [fmt_ptr.eq(args[0]), fmt_size.eq(size),
                                         pos.eq(0), fmt_len.eq(0), seen_nul.eq(0),
                                         invalid.eq(0), pstate.eq(_P.LIT), used.eq(0),
                                         total.eq(0), is_str.eq(0), str_fault.eq(0),
                                         state.eq(_S.TP_FETCH)]
                            m.d.sync += [t.eq(a) for t, a in zip(targs, args[2:5])]
                    with m.Default():
                        respond(0, is_unknown=1)

        # --- csum_diff ---------------------------------------------------------------------
        def csum_next(total):
            """With the sum so far ``total``: fetch the next chunk, or switch to the "to"
            buffer, or answer."""
            with m.If(copy_left != 0):
                n = _chunk_size(m, copy_left, 0)
                fetch(copy_addr, n, _S.CS_ADD)
                m.d.sync += [copy_addr.eq(copy_addr + n), copy_left.eq(copy_left - n)]
            with m.Elif(~cs_second & cs_both):
                # csum(added, seed) + ~csum(removed, 0): one sum, in any order
                m.d.sync += [acc.eq(_add32(cs_seed, ~total, 0)), cs_second.eq(1),
                             copy_addr.eq(cs_ptr2), copy_left.eq(cs_left2),
                             state.eq(_S.CS_RUN)]
            with m.Elif(~cs_second):
                respond(_fold16(~total))             # removed only
            with m.Else():
                respond(_fold16(total))

        with m.If(state == _S.CS_RUN):
            csum_next(acc)
        with m.If(state == _S.CS_ADD):
            added = Signal(32)
            m.d.comb += added.eq(_add32(acc, chunk[:32], chunk[32:]))
            m.d.sync += acc.eq(added)
            csum_next(added)

        # --- trace_printk pass 1: validate and measure ------------------------------------
        with m.If(state == _S.TP_FETCH):
            with m.If(pos == fmt_size):
                m.d.sync += state.eq(_S.TP_END)
            with m.Else():
                n = _chunk_size(m, fmt_size - pos, 0)
                fetch(fmt_ptr + pos, n, _S.TP_PARSE)
                m.d.sync += pos.eq(pos + n)

        c = Signal(8)
        m.d.comb += c.eq(chunk.word_select(chunk_i[:3], 8))
        arg_now = Signal(64)
        with m.Switch(used):
            for i, t in enumerate(targs):
                with m.Case(i):
                    m.d.comb += arg_now.eq(t)

        def is_in(chars):
            return sum((c == ord(ch)) for ch in chars) != 0

        lit_ok = Signal()
        with m.Switch(c):
            for b in range(256):
                if b != ord("%") and _literal_ok(b):
                    with m.Case(b):
                        m.d.comb += lit_ok.eq(1)
        is_digit = (c >= ord("0")) & (c <= ord("9"))
        is_odd_digit = is_in(bytes(_ODD_DIGITS).decode("latin-1"))

        # The model's loop, one byte per cycle: after '%' a byte may fall through flags ->
        # width -> conversion -> length modifiers within the same cycle.
        at_flags = (pstate == _P.FLAGS) | ((pstate == _P.PCT) & (c != ord("%")))
        at_width = (pstate == _P.WIDTH) | (at_flags & ~is_in("0+- "))
        at_conv = at_width & ~is_digit & ~is_odd_digit
        at_longs = (pstate == _P.LONGS) | (at_conv & ~is_in("psc"))

        # length of a %d %i %u %x %X conversion
        num_arg = Mux(pstate == _P.LONGS, cur_arg, arg_now)
        wide = (pstate == _P.LONGS) & (longs != 0)
        signed = is_in("di")
        neg = signed & Mux(wide, num_arg[63], num_arg[31])
        magnitude = Signal(64)
        with m.If(wide):
            m.d.comb += magnitude.eq(Mux(neg, -num_arg, num_arg))
        with m.Else():
            m.d.comb += magnitude.eq(Mux(neg, (1 << 32) - num_arg[:32], num_arg[:32]))
        sign_len = neg | flag_plus | flag_space
        hex_len = _hex_digits(m, magnitude) + sign_len
        # Decimal digits are counted one power of ten a cycle (TP_DIGITS): one 64-bit
        # comparator instead of nineteen.
        dec_mag = Signal(64)
        dec_k = Signal(5)
        dec_sign = Signal()

        # One adder for every conversion's field: max(width, its length).
        field_en = Signal()
        field_n = Signal(11)
        with m.If(field_en):
            m.d.sync += total.eq(total + Mux(width > field_n, width, field_n))

        def add_field(n):
            m.d.comb += [field_en.eq(1), field_n.eq(n)]

        with m.If(state == _S.TP_PARSE):
            with m.If(chunk_i == chunk_n):
                m.d.sync += state.eq(_S.TP_FETCH)
            with m.Else():
                m.d.sync += [chunk_i.eq(chunk_i + 1), last_zero.eq(c == 0)]
                with m.If(seen_nul | invalid):
                    pass                       # the rest of fmt_size is read, not parsed
                with m.Elif(c == 0):
                    m.d.sync += [seen_nul.eq(1), fmt_len.eq(pos - chunk_n + chunk_i)]
                with m.Elif(((pstate == _P.LIT) | (pstate == _P.PX)) & (c == ord("%"))):
                    m.d.sync += [pstate.eq(_P.PCT), flag_plus.eq(0), flag_space.eq(0),
                                 width.eq(0), odd_width.eq(0), longs.eq(0)]
                with m.Elif((pstate == _P.PX) & (c == ord("x"))):
                    m.d.sync += pstate.eq(_P.LIT)
                with m.Elif((pstate == _P.LIT) | (pstate == _P.PX)):
                    with m.If(lit_ok):
                        m.d.sync += [total.eq(total + 1), pstate.eq(_P.LIT)]
                    with m.Else():
                        m.d.sync += invalid.eq(1)
                with m.Elif((pstate == _P.PCT) & (c == ord("%"))):
                    m.d.sync += [total.eq(total + 1), pstate.eq(_P.LIT)]
                with m.Elif(at_flags & is_in("0+- ")):
                    m.d.sync += pstate.eq(_P.FLAGS)
                    with m.If(c == ord("+")):
                        m.d.sync += flag_plus.eq(1)
                    with m.If(c == ord(" ")):
                        m.d.sync += flag_space.eq(1)
                with m.Elif(at_width & is_digit):
                    wider = width * 10 + (c - ord("0"))
                    m.d.sync += [pstate.eq(_P.WIDTH),
                                 width.eq(Mux(wider > WIDTH_MAX, WIDTH_MAX, wider))]
                with m.Elif(at_width & is_odd_digit):
                    m.d.sync += [pstate.eq(_P.WIDTH), odd_width.eq(1)]
                with m.Elif(at_conv & (used == TRACE_ARGS_MAX)):
                    m.d.sync += invalid.eq(1)
                with m.Elif(at_conv & (c == ord("p"))):
                    m.d.sync += [used.eq(used + 1), total.eq(total + 18), pstate.eq(_P.PX)]
                with m.Elif(at_conv & (c == ord("c"))):
                    m.d.sync += [used.eq(used + 1), total.eq(total + 1), pstate.eq(_P.LIT)]
                with m.Elif(at_conv & (c == ord("s"))):
                    with m.If(odd_width):
                        m.d.sync += invalid.eq(1)
                    with m.Else():
                        # the string's reads reuse chunk: keep the format's
                        m.d.sync += [used.eq(used + 1), slot.eq(used), scount.eq(0),
                                     cur_arg.eq(arg_now), pstate.eq(_P.LIT),
                                     saved_chunk.eq(chunk), saved_n.eq(chunk_n),
                                     saved_i.eq(chunk_i + 1), state.eq(_S.TP_STR)]
                with m.Elif(at_longs & (c == ord("l")) & ~((pstate == _P.LONGS) & (longs == 2))):
                    m.d.sync += [pstate.eq(_P.LONGS), longs.eq(longs + 1)]
                    with m.If(pstate != _P.LONGS):
                        m.d.sync += [used.eq(used + 1), cur_arg.eq(arg_now)]
                with m.Elif(at_longs & is_in("diuxX")):
                    with m.If(odd_width):
                        m.d.sync += invalid.eq(1)
                    with m.Else():
                        m.d.sync += pstate.eq(_P.LIT)
                        with m.If(pstate != _P.LONGS):
                            m.d.sync += used.eq(used + 1)
                        with m.If(is_in("xX")):
                            add_field(hex_len)
                        with m.Else():
                            m.d.sync += [dec_mag.eq(magnitude), dec_k.eq(1),
                                         dec_sign.eq(sign_len), state.eq(_S.TP_DIGITS)]
                with m.Else():
                    m.d.sync += invalid.eq(1)

        powers = Array(Const(10 ** k, 64) for k in range(20))
        with m.If(state == _S.TP_DIGITS):
            with m.If((dec_k < 20) & (dec_mag >= powers[dec_k])):
                m.d.sync += dec_k.eq(dec_k + 1)
            with m.Else():
                add_field(dec_k + dec_sign)
                m.d.sync += state.eq(_S.TP_PARSE)

        with m.If(state == _S.TP_STR):
            with m.If(scount == TRACE_BUF_MAX):    # the model's read_string stops here
                add_field(scount)
                m.d.sync += [state.eq(_S.TP_PARSE), *restore]
                m.d.sync += [is_str.bit_select(slot, 1).eq(1)]
                for i, s in enumerate(str_len):
                    with m.If(slot == i):
                        m.d.sync += s.eq(scount)
            with m.Else():
                fetch(cur_arg + scount, 1, _S.TP_STR_GOT, catching=1)
        with m.If(state == _S.TP_STR_GOT):
            with m.If(mem_fault | (chunk[:8] == 0)):
                with m.If(mem_fault):
                    add_field(len("(fault)"))
                with m.Else():
                    add_field(scount)
                m.d.sync += [is_str.bit_select(slot, 1).eq(1),
                             str_fault.bit_select(slot, 1).eq(mem_fault),
                             state.eq(_S.TP_PARSE), *restore]
                for i, s in enumerate(str_len):
                    with m.If(slot == i):
                        m.d.sync += s.eq(Mux(mem_fault, 0, scount))
            with m.Else():
                m.d.sync += [scount.eq(scount + 1), state.eq(_S.TP_STR)]

        # --- trace_printk pass 2: the record -------------------------------------------------
        out_word = Signal(32)
        out_valid = Signal()
        m.d.comb += [self.trace.payload.eq(out_word), self.trace.valid.eq(out_valid)]
        can_push = ~out_valid | self.trace.ready
        with m.If(out_valid & self.trace.ready):
            m.d.sync += out_valid.eq(0)

        def push(word):
            m.d.sync += [out_word.eq(word), out_valid.eq(1)]

        words = (1 + ((fmt_len + 3) >> 2) + rec.RECORD_ARG_WORDS
                 + sum(Mux(is_str[i], 1 + ((str_len[i] + 3) >> 2), 0)
                       for i in range(TRACE_ARGS_MAX)))
        pack = Signal(24)
        pack_n = Signal(2)
        step = Signal(3)               # 0: format copied next; 1..3: string slot step-1
        arg_i = Signal(3)

        with m.If(state == _S.TP_END):
            with m.If(~last_zero | invalid | ~((pstate == _P.LIT) | (pstate == _P.PX))):
                respond(EINVAL)
            with m.Else():
                m.d.sync += [r0.eq(Mux(total > LINE_MAX, LINE_MAX, total)),
                             state.eq(_S.E_HEADER)]
        with m.If(state == _S.E_HEADER):
            with m.If(can_push):
                push((rec.RECORD_MAGIC << rec.RECORD_MAGIC_SHIFT)
                     | (fmt_len << rec.RECORD_FMT_SHIFT) | words)
                m.d.sync += [copy_addr.eq(fmt_ptr), copy_left.eq(fmt_len), pack_n.eq(0),
                             step.eq(0), state.eq(_S.E_COPY)]
        with m.If(state == _S.E_COPY):
            with m.If(copy_left != 0):
                n = _chunk_size(m, copy_left, 0)
                fetch(copy_addr, n, _S.E_BYTES, catching=1)
                m.d.sync += [copy_addr.eq(copy_addr + n), copy_left.eq(copy_left - n)]
            with m.Else():
                m.d.sync += state.eq(_S.E_FLUSH)
        with m.If(state == _S.E_BYTES):
            with m.If(chunk_i == chunk_n):
                m.d.sync += state.eq(_S.E_COPY)
            with m.Elif(pack_n != 3):
                m.d.sync += [pack.word_select(pack_n, 8).eq(c), pack_n.eq(pack_n + 1),
                             chunk_i.eq(chunk_i + 1)]
            with m.Elif(can_push):
                push(Cat(pack, c))
                m.d.sync += [pack.eq(0), pack_n.eq(0), chunk_i.eq(chunk_i + 1)]
        with m.If(state == _S.E_FLUSH):
            with m.If(pack_n == 0):
                m.d.sync += arg_i.eq(0)
                with m.If(step == 0):
                    m.d.sync += state.eq(_S.E_ARGS)
                with m.Else():
                    m.d.sync += state.eq(_S.E_STRING)
            with m.Elif(can_push):
                push(pack)
                m.d.sync += [pack.eq(0), pack_n.eq(0)]
        with m.If(state == _S.E_ARGS):
            with m.If(arg_i == rec.RECORD_ARG_WORDS):
                m.d.sync += [step.eq(1), state.eq(_S.E_STRING)]
            with m.Elif(can_push):
                with m.Switch(arg_i):
                    for i in range(rec.RECORD_ARG_WORDS):
                        with m.Case(i):
                            push(targs[i // 2].word_select(i % 2, 32))
                m.d.sync += arg_i.eq(arg_i + 1)
        with m.If(state == _S.E_STRING):
            # step k (1..3) is slot k-1; after a string's copy, E_FLUSH comes back here with
            # the step already advanced
            with m.If(step == TRACE_ARGS_MAX + 1):
                respond(r0)
            with m.Else():
                with m.Switch(step):
                    for i in range(TRACE_ARGS_MAX):
                        with m.Case(i + 1):
                            with m.If(~is_str[i]):
                                m.d.sync += step.eq(step + 1)
                            with m.Elif(can_push):
                                push(Mux(str_fault[i], rec.STRING_FAULT, 0) | str_len[i])
                                m.d.sync += [copy_addr.eq(targs[i]), copy_left.eq(str_len[i]),
                                             step.eq(step + 1), state.eq(_S.E_COPY)]
        return m


class NoMaps(wiring.Component):
    """External-memory answerer for regions with nothing behind them: every access faults
    (OUT_OF_BOUNDS, as in the golden model).  The NIC's map-value port until the map unit
    exists; the conformance top's packet and map-value port."""

    req: In(stream.Signature(ExtRequest))
    resp: Out(stream.Signature(ExtResponse))

    def elaborate(self, platform):
        m = Module()
        with m.If(self.resp.valid & self.resp.ready):
            m.d.sync += self.resp.valid.eq(0)
        m.d.comb += self.req.ready.eq(~self.resp.valid)
        with m.If(self.req.valid & self.req.ready):
            m.d.sync += [self.resp.valid.eq(1), self.resp.payload.fault.eq(1)]
        return m
