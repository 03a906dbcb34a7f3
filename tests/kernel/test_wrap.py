"""Wrapping a program for the kernel: prologue, exits to the epilogue, jump fix-ups."""

import pytest

from firmware.ebpf.isa import Pseudo, encode_program
from firmware.kernel.build import lddw, make
from firmware.kernel.runner import run_wrapped
from firmware.kernel.wrap import WrapError, function_starts, wrap

MEM_FD, RESULT_FD = 5, 6


def fields(insn):
    if insn.spec is None:           # second slot of an lddw
        return ("slot2", insn.imm)
    return (insn.spec.mnemonic, insn.dst, insn.src, insn.off, insn.imm)


def call_local(target_rel: int):
    return make("call", src=1, imm=target_rel)


def test_straight_program_gets_prologue_exit_jump_and_epilogue():
    w = wrap([make("mov", 0, imm=1), make("exit")], MEM_FD, 4, RESULT_FD)
    assert [fields(i) for i in w.insns] == [
        ("lddw", 1, Pseudo.MAP_VALUE, 0, MEM_FD), ("slot2", 0),
        ("mov", 2, 0, 0, 4),
        ("mov", 0, 0, 0, 1),
        ("ja", 0, 0, 0, 0),                         # exit -> the epilogue, right after
        ("lddw", 1, Pseudo.MAP_VALUE, 0, RESULT_FD), ("slot2", 0),
        ("stxdw", 1, 0, 0, 0),                      # result slot 0 = r0
        ("mov", 0, 0, 0, 2),                        # XDP_PASS
        ("exit", 0, 0, 0, 0),
    ]
    assert w.insns[0].imm64 == MEM_FD and w.insns[5].imm64 == RESULT_FD
    assert w.epilogue == 5 and w.new_index == [3, 4, 10]   # the end stays past the end


def test_without_memory_r1_and_r2_are_zero():
    w = wrap([make("mov", 0, imm=1), make("exit")], None, 0, RESULT_FD)
    assert [fields(i) for i in w.insns[:2]] == [("mov", 1, 0, 0, 0), ("mov", 2, 0, 0, 0)]


def test_epilogue_sits_before_callees_and_calls_are_retargeted():
    prog = [make("mov", 0, imm=0),      # 0
            call_local(2),              # 1 -> 4
            make("add", 0, imm=1),      # 2
            make("exit"),               # 3
            make("mov", 0, imm=5),      # 4 callee
            make("exit")]               # 5 callee's exit stays an exit
    assert function_starts(prog) == [0, 4]
    w = wrap(prog, None, 0, RESULT_FD)
    assert w.new_index == [2, 3, 4, 5, 11, 12, 13]
    assert w.epilogue == 6
    assert fields(w.insns[3]) == ("call", 0, 1, 0, 7)       # 3 + 1 + 7 = 11
    assert fields(w.insns[5]) == ("ja", 0, 0, 0, 0)
    assert fields(w.insns[12]) == ("exit", 0, 0, 0, 0)


def test_ja32_targets_and_inlined_unwind_are_fixed_up():
    prog = [make("mov", 1, imm=-1),     # 0
            make("ja32", imm=1),        # 1 -> 3
            make("exit"),               # 2
            make("call", imm=5),        # 3: the suite's unwind helper
            make("mov", 0, imm=2),      # 4
            make("ja32", imm=-4)]       # 5 -> 2
    w = wrap(prog, None, 0, RESULT_FD)
    assert w.new_index == [2, 3, 4, 5, 7, 8, 14]
    assert w.epilogue == 9
    assert fields(w.insns[3]) == ("ja32", 0, 0, 0, 1)       # -> 5
    assert fields(w.insns[4]) == ("ja", 0, 0, 4, 0)         # exit -> epilogue at 9
    assert fields(w.insns[5]) == ("mov", 0, 1, 0, 0)        # r0 = r1
    assert fields(w.insns[6]) == ("jeq", 1, 0, 2, 0)        # if r1 == 0 goto 9
    assert fields(w.insns[8]) == ("ja32", 0, 0, 0, -5)      # -> 4
    assert w.notes == ["instruction 3: call 5 (unwind) inlined as r0 = r1;"
                       " if r1 == 0 goto epilogue"]


def test_backward_jump_over_lddw_counts_both_slots():
    prog = ([make("mov", 0, imm=0)] + lddw(3, 0x1_0000_0002) +       # 0, 1-2
            [make("add", 0, imm=1),                                   # 3
             make("jlt", 0, 3, off=-5, x=True),                       # 4 -> 0
             make("exit")])                                           # 5
    w = wrap(prog, MEM_FD, 8, RESULT_FD)
    assert w.new_index[:6] == [3, 4, 5, 6, 7, 8]
    assert fields(w.insns[7]) == ("jlt", 0, 3, -5, 0)
    assert w.insns[4].imm64 == 0x1_0000_0002


def test_unwind_in_a_callee_cannot_be_wrapped():
    prog = [call_local(1), make("exit"), make("call", imm=5), make("exit")]
    with pytest.raises(WrapError, match="instruction 2: call 5 .* in a bpf-to-bpf callee"):
        wrap(prog, None, 0, RESULT_FD)


def test_main_that_falls_off_its_end_is_refused_as_the_kernel_would():
    with pytest.raises(WrapError, match="instruction 0: the main function ends without exit"):
        wrap([make("mov", 0, imm=1)], None, 0, RESULT_FD)
    with pytest.raises(WrapError, match="call targets instruction 9, outside"):
        wrap([call_local(8), make("exit")], None, 0, RESULT_FD)


def test_wrapping_leaves_the_original_untouched():
    prog = [make("mov", 0, imm=1), make("ja", off=0), make("exit")]
    before = encode_program(prog)
    wrap(prog, None, 0, RESULT_FD)
    assert encode_program(prog) == before


@pytest.mark.usefixtures("bpf")
def test_kernel_runs_wrapped_program_and_returns_64_bit_registers():
    prog = [make("mov", r, imm=0) for r in range(10)] + lddw(0, 0x8877_6655_4433_2211) + [
        make("mov", 1, imm=-7), make("mov", 9, imm=9), make("mov", 2, imm=2), make("exit")]
    run = run_wrapped(prog, b"", save_regs=range(10))
    assert run.rejected is None
    assert run.r0 == 0x8877_6655_4433_2211
    assert run.regs == {0: 0x8877_6655_4433_2211, 1: (1 << 64) - 7, 2: 2, 3: 0, 4: 0, 5: 0,
                        6: 0, 7: 0, 8: 0, 9: 9}
    assert run.verdict == 2


@pytest.mark.usefixtures("bpf")
def test_kernel_sees_the_memory_and_writes_it_back():
    prog = [make("ldxw", 0, 1, off=4), make("add", 0, 2, x=True),
            make("stw", 1, off=0, imm=0x0A0B0C0D), make("exit")]
    run = run_wrapped(prog, bytes([1, 2, 3, 4, 0x10, 0, 0, 0]))
    assert run.r0 == 0x10 + 8
    assert run.mem == bytes([0x0D, 0x0C, 0x0B, 0x0A, 0x10, 0, 0, 0])


@pytest.mark.usefixtures("bpf")
def test_unwind_with_zero_stops_with_r0_zero_in_the_kernel():
    prog = [make("mov", 1, imm=0), make("mov", 0, imm=9), make("call", imm=5),
            make("mov", 0, imm=2), make("exit")]
    assert run_wrapped(prog).r0 == 0
    prog[0] = make("mov", 1, imm=-1)
    assert run_wrapped(prog).r0 == 2


@pytest.mark.usefixtures("bpf")
def test_kernel_rejection_is_reported_with_the_verifiers_reason():
    run = run_wrapped([make("ldxdw", 0, 1, off=8), make("exit")], bytes(8))
    assert run.r0 is None
    assert run.rejected == "invalid access to map value, value_size=8 off=8 size=8"
    assert "processed" in run.log


@pytest.mark.usefixtures("bpf")
def test_undecodable_instruction_is_left_for_the_kernel_to_refuse():
    from firmware.ebpf.isa import decode_program
    code = make("mov", 0, imm=1).encode() + bytes([0xFF, 0, 0, 0, 0, 0, 0, 0])
    insns = decode_program(code, strict=False)
    assert insns[1].spec is None
    run = run_wrapped(insns)
    assert run.rejected == "unknown opcode ff"
