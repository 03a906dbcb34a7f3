"""cocotb testbench for the core (:class:`sim.units.SimTop` as Verilog).

Runs every program listed in the JSON file named by ``XDPNIC_CASES`` in one simulator session,
through the same host driver as the Amaranth simulator (:mod:`sim.driver`), and writes the
results to ``XDPNIC_RESULTS``.  Started by :func:`sim.rtl.run_programs`; not a pytest module.
"""

import json
import os
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, First, RisingEdge, Timer

from sim.driver import Ports, run_program

CLOCK_NS = 10


class CocotbPorts(Ports):
    """:class:`sim.driver.Ports` over a cocotb DUT handle.

    Inputs are changed just after a falling edge and sampled at the next rising edge; outputs
    are read after the falling edge, when the rising edge's updates have settled.
    """

    def __init__(self, dut):
        self.dut = dut

    def set(self, name, value):
        getattr(self.dut, name).value = value

    def get(self, name):
        return int(getattr(self.dut, name).value)

    async def tick(self):
        await FallingEdge(self.dut.clk)

    async def wait_done(self, max_cycles, trace):
        dut = self.dut
        if trace is None:
            # Let the simulator run freely until done rises: no Python per cycle.
            await First(RisingEdge(dut.done), Timer(max_cycles * CLOCK_NS, "ns"))
            await FallingEdge(dut.clk)
            return not int(dut.busy.value)
        for _ in range(max_cycles):
            if int(dut.retire.value):
                reg = int(dut.retire_reg.value) if int(dut.retire_wb.value) else None
                trace.append((int(dut.retire_pc.value), reg, int(dut.retire_value.value)))
            await FallingEdge(dut.clk)
            if not int(dut.busy.value):
                return True
        return False


@cocotb.test()
async def run_cases(dut):
    """Run the listed programs one after another and record the results."""
    with open(os.environ["XDPNIC_CASES"]) as f:
        job = json.load(f)
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
    dut.rst.value = 1
    for name in ("start", "imem_wr_en", "ctx_wr_en"):
        getattr(dut, name).value = 0
    await FallingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    io = CocotbPorts(dut)
    results = []
    began = time.perf_counter()
    began_cpu = time.process_time()
    for case in job["cases"]:
        r = await run_program(
            io, case["words"], bytes.fromhex(case["mem"]), budget=case["budget"],
            trace=case["trace"], ctx_writable=case["ctx_writable"],
            max_cycles=case["max_cycles"], read_context=case["read_state"],
            read_stack=case["read_state"])
        if r.timed_out:
            # A hung run would corrupt the next one: reset the core (memories keep content).
            dut.rst.value = 1
            await FallingEdge(dut.clk)
            await FallingEdge(dut.clk)
            dut.rst.value = 0
        results.append({
            "r0": r.r0, "trap": int(r.trap), "trap_pc": r.trap_pc,
            "insn_count": r.insn_count, "cycles": r.cycles, "stack": r.stack.hex(),
            "context": r.context.hex(), "retired": r.retired, "timed_out": r.timed_out,
        })
    wall = time.perf_counter() - began
    cpu = time.process_time() - began_cpu
    from cocotb.utils import get_sim_time
    total_cycles = int(get_sim_time("ns")) // CLOCK_NS
    with open(os.environ["XDPNIC_RESULTS"], "w") as f:
        json.dump({"results": results, "wall_seconds": wall, "cpu_seconds": cpu,
                   "clock_cycles": total_cycles}, f)
