"""Byte-lane RAM (stack and context) against a bytearray; register file; call stack."""

import random

from firmware.ebpf import isa
from hw.core.callstack import CallStack
from hw.core.regfile import RegisterFile
from hw.core.stack import ByteRAM

from .simhelp import run_testbench


def test_byte_ram_unaligned_accesses_match_a_bytearray():
    size = 256
    rng = random.Random(4)
    dut = ByteRAM(size)
    ref = bytearray(size)

    async def bench(ctx):
        # Host fills the RAM row by row.
        for row in range(size // 8):
            data = bytes(rng.getrandbits(8) for _ in range(8))
            ref[8 * row:8 * row + 8] = data
            ctx.set(dut.host_addr, row)
            ctx.set(dut.host_wr_en, 1)
            ctx.set(dut.host_wr_mask, 0xFF)
            ctx.set(dut.host_wr_data, int.from_bytes(data, "little"))
            await ctx.tick()
        ctx.set(dut.host_wr_en, 0)
        for _ in range(400):
            n = rng.choice([1, 2, 4, 8])
            addr = rng.randrange(size - n + 1)
            if rng.random() < 0.5:
                value = rng.getrandbits(64)
                ctx.set(dut.wr_en, 1)
                ctx.set(dut.wr_addr, addr)
                ctx.set(dut.wr_data, value)
                ctx.set(dut.wr_mask, (1 << n) - 1)
                await ctx.tick()
                ctx.set(dut.wr_en, 0)
                ref[addr:addr + n] = (value & ((1 << 8 * n) - 1)).to_bytes(n, "little")
            else:
                ctx.set(dut.rd_en, 1)
                ctx.set(dut.rd_addr, addr)
                await ctx.tick()
                ctx.set(dut.rd_en, 0)
                got = ctx.get(dut.rd_data) & ((1 << 8 * n) - 1)
                assert got == int.from_bytes(ref[addr:addr + n], "little"), (addr, n)
        for row in range(size // 8):               # host read-back
            ctx.set(dut.host_addr, row)
            await ctx.tick()
            assert ctx.get(dut.host_rd_data) == int.from_bytes(ref[8 * row:8 * row + 8],
                                                               "little")

    run_testbench(dut, bench)


def test_register_file():
    dut = RegisterFile()

    async def bench(ctx):
        ctx.set(dut.init, 1)
        ctx.set(dut.init_r1, 0x1000_0000)
        ctx.set(dut.init_r2, 5)
        await ctx.tick()
        ctx.set(dut.init, 0)
        ctx.set(dut.fp, 0x3000_0200)
        for reg, want in ((0, 0), (1, 0x1000_0000), (2, 5), (9, 0), (10, 0x3000_0200)):
            ctx.set(dut.rs1_addr, reg)
            assert ctx.get(dut.rs1_data) == want
        ctx.set(dut.we, 1)
        ctx.set(dut.waddr, 7)
        ctx.set(dut.wdata, 0xDEAD)
        ctx.set(dut.rs2_addr, 7)
        assert ctx.get(dut.rs2_data) == 0            # written at the edge, not before
        await ctx.tick()
        ctx.set(dut.we, 0)
        assert ctx.get(dut.rs2_data) == 0xDEAD
        assert ctx.get(dut.saved)[1] == 0xDEAD         # r7 in r6..r9
        ctx.set(dut.restore, 1)
        ctx.set(dut.restore_data, [1, 2, 3, 4])
        await ctx.tick()
        ctx.set(dut.restore, 0)
        for reg, want in ((6, 1), (7, 2), (8, 3), (9, 4)):
            ctx.set(dut.rs1_addr, reg)
            assert ctx.get(dut.rs1_data) == want

    run_testbench(dut, bench)


def test_call_stack_push_and_top():
    dut = CallStack()

    async def bench(ctx):
        for depth in range(isa.MAX_CALL_DEPTH - 1):
            ctx.set(dut.depth, depth)
            ctx.set(dut.push, 1)
            ctx.set(dut.push_frame, {"ret_pc": 100 + depth,
                                     "regs": [depth, depth + 1, depth + 2, depth + 3]})
            await ctx.tick()
        ctx.set(dut.push, 0)
        for depth in range(1, isa.MAX_CALL_DEPTH):
            ctx.set(dut.depth, depth)
            top = ctx.get(dut.top)
            assert top.ret_pc == 100 + depth - 1
            assert list(top.regs) == [depth - 1, depth, depth + 1, depth + 2]

    run_testbench(dut, bench)


def test_epoch_clear_zeroes_in_one_cycle_and_sweeps_on_wrap():
    size = 64
    dut = ByteRAM(size, epoch_bits=2)

    async def write(ctx, addr, value, n=8):
        ctx.set(dut.wr_en, 1)
        ctx.set(dut.wr_addr, addr)
        ctx.set(dut.wr_data, value)
        ctx.set(dut.wr_mask, (1 << n) - 1)
        await ctx.tick()
        ctx.set(dut.wr_en, 0)

    async def read(ctx, addr):
        ctx.set(dut.rd_en, 1)
        ctx.set(dut.rd_addr, addr)
        await ctx.tick()
        ctx.set(dut.rd_en, 0)
        return ctx.get(dut.rd_data)

    async def bench(ctx):
        sweeps = 0
        for run in range(9):                     # epochs 0..3 then a sweep, twice over
            assert await read(ctx, 3) == 0 and await read(ctx, 40) == 0
            await write(ctx, 3, 0x1122334455667788)
            await write(ctx, 12, 0xAB, 1)         # a partial write into row 1
            assert await read(ctx, 3) == 0x1122334455667788
            assert await read(ctx, 8) == 0xAB_00_11_22_33    # bytes 8..10 from the first write
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            cycles = 0
            while ctx.get(dut.clearing):
                await ctx.tick()
                cycles += 1
            if cycles:
                sweeps += 1
                assert cycles == size // 8
        assert sweeps == 2

    run_testbench(dut, bench)
