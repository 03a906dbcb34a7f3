"""The driver's transport inside cocotb: the NIC's Verilog through cocotbext-axi.

:class:`CocotbTransport` wraps the NIC test bench of :mod:`sim.nic_tb` (:class:`TB`: clock,
reset, ``AxiLiteMaster`` on ``s_axil``, one ``AxiStreamSource`` per RX port, one
``AxiStreamSink`` per TX port and the host stream), so register accesses are AXI4-Lite
transactions and frames are AXI-Stream frames with ``tuser`` as the MAC error flag.

:func:`run_scenarios` runs driver coroutines (``async def scenario(nic)``) in one simulator
session of the NIC's Verilog, built once per configuration by :func:`sim.nic_build.build` and
reused: the cocotb test :func:`driver_session` (this module is the test module) resets the
NIC before each scenario and records its outcome.  This is how ``tests/driver`` runs the same
driver tests on the RTL that it runs on the model and in Amaranth.
"""

import importlib
import json
import os
import pathlib
import sys
import tempfile
import time
import traceback

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiStreamFrame

from firmware.driver.transport import Transport, TransportError

__all__ = ["CocotbTransport", "run_scenarios", "driver_session"]


class CocotbTransport(Transport):
    """A transport over a :class:`sim.nic_tb.TB`."""

    def __init__(self, tb):
        self.tb = tb
        self.dut = tb.dut
        self.ports = tb.ports
        self.queues = [cocotb.queue.Queue() for _ in range(tb.ports)]
        self.busy = [False] * tb.ports
        self._tasks = [cocotb.start_soon(self._sender(p)) for p in range(tb.ports)]

    def close(self) -> None:
        """Stop the sender tasks (before the bench is reused by another transport)."""
        for task in self._tasks:
            task.cancel()

    async def read(self, offset: int) -> int:
        return await self.tb.axil.read_dword(offset)

    async def write(self, offset: int, value: int) -> None:
        await self.tb.axil.write_dword(offset, value & 0xFFFFFFFF)

    async def send(self, port: int, frame: bytes, error: bool = False) -> None:
        if not 0 <= port < self.ports:
            raise TransportError(f"port {port} is not one of the {self.ports} RX ports")
        self.queues[port].put_nowait((bytes(frame), bool(error)))

    async def _sender(self, p: int):
        from sim.nic_tb import send_empty
        source = self.tb.sources[p]
        while True:
            frame, error = await self.queues[p].get()
            if frame:
                # into the source's (unbounded) queue at once: pending() stays exact
                source.send_nowait(AxiStreamFrame(frame, tuser=1 if error else 0))
                continue
            # cocotbext-axi cannot send a zero-length frame; the bench drives it by hand
            self.busy[p] = True
            await send_empty(self.dut, source, p, error)
            self.busy[p] = False

    def pending(self) -> int:
        """Frames not yet taken in whole: queued here, in a source's queue, or on the wire."""
        return sum(self.queues[p].qsize() + self.busy[p] + source.count() + int(source.active)
                   for p, source in enumerate(self.tb.sources))

    async def receive(self, egress: str, timeout: int = 10_000) -> bytes | None:
        if egress not in self.tb.sinks:
            raise TransportError(f"no egress {egress!r}: one of {', '.join(self.tb.sinks)}")
        sink = self.tb.sinks[egress]
        for _ in range(timeout):
            if not sink.empty():
                break
            await RisingEdge(self.dut.clk)
        if sink.empty():
            return None
        return bytes(sink.recv_nowait().tdata)

    def received(self, egress: str) -> int:
        return self.tb.sinks[egress].count()

    async def wait(self, cycles: int = 1) -> None:
        await ClockCycles(self.dut.clk, cycles)

    def describe(self) -> str:
        return "cocotb"


@cocotb.test()
async def driver_session(dut):
    """Run the scenarios named in the job file, each on a freshly reset NIC."""
    from sim.nic_tb import TB
    from firmware.driver.nic import Nic
    job = json.loads(pathlib.Path(os.environ["XDPNIC_DRIVER_JOB"]).read_text())
    # The scenarios may live outside the installed packages (tests/): import from the root.
    if job["root"] not in sys.path:
        sys.path.insert(0, job["root"])
    module = importlib.import_module(job["module"])
    tb = TB(dut, job["ports"], job.get("seed", 1))
    outcomes = {}
    for name in job["scenarios"]:
        await tb.reset()
        tb.set_pauses(job.get("in_pause", 0.0), job.get("out_pause", 0.0))
        for sink in tb.sinks.values():
            sink.clear()
        transport = CocotbTransport(tb)
        began = time.perf_counter()
        try:
            value = await getattr(module, name)(Nic(transport),
                                                **job.get("kwargs", {}).get(name, {}))
            outcomes[name] = {"ok": True, "value": value}
        except Exception:       # recorded for the pytest side, which fails that test
            outcomes[name] = {"ok": False, "error": traceback.format_exc()}
        outcomes[name]["seconds"] = time.perf_counter() - began
        transport.close()
        await ClockCycles(dut.clk, 2)
    pathlib.Path(os.environ["XDPNIC_DRIVER_RESULTS"]).write_text(json.dumps(outcomes))


def run_scenarios(module: str, scenarios: list[str], *, ports: int = 2, data_width: int = 64,
                  sim: str = "verilator", seed: int = 1, in_pause: float = 0.0,
                  out_pause: float = 0.0, verbose: bool = False,
                  kwargs: dict | None = None) -> dict:
    """Run ``module``'s coroutine functions ``scenarios`` (each ``async def f(nic)``) on the
    NIC's Verilog in one session; ``{name: {"ok": bool, "value": what it returned (JSON),
    "error": text, "seconds": s}}``.  ``kwargs[name]``: keyword arguments (JSON) for that
    scenario.  ``in_pause``/``out_pause``: random idle input cycles and output backpressure."""
    from sim.build_cache import PROJECT_ROOT, tail
    from sim.nic_build import TOPLEVEL, NicError, build
    runner, build_dir, _seconds = build(ports, data_width, sim)
    with tempfile.TemporaryDirectory(prefix="xdpnic-driver-") as tmp:
        tmp = pathlib.Path(tmp)
        job, out = tmp / "job.json", tmp / "results.json"
        job.write_text(json.dumps({"module": module, "scenarios": scenarios, "ports": ports,
                                   "seed": seed, "root": str(PROJECT_ROOT),
                                   "in_pause": in_pause, "out_pause": out_pause,
                                   "kwargs": kwargs or {}}))
        env = {"XDPNIC_DRIVER_JOB": str(job), "XDPNIC_DRIVER_RESULTS": str(out),
               "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT),
                                              os.environ.get("PYTHONPATH", "")]),
               "COCOTB_LOG_LEVEL": "INFO" if verbose else "WARNING"}
        log = tmp / "sim.log"
        try:
            runner.test(test_module="sim.transport_cocotb", hdl_toplevel=TOPLEVEL,
                        build_dir=build_dir, hdl_toplevel_lang="verilog", test_dir=tmp,
                        extra_env=env, results_xml=str(tmp / "results.xml"), verbose=verbose,
                        log_file=log)
        except (SystemExit, RuntimeError) as exc:
            raise NicError(f"{sim} simulation failed: {tail(log)}") from exc
        if not out.exists():
            raise TransportError(f"{sim} driver session wrote no results: {tail(log)}")
        outcomes = json.loads(out.read_text())
    missing = [name for name in scenarios if name not in outcomes]
    if missing:
        raise TransportError(f"{sim} driver session ran no outcome for {', '.join(missing)}")
    return outcomes


