"""The load/store unit with its two RAMs, against the golden model's Memory and atomics,
with the cycle count of each access kind."""

import random

from amaranth.hdl import Module
from amaranth.lib import wiring

from firmware.ebpf import isa, machine
from firmware.ebpf.isa import AtomicOp, Size as PySize
from firmware.ebpf.model import Memory, Trap, _atomic
from hw.core.decoder import Kind, Size
from hw.core.lsu import LSU
from hw.core.stack import ByteRAM, StackRAM

from hw.xdp.misc import NoMaps

from .simhelp import run_testbench

STACK = machine.region_base(machine.Region.STACK)
CTX = machine.region_base(machine.Region.CONTEXT)
CTX_LEN = 24


class Harness(wiring.Component):
    """LSU wired to a stack RAM, a 64-byte context RAM and an ext-port answerer with nothing
    mapped (packet and map-value accesses fault, as in the model without them)."""

    def __init__(self):
        self.lsu = LSU(isa.STACK_SIZE * isa.MAX_CALL_DEPTH, 64)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.lsu = lsu = self.lsu
        m.submodules.stk = stk = StackRAM()
        m.submodules.ctx = ctx = ByteRAM(64)
        m.submodules.ext = ext = NoMaps()
        wiring.connect(m, lsu.ext_req, ext.req)
        wiring.connect(m, ext.resp, lsu.ext_resp)
        for ram, p in ((stk, "stk"), (ctx, "ctx")):
            m.d.comb += [
                ram.rd_en.eq(getattr(lsu, f"{p}_rd_en")),
                ram.rd_addr.eq(getattr(lsu, f"{p}_rd_addr")),
                getattr(lsu, f"{p}_rd_data").eq(ram.rd_data),
                ram.wr_en.eq(getattr(lsu, f"{p}_wr_en")),
                ram.wr_addr.eq(getattr(lsu, f"{p}_wr_addr")),
                ram.wr_data.eq(getattr(lsu, f"{p}_wr_data")),
                ram.wr_mask.eq(getattr(lsu, f"{p}_wr_mask")),
            ]
        return m


def _ops(rng):
    """(kind, size, sext, atomic_op, addr, value, r0) accesses, mostly in bounds."""
    ops = []
    for _ in range(300):
        kind = rng.choice([Kind.LDX, Kind.ST, Kind.STX, Kind.ATOMIC])
        size = rng.choice([PySize.W, PySize.DW] if kind == Kind.ATOMIC else list(PySize))
        n = isa.SIZE_BYTES[size]
        if rng.random() < 0.8:
            addr = STACK + rng.randrange(0, 64) if rng.random() < 0.7 else \
                CTX + rng.randrange(0, CTX_LEN + 3)
        else:
            addr = rng.choice([STACK + 4096 - n + 1, STACK - 1, 0, CTX + CTX_LEN - n + 1,
                               (1 << 32) + STACK])
        aop = rng.choice(list(AtomicOp)) if kind == Kind.ATOMIC else 0
        ops.append((kind, size, rng.random() < 0.5 and n < 8 and kind == Kind.LDX, aop, addr,
                    rng.getrandbits(64), rng.choice([0, rng.getrandbits(64)])))
    return ops


def _model_access(mem, regs, kind, size, sext, aop, addr, value, r0):
    """What the model does: (fault, written value or None); mutates mem and regs."""
    n = isa.SIZE_BYTES[size]
    try:
        if kind == Kind.LDX:
            v = mem.load(addr, n)
            return False, (isa.sign_extend(v, 8 * n) & isa.MASK64) if sext else v
        if kind in (Kind.ST, Kind.STX):
            mem.store(addr, n, value)
            return False, None
        regs[0], regs[2], regs[1] = r0, value, addr      # dst = r1, src = r2
        insn = isa.Insn(0xC3 | size, dst=1, src=2, imm=aop)
        insn.spec = isa.lookup(insn.opcode, 2, 0, aop)
        written = _atomic(mem, regs, insn)
        return False, None if written is None else regs[written]
    except Trap:
        return True, None


def test_lsu_matches_the_model_memory_and_takes_the_documented_cycles():
    rng = random.Random(7)
    ops = _ops(rng)
    dut = Harness()
    lsu = dut.lsu
    mem = Memory(context=bytes(CTX_LEN))

    async def bench(ctx):
        ctx.set(lsu.ctx_len, CTX_LEN)
        ctx.set(lsu.ctx_writable, 1)
        for kind, size, sext, aop, addr, value, r0 in ops:
            regs = [0] * 11
            fault, expect = _model_access(mem, regs, kind, size, sext, aop, addr, value, r0)
            ctx.set(lsu.start, 1)
            ctx.set(lsu.kind, kind)
            ctx.set(lsu.size, Size(size.value))
            ctx.set(lsu.sext, sext)
            ctx.set(lsu.atomic_op, aop)
            ctx.set(lsu.base, addr)
            ctx.set(lsu.disp, 0)
            ctx.set(lsu.sdata, value)
            ctx.set(lsu.r0, r0)
            cycles = 1
            while not (ctx.get(lsu.done) or ctx.get(lsu.fault)):
                await ctx.tick()
                cycles += 1
                assert cycles < 10, (kind, size, hex(addr))
            assert ctx.get(lsu.fault) == fault, (kind, size, hex(addr))
            internal = machine.region_of(addr) in (machine.Region.STACK, machine.Region.CONTEXT)
            if not fault and internal:
                assert cycles == (1 if kind in (Kind.ST, Kind.STX) else 2)
                if expect is None:
                    assert not ctx.get(lsu.wb_en)
                else:
                    assert ctx.get(lsu.wb_en) and ctx.get(lsu.wb_data) == expect, \
                        (kind, size, aop, hex(addr))
            await ctx.tick()
            ctx.set(lsu.start, 0)
        # Read the RAMs back through the LSU and compare with the model's bytes.
        for base, length in ((STACK, 64), (CTX, CTX_LEN)):
            for offset in range(0, length, 8):
                ctx.set(lsu.start, 1)
                ctx.set(lsu.kind, Kind.LDX)
                ctx.set(lsu.size, Size.DW)
                ctx.set(lsu.sext, 0)
                ctx.set(lsu.base, base + offset)
                await ctx.tick()
                assert ctx.get(lsu.done)
                assert ctx.get(lsu.wb_data) == mem.load(base + offset, 8), hex(base + offset)
                await ctx.tick()
                ctx.set(lsu.start, 0)

    run_testbench(dut, bench)
