"""The golden model: an eBPF interpreter with the Linux kernel's semantics.

It is the oracle for the hardware: RTL tests compare r0, registers, stack bytes, trap cause and
trap pc against it.  Value semantics (ALU results, jump conditions) come from ``isa``; the
address map and trap causes from ``machine``.

Behaviour the verifier normally rules out is still defined here, the way the hardware does it,
so that the two can be compared on any program:

* A load, store or atomic outside every region, or into a read-only one, traps
  ``OUT_OF_BOUNDS`` at that instruction.  The whole stack RAM (8 frames) is one region.
* An instruction that writes r10 traps ``ILLEGAL_INSTRUCTION`` (the frame pointer is read-only).
* After a helper call r1-r5 keep their values; after a bpf-to-bpf call they hold what the
  callee left (the kernel's verifier makes both unreadable, so either is the kernel's too).
* ``lddw`` map forms give a map handle (``MAP_FD``/``MAP_IDX``: the map id) or a map-value
  address (``MAP_VALUE``/``MAP_IDX_VALUE``: ``machine.map_value_address(id, offset)``).
* Legacy packet loads (``ldabs``/``ldind``) read the packet big-endian; out of bounds, the
  program ends with r0 = 0, as in the kernel.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from . import isa
from .helpers import helper_name
from .isa import (MASK32, MASK64, MAX_CALL_DEPTH, STACK_SIZE, AtomicOp, Fmt,
                  Insn, Mode, Pseudo, SIZE_BYTES)
from .machine import (DEFAULT_INSN_BUDGET, MAP_ID_SHIFT, MAP_OFFSET_MASK, UNWIND_HELPER_ID,
                      Region, TrapCause, frame_pointer, map_value_address, region_base,
                      region_of)

__all__ = ["run", "RunResult", "StopProgram", "Trap", "Memory", "HelperFn", "conformance_helpers"]


class StopProgram(Exception):
    """Raised by a helper to end the program at once, as by ``exit``, with ``r0``."""

    def __init__(self, r0: int):
        super().__init__(r0)
        self.r0 = r0


class Trap(Exception):
    """Raised inside the model (and by helpers) to stop the program with a trap cause."""

    def __init__(self, cause: TrapCause, message: str):
        super().__init__(message)
        self.cause = cause
        self.message = message


class Memory:
    """The regions of ``machine``'s address map, each a bytearray (some read-only)."""

    def __init__(self, context: bytes = b"", packet: bytes | None = None,
                 map_values: Mapping[int, bytearray] | None = None,
                 context_writable: bool = True):
        self.context = bytearray(context)
        self.context_writable = context_writable
        self.packet = bytearray(packet) if packet is not None else None
        self.stack = bytearray(STACK_SIZE * MAX_CALL_DEPTH)
        self.map_values: dict[int, bytearray] = dict(map_values or {})

    def _locate(self, address: int, size: int, write: bool) -> tuple[bytearray, int]:
        region = region_of(address)
        offset = address - region_base(region)
        if region == Region.CONTEXT:
            buf = self.context
            if write and not self.context_writable:
                raise Trap(TrapCause.OUT_OF_BOUNDS, f"write to read-only context at {address:#x}")
        elif region == Region.PACKET and self.packet is not None:
            buf = self.packet
        elif region == Region.STACK:
            buf = self.stack
        elif region == Region.MAP_VALUE:
            map_id = offset >> MAP_ID_SHIFT
            offset &= MAP_OFFSET_MASK
            buf = self.map_values.get(map_id)
            if buf is None:
                raise Trap(TrapCause.OUT_OF_BOUNDS, f"no map {map_id} at {address:#x}")
        else:
            raise Trap(TrapCause.OUT_OF_BOUNDS, f"address {address:#x} is in no region")
        if offset + size > len(buf):
            raise Trap(TrapCause.OUT_OF_BOUNDS,
                        f"{size}-byte access at {address:#x} past the end of the "
                        f"{region.name.lower()} region ({len(buf)} bytes)")
        return buf, offset

    def load(self, address: int, size: int) -> int:
        buf, offset = self._locate(address, size, write=False)
        return int.from_bytes(buf[offset:offset + size], "little")

    def store(self, address: int, size: int, value: int) -> None:
        buf, offset = self._locate(address, size, write=True)
        buf[offset:offset + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


HelperFn = Callable[..., int]   # fn(memory, r1, r2, r3, r4, r5) -> r0


@dataclass
class RunResult:
    """How a run ended.  ``insn_count`` counts completed instructions (lddw once); a trapping
    instruction is not counted, and ``budget`` is the most that may complete."""
    r0: int
    regs: list[int]
    trap: TrapCause
    trap_pc: int | None
    trap_message: str
    insn_count: int
    stack: bytes
    context: bytes
    trace: list[str] | None
    memory: Memory


def _unwind(memory: Memory, r1: int, *_args: int) -> int:
    if r1 == 0:
        raise StopProgram(0)
    return r1


def conformance_helpers() -> dict[int, HelperFn]:
    """The helpers the bpf_conformance suite assumes: 5 is its "unwind" helper."""
    return {UNWIND_HELPER_ID: _unwind}


_WRITES_DST = {Fmt.ALU_K, Fmt.ALU_X, Fmt.ALU_UNARY, Fmt.LDDW, Fmt.LDX}


def _illegal_reason(insn: Insn) -> str | None:
    if insn.spec is None or (insn.spec.fmt == Fmt.LDDW and insn.imm64 is None):
        if isa.lookup(insn.opcode, insn.src, insn.off, insn.imm) is not None:
            return "lddw without a valid second slot"
        return f"unknown opcode {insn.opcode:#04x}"
    why = isa.reserved_field_error(insn)
    if why:
        return why
    spec = insn.spec
    writes_r10 = (spec.fmt in _WRITES_DST and insn.dst == isa.FRAME_POINTER) or (
        spec.fmt == Fmt.ATOMIC and insn.imm & isa.ATOMIC_FETCH and insn.src == isa.FRAME_POINTER)
    if writes_r10:
        return "r10 is the read-only frame pointer"
    if spec.fmt == Fmt.LDDW and insn.src in (Pseudo.BTF_ID, Pseudo.FUNC):
        return f"lddw {Pseudo(insn.src).name} form is not offered by this target"
    return None


def run(insns: list[Insn], *, context: bytes = b"", packet: bytes | None = None,
        helpers: Mapping[int, HelperFn] | None = None, map_values: Mapping[int, bytearray] | None = None,
        budget: int = DEFAULT_INSN_BUDGET, trace: bool = False,
        regs: Mapping[int, int] | None = None, context_writable: bool = True,
        memory: Memory | None = None) -> RunResult:
    """Run a program (the list ``isa.decode_program`` returns) to exit or trap.

    ``memory``, when given, is used as it is (its helpers may hold on to it) instead of a new
    ``Memory`` built from ``context``, ``packet``, ``map_values`` and ``context_writable``.
    """
    if memory is None:
        memory = Memory(context, packet, map_values, context_writable)
    helpers = helpers or {}
    reg = [0] * isa.NUM_REGS
    reg[1] = region_base(Region.CONTEXT)
    reg[2] = len(memory.context)
    reg[10] = frame_pointer(0)
    for index, value in (regs or {}).items():
        reg[index] = value & MASK64
    frames: list[tuple[int, list[int]]] = []   # (return pc, caller's r6-r9 and r10)
    lines: list[str] | None = [] if trace else None
    format_insn = _trace_formatter() if trace else None
    count = 0
    pc = 0
    trap, trap_pc, trap_message = TrapCause.NONE, None, ""
    retiring = False        # between fetching an instruction and completing it
    try:
        while True:
            retiring = False
            if not 0 <= pc < len(insns):
                raise Trap(TrapCause.PC_OUT_OF_RANGE,
                            f"pc {pc} outside the program (0..{len(insns) - 1})")
            if count >= budget:
                raise Trap(TrapCause.BUDGET, f"instruction budget of {budget} exhausted")
            insn = insns[pc]
            why = _illegal_reason(insn)
            if why:
                raise Trap(TrapCause.ILLEGAL_INSTRUCTION, why)
            count += 1
            retiring = True
            spec = insn.spec
            fmt = spec.fmt
            next_pc = pc + 1
            written: int | None = None      # register written, for the trace

            if fmt in (Fmt.ALU_K, Fmt.ALU_X, Fmt.ALU_UNARY):
                src = reg[insn.src] if fmt == Fmt.ALU_X else insn.imm & MASK64
                reg[insn.dst] = isa.alu(spec.alu_op, spec.is64, reg[insn.dst], src, insn.off,
                                        insn.imm, spec.src_is_reg)
                written = insn.dst
            elif fmt in (Fmt.JMP_K, Fmt.JMP_X):
                src = reg[insn.src] if fmt == Fmt.JMP_X else insn.imm & MASK64
                if isa.jump_taken(spec.jmp_op, spec.is64, reg[insn.dst], src):
                    next_pc = pc + 1 + insn.off
            elif fmt == Fmt.JA:
                next_pc = pc + 1 + insn.off
            elif fmt == Fmt.JA32:
                next_pc = pc + 1 + insn.imm
            elif fmt in (Fmt.CALL_HELPER, Fmt.CALLX, Fmt.CALL_KFUNC):
                helper_id = reg[insn.dst] if fmt == Fmt.CALLX else insn.imm
                fn = helpers.get(helper_id) if fmt != Fmt.CALL_KFUNC else None
                if fn is None:
                    what = (f"kfunc {helper_id}" if fmt == Fmt.CALL_KFUNC
                            else f"helper {helper_name(helper_id)}#{helper_id}")
                    raise Trap(TrapCause.UNKNOWN_HELPER, f"{what} is not offered here")
                try:
                    reg[0] = fn(memory, *reg[1:6]) & MASK64
                except StopProgram as stop:
                    reg[0] = stop.r0 & MASK64
                    _trace_line(lines, format_insn, pc, insn, 0, reg)
                    break
                written = 0
            elif fmt == Fmt.CALL_LOCAL:
                if len(frames) + 1 >= MAX_CALL_DEPTH:
                    raise Trap(TrapCause.CALL_DEPTH,
                                f"call would nest deeper than {MAX_CALL_DEPTH} frames")
                frames.append((pc + 1, reg[6:11]))
                reg[10] = frame_pointer(len(frames))
                next_pc = pc + 1 + insn.imm
            elif fmt == Fmt.EXIT:
                if not frames:
                    _trace_line(lines, format_insn, pc, insn, None, reg)
                    break
                next_pc, saved = frames.pop()
                reg[6:11] = saved
            elif fmt == Fmt.LDDW:
                reg[insn.dst] = _lddw_value(insn)
                written = insn.dst
                next_pc = pc + 2
            elif fmt == Fmt.LDX:
                size = SIZE_BYTES[spec.size]
                value = memory.load((reg[insn.src] + insn.off) & MASK64, size)
                if spec.mode == Mode.MEMSX:
                    value = isa.sign_extend(value, 8 * size) & MASK64
                reg[insn.dst] = value
                written = insn.dst
            elif fmt == Fmt.ST:
                memory.store((reg[insn.dst] + insn.off) & MASK64, SIZE_BYTES[spec.size],
                             insn.imm)
            elif fmt == Fmt.STX:
                memory.store((reg[insn.dst] + insn.off) & MASK64, SIZE_BYTES[spec.size],
                             reg[insn.src])
            elif fmt == Fmt.ATOMIC:
                written = _atomic(memory, reg, insn)
            elif fmt in (Fmt.LD_ABS, Fmt.LD_IND):
                value = _legacy_packet_load(memory, reg, insn)
                if value is None:
                    reg[0] = 0
                    _trace_line(lines, format_insn, pc, insn, 0, reg)
                    break
                reg[0] = value
                written = 0
            else:   # every Fmt is handled above; a new one must be added here
                raise AssertionError(f"model does not handle {fmt}")
            _trace_line(lines, format_insn, pc, insn, written, reg)
            pc = next_pc
    except Trap as t:
        if retiring:        # the trapping instruction did not complete: it is not counted
            count -= 1
        trap, trap_pc, trap_message = t.cause, pc, t.message
        if lines is not None:
            lines.append(f"{pc:5d}: trap {t.cause.name}: {t.message}")
    return RunResult(r0=reg[0], regs=list(reg), trap=trap, trap_pc=trap_pc,
                     trap_message=trap_message, insn_count=count,
                     stack=bytes(memory.stack[:STACK_SIZE]), context=bytes(memory.context),
                     trace=lines, memory=memory)


def _lddw_value(insn: Insn) -> int:
    if insn.src in (Pseudo.MAP_FD, Pseudo.MAP_IDX):
        return insn.imm64 & MASK32
    if insn.src in (Pseudo.MAP_VALUE, Pseudo.MAP_IDX_VALUE):
        return map_value_address(insn.imm64 & MASK32, insn.imm64 >> 32)
    return insn.imm64


def _atomic(memory: Memory, reg: list[int], insn: Insn) -> int | None:
    """Do an atomic read-modify-write; return the register it wrote, if any."""
    size = SIZE_BYTES[insn.spec.size]
    mask = (1 << (8 * size)) - 1
    address = (reg[insn.dst] + insn.off) & MASK64
    old = memory.load(address, size)
    operand = reg[insn.src] & mask
    op = AtomicOp(insn.imm)
    if op == AtomicOp.CMPXCHG:
        if old == reg[0] & mask:
            memory.store(address, size, operand)
        reg[0] = old
        return 0
    if op == AtomicOp.XCHG:
        new = operand
    else:
        base = AtomicOp(op & ~isa.ATOMIC_FETCH)
        new = {AtomicOp.ADD: old + operand, AtomicOp.OR: old | operand,
               AtomicOp.AND: old & operand, AtomicOp.XOR: old ^ operand}[base]
    memory.store(address, size, new)
    if op & isa.ATOMIC_FETCH:
        reg[insn.src] = old
        return insn.src
    return None


def _legacy_packet_load(memory: Memory, reg: list[int], insn: Insn) -> int | None:
    size = SIZE_BYTES[insn.spec.size]
    offset = insn.imm & MASK32
    if insn.spec.fmt == Fmt.LD_IND:
        offset = (offset + reg[insn.src]) & MASK32
    packet = memory.packet
    if packet is None or offset + size > len(packet):
        return None
    return int.from_bytes(packet[offset:offset + size], "big")


def _trace_formatter():
    from .disasm import format_insn
    return format_insn


def _trace_line(lines, format_insn, pc: int, insn: Insn, written: int | None,
                reg: list[int]) -> None:
    if lines is None:
        return
    text = f"{pc:5d}: {format_insn(insn, pc)}"
    if written is not None:
        text += f"  ; r{written} = {reg[written]:#x}"
    lines.append(text)
