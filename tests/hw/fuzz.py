"""Random eBPF programs for differential fuzzing of the core against the golden model.

Instructions are drawn from the rows of ``isa.OPCODES`` (so every form the table has can
appear), with fields chosen to hit interesting cases: edge-value immediates, stack accesses
around frame 0 (some below the stack), context accesses around its end, atomics of both
widths, forward and backward branches and gotol (the budget ends loops), bpf-to-bpf calls
(deep recursion traps), the unwind helper, callx, lddw; and malformed encodings (any field of
any slot set to a random value, a truncated program).
"""

from hypothesis import strategies as st

from firmware.ebpf import isa
from firmware.ebpf.isa import Fmt, Insn

FAMILIES = {   # relative weights
    Fmt.ALU_K: 12, Fmt.ALU_X: 12, Fmt.ALU_UNARY: 4, Fmt.JMP_K: 6, Fmt.JMP_X: 4, Fmt.JA: 2,
    Fmt.LDDW: 2, Fmt.LDX: 6, Fmt.ST: 4, Fmt.STX: 6, Fmt.ATOMIC: 6, Fmt.CALL_HELPER: 1,
    Fmt.EXIT: 2, Fmt.JA32: 1, Fmt.CALL_LOCAL: 2, Fmt.CALLX: 1,
}
SPECS = {fmt: [s for s in isa.OPCODES if s.fmt == fmt
               and not (fmt == Fmt.LDDW and s.value != isa.Pseudo.IMM64)]
         for fmt in FAMILIES}
WEIGHTED = [fmt for fmt, weight in FAMILIES.items() for _ in range(weight)]

EDGE_IMMS = [0, 1, -1, 2, 7, 8, 16, 31, 32, 63, 64, 0x7F, 0x80, 0xFF, 0x7FFF, -0x8000,
             0x7FFFFFFF, -0x80000000]
EDGE_64 = [0, 1, (1 << 64) - 1, 1 << 63, (1 << 63) - 1, 0xFFFFFFFF, 1 << 32, 0x80000000]
CONTEXT_SIZE = 32


def _imm(draw):
    if draw(st.booleans()):
        return draw(st.sampled_from(EDGE_IMMS))
    return draw(st.integers(-(1 << 31), (1 << 31) - 1))


def _insn(spec, dst=0, src=0, off=0, imm=0) -> Insn:
    fields = {"dst": dst, "src": src, "off": off, "imm": imm}
    for name in spec.unused_fields:
        fields[name] = 0
    if spec.discriminator:
        fields[spec.discriminator] = spec.value
    insn = Insn(spec.opcode, **fields)
    insn.spec = spec
    return insn


@st.composite
def instruction(draw, index: int, length: int) -> list[Insn]:
    """One instruction (two slots for lddw) at ``index`` of a ``length``-slot body."""
    fmt = draw(st.sampled_from(WEIGHTED))
    spec = draw(st.sampled_from(SPECS[fmt]))
    dst = draw(st.integers(0, 9))
    src = draw(st.integers(0, 10))
    if fmt in (Fmt.ALU_K, Fmt.ALU_X, Fmt.ALU_UNARY):
        return [_insn(spec, dst, src, 0, _imm(draw))]
    if fmt in (Fmt.JMP_K, Fmt.JMP_X, Fmt.JA, Fmt.JA32, Fmt.CALL_LOCAL):
        forward = length - index               # up to the final exit
        if draw(st.integers(0, 4)) == 0:
            off = draw(st.integers(-index - 1, -1))
        else:
            off = draw(st.integers(0, forward))
        if fmt in (Fmt.JA32, Fmt.CALL_LOCAL):  # the target is in imm
            return [_insn(spec, dst, src, 0, off)]
        return [_insn(spec, dst, src, off, _imm(draw))]
    if fmt == Fmt.CALLX:
        return [_insn(spec, dst)]
    if fmt == Fmt.LDDW:
        value = draw(st.sampled_from(EDGE_64) | st.integers(0, (1 << 64) - 1))
        insn = _insn(spec, dst, 0, 0, isa.sign_extend(value, 32))
        insn.imm64 = value
        filler = Insn(0, 0, 0, 0, isa.sign_extend(value >> 32, 32))
        return [insn, filler]
    if fmt in (Fmt.LDX, Fmt.ST, Fmt.STX, Fmt.ATOMIC):
        size = isa.SIZE_BYTES[spec.size]
        where = draw(st.integers(0, 9))
        if where < 7:                          # stack frame 0, sometimes just below it
            base, off = 10, -draw(st.integers(size, 520))
        elif where < 9:                        # context, sometimes past its end
            base, off = 1, draw(st.integers(0, CONTEXT_SIZE + 4))
        else:                                  # whatever the register holds
            base, off = draw(st.integers(0, 10)), draw(st.integers(-16, 16))
        if fmt == Fmt.LDX:
            return [_insn(spec, dst, base, off)]
        if fmt == Fmt.ST:
            return [_insn(spec, base, 0, off, _imm(draw))]
        return [_insn(spec, base, draw(st.integers(0, 9)), off, spec.value or 0)]
    if fmt == Fmt.CALL_HELPER:
        return [_insn(spec, 0, 0, 0, draw(st.sampled_from([5, 5, 5, 1])))]
    return [_insn(spec)]                        # exit


# Byte offset and width of each field in a slot ("<BBhi": opcode, dst|src<<4, off, imm).
SLOT_FIELDS = {"opcode": (0, 0, 8), "dst": (1, 0, 4), "src": (1, 4, 4), "off": (2, 0, 16),
               "imm": (4, 0, 32)}


def _corrupt(code: bytes, slot: int, field: str, value: int) -> bytes:
    """``code`` with ``field`` of slot ``slot`` set to ``value``."""
    byte, shift, width = SLOT_FIELDS[field]
    word = int.from_bytes(code[8 * slot:8 * slot + 8], "little")
    lsb = 8 * byte + shift
    mask = ((1 << width) - 1) << lsb
    word = (word & ~mask) | ((value << lsb) & mask)
    return code[:8 * slot] + word.to_bytes(8, "little") + code[8 * slot + 8:]


@st.composite
def program(draw, max_body: int = 24) -> tuple[list[Insn], bytes]:
    """A program (body then exit) and its context bytes.  One program in four has one field
    of one slot (any field, any slot: lddw second slots and the final exit included) set
    to a random value, or loses its final slot (a truncated lddw when one ends the body);
    the list is then what a lenient decode of those bytes gives, as the loader would."""
    length = draw(st.integers(1, max_body))
    body: list[Insn] = []
    while len(body) < length:
        body += draw(instruction(len(body), length))
    exit_spec = isa.lookup(0x95)
    body.append(_insn(exit_spec))
    context = draw(st.binary(min_size=CONTEXT_SIZE, max_size=CONTEXT_SIZE))
    if draw(st.integers(0, 3)) == 0:
        code = isa.encode_program(body)
        if draw(st.integers(0, 7)) == 0:
            code = code[:-8]                    # no final exit
        else:
            slot = draw(st.integers(0, len(code) // 8 - 1))
            field = draw(st.sampled_from(sorted(SLOT_FIELDS)))
            width = SLOT_FIELDS[field][2]
            value = draw(st.sampled_from([1, (1 << width) - 1]) | st.integers(0, (1 << width) - 1))
            code = _corrupt(code, slot, field, value)
        body = isa.decode_program(code, strict=False)
    return body, context


def assert_matches_model(insns, ctx, got, budget: int) -> None:
    """``got`` (a core run) agrees with the golden model on r0, trap cause and pc, completed
    instructions, frame 0 of the stack and the context; a failure shows the model's last
    trace lines."""
    from firmware.ebpf import model
    want = model.run(insns, context=ctx, helpers=model.conformance_helpers(), budget=budget)
    where = "\n".join(model.run(insns, context=ctx, helpers=model.conformance_helpers(),
                                budget=budget, trace=True).trace[-12:])
    assert not got.timed_out, where
    assert (got.trap, got.trap_pc) == (want.trap, want.trap_pc), where
    assert got.r0 == want.r0, where
    assert got.insn_count == want.insn_count, where
    assert got.stack == want.stack, where
    assert got.context == want.context, where
