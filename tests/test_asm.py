"""The assembler: encodings checked against hand-computed bytes, labels, ranges, errors."""

import pytest

from firmware.ebpf import isa
from firmware.ebpf.asm import (AsmError, assemble, assemble_bytes, parse_hex_bytes,
                               parse_raw_words)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# (source, bytes) computed by hand from RFC 9669's field layout:
# opcode | src<<4|dst | off (LE s16) | imm (LE s32).
ENCODINGS = [
    ("mov %r0, 1", "b7 00 0000 01000000"),                     # ALU64|K|MOV
    ("mov32 %r0, -10", "b4 00 0000 f6ffffff"),
    ("add32 %r0, %r1", "0c 10 0000 00000000"),                 # ALU|X|ADD
    ("and %r1, 0x0f0f0f0f", "57 01 0000 0f0f0f0f"),
    ("neg %r0", "87 00 0000 00000000"),
    ("neg32 %r3", "84 03 0000 00000000"),
    ("be16 %r0", "dc 00 0000 10000000"),                       # ALU|X|END, imm = width
    ("le32 %r3", "d4 03 0000 20000000"),                       # ALU|K|END
    ("bswap64 %r1", "d7 01 0000 40000000"),                    # ALU64|K|END
    ("swap64 %r1", "d7 01 0000 40000000"),                     # upstream's alias
    ("movsx1632 %r0, %r1", "bc 10 1000 00000000"),             # off = source width
    ("movsx864 %r6, %r5", "bf 56 0800 00000000"),
    ("sdiv %r0, %r1", "3f 10 0100 00000000"),                  # off = 1: signed
    ("smod32 %r2, -3", "94 02 0100 fdffffff"),
    ("div %r3, %r2", "3f 23 0000 00000000"),
    ("ldxw %r0, [%r1+4]", "61 10 0400 00000000"),
    ("ldxb %r0, [%r1+0x2]", "71 10 0200 00000000"),
    ("ldxdw %r0, [%r1]", "79 10 0000 00000000"),
    ("ldxsb %r2, [%r10-1]", "91 a2 ffff 00000000"),            # LDX|B|MEMSX
    ("ldxsw %r0, [%r10-4]", "81 a0 fcff 00000000"),
    ("stxdw [%r10-8], %r1", "7b 1a f8ff 00000000"),
    ("stxb [%r0+1], %r9", "73 90 0100 00000000"),
    ("stw [%r10-4], 5", "62 0a fcff 05000000"),
    ("sth [%r10-2], 0x8001", "6a 0a feff 01800000"),
    ("stdw [%r10-16], 0xab", "7a 0a f0ff ab000000"),
    ("jne %r1, 0, +1", "55 01 0100 00000000"),
    ("jeq %r1, 0x80000000, +1", "15 01 0100 00000080"),        # unsigned pattern wraps
    ("jsle %r1, 0xfffffffd, -2", "d5 01 feff fdffffff"),
    ("jgt %r1, %r2, +3", "2d 21 0300 00000000"),
    ("jlt32 %r4, 2, +0", "a6 04 0000 02000000"),
    ("ja +2", "05 00 0200 00000000"),
    ("ja32 -1", "06 00 0000 ffffffff"),                        # gotol: target in imm
    ("call 5", "85 00 0000 05000000"),
    ("call helper 5", "85 00 0000 05000000"),
    ("call local +3", "85 10 0000 03000000"),
    ("call kfunc 7", "85 20 0000 07000000"),
    ("call kfunc 7, 2", "85 20 0200 07000000"),
    ("call %r2", "8d 02 0000 00000000"),                       # callx: register in dst
    ("callx %r2", "8d 02 0000 00000000"),
    ("exit", "95 00 0000 00000000"),
    ("lock add [%r10-8], %r1", "db 1a f8ff 00000000"),
    ("lock add32 [%r10-4], %r1", "c3 1a fcff 00000000"),
    ("lock fetch add32 [%r10-8], %r1", "c3 1a f8ff 01000000"),
    ("lock fetch xor [%r10-8], %r3", "db 3a f8ff a1000000"),
    ("lock xchg [%r1+0], %r2", "db 21 0000 e1000000"),
    ("lock cmpxchg32 [%r1], %r2", "c3 21 0000 f1000000"),
    ("ldabsw 4", "20 00 0000 04000000"),                       # LD|W|ABS
    ("ldindh %r1, 4", "48 10 0000 04000000"),                  # LD|H|IND, register in src
    ("ldabsb -1", "30 00 0000 ffffffff"),
    ("lddw %r0, 0x1122334455667788", "18 00 0000 88776655 00 00 0000 44332211"),
    ("lddw %r0, -1", "18 00 0000 ffffffff 00 00 0000 ffffffff"),
    ("lddw %r9, 18446744073709551615", "18 09 0000 ffffffff 00 00 0000 ffffffff"),
    ("lddw %r1, map_fd 3", "18 11 0000 03000000 00 00 0000 00000000"),
    ("lddw %r1, map_value 3 + 16", "18 21 0000 03000000 00 00 0000 10000000"),
    ("lddw %r1, btf_id 7", "18 31 0000 07000000 00 00 0000 00000000"),
    ("lddw %r1, func +1", "18 41 0000 01000000 00 00 0000 00000000"),
    ("lddw %r1, map_idx 2", "18 51 0000 02000000 00 00 0000 00000000"),
    ("lddw %r1, map_idx_value 2+8", "18 61 0000 02000000 00 00 0000 08000000"),
    (".insn 0x8d, 1, 2, 3, 4", "8d 21 0300 04000000"),         # raw slot, reserved fields set
]


@pytest.mark.parametrize("source,expected", ENCODINGS, ids=[s for s, _ in ENCODINGS])
def test_encoding_matches_hand_computed_bytes(source, expected):
    assert assemble_bytes(source) == h(expected)


def test_lddw_data_asm_matches_its_raw_section(conformance_dir):
    text = (conformance_dir / "lddw.data").read_text()
    asm = text.split("-- asm")[1].split("-- raw")[0]
    raw = text.split("-- raw")[1].split("-- result")[0]
    assert assemble_bytes(asm) == parse_raw_words(raw)
    assert parse_raw_words(raw) == h("18 00 0000 88776655 00 00 0000 44332211 95 00 0000 00000000")


def test_output_has_decode_program_shape():
    insns = assemble("lddw %r0, 0x1122334455667788\nexit")
    assert insns == isa.decode_program(isa.encode_program(insns))
    assert [i.opcode for i in insns] == [0x18, 0x00, 0x95]
    assert insns[0].imm64 == 0x1122334455667788 and insns[0].imm == 0x55667788
    assert insns[1].imm == 0x11223344 and insns[1].imm64 is None
    assert all(i.spec is not None for i in (insns[0], insns[2]))


def test_every_mnemonic_in_the_table_assembles():
    # The lookup is derived from isa.OPCODES, so a missing spelling is a table change.
    operands = {
        isa.Fmt.ALU_K: "%r1, 1", isa.Fmt.ALU_X: "%r1, %r2", isa.Fmt.ALU_UNARY: "%r1",
        isa.Fmt.JMP_K: "%r1, 1, +0", isa.Fmt.JMP_X: "%r1, %r2, +0", isa.Fmt.JA: "+0",
        isa.Fmt.JA32: "+0", isa.Fmt.LD_ABS: "1", isa.Fmt.LD_IND: "%r1, 1",
        isa.Fmt.LDX: "%r1, [%r2+1]", isa.Fmt.ST: "[%r1+1], 1", isa.Fmt.STX: "[%r1+1], %r2",
        isa.Fmt.ATOMIC: "[%r1+1], %r2",
    }
    for spec in isa.OPCODES:
        if spec.fmt not in operands:
            continue
        prefix = "lock " if spec.fmt == isa.Fmt.ATOMIC else ""
        (insn,) = assemble(f"{prefix}{spec.mnemonic} {operands[spec.fmt]}")
        assert insn.spec == spec, spec.mnemonic


def test_forward_and_backward_labels():
    insns = assemble("""
        start:
        mov %r0, 0
        jeq %r0, 1, done     # forward: +2
        add %r0, 1
        ja start             # backward: -4
        done: exit
    """)
    assert insns[1].off == 2
    assert insns[3].off == -4


def test_label_distance_counts_lddw_as_two_slots():
    insns = assemble("ja over\nlddw %r0, 1\nover: exit")
    assert insns[0].off == 2


def test_call_local_and_lddw_func_targets_go_in_imm():
    insns = assemble("call local f\nlddw %r1, func f\nexit\nf: mov %r0, 1\nexit")
    assert insns[0].imm == 3 and insns[0].src == 1
    assert insns[1].imm == 2 and insns[1].imm64 == 2 and insns[1].src == 4


def test_ja32_label_goes_in_imm():
    insns = assemble("ja32 t\nmov %r0, 2\nt: exit")
    assert (insns[0].off, insns[0].imm) == (0, 1)


def test_exit_as_target_names_the_first_exit():
    # Upstream's assembler: "jeq32 %r1, 0xb, exit" jumps to the first exit instruction.
    insns = assemble("jeq %r1, 0, exit\nmov %r0, 1\nexit\nmov %r0, 2\nexit")
    assert insns[0].off == 1


def test_an_explicit_exit_label_wins_over_the_first_exit():
    insns = assemble("ja exit\nexit\nexit:\nmov %r0, 2\nexit")
    assert insns[0].off == 1


def test_label_on_the_same_line_as_an_instruction():
    assert assemble("a: b: mov %r0, 1\nja a\nja b")[1:] == assemble("mov %r0, 1\nja -2\nja -3")[1:]


def test_comments_blank_lines_case_and_spacing():
    insns = assemble("  # header\n\nMOV   %r0 ,  1   # trailing\r\nEXIT\n")
    assert isa.encode_program(insns) == h("b7 00 0000 01000000 95 00 0000 00000000")


@pytest.mark.parametrize("source,value", [
    ("mov %r0, 0xffffffff", -1),
    ("mov %r0, 4294967295", -1),
    ("mov %r0, -0x80000000", -(1 << 31)),
    ("mov %r0, 2147483647", (1 << 31) - 1),
    ("mov %r0, 0b101", 5),
    ("mov %r0, 010", 10),                        # leading zeros are decimal, as upstream
])
def test_immediate_forms(source, value):
    assert assemble(source)[0].imm == value


@pytest.mark.parametrize("source,message", [
    ("mov %r0, 0x100000000",
     "t.s:1: expected an immediate in -0x80000000..0xffffffff as operand 2 of mov, "
     "found '0x100000000'"),
    ("mov %r0, -2147483649",
     "t.s:1: expected an immediate in -0x80000000..0xffffffff as operand 2 of mov, "
     "found '-2147483649'"),
    ("lddw %r0, 0x10000000000000000",
     "t.s:1: expected a 64-bit immediate in -0x8000000000000000..0xffffffffffffffff as "
     "operand 2 of lddw, found '0x10000000000000000'"),
    ("ldxw %r0, [%r1+32768]",
     "t.s:1: expected an offset in -32768..32767 in operand 2 of ldxw, found '+32768'"),
    ("stw [%r10-32769], 1",
     "t.s:1: expected an offset in -32768..32767 in operand 1 of stw, found '-32769'"),
    ("ja +32768", "t.s:1: expected a relative target in -32768..32767 as operand 1 of ja, "
                  "found '+32768'"),
    ("mov %r11, 1", "t.s:1: expected a register %r0-%r10 as operand 1 of mov, found '%r11'"),
    ("bogus %r1", "t.s:1: expected an instruction mnemonic, found 'bogus'"),
    ("add %r0", "t.s:1: expected operands as in 'add %dst, imm or add %dst, %src', "
                "found 1 operand(s)"),
    ("exit 1", "t.s:1: expected operands as in 'exit', found 1 operand(s)"),
    ("jne %r1, 0, 5",
     "t.s:1: expected a target (label, +N or -N) as operand 3 of jne, found '5'"),
    ("ja nowhere", "t.s:1: expected a defined label, found 'nowhere' (no 'nowhere:' in the "
                   "program)"),
    ("lock nand [%r1], %r2", "t.s:1: expected an atomic operation after 'lock' (add, add32, "
     "and, and32, cmpxchg, cmpxchg32, fetch add, fetch add32, fetch and, fetch and32, fetch or, "
     "fetch or32, fetch xor, fetch xor32, or, or32, xchg, xchg32, xor, xor32), found 'nand'"),
    ("lock add [%r1], 5",
     "t.s:1: expected a register (%r0-%r10) as operand 2 of lock add, found '5'"),
    ("ldxw %r0, %r1", "t.s:1: expected a memory operand [%rN+off] as operand 2 of ldxw, "
                      "found '%r1'"),
    ("call local", "t.s:1: expected a value after 'local' in operand 1 of call, found nothing"),
    ("call nothing", "t.s:1: expected a call target (N, helper N, local TARGET, kfunc N, %rN) "
                     "of call, found 'nothing'"),
    ("lddw %r1, map_fd x",
     "t.s:1: expected a map_fd number as operand 2 of lddw, found 'x'"),
    ("lddw %r1, xyz", "t.s:1: expected a 64-bit immediate or a pseudo form (map_fd N, "
     "map_value N + OFF, btf_id N, func TARGET, map_idx N, map_idx_value N + OFF) as operand 2 "
     "of lddw, found 'xyz'"),
])
def test_error_names_file_line_expected_and_found(source, message):
    with pytest.raises(AsmError) as info:
        assemble(source, "t.s")
    assert str(info.value) == message


def test_error_line_counts_from_first_line():
    with pytest.raises(AsmError) as info:
        assemble("mov %r0, 1\n\n  frob %r1\n", "prog.data", first_line=10)
    assert str(info.value) == "prog.data:12: expected an instruction mnemonic, found 'frob'"
    assert (info.value.filename, info.value.line) == ("prog.data", 12)


def test_duplicate_label_is_an_error_naming_both_lines():
    with pytest.raises(AsmError) as info:
        assemble("x:\nexit\nx:\nexit", "t.s")
    assert str(info.value) == "t.s:3: expected a new label name, found 'x' already defined " \
                              "at line 1"


def test_label_too_far_for_a_16_bit_offset():
    source = "ja far\n" + "mov %r0, 0\n" * 32768 + "far: exit\n"
    with pytest.raises(AsmError) as info:
        assemble(source, "t.s")
    assert str(info.value) == ("t.s:1: expected a target within -32768..32767 instructions, "
                               "found 'far' at +32768")
    assert assemble(source.replace("ja far", "ja32 far"))[0].imm == 32768


def test_raw_words_hex_decimal_and_comments():
    assert parse_raw_words("0x95 # exit\n\n149\n") == h("95 00000000000000") * 2


def test_raw_words_error_names_line():
    with pytest.raises(AsmError) as info:
        parse_raw_words("0x95\nzz\n", "f.data", first_line=7)
    assert str(info.value) == "f.data:8: expected one 64-bit instruction word (0x... or " \
                              "decimal), found 'zz'"
    with pytest.raises(AsmError, match="at most 64 bits"):
        parse_raw_words("0x10000000000000000")


def test_hex_bytes_forms():
    assert parse_hex_bytes("b7 00\n00 00") == h("b7000000")
    assert parse_hex_bytes("b7000000 0x95") == h("b7 00 00 00 95")
    assert parse_hex_bytes("") == b""
    with pytest.raises(ValueError) as info:
        parse_hex_bytes("b7 0 00", what="mem")
    assert str(info.value) == "mem: token 2: expected hex bytes (pairs of hex digits), found '0'"


def test_every_conformance_file_assembles(conformance_dir):
    from firmware.conformance import parse_data_file
    files = sorted(conformance_dir.glob("*.data"))
    assert len(files) == 313
    for path in files:
        case = parse_data_file(path)
        assert case.insns == isa.decode_program(isa.encode_program(case.insns)), path.name
