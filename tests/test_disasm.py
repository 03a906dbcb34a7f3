"""The disassembler: exact text, generated labels, and a round trip over every table row."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.ebpf import isa
from firmware.ebpf.asm import assemble
from firmware.ebpf.disasm import (branch_target, disassemble, disassemble_bytes, format_insn,
                                  format_number)
from firmware.ebpf.isa import Fmt, Insn


def one(source: str) -> Insn:
    return assemble(source)[0]


@pytest.mark.parametrize("source,text", [
    ("mov %r0, 1", "mov %r0, 1"),
    ("mov32 %r0, 0xffffffff", "mov32 %r0, -1"),
    ("and %r1, 0x0f0f0f0f", "and %r1, 0xf0f0f0f"),
    ("add %r1, -0x80000000", "add %r1, -0x80000000"),
    ("add32 %r0, %r1", "add32 %r0, %r1"),
    ("swap16 %r0", "bswap16 %r0"),
    ("movsx832 %r0, %r1", "movsx832 %r0, %r1"),
    ("ldxh %r0, [%r1+0x2]", "ldxh %r0, [%r1+2]"),
    ("ldxdw %r0, [%r1+0]", "ldxdw %r0, [%r1]"),
    ("stxdw [%r10-8], %r1", "stxdw [%r10-8], %r1"),
    ("stb [%r10-1], 0x80", "stb [%r10-1], 128"),
    ("jeq %r1, 0x80000000, +1", "jeq %r1, -0x80000000, +1"),
    ("ja -1", "ja -1"),
    ("ja32 +0", "ja32 +0"),
    ("call 5", "call 5"),
    ("callx %r2", "call %r2"),
    ("call local -5", "call local -5"),
    ("call kfunc 9, 3", "call kfunc 9, 3"),
    ("lock fetch or32 [%r10-8], %r1", "lock fetch or32 [%r10-8], %r1"),
    ("lock cmpxchg [%r1], %r2", "lock cmpxchg [%r1], %r2"),
    ("ldabsh 12", "ldabsh 12"),
    ("ldindb %r3, 1", "ldindb %r3, 1"),
    ("lddw %r0, 0x1122334455667788", "lddw %r0, 0x1122334455667788"),
    ("lddw %r0, -1", "lddw %r0, 0xffffffffffffffff"),
    ("lddw %r1, map_value 3 + 16", "lddw %r1, map_value 3 + 16"),
    ("lddw %r1, map_fd 3", "lddw %r1, map_fd 3"),
    ("lddw %r1, func -2", "lddw %r1, func -2"),
    ("exit", "exit"),
])
def test_format_insn_text(source, text):
    assert format_insn(one(source)) == text


def test_format_insn_uses_labels_only_with_pc():
    insn = one("jne %r1, 0, +2")
    assert format_insn(insn, 3, {6: "out"}) == "jne %r1, 0, out"
    assert format_insn(insn, 4, {6: "out"}) == "jne %r1, 0, +2"
    assert format_insn(insn, None, {6: "out"}) == "jne %r1, 0, +2"


def test_format_insn_writes_malformed_slots_as_raw_insn():
    assert format_insn(Insn(0xff, 1, 2, 3, 4)) == ".insn 0xff, 1, 2, 3, 4"
    # mov with imm set (reserved for the X form) and a register that does not exist.
    assert format_insn(Insn(0xbf, 1, 2, 0, 7)) == ".insn 0xbf, 1, 2, 0, 7"
    assert format_insn(Insn(0xb7, 12, 0, 0, 1)) == ".insn 0xb7, 12, 0, 0, 1"


def test_format_number_boundaries():
    assert [format_number(v) for v in (4095, 4096, -4095, -4096)] == \
        ["4095", "0x1000", "-4095", "-0x1000"]


def test_disassemble_generates_labels_and_skips_lddw_filler():
    insns = assemble("""
        mov %r0, 0
        call local f
        jeq %r0, 1, +2
        lddw %r1, 5
        ja -5
        exit
        f: mov %r0, 1
        exit
    """)
    lines = disassemble(insns)
    assert lines == ["mov %r0, 0", "L1:", "call local fn7", "jeq %r0, 1, L5", "lddw %r1, 5",
                     "L5:", "ja L1", "exit", "fn7:", "mov %r0, 1", "exit"]
    assert assemble("\n".join(lines)) == insns
    assert disassemble(insns, labels=False)[4:6] == ["ja -5", "exit"]


def test_targets_outside_the_program_or_inside_lddw_stay_relative():
    insns = assemble("ja +1\nlddw %r0, 1\nja +5\nja -9\nexit")
    assert disassemble(insns) == ["ja +1", "lddw %r0, 1", "ja +5", "ja -9", "exit"]


def test_label_at_program_end():
    insns = assemble("ja end\nexit\nend:")
    assert disassemble(insns) == ["ja L2", "exit", "L2:"]


def test_branch_target():
    insns = assemble("ja +2\ncall local -1\nlddw %r1, func +3\nexit")
    assert [branch_target(i, pc) for pc, i in enumerate(insns)] == [3, 1, 6, None, None]


def test_unknown_opcode_in_bytecode_names_index_and_opcode():
    code = bytes.fromhex("b700000001000000" "ff00000000000000" "9500000000000000")
    with pytest.raises(isa.IsaError) as info:
        disassemble_bytes(code)
    assert str(info.value) == "instruction 1: unknown opcode 0xff (src=0 off=0 imm=0)"
    lines = disassemble_bytes(code, strict=False)
    assert lines == ["mov %r0, 1", ".insn 0xff, 0, 0, 0, 0", "exit"]
    assert isa.encode_program(assemble("\n".join(lines))) == code


def test_malformed_lddw_survives_a_byte_round_trip():
    # lddw with off set (reserved): two raw slots, same bytes.
    code = bytes.fromhex("1801050078563412" "0000000000000000" "9500000000000000")
    lines = disassemble_bytes(code, strict=False)
    assert lines[0] == ".insn 0x18, 1, 0, 5, 305419896"
    assert isa.encode_program(assemble("\n".join(lines))) == code


# --- Round trip over every row of the table --------------------------------------------------

S16 = st.integers(-(1 << 15), (1 << 15) - 1)
S32 = st.integers(-(1 << 31), (1 << 31) - 1)
REG = st.integers(0, isa.NUM_REGS - 1)


@st.composite
def legal_insn(draw, spec=None) -> list[Insn]:
    """A random legal instruction of a table row (fields the format leaves unused are 0),
    as decode_program would return it (with the lddw filler slot)."""
    spec = spec or draw(st.sampled_from(isa.OPCODES))
    values = {"dst": draw(REG), "src": draw(REG), "off": draw(S16), "imm": draw(S32)}
    for name in spec.unused_fields:
        values[name] = 0
    if spec.discriminator:
        values[spec.discriminator] = int(spec.value)
    insn = Insn(spec.opcode, values["dst"], values["src"], values["off"], values["imm"],
                spec=spec)
    if spec.fmt == Fmt.LDDW:
        imm64 = draw(st.integers(0, isa.MASK64))
        insn.imm64 = imm64
        insn.imm = isa.sign_extend(imm64, 32)
        return [insn, Insn(0, 0, 0, 0, isa.sign_extend(imm64 >> 32, 32))]
    return [insn]


@pytest.mark.parametrize("spec", isa.OPCODES,
                         ids=[f"{s.mnemonic}-{s.fmt.name}-{s.opcode:#04x}-{s.value}"
                              for s in isa.OPCODES])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_opspec_round_trips(spec, data):
    insns = data.draw(legal_insn(spec))
    text = format_insn(insns[0])
    assert not text.startswith(".insn"), text
    assert assemble(text) == insns, text
    assert isa.decode_program(isa.encode_program(insns)) == insns
    assert assemble(text)[0].spec == spec


@settings(max_examples=60, deadline=None)
@given(program=st.lists(legal_insn(), min_size=1, max_size=12))
def test_random_programs_round_trip_through_labelled_listing(program):
    insns = [slot for insn in program for slot in insn]
    listing = disassemble(insns)
    assert assemble("\n".join(listing)) == insns
    assert assemble("\n".join(disassemble(insns, labels=False))) == insns
