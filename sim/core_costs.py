"""The pipelined core's cycle costs, as a table written from its design (docs/core.md), apart
from the RTL: tests predict a run's cycles from the golden model's trace with it, so a change
of timing shows up as a disagreement between two independent things.

A run's ``cycles`` (the core's counter: cycles in the RUN state, the one that ends it
included) is ``FILL`` plus, for every instruction that reaches execute in program order, its
cost below.  Memory accesses outside the core (packet, map values) and helper calls cost what
their answerer takes: ``ext_latency`` / ``helper_latency`` cycles from the cycle the request
is accepted to the one the response is seen (1 for the conformance top's answerers, which
reply the next cycle).

Costs (cycles the instruction holds execute, plus the bubbles it causes behind it):

========================  =============================================================
ALU, not-taken branch     1 (dependent chains back to back: operands are forwarded)
mul                       4 (operands, partial products, their sum, retire)
div, mod                  ``DIV_CYCLES[width]`` (one quotient bit a cycle); by zero 2
taken branch, ja, gotol,  3 (resolved in execute; fetch restarts at the target the same
call, exit from a callee   cycle and the target is decoded two cycles later)
exit of the program       1
lddw                      1, plus 1 bubble unless the instruction before it in program
                           order held execute for 2 cycles or more (the pair is assembled
                           in decode while that one executes)
store to stack / context  1 (the address is formed in decode)
load from stack / ctx     3 (RAM read, its output registered, data)
atomic on stack / ctx     4 (read, registered, new value, write)
packet / map access       1 + ext_latency (request, response); an atomic there is a locked
                           read and a write: 2 + 2 * ext_latency
base register hazard      +1 for a slot of a memory class (legal or not, in the program) whose
                           base register the instruction just before it in program order
                           writes: decode forms the address from the register file
helper call               1 + helper_latency
trap before execution     1 (pc out of range, budget, illegal, call depth, kfunc, callx id)
out-of-bounds access      1 when no region holds it
========================  =============================================================
"""

from dataclasses import dataclass

from firmware.ebpf import isa, machine, model
from firmware.ebpf.isa import Fmt

__all__ = ["FILL", "DIV_CYCLES", "CostModel", "predict_cycles"]

FILL = 2
"""Cycles before the first instruction reaches execute: fetch, then decode."""

DIV_CYCLES = {64: 66, 32: 34}
"""div/mod: a start cycle, one per quotient bit, and the result cycle."""

_MEMORY_FMTS = {Fmt.LDX, Fmt.ST, Fmt.STX, Fmt.ATOMIC}
_JUMP_FMTS = {Fmt.JMP_K, Fmt.JMP_X}


@dataclass(frozen=True)
class CostModel:
    """Latencies of the core's partners (see the module docstring)."""
    ext_latency: int = 1
    helper_latency: int = 1


def _internal(addr: int, size: int, context_len: int) -> bool | None:
    """True for a stack or context access in bounds, False for the packet or map-value
    regions, None for an address no region holds (the core faults it itself)."""
    if addr >> 32:
        return None
    region = machine.region_of(addr)
    offset = addr - machine.region_base(region) if region is not None else 0
    if region == machine.Region.STACK:
        return True if offset + size <= isa.STACK_SIZE * isa.MAX_CALL_DEPTH else None
    if region == machine.Region.CONTEXT:
        return True if offset + size <= context_len else None
    if region in (machine.Region.PACKET, machine.Region.MAP_VALUE):
        return False
    return None


_LDDW_OPCODE = isa.Cls.LD | isa.Size.DW | isa.Mode.IMM


def _pairs_in_decode(insn) -> bool:
    """Whether decode takes this slot as the first half of an lddw pair: any slot with
    lddw's opcode (execute traps a pair whose first slot is illegal)."""
    return insn.opcode == _LDDW_OPCODE


def _replay(insns, result, regs0):
    """(pc, registers before it, next pc or None) for every instruction that reached execute,
    rebuilt from the model's trace (each line names the register it wrote, with its value)."""
    regs = list(regs0)
    frames = []
    steps = []
    lines = result.trace
    for i, line in enumerate(lines):
        head, _, rest = line.partition(":")
        pc = int(head)
        if rest.strip().startswith("trap "):
            steps.append((pc, list(regs), None))
            break
        nxt = int(lines[i + 1].partition(":")[0]) if i + 1 < len(lines) else None
        steps.append((pc, list(regs), nxt))
        insn = insns[pc]
        fmt = insn.spec.fmt
        if "; r" in rest:
            reg, _, value = rest.rpartition("; r")[2].partition(" = ")
            regs[int(reg)] = int(value, 16)
        if fmt == Fmt.CALL_LOCAL:
            frames.append(regs[6:10])
            regs[10] = machine.frame_pointer(len(frames))
        elif fmt == Fmt.EXIT and frames:
            regs[6:10] = frames.pop()
            regs[10] = machine.frame_pointer(len(frames))
    return steps


def _written(line: str) -> int | None:
    """The register a trace line says its instruction wrote."""
    _, _, rest = line.partition(":")
    if "; r" not in rest:
        return None
    return int(rest.rpartition("; r")[2].partition(" = ")[0])


def _base_register(insn) -> int | None:
    """The base register decode reads for a slot of a memory class, legal or not (None for
    other slots): src for ldx and ldind, dst for st and stx (atomics included)."""
    cls = insn.opcode & 0x07
    if cls == isa.Cls.LDX or (cls == isa.Cls.LD and insn.opcode & 0xE0 == isa.Mode.IND):
        return insn.src
    if cls in (isa.Cls.ST, isa.Cls.STX):
        return insn.dst
    return None


def predict_cycles(insns, *, context: bytes = b"", budget: int = machine.DEFAULT_INSN_BUDGET,
                   helpers=None, costs: CostModel = CostModel(), **run_args) -> int:
    """The core's ``cycles`` for a run, from the golden model's trace and the table above."""
    helpers = model.conformance_helpers() if helpers is None else helpers
    result = model.run(insns, context=context, budget=budget, helpers=helpers, trace=True,
                       **run_args)
    regs0 = [0] * isa.NUM_REGS
    regs0[1] = machine.region_base(machine.Region.CONTEXT)
    regs0[2] = len(context)
    regs0[10] = machine.frame_pointer(0)
    for index, value in run_args.get("regs", {}).items():
        regs0[index] = value
    total = FILL
    held = 1                    # cycles the previous instruction held execute
    wrote = None                # the register the previous instruction wrote
    for step, (pc, regs, nxt) in enumerate(_replay(insns, result, regs0)):
        in_program = 0 <= pc < len(insns)
        if in_program and wrote is not None and _base_register(insns[pc]) == wrote:
            total += 1          # the base register hazard
        wrote = _written(result.trace[step])
        trapped = nxt is None and result.trap != machine.TrapCause.NONE
        insn = insns[pc] if 0 <= pc < len(insns) else None
        spec = insn.spec if insn is not None else None
        if trapped and (spec is None or spec.fmt == Fmt.LDDW or result.trap in (
                machine.TrapCause.PC_OUT_OF_RANGE, machine.TrapCause.BUDGET,
                machine.TrapCause.ILLEGAL_INSTRUCTION, machine.TrapCause.CALL_DEPTH)
                or (result.trap == machine.TrapCause.UNKNOWN_HELPER
                    and spec.fmt in (Fmt.CALL_KFUNC, Fmt.CALLX)
                    and (spec.fmt == Fmt.CALL_KFUNC or regs[insn.dst] >> 32))):
            cost = 1
            if insn is not None and _pairs_in_decode(insn) and held < 2:
                cost += 1       # the pair is assembled (the bubble) before execute traps it
            total += cost
            break
        fmt = spec.fmt
        taken = False
        if fmt in (Fmt.ALU_K, Fmt.ALU_X, Fmt.ALU_UNARY):
            if spec.alu_op == isa.AluOp.MUL:
                cost = 4
            elif spec.alu_op in (isa.AluOp.DIV, isa.AluOp.MOD):
                divisor = regs[insn.src] if fmt == Fmt.ALU_X else insn.imm & isa.MASK64
                width = 64 if spec.is64 else 32
                zero = divisor & ((1 << width) - 1) == 0
                cost = 2 if zero else DIV_CYCLES[width]
            else:
                cost = 1
        elif fmt in _JUMP_FMTS:
            # Taken is the condition, whatever the target (off 0 redirects to pc + 1 too).
            src = regs[insn.src] if fmt == Fmt.JMP_X else insn.imm & isa.MASK64
            taken = isa.jump_taken(spec.jmp_op, spec.is64, regs[insn.dst], src)
            cost = 3 if taken else 1
        elif fmt in (Fmt.JA, Fmt.JA32, Fmt.CALL_LOCAL):
            cost = 3
        elif fmt == Fmt.EXIT:
            cost = 3 if nxt is not None else 1
        elif fmt == Fmt.LDDW:
            cost = 1 if held >= 2 else 2
        elif fmt in (Fmt.CALL_HELPER, Fmt.CALLX):
            cost = 1 + costs.helper_latency
        elif fmt in _MEMORY_FMTS:
            base = insn.src if fmt == Fmt.LDX else insn.dst
            addr = (regs[base] + insn.off) & isa.MASK64
            where = _internal(addr, isa.SIZE_BYTES[spec.size], len(context))
            if where is None:
                cost = 1
            elif where:
                cost = {Fmt.ST: 1, Fmt.STX: 1, Fmt.LDX: 3, Fmt.ATOMIC: 4}[fmt]
            elif fmt == Fmt.ATOMIC and not trapped:
                cost = 2 + 2 * costs.ext_latency
            else:
                cost = 1 + costs.ext_latency
        elif fmt in (Fmt.LD_ABS, Fmt.LD_IND):
            cost = 1 + costs.ext_latency
        else:
            raise AssertionError(f"no cost for {fmt}")
        total += cost
        # What the next instruction sees: a redirect's bubbles are not execute held.
        held = 1 if (taken or fmt in (Fmt.JA, Fmt.JA32, Fmt.CALL_LOCAL, Fmt.EXIT)) else \
            (1 if fmt == Fmt.LDDW else cost)
    return total
