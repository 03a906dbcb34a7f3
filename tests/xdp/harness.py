"""Amaranth-simulator harness for the XDP units and the whole datapath.

AXI-Stream sources and sinks with seeded random pauses, and :func:`run_datapath`, which sends
frames through :class:`hw.xdp.datapath.Datapath` and returns the golden model's
:class:`FrameResult` for each (via :mod:`sim.nic_results`).
"""

import random

from amaranth.sim import Simulator

from firmware.ebpf.machine import DEFAULT_INSN_BUDGET
from hw.xdp.verdict import decode_verdict
from sim.driver import program_words
from sim.nic_results import match_outputs
from sim.axis_amaranth import collect_frames as axis_collect, send_frame


async def axis_send(ctx, port, frames, width, rng, pause=0.0):
    """Send ``frames`` (bytes, or (bytes, tuser)) with random idle cycles between beats."""
    for item in frames:
        frame, user = item if isinstance(item, tuple) else (item, False)
        await send_frame(ctx, port, frame, user, width, rng, pause)


def run_datapath(insns, frames, *, ports=2, data_width=64, ingress_port=0, seed=1,
                 in_pause=0.0, out_pause=0.0, budget=DEFAULT_INSN_BUDGET, vcd=None,
                 max_cycles=200_000, drop_when_busy=False, raw=False, engines=1,
                 flow_hash=False):
    """Run frames through a Datapath in the Amaranth simulator: FrameResults, counters.

    ``frames`` is a list (all into ``ingress_port``) or a dict port -> list (all ports send at
    once).  With ``raw`` the verdict records and output frames come back unmatched."""
    by_port = frames if isinstance(frames, dict) else {ingress_port: frames}
    total = sum(len(f) for f in by_port.values())
    from amaranth.hdl import Module
    from amaranth.lib.wiring import connect
    from hw.xdp.datapath import Datapath, NCOUNTERS
    from hw.xdp.misc import NoMaps
    dut = Datapath(ports, data_width, engines=engines)
    top = Module()
    top.submodules.dut = dut
    top.submodules.nomaps = nomaps = NoMaps()
    connect(top, dut.map_req, nomaps.req)
    connect(top, nomaps.resp, dut.map_resp)
    width = data_width // 8
    rng = random.Random(seed)
    verdicts: list[dict] = []
    outputs = {f"port{p}": [] for p in range(ports)}
    outputs["pass"] = []
    state = {"counters": None}
    sent = {p: False for p in by_port}

    def live_full(ctx):
        from hw.regs import PORT_COUNTERS
        k = [name for name, _d in PORT_COUNTERS].index("DISCARD_BUFFER_FULL")
        return [ctx.get(dut.port_counters[p * NCOUNTERS + k]) for p in range(ports)]
    state["counters_live"] = live_full

    def sender(port_index, items):
        async def send(ctx):
            await axis_send(ctx, getattr(dut, f"rx{port_index}"), items, width,
                            random.Random(seed * 7 + port_index), in_pause)
            sent[port_index] = True
        return send

    state["verdict_cycles"] = []

    async def monitor(ctx):
        cycle = 0
        async for _clk, _rst, valid, raw in ctx.tick().sample(dut.verdict_valid,
                                                               dut.verdict.as_value()):
            cycle += 1
            if valid:
                verdicts.append(decode_verdict(raw))
                state["verdict_cycles"].append(cycle)

    async def main(ctx):
        for index, word in enumerate(program_words(insns)):
            ctx.set(dut.imem_wr_en, 1)
            ctx.set(dut.imem_wr_addr, index)
            ctx.set(dut.imem_wr_data, word)
            await ctx.tick()
        ctx.set(dut.imem_wr_en, 0)
        ctx.set(dut.prog_len, len(program_words(insns)))
        ctx.set(dut.budget, budget)
        ctx.set(dut.enable, 1)
        ctx.set(dut.drop_when_busy, drop_when_busy)
        ctx.set(dut.flow_hash, flow_hash)
        while not all(sent.values()):
            await ctx.tick()
        for _ in range(max_cycles):
            full = sum(state["counters_live"](ctx)) if drop_when_busy else 0
            if len(verdicts) + full == total and ctx.get(dut.idle):
                break
            await ctx.tick()
        else:
            raise AssertionError(f"datapath hung: {len(verdicts)} of {total} verdicts")
        for _ in range(4):
            await ctx.tick()
        state["counters"] = [ctx.get(dut.port_counters[i]) for i in range(ports * NCOUNTERS)]
        state["traps"] = [ctx.get(dut.trap_counters[i]) for i in range(6)]
        state["host_frames"] = ctx.get(dut.host_frames)

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(main)
    sim.add_testbench(monitor, background=True)
    for port_index, items in by_port.items():
        sim.add_testbench(sender(port_index, items))
    def collector(port, sink, salt):
        async def collect(ctx):
            await axis_collect(ctx, port, sink, width, random.Random(seed + salt), out_pause)
        return collect

    for p in range(ports):
        sim.add_testbench(collector(getattr(dut, f"tx{p}"), outputs[f"port{p}"], p + 1),
                          background=True)
    sim.add_testbench(collector(dut.host, outputs["pass"], 99), background=True)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    if raw:
        return verdicts, outputs, state
    return match_outputs(verdicts, outputs), state
