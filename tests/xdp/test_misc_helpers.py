"""MiscHelpers in the Amaranth simulator against the golden model's helpers
(``firmware.ebpf.model_helpers``): ktime arithmetic, csum_diff on random buffers, and
trace_printk's return value and record (decoded by the host decoder to the model's line) for
many formats, including the ones the model refuses; reads that fault.

Memory is a model ``Memory`` answered through ``mem_req``/``mem_resp`` (an access faults
exactly when the model's load of the same bytes traps), one cycle after each request.
"""

import errno
import random
from dataclasses import dataclass

import pytest
from amaranth.sim import Simulator

from firmware.driver.trace import decode_records
from firmware.ebpf import machine
from firmware.ebpf.helpers import HelperId
from firmware.ebpf.isa import MASK32, MASK64
from firmware.ebpf.model import Memory, Trap
from firmware.ebpf.model_helpers import EngineState, csum_diff, misc_helpers
from hw.core.decoder import Size
from hw.xdp.misc import MiscHelpers

STACK = machine.region_base(machine.Region.STACK)
PACKET = machine.region_base(machine.Region.PACKET)
MAPV = machine.map_value_address(3, 0)
EINVAL = -errno.EINVAL & MASK64
SIZE_BYTES = {Size.B: 1, Size.H: 2, Size.W: 4, Size.DW: 8}


@dataclass
class Outcome:
    r0: int
    fault: bool
    unknown: bool
    cycles: int          # request accepted -> response taken (edges)
    words: list          # trace words written during the call


def make_memory(rng: random.Random | None = None) -> Memory:
    """Stack, a 100-byte packet and a 24-byte map value (id 3), filled at random."""
    rng = rng or random.Random(0)
    mem = Memory(packet=bytes(rng.randrange(256) for _ in range(100)),
                 map_values={3: bytearray(rng.randrange(256) for _ in range(24))})
    mem.stack[:] = bytes(rng.randrange(256) for _ in range(len(mem.stack)))
    return mem


def serve_memory(dut, memory: Memory, edges=None, rng=None):
    """A process answering ``dut.mem_req`` from the model ``memory`` (a fault exactly where
    the model's load of the same bytes traps); counts clock edges in ``edges[0]``.  Without
    ``rng`` it takes every request at once and answers one cycle later; with it, it stalls
    requests and delays answers at random."""
    edges = edges if edges is not None else [0]

    async def serve(ctx):
        ready, busy, delay = 1, False, 0
        ctx.set(dut.mem_req.ready, ready)
        async for _clk, _rst, valid, addr, size, taken in ctx.tick().sample(
                dut.mem_req.valid, dut.mem_req.payload.addr, dut.mem_req.payload.size,
                dut.mem_resp.ready):
            edges[0] += 1
            if busy and delay == 0 and taken:            # the answer was taken
                busy = False
                ctx.set(dut.mem_resp.valid, 0)
            elif busy and delay:
                delay -= 1
                if delay == 0:
                    ctx.set(dut.mem_resp.valid, 1)
            elif not busy and valid and ready:           # a request was taken
                n = SIZE_BYTES[Size(size)]
                try:
                    data, bad = memory.load(addr, n), 0
                except Trap:
                    data, bad = 0, 1
                ctx.set(dut.mem_resp.payload.rdata, data)
                ctx.set(dut.mem_resp.payload.fault, bad)
                busy, delay = True, rng.choice([0, 0, 1, 3]) if rng else 0
                ctx.set(dut.mem_resp.valid, delay == 0)
            ready = int(not busy and (rng is None or rng.random() < 0.7))
            ctx.set(dut.mem_req.ready, ready)
    return serve


def run_calls(memory: Memory, calls, *, now=0, ns_per_cycle=4 << 16, engine=0, rng=None):
    """Run helper calls ``(id, r1..r5)`` one after another on one MiscHelpers; each call's
    :class:`Outcome` (with ``rng``: random stalls on the memory, trace and response sides,
    and a call's trace words may arrive after its response: use the words of all calls)."""
    dut = MiscHelpers(engine)
    outcomes = []
    edges = [0]
    words = []

    async def collect_trace(ctx):
        ready = 1
        ctx.set(dut.trace.ready, ready)
        async for _clk, _rst, valid, word in ctx.tick().sample(dut.trace.valid,
                                                                dut.trace.payload):
            if valid and ready:
                words.append(word)
            ready = int(rng is None or rng.random() < 0.6)
            ctx.set(dut.trace.ready, ready)

    async def bench(ctx):
        ctx.set(dut.now, now)
        ctx.set(dut.ns_per_cycle, ns_per_cycle)
        for helper_id, *regs in calls:
            ctx.set(dut.req.payload.id, helper_id)
            for i, value in enumerate(regs):
                ctx.set(dut.req.payload.args[i], value & MASK64)
            ctx.set(dut.req.valid, 1)
            await ctx.tick().until(dut.req.ready)
            start = edges[0]
            first_word = len(words)
            ctx.set(dut.req.valid, 0)
            for _ in range(rng.randrange(4) if rng else 0):
                await ctx.tick()
            ctx.set(dut.resp.ready, 1)
            r0, fault, unknown = await ctx.tick().sample(
                dut.resp.payload.r0, dut.resp.payload.fault,
                dut.resp.payload.unknown).until(dut.resp.valid)
            ctx.set(dut.resp.ready, 0)
            await ctx.tick()        # the last trace word is collected at this edge
            outcomes.append(Outcome(r0, bool(fault), bool(unknown), edges[0] - 1 - start,
                                    words[first_word:]))
        for _ in range(20):         # words still waiting behind a stalled trace stream
            await ctx.tick()
        outcomes.append(words)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(serve_memory(dut, memory, edges, rng))
    sim.add_process(collect_trace)
    sim.add_testbench(bench)
    sim.run()
    all_words = outcomes.pop()
    if rng:
        for outcome in outcomes:
            outcome.words = None
        outcomes.append(all_words)
    return outcomes


def model_call(state: EngineState, memory: Memory, helper_id, *regs):
    """The model's (r0, traps, trace lines written)."""
    before = len(state.trace)
    try:
        r0 = misc_helpers(state)[helper_id](memory, *[r & MASK64 for r in regs])
    except Trap:
        return None, True, []
    return r0, False, state.trace[before:]


def check_against_model(memory, calls, **kwargs):
    """Run ``calls`` on the hardware and then on the model with the same memory (these
    helpers only read it); assert r0, faults and trace lines agree; the outcomes."""
    outcomes = run_calls(memory, calls, **kwargs)
    state = EngineState()
    if kwargs.get("rng"):           # words per call unknown under stalls: check them all
        all_words = outcomes.pop()
        for call, got in zip(calls, outcomes, strict=True):
            r0, trapped, _lines = model_call(state, memory, *call)
            assert (got.fault, not got.unknown) == (trapped, True), call
            assert trapped or got.r0 == r0, (call, got.r0, r0)
        assert decode_records(all_words) == state.trace
        return outcomes
    for call, got in zip(calls, outcomes, strict=True):
        try:
            r0, trapped, lines = model_call(state, memory, *call)
        except ValueError:
            # the model's %-formatting raises on an odd width digit; the hardware refuses
            # (see test_odd_width_digits_are_refused_where_the_model_raises)
            assert (got.r0, got.fault, got.words) == (EINVAL, False, []), call
            continue
        assert got.fault == trapped, (call, got)
        assert not got.unknown
        if trapped:
            assert got.words == [], call
            continue
        assert got.r0 == r0, (call, got.r0, r0)
        assert decode_records(got.words) == lines, (call, got.words)
    return outcomes


# --- the simple helpers -------------------------------------------------------------------

def test_ktime_is_cycles_times_the_fixed_point_period():
    now = 0x0123_4567_89AB_CDEF
    for ns_per_cycle in (4 << 16, 0x0001_8000, 0xFFFF_FFFF, 1):
        (got,) = run_calls(make_memory(), [(HelperId.KTIME_GET_NS, 0, 0, 0, 0, 0)],
                           now=now, ns_per_cycle=ns_per_cycle)
        assert got.r0 == ((now * ns_per_cycle) >> 16) & MASK64
        assert got.cycles == 1 and not got.fault and not got.unknown


def test_ktime_wraps_at_64_bits():
    (got,) = run_calls(make_memory(), [(HelperId.KTIME_GET_NS, 0, 0, 0, 0, 0)],
                       now=MASK64, ns_per_cycle=0x10_0000)
    assert got.r0 == (MASK64 << 4) & MASK64


def test_prandom_processor_id_and_unknown_ids():
    calls = [(HelperId.GET_PRANDOM_U32, 0, 0, 0, 0, 0)] * 3 + [
        (HelperId.GET_SMP_PROCESSOR_ID, 0, 0, 0, 0, 0), (999, 0, 0, 0, 0, 0),
        (HelperId.MAP_LOOKUP_ELEM, 0, 0, 0, 0, 0)]
    got = run_calls(make_memory(), calls, engine=5)
    value = 1
    for o in got[:3]:
        value = machine.prandom_next(value)
        assert (o.r0, o.cycles) == (value, 1)
    assert got[3].r0 == 5
    assert got[4].unknown and got[5].unknown


# --- csum_diff ----------------------------------------------------------------------------

def _csum_case(rng, memory):
    """A random (from, from_size, to, to_size, seed) over the stack, packet and map value."""
    def buffer():
        size = rng.choice([0, 0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 20, 23, rng.randrange(40)])
        region = rng.choice(["stack", "packet", "map"])
        if region == "stack":
            return STACK + rng.randrange(len(memory.stack) - size + 1), size
        if region == "packet":
            return PACKET + rng.randrange(len(memory.packet) - size + 1), size
        size = min(size, len(memory.map_values[3]))
        return MAPV + rng.randrange(len(memory.map_values[3]) - size + 1), size
    (a, na), (b, nb) = buffer(), buffer()
    seed = rng.choice([0, MASK32, rng.randrange(1 << 32), rng.randrange(1 << 64)])
    return (HelperId.CSUM_DIFF, a, na, b, nb, seed)


def test_csum_diff_random_cases_match_the_model():
    rng = random.Random(28)
    memory = make_memory(rng)
    calls = [_csum_case(rng, memory) for _ in range(40)]
    check_against_model(memory, calls)


def test_csum_diff_zero_sizes_return_the_folded_seed():
    memory = make_memory()
    seeds = [0, 1, 0xFFFF, 0x1_0000, 0xFFFF_FFFF, 0x1234_5678_9ABC_DEF0]
    got = run_calls(memory, [(HelperId.CSUM_DIFF, 0, 0, 0, 0, s) for s in seeds])
    assert [o.r0 for o in got] == [csum_diff(b"", b"", s) for s in seeds]
    assert all(o.cycles == 1 for o in got)


def test_csum_diff_all_zero_and_all_ones_sums():
    """The end-around-carry zero (0 vs 0xFFFFFFFF) that the 16-bit fold tells apart."""
    memory = make_memory()
    memory.stack[0:8] = bytes(8)
    memory.stack[8:16] = b"\xff" * 8
    calls = [(HelperId.CSUM_DIFF, STACK, 8, STACK + 8, 8, 0),
             (HelperId.CSUM_DIFF, STACK + 8, 8, STACK, 8, 0),
             (HelperId.CSUM_DIFF, STACK, 8, 0, 0, 0),
             (HelperId.CSUM_DIFF, 0, 0, STACK, 8, 0),
             (HelperId.CSUM_DIFF, STACK + 8, 8, 0, 0, MASK32),
             (HelperId.CSUM_DIFF, 0, 0, STACK + 8, 8, MASK32)]
    check_against_model(memory, calls)


def test_csum_diff_cycle_cost():
    """3 cycles a chunk (request, response, add) + 2, + 1 to switch buffers; 20 bytes
    are 8 + 8 + 4, 7 bytes 4 + 2 + 1."""
    memory = make_memory()
    got = run_calls(memory, [(HelperId.CSUM_DIFF, STACK, 20, 0, 0, 0),
                             (HelperId.CSUM_DIFF, STACK, 4, STACK + 8, 4, 0),
                             (HelperId.CSUM_DIFF, STACK, 7, 0, 0, 0)])
    assert [o.cycles for o in got] == [3 * 3 + 2, 3 * 2 + 3, 3 * 3 + 2]


@pytest.mark.parametrize("from_ptr, from_size, to_ptr, to_size", [
    (PACKET + 96, 8, STACK, 4),            # 8 bytes where only 4 remain
    (STACK, 4, PACKET + 99, 2),            # the "to" buffer crosses the packet's end
    (MAPV + 20, 5, 0, 0),                  # past the map value
    (0x1_0000_0000 | STACK, 4, 0, 0),      # bits 63..32 set
    (0x5000_0000, 1, 0, 0),                # no region
    (0, 0, machine.map_value_address(7, 0), 4),   # no such map
])
def test_csum_diff_read_faults_like_the_model(from_ptr, from_size, to_ptr, to_size):
    memory = make_memory()
    (got,) = check_against_model(memory, [(HelperId.CSUM_DIFF, from_ptr, from_size, to_ptr,
                                           to_size, 0)])
    assert got.fault


# --- trace_printk -------------------------------------------------------------------------

def _put(memory, address, data: bytes):
    for i, b in enumerate(data):
        memory.store(address + i, 1, b)


FORMATS = [
    (b"hello\n\0", [0, 0, 0]),
    (b"%d %i %u\0", [-5, -6, -7]),
    (b"%ld %lld %lu\0", [-5, 1 << 63, MASK64]),
    (b"%x %X %lx\0", [0xdeadbeef, 0x1_0000_00ab, 0xfedc_ba98_7654_3210]),
    (b"[%5d|%-5d|%05d]\0", [42, -42, -42]),
    (b"[%+d|% d|%+ u]\0", [7, -7, 7]),
    (b"[% x|%+X|%-+4d]\0", [0, 255, 3]),
    (b"%c%c%c\0", [0x41, 0x142, 0]),
    (b"%p %px|\0", [0x1234, MASK64, 0]),
    (b"100%% %d%%\0", [0, 0, 0]),
    (b"%020llu\0", [1 << 63, 0, 0]),
    (b"%d%d%d\0", [0, 9, 10]),
    (b"%lu\0", [10 ** 19, 0, 0]),
    (b"%u\0", [10 ** 9, 0, 0]),
    (b"%ld\0", [-(10 ** 18), 0, 0]),
    (b"%3000d|\0", [1, 0, 0]),                 # cut at 1023
    (b"tab\there\0junk%\0", [0, 0, 0]),         # the first NUL ends it
    (b"%\xb2c%\xb3p\0", [0x42, 0, 0]),          # odd digits: ignored by %c and %p
    (b"[%5c|%-30p|%08pxx]\0", [0x43, 1, 2]),     # so are widths and flags
    (b"%+lli % lli\0", [-1, 1 << 62, 0]),
    # refused (None -> -EINVAL)
    (b"%d%d%d%d\0", [0, 0, 0]),
    (b"%\0", [0, 0, 0]),
    (b"%5\0", [0, 0, 0]),
    (b"%lll d\0", [0, 0, 0]),
    (b"%lc\0", [0, 0, 0]),
    (b"%q\0", [0, 0, 0]),
    (b"%5%\0", [0, 0, 0]),
    (b"bell\x07\0", [0, 0, 0]),
    (b"no nul", [0, 0, 0]),
    (b"%ll\0", [0, 0, 0]),
]


def _trace_calls(memory, formats, base=STACK + 16):
    """Each format stored on the stack and a trace_printk call for it."""
    calls = []
    for fmt, args in formats:
        address = base
        _put(memory, address, fmt)
        calls.append((HelperId.TRACE_PRINTK, address, len(fmt), *args))
        base += (len(fmt) + 15) & ~7
    return calls


@pytest.mark.parametrize("chunk", range(0, len(FORMATS), 9))
def test_trace_printk_formats_match_the_model(chunk):
    memory = make_memory()
    calls = _trace_calls(memory, FORMATS[chunk:chunk + 9])
    check_against_model(memory, calls)


def test_trace_printk_strings_are_captured_at_call_time():
    memory = make_memory()
    _put(memory, STACK + 200, b"stack\0")
    _put(memory, PACKET + 10, b"pkt\0")
    memory.map_values[3][0:4] = b"map\0"
    fmt = b"[%s|%-8s|%6s]\0"
    _put(memory, STACK, fmt)
    calls = [(HelperId.TRACE_PRINTK, STACK, len(fmt), STACK + 200, PACKET + 10, MAPV)]
    (got,) = check_against_model(memory, calls)
    memory.stack[200:206] = b"xxxxxx"          # later changes do not reach the record
    assert decode_records(got.words) == ["[stack|pkt     |   map]"]
    assert got.r0 == len("[stack|pkt     |   map]")


def test_trace_printk_unreadable_string_prints_fault_marker():
    memory = make_memory()
    memory.packet[90:100] = b"abcdefghij"      # no NUL before the packet's end
    fmt = b"%s %9s %s\0"
    _put(memory, STACK, fmt)
    (got,) = check_against_model(memory, [(HelperId.TRACE_PRINTK, STACK, len(fmt),
                                           PACKET + 90, 0x7000_0000, 1 << 40)])
    assert decode_records(got.words) == ["(fault)   (fault) (fault)"]


def test_trace_printk_size_checks_and_faults():
    memory = make_memory()
    _put(memory, STACK, b"ok\0")
    calls = [(HelperId.TRACE_PRINTK, STACK, 0, 0, 0, 0),            # size 0
             (HelperId.TRACE_PRINTK, STACK, 1025, 0, 0, 0),         # size > 1024
             (HelperId.TRACE_PRINTK, STACK, 1 << 32 | 3, 0, 0, 0),  # low 32 bits: 3
             (HelperId.TRACE_PRINTK, PACKET + 98, 4, 0, 0, 0),      # fmt past the packet
             (HelperId.TRACE_PRINTK, 0x7000_0000, 4, 0, 0, 0)]      # fmt in no region
    got = check_against_model(memory, calls)
    assert [o.r0 for o in got[:3]] == [EINVAL, EINVAL, 2]
    assert [o.fault for o in got] == [False, False, False, True, True]
    assert [o.cycles for o in got[:2]] == [1, 1]


def test_trace_printk_reads_every_format_byte_for_faults():
    """The model reads all fmt_size bytes before looking at them: a NUL early in a buffer
    that runs past the packet's end still traps."""
    memory = make_memory()
    memory.packet[94:100] = b"hi\0\0\0\0"
    (got,) = check_against_model(memory, [(HelperId.TRACE_PRINTK, PACKET + 94, 8, 0, 0, 0)])
    assert got.fault


def test_trace_printk_cycle_cost():
    """A 7-byte literal format (chunks 4 + 2 + 1) and its 9-word record (header, 2 format
    words, 6 arguments); "%d" of 5 (one decimal digit counted)."""
    memory = make_memory()
    calls = _trace_calls(memory, [(b"hello\n\0", [0, 0, 0]), (b"%d\0", [5, 0, 0])])
    got = check_against_model(memory, calls)
    assert len(got[0].words) == 9 and len(got[1].words) == 8
    assert [o.cycles for o in got] == [51, 36]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [6, 7, 8])
def test_trace_printk_random_formats_match_the_model(seed):
    rng = random.Random(seed)
    pieces = [b"%d", b"%i", b"%u", b"%x", b"%X", b"%ld", b"%lld", b"%lu", b"%llx", b"%c",
              b"%p", b"%px", b"%s", b"%%", b"%", b"%-", b"%0", b"%+", b"% ", b"%12", b"%3",
              b"l", b"x", b"abc", b" ", b"\n", b"\x01", b"\xe9", b"\xa0", b"\xad", b"%5s",
              b"%-7s", b"%lll", b"%q", b"%\xb2", b"\t", b"%+5lld", b"% 08x", b"%-020llu",
              b"\0", b"%999d"]
    memory = make_memory(rng)
    _put(memory, STACK + 300, b"string\0")
    _put(memory, PACKET + 40, b"packet text\0")
    formats = []
    for _ in range(60):
        fmt = b"".join(rng.choice(pieces) for _ in range(rng.randrange(1, 6))) + b"\0"
        args = [rng.choice([rng.randrange(1 << 64), rng.randrange(-99, 99), STACK + 300,
                            PACKET + 40, PACKET + 95, 0, 1 << 63]) for _ in range(3)]
        formats.append((fmt, args))
    check_against_model(memory, _trace_calls(memory, formats, base=STACK + 512))


# Measured costs of typical calls (request accepted -> response), the table in
# docs/helpers.md: name, call, cycles.
CYCLE_TABLE = [
    ("ktime_get_ns", (HelperId.KTIME_GET_NS, 0, 0, 0, 0, 0), 1),
    ("get_prandom_u32", (HelperId.GET_PRANDOM_U32, 0, 0, 0, 0, 0), 1),
    ("csum_diff 0 -> 0", (HelperId.CSUM_DIFF, 0, 0, 0, 0, 5), 1),
    ("csum_diff 2 -> 2", (HelperId.CSUM_DIFF, STACK, 2, STACK + 8, 2, 0), 9),
    ("csum_diff 4 -> 4", (HelperId.CSUM_DIFF, STACK, 4, STACK + 8, 4, 0), 9),
    ("csum_diff 0 -> 20", (HelperId.CSUM_DIFF, 0, 0, PACKET + 14, 20, 0), 11),
    ("csum_diff 16 -> 16", (HelperId.CSUM_DIFF, STACK, 16, STACK + 16, 16, 0), 15),
    ("csum_diff 40 -> 40", (HelperId.CSUM_DIFF, STACK, 40, STACK + 40, 40, 0), 33),
    ("trace_printk fmt_size 0", (HelperId.TRACE_PRINTK, STACK, 0, 0, 0, 0), 1),
]
TRACE_CYCLE_TABLE = [
    (b"hello\n\0", [0, 0, 0], 51),
    (b"%d\n\0", [5, 0, 0], 38),
    (b"src=%x dst=%x len=%u\n\0", [0x0A00_0001, 0x0A00_0002, 60], 95),
    (b"dev %s\n\0", [STACK + 400, 0, 0], 99),
    (b"%q\0", [0, 0, 0], 14),
]


def test_cycle_costs_of_typical_calls():
    memory = make_memory()
    memory.stack[400:409] = b"eth0-rx0\0"
    calls = [c for _, c, _ in CYCLE_TABLE]
    calls += _trace_calls(memory, [(f, a) for f, a, _ in TRACE_CYCLE_TABLE])
    got = check_against_model(memory, calls)
    assert [o.cycles for o in got] == ([n for _, _, n in CYCLE_TABLE]
                                       + [n for _, _, n in TRACE_CYCLE_TABLE])


def test_trace_printk_longest_format_and_string():
    """A 1024-byte format buffer (1023 characters and the NUL), and a %s of 1024 bytes with
    no NUL (the model's read_string stops there), in a map value."""
    memory = make_memory()
    memory.map_values[3] = bytearray(b"y" * 1100)
    fmt = bytes(0x41 + i % 26 for i in range(1023)) + b"\0"
    _put(memory, STACK, fmt)
    _put(memory, STACK + 1024, b"<%s>\0")
    got = check_against_model(memory, [
        (HelperId.TRACE_PRINTK, STACK, 1024, 0, 0, 0),
        (HelperId.TRACE_PRINTK, STACK + 1024, 5, MAPV + 10, 0, 0)])
    assert [o.r0 for o in got] == [1023, 1023]
    assert [len(o.words) for o in got] == [1 + 256 + 6, 1 + 1 + 6 + 1 + 256]
    assert got[0].cycles == 3097                # docs/helpers.md, cycle costs


def test_odd_width_digits_are_refused_where_the_model_raises():
    """Python's str.isdigit takes '²' as a width digit, then %-formatting raises: the
    hardware answers -EINVAL there (a documented difference), and ignores it for %c / %p as
    the model does."""
    memory = make_memory()
    calls = _trace_calls(memory, [(b"%\xb2d\0", [1, 0, 0]), (b"%1\xb9s\0", [STACK, 0, 0]),
                                  (b"%\xb3c\0", [0x41, 0, 0])])
    got = run_calls(memory, calls)
    assert [o.r0 for o in got] == [EINVAL, EINVAL, 1]
    assert [len(o.words) for o in got] == [0, 0, 8]
    for call in calls[:2]:
        with pytest.raises(ValueError, match="unsupported format character"):
            model_call(EngineState(), memory, *call)


@pytest.mark.slow
def test_csum_diff_long_random_buffers_and_faults_match_the_model():
    rng = random.Random(2828)
    memory = make_memory(rng)
    calls = []
    for _ in range(60):
        a, b = rng.randrange(len(memory.stack) - 600), rng.randrange(len(memory.packet))
        calls.append((HelperId.CSUM_DIFF, STACK + a, rng.randrange(600),
                      PACKET + b, rng.randrange(110 - b), rng.randrange(1 << 64)))
    check_against_model(memory, calls)


def test_width_beyond_the_models_reach_is_saturated():
    """A width Python cannot format (beyond sys.maxsize: the model raises) is held at 4095:
    the line is 1023 characters of padding, as any width of 1023 or more gives."""
    memory = make_memory()
    calls = _trace_calls(memory, [(b"%99999999999999999999d\0", [7, 0, 0]),
                                  (b"%99999d\0", [7, 0, 0])])
    got = run_calls(memory, calls)
    assert [o.r0 for o in got] == [1023, 1023]
    assert decode_records(got[0].words) == [" " * 1023]
    with pytest.raises(ValueError, match="width too big"):
        model_call(EngineState(), memory, *calls[0])
    check_against_model(memory, calls[1:])


def test_random_stalls_on_memory_trace_and_response_change_nothing():
    """Seeded random backpressure everywhere: the same answers and the same lines."""
    rng = random.Random(77)
    memory = make_memory(rng)
    memory.stack[400:409] = b"eth0-rx0\0"
    calls = [_csum_case(rng, memory) for _ in range(8)]
    calls += _trace_calls(memory, FORMATS[:12] + [(b"dev %s %s\n\0", [STACK + 400,
                                                                    0x7000_0000, 0])])
    calls += [(HelperId.CSUM_DIFF, PACKET + 96, 8, 0, 0, 0),
              (HelperId.GET_PRANDOM_U32, 0, 0, 0, 0, 0)]
    rng.shuffle(calls)
    check_against_model(memory, calls, rng=random.Random(5))


def test_helpers_lists_exactly_the_ids_answered():
    """HELPERS (what the top advertises in CAP_HELPERS) against the unit's answers."""
    memory = make_memory()
    ids = [h for h in HelperId]
    got = run_calls(memory, [(h, 0, 0, 0, 0, 0) for h in ids])
    answered = {h for h, o in zip(ids, got) if not o.unknown}
    assert answered == set(MiscHelpers.HELPERS)
