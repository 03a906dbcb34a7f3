"""ALU, branch unit and divider against isa.alu() / isa.jump_taken()."""

import random

import pytest

from firmware.ebpf import isa
from firmware.ebpf.isa import AluOp, JmpOp, MASK64
from hw.core.alu import ALU
from hw.core.branch import BranchUnit
from hw.core.divider import Divider

from .simhelp import run_testbench

EDGES = [0, 1, 2, 7, 0x7F, 0x80, 0xFF, 0x8000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
         0x1_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, MASK64, MASK64 - 1]


def _operands(rng, n):
    for _ in range(n):
        a = rng.choice(EDGES) if rng.random() < 0.3 else rng.getrandbits(64)
        b = rng.choice(EDGES) if rng.random() < 0.3 else rng.getrandbits(rng.choice([3, 6, 32,
                                                                                  64]))
        yield a, b


def _alu_cases(rng):
    cases = []
    single = [op for op in AluOp if op not in (AluOp.DIV, AluOp.MOD, AluOp.MOV, AluOp.END)]
    for op in single:
        for is64 in (False, True):
            for a, b in _operands(rng, 40):
                cases.append((op, is64, a, b, 0, 0, True))
    for is64, widths in ((True, (0, 8, 16, 32)), (False, (0, 8, 16))):
        for off in widths:
            for a, b in _operands(rng, 20):
                cases.append((AluOp.MOV, is64, a, b, off, 0, True))
    for is64, src_is_reg in ((False, False), (False, True), (True, False)):
        for imm in (16, 32, 64):
            for a, _ in _operands(rng, 20):
                cases.append((AluOp.END, is64, a, 0, 0, imm, src_is_reg))
    return cases


def test_alu_matches_isa():
    cases = _alu_cases(random.Random(1))
    dut = ALU()

    async def bench(ctx):
        for op, is64, a, b, off, imm, src_is_reg in cases:
            ctx.set(dut.op, op.value)
            ctx.set(dut.is64, is64)
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            ctx.set(dut.off, off)
            ctx.set(dut.imm, imm)
            ctx.set(dut.src_is_reg, src_is_reg)
            expected = isa.alu(op, is64, a, b, off, imm, src_is_reg)
            assert ctx.get(dut.result) == expected, (op, is64, hex(a), hex(b), off, imm)

    run_testbench(dut, bench, clock=False)


def test_branch_matches_isa():
    rng = random.Random(2)
    dut = BranchUnit()
    ops = [op for op in JmpOp if op not in (JmpOp.JA, JmpOp.CALL, JmpOp.EXIT)]

    async def bench(ctx):
        for op in ops:
            for is64 in (False, True):
                for a, b in list(_operands(rng, 40)) + [(x, x) for x in EDGES[:6]]:
                    ctx.set(dut.op, op.value)
                    ctx.set(dut.is64, is64)
                    ctx.set(dut.a, a)
                    ctx.set(dut.b, b)
                    assert ctx.get(dut.taken) == isa.jump_taken(op, is64, a, b), \
                        (op, is64, hex(a), hex(b))

    run_testbench(dut, bench, clock=False)


@pytest.mark.parametrize("is64", [False, True])
def test_divider_matches_isa_and_takes_width_plus_one_cycles(is64):
    rng = random.Random(3 + is64)
    dut = Divider()
    cases = []
    for op, signed in ((AluOp.DIV, 0), (AluOp.MOD, 0), (AluOp.DIV, 1), (AluOp.MOD, 1)):
        for a, b in list(_operands(rng, 25)) + [(EDGES[9], MASK64), (EDGES[13], MASK64),
                                                (5, 0), (MASK64, 0)]:
            cases.append((op, signed, a, b))

    async def bench(ctx):
        for op, signed, a, b in cases:
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            ctx.set(dut.is64, is64)
            ctx.set(dut.signed, signed)
            ctx.set(dut.modulo, op == AluOp.MOD)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            cycles = 1
            while not ctx.get(dut.done):
                await ctx.tick()
                cycles += 1
            expected = isa.alu(op, is64, a, b, off=signed)
            assert ctx.get(dut.result) == expected, (op, signed, hex(a), hex(b))
            width = 64 if is64 else 32
            zero = (b & (MASK64 if is64 else 0xFFFFFFFF)) == 0
            assert cycles == (1 if zero else width + 1)

    run_testbench(dut, bench)
