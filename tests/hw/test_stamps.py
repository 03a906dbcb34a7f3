"""UseStamps (hw/maps/stamps.py) against a list of last uses: random touches, then the least
recently used slot of random ranges, with its cost in cycles."""

import random

from amaranth.sim import Simulator

from hw.maps.stamps import UseStamps

SLOTS = 32


def test_the_least_recently_used_slot_of_a_range():
    rng = random.Random(5)
    dut = UseStamps(SLOTS)
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def bench(ctx):
        last_use = {}
        clock = 0
        for slot in rng.sample(range(SLOTS), SLOTS):      # every slot used once
            clock += 1
            last_use[slot] = clock
            ctx.set(dut.touch, 1)
            ctx.set(dut.touch_slot, slot)
            await ctx.tick()
        for _ in range(20):
            for _ in range(rng.randrange(1, 6)):
                slot = rng.randrange(SLOTS)
                clock += 1
                last_use[slot] = clock
                ctx.set(dut.touch, 1)
                ctx.set(dut.touch_slot, slot)
                await ctx.tick()
            ctx.set(dut.touch, 0)
            base = rng.randrange(SLOTS)
            count = rng.randrange(1, SLOTS - base + 1)
            ctx.set(dut.find, 1)
            ctx.set(dut.base, base)
            ctx.set(dut.count, count)
            await ctx.tick()
            ctx.set(dut.find, 0)
            cycles = 1
            while not ctx.get(dut.ready):
                await ctx.tick()
                cycles += 1
            want = min(range(base, base + count), key=lambda s: last_use[s])
            assert ctx.get(dut.oldest) == want
            assert cycles == count + 2       # docs/maps.md: max_entries + 2 cycles

    sim.add_testbench(bench)
    sim.run()
