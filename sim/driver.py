"""One host driver for the core, over any simulator.

The driver (:func:`run_program`) talks to an abstract port interface (:class:`Ports`): set an
input, read an output, advance a clock cycle, wait for ``done``.  :class:`AmaranthPorts`
implements it for the Amaranth simulator; ``sim/core_tb.py`` for cocotb (Verilator,
Icarus).  The same sequence -- load instructions, load context, start, wait, read results and
the stack -- runs on both, so their results are comparable cycle for cycle.
"""

import math
from dataclasses import dataclass, field

from firmware.ebpf import isa
from firmware.ebpf.isa import Insn
from firmware.ebpf.machine import DEFAULT_INSN_BUDGET, TrapCause

__all__ = ["Ports", "RtlResult", "program_words", "run_program", "format_trace",
           "AmaranthPorts", "run_on_amaranth", "DEFAULT_MAX_CYCLES", "cycle_limit"]

DEFAULT_MAX_CYCLES = None      # enough for the budget: see cycle_limit()
SLOWEST_INSN_CYCLES = 70       # div64 / mod64 take 66; helpers answered promptly less


def cycle_limit(budget: int) -> int:
    """Cycles after which a run that has not ended counts as hung: every completed
    instruction at the slowest class's cost, plus a stack sweep and slack."""
    return SLOWEST_INSN_CYCLES * budget + 10_000


@dataclass
class RtlResult:
    """What the RTL reports after a run (mirrors the golden model's RunResult fields)."""
    r0: int
    trap: TrapCause
    trap_pc: int | None
    insn_count: int
    cycles: int
    stack: bytes                      # frame 0's 512 bytes
    context: bytes
    retired: list[tuple[int, int | None, int]] = field(default_factory=list)
    # (pc, register written or None, value) per retired instruction, when traced
    timed_out: bool = False


def program_words(insns: list[Insn]) -> list[int]:
    """The 64-bit instruction-memory words of a program (lddw takes two)."""
    code = isa.encode_program(insns)
    return [int.from_bytes(code[i:i + 8], "little") for i in range(0, len(code), 8)]


class Ports:
    """Abstract access to the core's host ports (names as in :class:`hw.core.core.Core`)."""

    def set(self, name: str, value: int) -> None:
        raise NotImplementedError

    def get(self, name: str) -> int:
        raise NotImplementedError

    async def tick(self) -> None:
        """Advance one clock cycle; inputs set before it are sampled at its edge."""
        raise NotImplementedError

    async def wait_done(self, max_cycles: int, trace: list | None) -> bool:
        """Run until the core is idle again; append retirements to ``trace`` if given.
        Returns False on timeout."""
        raise NotImplementedError


async def run_program(io: Ports, words: list[int], context: bytes = b"", *,
                      budget: int = DEFAULT_INSN_BUDGET, ctx_writable: bool = True,
                      trace: bool = False, max_cycles: int = DEFAULT_MAX_CYCLES,
                      read_context: bool = True, read_stack: bool = True) -> RtlResult:
    """Load and run one program; returns the results and frame 0 of the stack."""
    if max_cycles is None:
        max_cycles = cycle_limit(budget)
    for index, word in enumerate(words):
        io.set("imem_wr_en", 1)
        io.set("imem_wr_addr", index)
        io.set("imem_wr_data", word)
        await io.tick()
    io.set("imem_wr_en", 0)
    rows = math.ceil(len(context) / 8)
    for row in range(rows):
        chunk = context[8 * row:8 * row + 8]
        io.set("ctx_wr_en", 1)
        io.set("ctx_row", row)
        io.set("ctx_wr_mask", (1 << len(chunk)) - 1)
        io.set("ctx_wr_data", int.from_bytes(chunk, "little"))
        await io.tick()
    io.set("ctx_wr_en", 0)
    io.set("prog_len", len(words))
    io.set("budget", min(budget, (1 << 32) - 1))
    io.set("ctx_len", len(context))
    io.set("ctx_writable", int(ctx_writable))
    io.set("start", 1)
    await io.tick()
    io.set("start", 0)
    retired: list | None = [] if trace else None
    finished = await io.wait_done(max_cycles, retired)
    cause = TrapCause(io.get("trap_cause"))
    trap_pc = io.get("trap_pc")
    trap_pc = trap_pc - (1 << 32) if trap_pc >> 31 else trap_pc
    result = RtlResult(
        r0=io.get("r0"), trap=cause, trap_pc=trap_pc if cause != TrapCause.NONE else None,
        insn_count=io.get("insn_count"), cycles=io.get("cycles"), stack=b"", context=b"",
        retired=retired or [], timed_out=not finished)
    if read_stack:
        result.stack = await _read_rows(io, "stack_row", "stack_rd_data", isa.STACK_SIZE // 8)
    if read_context and rows:
        result.context = (await _read_rows(io, "ctx_row", "ctx_rd_data", rows))[:len(context)]
    return result


async def _read_rows(io: Ports, addr: str, data: str, rows: int) -> bytes:
    out = bytearray()
    io.set(addr, 0)
    for row in range(rows):
        await io.tick()                    # synchronous read: the row arrives after the edge
        if row + 1 < rows:
            io.set(addr, row + 1)
        out += io.get(data).to_bytes(8, "little")
    return bytes(out)


def format_trace(insns: list[Insn], result: RtlResult) -> list[str]:
    """The RTL's retirements as the golden model formats its trace (trap line included)."""
    from firmware.ebpf.disasm import format_insn
    lines = []
    for pc, reg, value in result.retired:
        text = f"{pc:5d}: {format_insn(insns[pc], pc)}"
        if reg is not None:
            text += f"  ; r{reg} = {value:#x}"
        lines.append(text)
    if result.trap != TrapCause.NONE:
        lines.append(f"{result.trap_pc:5d}: trap {result.trap.name}")
    return lines


class AmaranthPorts(Ports):
    """:class:`Ports` over an Amaranth simulator testbench context."""

    def __init__(self, ctx, top):
        self.ctx = ctx
        self.top = top

    def set(self, name, value):
        self.ctx.set(getattr(self.top, name), value)

    def get(self, name):
        value = self.ctx.get(getattr(self.top, name))
        return int(getattr(value, "value", value))   # enum members give their code

    async def tick(self):
        await self.ctx.tick()

    async def wait_done(self, max_cycles, trace):
        top = self.top
        for _ in range(max_cycles):
            if trace is not None:
                if self.ctx.get(top.retire):
                    reg = self.ctx.get(top.retire_reg) if self.ctx.get(top.retire_wb) else None
                    trace.append((self.ctx.get(top.retire_pc), reg,
                                  self.ctx.get(top.retire_value)))
                await self.ctx.tick()
                if not self.ctx.get(top.busy):
                    return True
            else:
                await self.ctx.tick()
                if not self.ctx.get(top.busy):
                    return True
        return False


def run_on_amaranth(programs: list[tuple], *, budget: int = DEFAULT_INSN_BUDGET,
                    trace: bool = False, ctx_writable: bool = True, read_state: bool = True,
                    max_cycles: int = DEFAULT_MAX_CYCLES, vcd: str | None = None,
                    top=None) -> list[RtlResult]:
    """Run programs one after another on one :class:`sim.units.SimTop` in the Amaranth
    simulator.  Each item is ``(insns, context)`` or ``(insns, context, overrides)`` where
    ``overrides`` may set ``budget`` / ``ctx_writable`` / ``trace`` for that program."""
    from amaranth.sim import Simulator
    from sim.units import SimTop
    top = top or SimTop()
    results: list[RtlResult] = []
    defaults = {"budget": budget, "trace": trace, "ctx_writable": ctx_writable,
                "max_cycles": max_cycles, "read_context": read_state, "read_stack": read_state}

    async def bench(ctx):
        io = AmaranthPorts(ctx, top)
        for item in programs:
            insns, context = item[0], item[1]
            kwargs = dict(defaults, **(item[2] if len(item) > 2 else {}))
            results.append(await run_program(io, program_words(insns), context, **kwargs))

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return results
