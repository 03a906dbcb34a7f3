"""The core's external memory port (packet and map-value regions) and helper port, answered
by Python testbench processes with random back-pressure, against the golden model run with
the same packet and map values."""

import random

import pytest
from amaranth.sim import Simulator

from firmware.ebpf import machine, model
from firmware.ebpf.asm import assemble
from firmware.ebpf.isa import SIZE_BYTES, Size
from hw.core.core import Core
from sim.driver import AmaranthPorts, program_words, run_program

PACKET = bytes(range(0x40, 0x40 + 60))
MAP_ID = 3
MAP_VALUE = bytes(range(16))
PKT = machine.region_base(machine.Region.PACKET)
MAPV = machine.map_value_address(MAP_ID, 0)

PROGRAMS = {
    "packet loads": f"lddw %r2, {PKT:#x}\nldxb %r0, [%r2+3]\nldxh %r3, [%r2+7]\n"
                    "ldxdw %r4, [%r2+13]\nadd %r0, %r3\nxor %r0, %r4\nexit",
    "packet store then load": f"lddw %r2, {PKT:#x}\nmov %r3, -2\nstxw [%r2+5], %r3\n"
                              "ldxdw %r0, [%r2+4]\nexit",
    "packet past its end": f"lddw %r2, {PKT:#x}\nldxw %r0, [%r2+58]\nexit",
    "map value atomics": f"lddw %r2, {MAPV:#x}\nmov %r3, 5\nlock fetch add [%r2+8], %r3\n"
                         "mov %r0, %r3\nlock add32 [%r2+0], %r3\nldxdw %r4, [%r2+0]\n"
                         "add %r0, %r4\nexit",
    "map value cmpxchg miss and hit": f"lddw %r2, {MAPV:#x}\nmov %r0, 1\nmov %r3, 77\n"
                                      "lock cmpxchg [%r2+0], %r3\nlock cmpxchg [%r2+0], %r3\n"
                                      "ldxdw %r0, [%r2+0]\nexit",
    "unknown map": f"lddw %r2, {machine.map_value_address(9, 0):#x}\nldxb %r0, [%r2+0]\nexit",
    "legacy packet loads": "mov %r6, %r1\nldabsh 2\nmov %r7, %r0\nmov %r1, 5\n"
                           "ldindw %r1, 1\nadd %r0, %r7\nldabsb 100\nexit",
    "helper stop": "mov %r1, 0\ncall 5\nmov %r0, 3\nexit",
}


class ExtMemory:
    """Packet and map-value buffers behind the ext port, bounds-checked like the model."""

    def __init__(self):
        self.packet = bytearray(PACKET)
        self.maps = {MAP_ID: bytearray(MAP_VALUE)}

    def locate(self, addr, size):
        region = machine.region_of(addr)
        offset = addr - machine.region_base(region)
        if region == machine.Region.PACKET:
            buf = self.packet
        else:
            buf = self.maps.get(offset >> machine.MAP_ID_SHIFT)
            offset &= machine.MAP_OFFSET_MASK
        if buf is None or offset + size > len(buf):
            return None, 0
        return buf, offset


def _run(name, source, rng):
    core = Core(imem_depth=256, ctx_bytes=64)
    ext = ExtMemory()
    out = {}

    async def driver(ctx):
        io = AmaranthPorts(ctx, core)
        out["result"] = await run_program(io, program_words(assemble(source)), b"\0" * 8)
        out["done"] = True

    async def send(ctx, stream, payload):
        """Offer one beat on ``stream`` until the core takes it (ready sampled at the edge)."""
        ctx.set(stream.valid, 1)
        ctx.set(stream.payload, payload)
        while True:
            taken = ctx.get(stream.ready)
            await ctx.tick()
            if taken:
                break
        ctx.set(stream.valid, 0)

    async def ext_responder(ctx):
        while not out.get("done"):
            ready = rng.random() < 0.6
            ctx.set(core.ext_req.ready, ready)
            beat = ready and ctx.get(core.ext_req.valid)
            req = ctx.get(core.ext_req.payload)
            await ctx.tick()
            if beat:
                size = SIZE_BYTES[Size(req.size.value)]
                buf, offset = ext.locate(req.addr, size)
                ctx.set(core.ext_req.ready, 0)
                for _ in range(rng.randrange(3)):
                    await ctx.tick()
                rdata = 0
                if buf is not None:
                    if req.write:
                        buf[offset:offset + size] = (req.wdata & ((1 << 8 * size) - 1)
                                                     ).to_bytes(size, "little")
                    else:
                        rdata = int.from_bytes(buf[offset:offset + size], "little")
                await send(ctx, core.ext_resp, {"rdata": rdata, "fault": buf is None})

    async def helper_responder(ctx):
        while not out.get("done"):
            ctx.set(core.helper_req.ready, 1)
            beat = ctx.get(core.helper_req.valid)
            req = ctx.get(core.helper_req.payload)
            await ctx.tick()
            if beat:
                ctx.set(core.helper_req.ready, 0)
                r1 = req.args[0]
                known = req.id == machine.UNWIND_HELPER_ID
                await send(ctx, core.helper_resp, {"r0": r1, "stop": known and r1 == 0,
                                                   "unknown": not known})

    sim = Simulator(core)
    sim.add_clock(1e-8)
    sim.add_testbench(driver)
    sim.add_testbench(ext_responder, background=True)
    sim.add_testbench(helper_responder, background=True)
    sim.run()
    return out["result"], ext


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_external_regions_match_the_model(name):
    source = PROGRAMS[name]
    got, ext = _run(name, source, random.Random(name))
    want = model.run(assemble(source), context=b"\0" * 8, packet=PACKET,
                     map_values={MAP_ID: bytearray(MAP_VALUE)},
                     helpers=model.conformance_helpers())
    assert (got.trap, got.trap_pc) == (want.trap, want.trap_pc)
    assert got.r0 == want.r0
    assert got.insn_count == want.insn_count
    assert bytes(ext.packet) == bytes(want.memory.packet)
    assert bytes(ext.maps[MAP_ID]) == bytes(want.memory.map_values[MAP_ID])
