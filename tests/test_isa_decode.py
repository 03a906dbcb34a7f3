"""Decoding raw bytecode: strict refusals name the slot; lenient decoding never repairs."""

import pytest

from firmware.ebpf import isa, model
from firmware.ebpf.asm import assemble
from firmware.ebpf.machine import TrapCause

LDDW_BAD_SECOND = bytes.fromhex("1800000001000000" "b700000002000000" "9500000000000000")


def test_strict_decoding_refuses_a_bad_second_lddw_slot():
    with pytest.raises(isa.IsaError, match="instruction 1: second slot of lddw must have"):
        isa.decode_program(LDDW_BAD_SECOND)
    with pytest.raises(isa.IsaError, match="instruction 0: lddw is missing its second slot"):
        isa.decode_program(LDDW_BAD_SECOND[:8])


def test_lenient_decoding_keeps_the_bytes_and_the_program_traps_at_the_lddw():
    insns = isa.decode_program(LDDW_BAD_SECOND, strict=False)
    assert [i.spec.mnemonic if i.spec else None for i in insns] == [None, "mov", "exit"]
    assert isa.encode_program(insns) == LDDW_BAD_SECOND
    result = model.run(insns)
    assert (result.trap, result.trap_pc, result.trap_message) == (
        TrapCause.ILLEGAL_INSTRUCTION, 0, "lddw without a valid second slot")


def test_hand_written_lddw_halves_assemble_into_one_lddw():
    insns = assemble(".insn 0x18, 1, 0, 0, 5\n.insn 0, 0, 0, 0, 1\nmov %r0, %r1\nexit")
    assert insns[0].imm64 == 0x1_0000_0005
    assert model.run(insns).r0 == 0x1_0000_0005
