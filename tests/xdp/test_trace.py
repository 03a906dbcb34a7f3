"""TraceFifo in the Amaranth simulator: whole records only, drop-whole on overflow, the head
word and pops, overflow clear, pointer wrap-around against a plain-Python model."""

import gc
import random
import warnings

import pytest
from amaranth.hdl import UnusedElaboratable
from amaranth.sim import Simulator

from hw.xdp import trace as rec
from hw.xdp.trace import TraceFifo


def record(n_words: int, tag: int) -> list[int]:
    """A record of ``n_words`` words (header included) whose body words carry ``tag``."""
    return [rec.record_header(0, n_words)] + [(tag << 16) | i for i in range(1, n_words)]


class FifoModel:
    """What the FIFO should hold: whole records that fitted when their header came."""

    def __init__(self, depth):
        self.depth = depth
        self.words = []          # committed
        self.pending = []        # the record being received
        self.need = 0
        self.dropping = False
        self.reserved = 0
        self.overflow = False

    def push(self, word) -> bool:
        """Take a word; whether it was the header of a dropped record."""
        dropped_header = False
        if self.need == 0:
            n = max(word & rec.RECORD_WORDS_MASK, 1)
            self.dropping = n > self.depth - len(self.words) - self.reserved
            self.overflow |= self.dropping
            dropped_header = self.dropping
            self.need = n
            if not self.dropping:
                self.reserved = n
        self.need -= 1
        if not self.dropping:
            self.pending.append(word)
            if self.need == 0:
                self.words += self.pending
                self.pending, self.reserved = [], 0
        return dropped_header

    def pop(self):
        if self.words:
            self.words.pop(0)


def run_fifo(depth, script):
    """``script``: per cycle a dict of push (word or None), pop, clear.  Returns per cycle
    (words, overflow, data) sampled before that cycle's edge."""
    dut = TraceFifo(depth)
    seen = []

    async def bench(ctx):
        for step in script:
            word = step.get("push")
            ctx.set(dut.push.valid, word is not None)
            ctx.set(dut.push.payload, word or 0)
            ctx.set(dut.pop, step.get("pop", 0))
            ctx.set(dut.clear, step.get("clear", 0))
            assert ctx.get(dut.push.ready)
            seen.append((ctx.get(dut.words), ctx.get(dut.overflow), ctx.get(dut.data)))
            await ctx.tick()
        ctx.set(dut.push.valid, 0)
        ctx.set(dut.pop, 0)
        ctx.set(dut.clear, 0)
        seen.append((ctx.get(dut.words), ctx.get(dut.overflow), ctx.get(dut.data)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return seen


def test_words_count_only_whole_records():
    r = record(3, 1)
    script = [{"push": r[0]}, {}, {"push": r[1]}, {}, {"push": r[2]}, {}]
    seen = run_fifo(16, script)
    assert [s[0] for s in seen] == [0, 0, 0, 0, 0, 3, 3]
    assert seen[0][2] == 0                      # nothing visible: data reads 0
    assert seen[-1] == (3, 0, r[0])


def test_pops_return_the_words_in_order_then_zero():
    r = record(4, 2)
    script = [{"push": w} for w in r] + [{"pop": 1}] * 6
    seen = run_fifo(8, script)
    popped = [s[2] for s in seen[4:10]]
    assert popped == r + [0, 0]                 # a pop of an empty FIFO is ignored
    assert [s[0] for s in seen[4:11]] == [4, 3, 2, 1, 0, 0, 0]


def test_record_that_does_not_fit_is_dropped_whole_and_sets_overflow():
    a, b, c = record(5, 1), record(4, 2), record(3, 3)
    script = [{"push": w} for w in a + b + c]
    seen = run_fifo(8, script)
    words, overflow, data = seen[-1]
    assert (words, overflow) == (8, 1)
    script += [{"pop": 1}] * 8
    seen = run_fifo(8, script)
    assert [s[2] for s in seen[len(a + b + c):-1]] == a + c
    assert seen[-1][:2] == (0, 1)               # overflow stays until cleared


def test_clear_resets_overflow_but_not_in_the_cycle_of_a_drop():
    big = record(9, 1)                          # larger than the FIFO: never kept
    script = [{"push": w} for w in big] + [{"clear": 1}]
    seen = run_fifo(8, script)
    assert seen[-2][:2] == (0, 1) and seen[-1][:2] == (0, 0)
    script = [{"push": w} for w in big] + [{"push": big[0], "clear": 1}] + [{}]
    seen = run_fifo(8, script)
    assert seen[-1][1] == 1


def test_header_with_length_zero_is_one_word():
    script = [{"push": rec.record_header(0, 0)}, {"push": rec.record_header(0, 1)}, {}]
    seen = run_fifo(4, script)
    assert seen[-1][0] == 2


def test_random_traffic_matches_the_model_across_wraparound():
    rng = random.Random(11)
    depth = 13
    model = FifoModel(depth)
    script, expected = [], []
    queue = []
    for tag in range(40):
        queue += record(rng.randrange(1, 7), tag)
    while queue or model.words:
        step = {}
        if queue and rng.random() < 0.7:
            step["push"] = queue.pop(0)
        if rng.random() < 0.4:
            step["pop"] = 1
        if rng.random() < 0.05:
            step["clear"] = 1
        expected.append((len(model.words), int(model.overflow),
                         model.words[0] if model.words else 0))
        # the hardware pops the old head, and checks a header against the space before the pop
        had_words = bool(model.words)
        dropped_header = "push" in step and model.push(step["push"])
        if step.get("pop") and had_words:
            model.pop()
        if step.get("clear") and not dropped_header:     # a drop wins over a clear
            model.overflow = False
        script.append(step)
        if len(script) > 2000:
            break
    seen = run_fifo(depth, script)
    assert seen[:-1] == expected


def test_depth_is_checked():
    # the refused object is reported "never used" when collected: collect it here, quietly
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(TypeError, match="depth_words must be an integer in 1..65535, "
                                            "not 0"):
            TraceFifo(0)
        gc.collect()


def test_helper_records_through_the_fifo_decode_to_the_model_lines():
    """MiscHelpers -> TraceFifo (16 words) -> host pops -> decoder: the model's lines; the
    second 12-word record does not fit behind the first and is dropped whole, the third (after
    the host drained the FIFO) is kept."""
    from amaranth.hdl import Module
    from amaranth.lib import wiring

    from firmware.driver.trace import decode_records
    from firmware.ebpf import machine
    from firmware.ebpf.helpers import HelperId
    from firmware.ebpf.model_helpers import EngineState, misc_helpers
    from hw.xdp.misc import MiscHelpers

    from .test_misc_helpers import make_memory, serve_memory

    memory = make_memory()
    stack = machine.region_base(machine.Region.STACK)
    memory.stack[0:12] = b"n=%d s=%s\n\0\0"
    memory.stack[100:104] = b"abc\0"
    calls = [(HelperId.TRACE_PRINTK, stack, 11, n, stack + 100, 0) for n in (1, 2, 3)]
    state = EngineState()
    expected = [misc_helpers(state)[HelperId.TRACE_PRINTK](memory, *c[1:]) for c in calls]

    m = Module()
    m.submodules.misc = misc = MiscHelpers()
    m.submodules.fifo = fifo = TraceFifo(16)
    wiring.connect(m, misc.trace, fifo.push)
    got, lines, status = [], [], []

    async def drain(ctx):
        words = []
        while ctx.get(fifo.words):
            words.append(ctx.get(fifo.data))
            ctx.set(fifo.pop, 1)
            await ctx.tick()
            ctx.set(fifo.pop, 0)
        lines.extend(decode_records(words))

    async def bench(ctx):
        for i, (helper_id, *regs) in enumerate(calls):
            ctx.set(misc.req.payload.id, helper_id)
            for j, value in enumerate(regs):
                ctx.set(misc.req.payload.args[j], value)
            ctx.set(misc.req.valid, 1)
            await ctx.tick().until(misc.req.ready)
            ctx.set(misc.req.valid, 0)
            ctx.set(misc.resp.ready, 1)
            (r0,) = await ctx.tick().sample(misc.resp.payload.r0).until(misc.resp.valid)
            ctx.set(misc.resp.ready, 0)
            await ctx.tick()
            got.append(r0)
            status.append((ctx.get(fifo.words), ctx.get(fifo.overflow)))
            if i == 1:
                await drain(ctx)
                ctx.set(fifo.clear, 1)
                await ctx.tick()
                ctx.set(fifo.clear, 0)
        await drain(ctx)

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_process(serve_memory(misc, memory))
    sim.add_testbench(bench)
    sim.run()
    assert got == expected == [len("n=1 s=abc\n")] * 3
    assert status == [(12, 0), (12, 1), (12, 0)]
    assert lines == [state.trace[0], state.trace[2]]
