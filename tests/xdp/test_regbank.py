"""AXI4-Lite slave and register bank in the Amaranth simulator: reads, strobed writes, pulse
fields, the instruction window, counters, and random valid/ready timing on every channel."""

import random

from amaranth.sim import Simulator

from hw import regs
from hw.bus.regbank import RegBank


class AxiLiteMaster:
    """Drives the five channels with random delays (seeded)."""

    def __init__(self, ctx, bus, rng):
        self.ctx, self.bus, self.rng = ctx, bus, rng

    async def _idle(self):
        while self.rng.random() < 0.3:
            await self.ctx.tick()

    async def write(self, addr, value, strb=0xF):
        ctx, bus = self.ctx, self.bus
        await self._idle()
        ctx.set(bus.awaddr, addr)
        ctx.set(bus.awvalid, 1)
        ctx.set(bus.wdata, value)
        ctx.set(bus.wstrb, strb)
        ctx.set(bus.wvalid, self.rng.random() < 0.5)
        aw_done = w_done = False
        while not (aw_done and w_done):
            *_, awr, awv, wr, wv = await ctx.tick().sample(bus.awready, bus.awvalid,
                                                           bus.wready, bus.wvalid)
            aw_done |= bool(awr and awv)
            w_done |= bool(wr and wv)
            ctx.set(bus.awvalid, not aw_done)
            ctx.set(bus.wvalid, not w_done)
        ctx.set(bus.bready, 1)
        while True:
            *_, bv, bresp = await ctx.tick().sample(bus.bvalid, bus.bresp)
            if bv:
                break
        ctx.set(bus.bready, 0)
        assert bresp == 0

    async def read(self, addr):
        ctx, bus = self.ctx, self.bus
        await self._idle()
        ctx.set(bus.araddr, addr)
        ctx.set(bus.arvalid, 1)
        while True:
            *_, ar = await ctx.tick().sample(bus.arready)
            if ar:
                break
        ctx.set(bus.arvalid, 0)
        while True:
            ctx.set(bus.rready, self.rng.random() < 0.6)
            *_, rv, rr, data = await ctx.tick().sample(bus.rvalid, bus.rready, bus.rdata)
            if rv and rr:
                break
        ctx.set(bus.rready, 0)
        return data


def run(bench, ports=2, imem_depth=64):
    dut = RegBank(ports, imem_depth)
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def tb(ctx):
        await bench(ctx, dut, AxiLiteMaster(ctx, dut.bus, random.Random(1)))

    sim.add_testbench(tb)
    sim.run()


def test_rw_registers_reset_values_readback_and_byte_strobes():
    async def bench(ctx, dut, bus):
        assert await bus.read(regs.register("BUDGET").offset) == 1_000_000
        await bus.write(regs.register("PROG_LEN").offset, 0x12345678)
        assert ctx.get(dut.prog_len) == 0x12345678
        await bus.write(regs.register("PROG_LEN").offset, 0xAABBCCDD, strb=0b0101)
        assert await bus.read(regs.register("PROG_LEN").offset) == 0x12BB56DD
    run(bench)


def test_ro_registers_and_counters_read_what_the_datapath_drives():
    async def bench(ctx, dut, bus):
        ctx.set(dut.id, regs.ID_MAGIC)
        ctx.set(dut.last_cycles, 1234)
        for i in range(2 * len(regs.PORT_COUNTERS)):
            ctx.set(dut.port_counters[i], 1000 + i)
        assert await bus.read(0) == regs.ID_MAGIC
        await bus.write(regs.register("LAST_CYCLES").offset, 99)     # ignored
        assert await bus.read(regs.register("LAST_CYCLES").offset) == 1234
        assert await bus.read(regs.port_counter_offset(1, "DROP")) == \
            1000 + len(regs.PORT_COUNTERS) + 1
        assert await bus.read(0x7FFC) == 0                           # unmapped
    run(bench)


def test_clear_counters_is_a_one_cycle_pulse_and_reads_zero():
    async def bench(ctx, dut, bus):
        await bus.write(regs.register("CTRL").offset, 0b111)
        assert ctx.get(dut.ctrl) == 0b011      # the pulse lasted one cycle, long gone
        assert await bus.read(regs.register("CTRL").offset) == 0b011
    run(bench)


def test_clear_counters_pulse_lasts_exactly_one_cycle():
    dut = RegBank(2, 64)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    pulses = []

    async def tb(ctx):
        bus = AxiLiteMaster(ctx, dut.bus, random.Random(4))
        await bus.write(regs.register("CTRL").offset, 1 << regs.CTRL.CLEAR_COUNTERS)
        await bus.write(regs.register("CTRL").offset, 1 << regs.CTRL.ENABLE)

    async def monitor(ctx):
        async for _c, _r, ctrl in ctx.tick().sample(dut.ctrl):
            pulses.append(ctrl >> regs.CTRL.CLEAR_COUNTERS & 1)

    sim.add_testbench(tb)
    sim.add_testbench(monitor, background=True)
    sim.run()
    assert sum(pulses) == 1


def test_instruction_window_writes_64_bit_slots_on_the_high_word():
    dut = RegBank(2, 64)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    strobes = []

    async def tb(ctx):
        bus = AxiLiteMaster(ctx, dut.bus, random.Random(3))
        base = regs.IMEM_WINDOW.offset
        await bus.write(base + 8 * 5, 0x11223344)
        await bus.write(base + 8 * 5 + 4, 0x55667788)
        await bus.write(base + 8 * 63 + 4, 0x1)
        await bus.write(base + 8 * 64 + 4, 0x2)      # beyond imem_depth: ignored
        assert await bus.read(base + 8 * 5) == 0     # write-only window

    async def monitor(ctx):
        async for _c, _r, en, addr, data in ctx.tick().sample(
                dut.imem_wr_en, dut.imem_wr_addr, dut.imem_wr_data):
            if en:
                strobes.append((addr, data))

    sim.add_testbench(tb)
    sim.add_testbench(monitor, background=True)
    sim.run()
    # the latched low word stays until the next low-word write
    assert strobes == [(5, 0x5566778811223344), (63, 0x0000000111223344)]
