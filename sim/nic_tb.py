"""cocotb testbench for the whole NIC (:class:`hw.top.NIC` as Verilog).

:class:`TB` holds the clock, reset, one cocotbext-axi ``AxiStreamSource`` per RX port, one
``AxiStreamSink`` per TX port and for the host stream, an ``AxiLiteMaster`` on the control
bus, and seeded random pause generators for both sides.  :func:`run_job` (the cocotb test)
loads a program through the register bank, sends the frames listed in the JSON file named by
``XDPNIC_NIC_JOB`` on one port, collects every verdict record and output frame, reads the
counters, and writes ``XDPNIC_NIC_RESULTS``.  Started by :func:`sim.nic_run.run_nic`; not a
pytest module.
"""

import itertools
import json
import os
import random
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiStreamBus, AxiStreamFrame,
                           AxiStreamSink, AxiStreamSource)

from firmware.driver.program_load import load_writes
from hw import regs

CLOCK_NS = 10


def pause_generator(rng: random.Random, probability: float, burst: int = 1):
    """Pause for ``burst`` cycles with the given probability per cycle (forever)."""
    while True:
        if probability and rng.random() < probability:
            yield from itertools.repeat(True, burst)
        else:
            yield False


class TB:
    """The NIC under test with its bus models."""

    def __init__(self, dut, ports: int, seed: int = 1):
        self.dut = dut
        self.ports = ports
        self.rng = random.Random(seed)
        cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
        self.sources = [AxiStreamSource(AxiStreamBus.from_prefix(dut, f"rx{p}",
                                                                 bus_separator="__"),
                                        dut.clk, dut.rst) for p in range(ports)]
        self.sinks = {f"port{p}": AxiStreamSink(AxiStreamBus.from_prefix(dut, f"tx{p}",
                                                                         bus_separator="__"),
                                                dut.clk, dut.rst) for p in range(ports)}
        self.sinks["pass"] = AxiStreamSink(AxiStreamBus.from_prefix(dut, "host",
                                                                    bus_separator="__"),
                                           dut.clk, dut.rst)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil", bus_separator="__"),
                                  dut.clk, dut.rst)
        self.verdicts: list[int] = []
        cocotb.start_soon(self._watch_verdicts())

    def set_pauses(self, in_pause: float, out_pause: float, burst: int = 1) -> None:
        """Random idle cycles on every source and backpressure on every sink."""
        for i, source in enumerate(self.sources):
            source.set_pause_generator(pause_generator(random.Random(self.rng.random()),
                                                       in_pause, 1))
        for sink in self.sinks.values():
            sink.set_pause_generator(pause_generator(random.Random(self.rng.random()),
                                                     out_pause, burst))

    async def reset(self) -> None:
        self.dut.rst.value = 1
        for _ in range(3):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    async def _watch_verdicts(self) -> None:
        dut = self.dut
        while True:
            await RisingEdge(dut.clk)
            if dut.verdict_valid.value == 1:
                self.verdicts.append(int(dut.verdict.value))

    async def write_reg(self, name: str, value: int) -> None:
        await self.axil.write_dword(regs.offsets(self.ports)[name], value)

    async def read_reg(self, name: str) -> int:
        return await self.axil.read_dword(regs.offsets(self.ports)[name])

    async def load(self, words: list[int], budget: int) -> None:
        """Stop, write the program into the instruction window, set its length, start."""
        await self.write_reg("CTRL", 0)
        for offset, value in load_writes(words, budget, 1 << regs.CTRL.CLEAR_COUNTERS):
            await self.axil.write_dword(offset, value)

    async def counters(self) -> dict[str, int]:
        out = {}
        for name in regs.offsets(self.ports):
            if name not in ("CTRL", "PROG_LEN", "BUDGET"):
                out[name] = await self.read_reg(name)
        return out


async def send_empty(dut, source, port: int, tuser: bool) -> None:
    """A zero-length frame (one beat, tkeep 0, tlast): cocotbext-axi cannot send one, so drive
    the port by hand while its source is idle."""
    await source.wait()
    bus = source.bus
    await FallingEdge(dut.clk)
    bus.tdata.value = 0
    bus.tkeep.value = 0
    bus.tlast.value = 1
    bus.tuser.value = int(tuser)
    bus.tvalid.value = 1
    while True:
        await RisingEdge(dut.clk)
        if bus.tready.value == 1:
            break
    await FallingEdge(dut.clk)
    bus.tvalid.value = 0
    bus.tlast.value = 0
    bus.tuser.value = 0


@cocotb.test()
async def run_job(dut):
    """Run the frames of the job file through the NIC and record what came out."""
    from hw.xdp.verdict import decode_verdict
    with open(os.environ["XDPNIC_NIC_JOB"]) as f:
        job = json.load(f)
    ports = job["ports"]
    tb = TB(dut, ports, job["seed"])
    await tb.reset()
    await tb.load(job["words"], job["budget"])
    tb.set_pauses(job["in_pause"], job["out_pause"], job.get("out_burst", 1))
    began = time.perf_counter()
    source = tb.sources[job["ingress_port"]]
    expected = 0
    for item in job["frames"]:
        data = bytes.fromhex(item["data"])
        if data:
            await source.send(AxiStreamFrame(data, tuser=1 if item["tuser"] else 0))
        else:
            await send_empty(dut, source, job["ingress_port"], item["tuser"])
        expected += 1
    limit = job["max_cycles"]
    cycles = 0
    while len(tb.verdicts) < expected and cycles < limit:
        await RisingEdge(dut.clk)
        cycles += 1
    verdicts = [decode_verdict(v) for v in tb.verdicts]
    wanted: dict[str, int] = {}
    for v in verdicts:
        name = {"pass": "pass", "tx": f"port{v['egress']}",
                "redirect": f"port{v['egress']}"}.get(v["disposition"])
        if name:
            wanted[name] = wanted.get(name, 0) + 1
    outputs: dict[str, list[str]] = {name: [] for name in tb.sinks}
    for name, count in wanted.items():
        for _ in range(count):
            waited = 0
            while tb.sinks[name].empty() and waited < limit:
                await RisingEdge(dut.clk)
                waited += 1
            if tb.sinks[name].empty():
                break
            frame = tb.sinks[name].recv_nowait()
            outputs[name].append(bytes(frame.tdata).hex())
    for _ in range(20):
        await RisingEdge(dut.clk)
    extra = {name: sink.queue.qsize() for name, sink in tb.sinks.items()}
    counters = await tb.counters()
    wall = time.perf_counter() - began
    from cocotb.utils import get_sim_time
    with open(os.environ["XDPNIC_NIC_RESULTS"], "w") as f:
        json.dump({"verdicts": verdicts, "outputs": outputs, "counters": counters,
                   "unexpected_outputs": extra, "timed_out": len(verdicts) < expected,
                   "wall_seconds": wall,
                   "clock_cycles": int(get_sim_time("ns")) // CLOCK_NS}, f)
