"""Unit tests of the XDP units in the Amaranth simulator against plain-Python models:
RowAccess (byte loads/stores on the row memory), EgressReader (realignment under seeded
random backpressure) and RxWriter (rows written, lengths and discard flags)."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from firmware.ebpf import machine
from hw.core.decoder import Size
from hw.xdp.access import RowAccess
from hw.xdp.egress import EgressReader
from hw.xdp.rx import RxWriter

from .harness import axis_collect, axis_send

PKT = machine.region_base(machine.Region.PACKET)
SIZES = {1: Size.B, 2: Size.H, 4: Size.W, 8: Size.DW}


def with_memory(unit, width, init=None):
    """A module holding ``unit`` and a row memory wired to its ports."""
    m = Module()
    rows = machine.PACKET_BUFFER_SIZE // width
    mem = Memory(shape=8 * width, depth=rows, init=init or [])
    m.submodules.unit = unit
    m.submodules.mem = mem
    rd = mem.read_port()
    wr = mem.write_port(granularity=8)
    if hasattr(unit, "rd_addr"):
        m.d.comb += [rd.addr.eq(unit.rd_addr), rd.en.eq(unit.rd_en), unit.rd_data.eq(rd.data)]
    if hasattr(unit, "wr_addr"):
        m.d.comb += [wr.addr.eq(unit.wr_addr), wr.en.eq(unit.wr_en), wr.data.eq(unit.wr_data)]
    return m, mem


def rows_of(buffer: bytes, width: int) -> list[int]:
    return [int.from_bytes(buffer[i:i + width], "little") for i in range(0, len(buffer), width)]


@pytest.mark.parametrize("width", [8, 64])
def test_packet_access_matches_a_byte_array(width):
    rng = random.Random(width)
    model = bytearray(rng.randrange(256) for _ in range(machine.PACKET_BUFFER_SIZE))
    unit = RowAccess(width)
    top, mem = with_memory(unit, width, rows_of(bytes(model), width))
    ops = []
    for _ in range(300):
        n = rng.choice([1, 2, 4, 8])
        offset = rng.choice([rng.randrange(machine.PACKET_BUFFER_SIZE - 8),
                             width - 1, width - 3, machine.PACKET_BUFFER_SIZE - n,
                             machine.PACKET_BUFFER_SIZE - n + 1, 5000])
        region = rng.choice([machine.Region.PACKET] * 9 + [machine.Region.MAP_VALUE])
        ops.append((rng.random() < 0.5, region, offset, n, rng.randrange(2 ** 64)))

    async def bench(ctx):
        for write, region, offset, n, value in ops:
            address = (machine.region_base(region) + offset) & 0xFFFFFFFF
            ctx.set(unit.req.payload.addr, address)
            ctx.set(unit.req.payload.write, write)
            ctx.set(unit.req.payload.size, SIZES[n])
            ctx.set(unit.req.payload.wdata, value)
            ctx.set(unit.req.valid, 1)
            await ctx.tick().until(unit.req.ready)
            ctx.set(unit.req.valid, 0)
            for _ in range(rng.randrange(3)):          # a slow taker of responses
                await ctx.tick()
            ctx.set(unit.resp.ready, 1)
            rdata, fault = await ctx.tick().sample(
                unit.resp.payload.rdata, unit.resp.payload.fault).until(unit.resp.valid)
            ctx.set(unit.resp.ready, 0)
            bad = region != machine.Region.PACKET or offset + n > machine.PACKET_BUFFER_SIZE
            assert fault == bad, (write, region, offset, n)
            if bad:
                continue
            if write:
                model[offset:offset + n] = (value & ((1 << 8 * n) - 1)).to_bytes(n, "little")
            else:
                assert rdata & ((1 << 8 * n) - 1) == \
                    int.from_bytes(model[offset:offset + n], "little"), (offset, n)
        for row in range(machine.PACKET_BUFFER_SIZE // width):
            assert ctx.get(mem.data[row]) == \
                int.from_bytes(model[row * width:(row + 1) * width], "little"), row

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("width", [8, 64])
def test_egress_realigns_any_range_under_backpressure(width):
    rng = random.Random(10 + width)
    buffer = bytes(rng.randrange(256) for _ in range(machine.PACKET_BUFFER_SIZE))
    unit = EgressReader(width)
    top, _mem = with_memory(unit, width, rows_of(buffer, width))
    ranges = [(256, 256 + 60), (40, 54), (255, 256 + 1518), (3000, 3776), (41, 42 + width),
              (100, 100 + width), (263, 263 + 2 * width + 1)]
    ranges += [(b, b + rng.randrange(1, 600)) for b in (rng.randrange(40, 3000) for _ in range(8))]
    got = []

    async def bench(ctx):
        for begin, end in ranges:
            ctx.set(unit.begin, begin)
            ctx.set(unit.end, end)
            ctx.set(unit.start, 1)
            await ctx.tick()
            ctx.set(unit.start, 0)
            await ctx.tick().until(unit.done)
        for _ in range(4):
            await ctx.tick()

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)

    async def sink(ctx):
        await axis_collect(ctx, unit.axis, got, width, random.Random(3), pause=0.5)
    sim.add_testbench(sink, background=True)
    sim.run()
    assert got == [buffer[b:e] for b, e in ranges]


@pytest.mark.parametrize("width", [8, 64])
def test_rx_writes_rows_and_flags_discards(width):
    rng = random.Random(20 + width)
    frames = [bytes(rng.randrange(256) for _ in range(n))
              for n in (60, 14, 13, 1, width, width + 1, machine.XDP_MAX_FRAME,
                        machine.XDP_MAX_FRAME + 1, 4000)]
    items = [(f, False) for f in frames] + [(frames[0], True), (b"", False)]
    unit = RxWriter(width)
    top, mem = with_memory(unit, width)
    reports = []

    async def bench(ctx):
        ctx.set(unit.active, 1)
        await axis_send(ctx, unit.axis, items, width, rng, pause=0.3)
        for _ in range(3):
            await ctx.tick()

    async def monitor(ctx):
        async for _c, _r, done, length, mac, runt, over in ctx.tick().sample(
                unit.done, unit.length, unit.mac_error, unit.runt, unit.oversize):
            if done:
                reports.append((length, bool(mac), bool(runt), bool(over)))

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.add_testbench(monitor, background=True)
    sim.run()
    from firmware.ebpf.xdp import ingress_discard_reason
    for (frame, flag), (length, mac, runt, over) in zip(items, reports):
        assert length == min(len(frame), 0xFFFF)
        reason = ingress_discard_reason(frame, flag)
        first = "mac-error" if mac else "runt" if runt else "oversize" if over else None
        assert first == reason, (len(frame), flag)
    assert len(reports) == len(items)


def test_packet_access_latency():
    """Cycles from the cycle a request is taken (0) to the cycle its answer is offered, with a
    taker that is always ready: one-row load 1, load across two rows 2, stores 1 (one row or
    two), fault 1 -- so a one-row load costs the core 2 cycles, as its own stack loads."""
    width = 8
    unit = RowAccess(width)
    top, _mem = with_memory(unit, width)
    cases = {"load, one row": (False, 8, 8), "load, two rows": (False, 12, 8),
             "store, one row": (True, 8, 8), "store, two rows": (True, 12, 8),
             "fault": (False, 5000, 4)}
    offered = {}

    async def bench(ctx):
        ctx.set(unit.resp.ready, 1)
        for name, (write, offset, n) in cases.items():
            ctx.set(unit.req.payload.addr, PKT + offset)
            ctx.set(unit.req.payload.write, write)
            ctx.set(unit.req.payload.size, SIZES[n])
            ctx.set(unit.req.valid, 1)
            await ctx.tick().until(unit.req.ready)
            ctx.set(unit.req.valid, 0)
            cycle = 1
            while not ctx.get(unit.resp.valid):
                await ctx.tick()
                cycle += 1
            offered[name] = cycle
            await ctx.tick()

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert offered == {"load, one row": 1, "load, two rows": 2, "store, one row": 1,
                       "store, two rows": 1, "fault": 1}
