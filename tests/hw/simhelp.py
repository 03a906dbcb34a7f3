"""Small helpers for Amaranth-simulator unit tests of single units."""

from amaranth.sim import Simulator


def run_testbench(dut, bench, *, clock: bool = True) -> None:
    """Simulate ``dut`` with the async testbench ``bench(ctx)``."""
    sim = Simulator(dut)
    if clock:
        sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
