"""Driving :class:`hw.maps.unit.MapUnit` in the Amaranth simulator: host commands through the
mailbox ports, helper calls with their arguments in a stack memory, and the core's accesses."""

import struct

from firmware.ebpf import machine
from hw import regs
from hw.core.decoder import Size

STACK_BASE = machine.region_base(machine.Region.STACK)
STACK_BYTES = 4096
SIZES = {1: Size.B, 2: Size.H, 4: Size.W, 8: Size.DW}


def signed32(v: int) -> int:
    return v - (1 << 32) if v & (1 << 31) else v


class MapBench:
    """One simulation context plus the stack the helpers read their arguments from."""

    def __init__(self, dut, ctx):
        self.dut = dut
        self.ctx = ctx
        self.stack = bytearray(STACK_BYTES)
        self.cycles = 0

    async def tick(self, n: int = 1):
        for _ in range(n):
            await self.ctx.tick()
            self.cycles += 1

    # --- host side ---
    async def write_window(self, prefix: str, data: bytes):
        d, ctx = self.dut, self.ctx
        data = bytes(data) + bytes(-len(data) % 4)
        for i in range(0, len(data), 4):
            ctx.set(getattr(d, f"{prefix}_addr"), i // 4)
            ctx.set(getattr(d, f"{prefix}_wr_en"), 1)
            ctx.set(getattr(d, f"{prefix}_wr_data"), int.from_bytes(data[i:i + 4], "little"))
            ctx.set(getattr(d, f"{prefix}_wr_strb"), 0xF)
            await self.tick()
        ctx.set(getattr(d, f"{prefix}_wr_en"), 0)

    async def read_window(self, prefix: str, n: int) -> bytes:
        d, ctx = self.dut, self.ctx
        out = b""
        for i in range((n + 3) // 4):
            ctx.set(getattr(d, f"{prefix}_addr"), i)
            await self.tick()
            out += ctx.get(getattr(d, f"{prefix}_rd_data")).to_bytes(4, "little")
        return out[:n]

    async def command(self, op: int, map_id: int = 0, flags: int = 0) -> int:
        d, ctx = self.dut, self.ctx
        ctx.set(d.cmd, op << regs.MAP_CMD.OP | map_id << regs.MAP_CMD.MAP_ID
                | flags << regs.MAP_CMD.FLAGS)
        ctx.set(d.cmd_wr, 1)
        await self.tick()
        ctx.set(d.cmd_wr, 0)
        for _ in range(200_000):
            if not ctx.get(d.busy):
                return signed32(ctx.get(d.result))
            await self.tick()
        raise AssertionError("map command never finished")

    async def create(self, map_type: int, key_size: int, value_size: int, entries: int) -> int:
        d, ctx = self.dut, self.ctx
        ctx.set(d.create_type, map_type)
        ctx.set(d.create_key_size, key_size)
        ctx.set(d.create_value_size, value_size)
        ctx.set(d.create_max_entries, entries)
        return await self.command(regs.MapOp.CREATE)

    async def host_update(self, map_id, key, value, flags=0) -> int:
        await self.write_window("key", key)
        await self.write_window("value", value)
        return await self.command(regs.MapOp.UPDATE, map_id, flags)

    async def host_lookup(self, map_id, key, value_size) -> bytes | int:
        await self.write_window("key", key)
        result = await self.command(regs.MapOp.LOOKUP, map_id)
        return result if result else await self.read_window("value", value_size)

    async def host_delete(self, map_id, key) -> int:
        await self.write_window("key", key)
        return await self.command(regs.MapOp.DELETE, map_id)

    async def host_keys(self, map_id, key_size) -> list[bytes]:
        keys = []
        result = await self.command(regs.MapOp.NEXT_KEY, map_id, 1)
        while result == 0:
            keys.append(await self.read_window("key", key_size))
            result = await self.command(regs.MapOp.NEXT_KEY, map_id, 0)
        return keys

    # --- program side ---
    def load(self, addr: int, size: int) -> int:
        """A little-endian load from the stack, as the golden model's memory answers it (the
        model's helpers read their key and value arguments with it)."""
        off = addr - STACK_BASE
        if not (0 <= off and off + size <= STACK_BYTES):
            raise AssertionError(f"the model's helper read {size} bytes at {addr:#x}, off the "
                                 f"bench's stack")
        return int.from_bytes(self.stack[off:off + size], "little")

    def _answer(self, addr: int, size_code) -> tuple[int, int]:
        size = {Size.B: 1, Size.H: 2, Size.W: 4, Size.DW: 8}[size_code]
        off = addr - STACK_BASE
        if 0 <= off and off + size <= STACK_BYTES:
            return int.from_bytes(self.stack[off:off + size], "little"), 0
        return 0, 1

    async def _until(self, done_signal):
        """Tick until ``done_signal`` is high, answering ``mem_req`` from :attr:`stack`
        meanwhile (one read at a time, answered the cycle after it is taken)."""
        d, ctx = self.dut, self.ctx
        pending = None
        while True:
            ctx.set(d.mem_req.ready, pending is None)
            ctx.set(d.mem_resp.valid, pending is not None)
            if pending is not None:
                ctx.set(d.mem_resp.payload.rdata, pending[0])
                ctx.set(d.mem_resp.payload.fault, pending[1])
            if ctx.get(done_signal):
                return
            taken = pending is not None and ctx.get(d.mem_resp.ready)
            asked = None
            if pending is None and ctx.get(d.mem_req.valid):
                asked = (ctx.get(d.mem_req.payload.addr), ctx.get(d.mem_req.payload.size))
            await self.tick()
            if taken:
                pending = None
            if asked is not None:
                pending = self._answer(*asked)

    async def helper(self, helper_id: int, *args: int, engine: int = 0) -> tuple[int, int, int]:
        """(r0, fault, unknown) of a helper call with r1.. = ``args`` from the program on
        ``engine``; counts its cycles."""
        d, ctx = self.dut, self.ctx
        args = list(args) + [0] * (5 - len(args))
        ctx.set(d.helper_engine, engine)
        ctx.set(d.helper_req.payload.id, helper_id)
        for i, a in enumerate(args):
            ctx.set(d.helper_req.payload.args[i], a & (1 << 64) - 1)
        ctx.set(d.helper_req.valid, 1)
        ctx.set(d.helper_resp.ready, 1)
        start = self.cycles
        while True:
            accepted = ctx.get(d.helper_req.ready)
            await self.tick()
            if accepted:
                break
        ctx.set(d.helper_req.valid, 0)
        await self._until(d.helper_resp.valid)
        out = (ctx.get(d.helper_resp.payload.r0), ctx.get(d.helper_resp.payload.fault),
               ctx.get(d.helper_resp.payload.unknown))
        await self.tick()
        ctx.set(d.helper_resp.ready, 0)
        self.last_helper_cycles = self.cycles - start
        return out

    async def access(self, addr: int, size: int, write: bool = False, wdata: int = 0,
                     lock: bool = False) -> tuple[int, int]:
        """A core load or store in the map-value region: (data, fault)."""
        d, ctx = self.dut, self.ctx
        p = d.core_req.payload
        ctx.set(p.addr, addr)
        ctx.set(p.size, SIZES[size])
        ctx.set(p.write, int(write))
        ctx.set(p.wdata, wdata)
        ctx.set(p.lock, int(lock))
        ctx.set(d.core_req.valid, 1)
        ctx.set(d.core_resp.ready, 1)
        while True:
            accepted = ctx.get(d.core_req.ready)
            await self.tick()
            if accepted:
                break
        ctx.set(d.core_req.valid, 0)
        while not ctx.get(d.core_resp.valid):
            await self.tick()
        # The bytes beyond the access are the row's neighbours (the LSU masks them off).
        out = (ctx.get(d.core_resp.payload.rdata) & ((1 << 8 * size) - 1),
               ctx.get(d.core_resp.payload.fault))
        await self.tick()
        ctx.set(d.core_resp.ready, 0)
        return out

    async def read_values(self, map_id: int, nbytes: int) -> bytes:
        """The first ``nbytes`` of map ``map_id``'s values (every per-CPU copy), read by core
        loads one byte at a time."""
        out = bytearray()
        for at in range(nbytes):
            data, fault = await self.access(machine.map_value_address(map_id, at), 1)
            assert not fault, f"map {map_id}: byte {at} of its values faults"
            out.append(data)
        return bytes(out)

    def put(self, offset: int, data: bytes) -> int:
        """Place ``data`` on the stack; its program address."""
        self.stack[offset:offset + len(data)] = data
        return STACK_BASE + offset


def u32(v: int) -> bytes:
    return struct.pack("<I", v)


def u64(v: int) -> bytes:
    return struct.pack("<Q", v)
