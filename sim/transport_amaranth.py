"""The driver's transport over :class:`hw.top.NIC` in Amaranth's simulator.

The driver runs as an async testbench: :meth:`AmaranthTransport.run` builds the simulator,
starts one background sender per RX port and one background collector per egress, and awaits
``main(transport)`` in the main testbench, where every register access is a real AXI4-Lite
transaction on ``s_axil`` (address and data phases, then the response) and :meth:`wait` ticks
the clock.  The simulation ends when ``main`` returns.

Example::

    transport = AmaranthTransport()
    info = transport.run(lambda t: Nic(t).identify())
"""

import collections
import random

from amaranth.sim import Simulator

from firmware.driver.transport import Transport, TransportError, egress_names
from hw.top import NIC
from .axis_amaranth import collect_frames, send_frame

__all__ = ["AmaranthTransport"]

CLOCK_PERIOD = 1e-8      # 100 MHz, as the cocotb bench


class AmaranthTransport(Transport):
    """:class:`hw.top.NIC` (``ports``, ``data_width``, ``imem_depth``, ``engines``) under
    simulation.

    ``in_pause``/``out_pause`` are the probabilities of an idle cycle between input beats and
    of ``tready`` low on the outputs (seeded by ``seed``).
    """

    def __init__(self, ports: int = 2, data_width: int = 64, imem_depth: int = 4096, *,
                 seed: int = 1, in_pause: float = 0.0, out_pause: float = 0.0,
                 engines: int = 1):
        self.ports = ports
        self.width = data_width // 8
        self.dut = NIC(ports, data_width, imem_depth, engines=engines)
        self.rng = random.Random(seed)
        self.in_pause = in_pause
        self.out_pause = out_pause
        self.queues = [collections.deque() for _ in range(ports)]
        self.sending = [False] * ports
        self.outputs = {name: collections.deque() for name in egress_names(ports)}
        self.ctx = None
        self.cycles = 0

    def run(self, main, vcd: str | None = None):
        """Simulate until ``main(self)`` (a coroutine function) returns; its result."""
        sim = Simulator(self.dut)
        sim.add_clock(CLOCK_PERIOD)
        outcome = {}

        async def testbench(ctx):
            self.ctx = ctx
            bus = self.dut.s_axil
            for name in ("awvalid", "wvalid", "arvalid"):
                ctx.set(getattr(bus, name), 0)
            ctx.set(bus.bready, 1)
            ctx.set(bus.rready, 1)
            ctx.set(bus.wstrb, 0xF)
            await self._tick()
            outcome["value"] = await main(self)

        sim.add_testbench(testbench)
        for p in range(self.ports):
            sim.add_testbench(self._sender(p), background=True)
        for name in self.outputs:
            port = self.dut.host if name == "pass" else getattr(self.dut, f"tx{name[4:]}")
            sim.add_testbench(self._collector(port, name), background=True)
        if vcd:
            with sim.write_vcd(vcd):
                sim.run()
        else:
            sim.run()
        return outcome.get("value")

    async def _tick(self):
        result = await self.ctx.tick()
        self.cycles += 1
        return result

    # --- AXI4-Lite master ---
    async def write(self, offset: int, value: int) -> None:
        ctx, bus = self.ctx, self.dut.s_axil
        ctx.set(bus.awaddr, offset)
        ctx.set(bus.wdata, value & 0xFFFFFFFF)
        ctx.set(bus.awvalid, 1)
        ctx.set(bus.wvalid, 1)
        aw = w = False
        while not (aw and w):
            *_, awready, wready = await ctx.tick().sample(bus.awready, bus.wready)
            self.cycles += 1
            if awready and not aw:
                aw = True
                ctx.set(bus.awvalid, 0)
            if wready and not w:
                w = True
                ctx.set(bus.wvalid, 0)
        for _ in range(1000):
            *_, bvalid = await ctx.tick().sample(bus.bvalid)
            self.cycles += 1
            if bvalid:
                return
        raise TransportError(f"AXI4-Lite write to {offset:#06x}: no response in 1000 cycles")

    async def read(self, offset: int) -> int:
        ctx, bus = self.ctx, self.dut.s_axil
        ctx.set(bus.araddr, offset)
        ctx.set(bus.arvalid, 1)
        while True:
            *_, arready = await ctx.tick().sample(bus.arready)
            self.cycles += 1
            if arready:
                break
        ctx.set(bus.arvalid, 0)
        for _ in range(1000):
            *_, rvalid, rdata = await ctx.tick().sample(bus.rvalid, bus.rdata)
            self.cycles += 1
            if rvalid:
                return rdata
        raise TransportError(f"AXI4-Lite read of {offset:#06x}: no response in 1000 cycles")

    # --- AXI-Stream ---
    async def send(self, port: int, frame: bytes, error: bool = False) -> None:
        if not 0 <= port < self.ports:
            raise TransportError(f"port {port} is not one of the {self.ports} RX ports")
        self.queues[port].append((bytes(frame), bool(error)))

    def pending(self) -> int:
        return sum(len(q) for q in self.queues) + sum(self.sending)

    def _sender(self, p: int):
        rng = random.Random(self.rng.random())
        port = getattr(self.dut, f"rx{p}")
        width = self.width

        async def send(ctx):
            while True:
                if not self.queues[p]:
                    ctx.set(port.tvalid, 0)
                    await ctx.tick()
                    continue
                frame, error = self.queues[p][0]
                self.sending[p] = True
                self.queues[p].popleft()
                await send_frame(ctx, port, frame, error, width, rng, self.in_pause)
                self.sending[p] = False
        return send

    def _collector(self, port, name: str):
        rng = random.Random(self.rng.random())
        width = self.width
        sink = self.outputs[name]

        async def collect(ctx):
            await collect_frames(ctx, port, sink, width, rng, self.out_pause)
        return collect

    async def receive(self, egress: str, timeout: int = 10_000) -> bytes | None:
        if egress not in self.outputs:
            raise TransportError(f"no egress {egress!r}: one of {', '.join(self.outputs)}")
        for _ in range(timeout):
            if self.outputs[egress]:
                break
            await self._tick()
        return self.outputs[egress].popleft() if self.outputs[egress] else None

    def received(self, egress: str) -> int:
        return len(self.outputs[egress])

    async def wait(self, cycles: int = 1) -> None:
        for _ in range(cycles):
            await self._tick()

    def describe(self) -> str:
        return "amaranth"
