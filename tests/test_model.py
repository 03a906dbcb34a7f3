"""The golden model: the kernel's value semantics, memory regions, calls, traps, trace."""

import pytest

from firmware.ebpf import isa, model
from firmware.ebpf.asm import assemble
from firmware.ebpf.machine import (TrapCause, frame_pointer, map_value_address, region_base,
                                   Region)

M64 = isa.MASK64


def run(text: str, **kwargs) -> model.RunResult:
    return model.run(assemble(text), **kwargs)


def r0_of(text: str, **kwargs) -> int:
    result = run(text, **kwargs)
    assert result.trap == TrapCause.NONE, result.trap_message
    return result.r0


@pytest.mark.parametrize("text, expected", [
    # Division and modulo by zero: div gives 0, mod leaves dst; 32-bit forms zero-extend.
    ("mov %r0, 7\nmov %r1, 0\ndiv %r0, %r1\nexit", 0),
    ("mov %r0, 7\nmov %r1, 0\nmod %r0, %r1\nexit", 7),
    ("lddw %r0, 0xffffffff00000005\nmov %r1, 0\nmod32 %r0, %r1\nexit", 5),
    ("lddw %r0, 0xffffffff00000005\nmov %r1, 0\ndiv32 %r0, %r1\nexit", 0),
    ("mov %r0, -7\nsdiv %r0, 0\nexit", 0),
    ("mov %r0, -7\nsmod %r0, 0\nexit", (-7) & M64),
    # Signed division truncates toward zero; INT_MIN / -1 wraps; the remainder has dst's sign.
    ("mov %r0, -7\nsdiv %r0, 2\nexit", (-3) & M64),
    ("mov %r0, -7\nsmod %r0, 2\nexit", (-1) & M64),
    ("mov %r0, 7\nsmod %r0, -2\nexit", 1),
    ("lddw %r0, 0x8000000000000000\nsdiv %r0, -1\nexit", 0x8000000000000000),
    ("lddw %r0, 0x8000000000000000\nsmod %r0, -1\nexit", 0),
    ("mov32 %r0, 0x80000000\nsdiv32 %r0, -1\nexit", 0x80000000),
    # Unsigned 64-bit division by an immediate sign-extends the immediate.
    ("mov %r0, -1\ndiv %r0, -1\nexit", 1),
    # Shift amounts are masked to the operand width.
    ("mov %r0, 1\nmov %r1, 65\nlsh %r0, %r1\nexit", 2),
    ("mov %r0, 1\nmov %r1, 33\nlsh32 %r0, %r1\nexit", 2),
    ("mov %r0, -16\nmov %r1, 66\narsh %r0, %r1\nexit", (-4) & M64),
    ("mov32 %r0, 0x80000000\narsh32 %r0, 4\nexit", 0xF8000000),
    # 32-bit results are zero-extended.
    ("mov32 %r0, -1\nexit", 0xFFFFFFFF),
    ("mov %r0, -1\nadd32 %r0, 1\nexit", 0),
    ("mov %r0, -1\nneg32 %r0\nexit", 1),
    # movsx sign-extends the source's low 8/16/32 bits.
    ("mov %r1, 0x80\nmovsx864 %r0, %r1\nexit", 0xFFFFFFFFFFFFFF80),
    ("mov %r1, 0x8000\nmovsx1632 %r0, %r1\nexit", 0xFFFF8000),
    # Byte order: le truncates on this little-endian machine, be and bswap swap.
    ("lddw %r0, 0x1122334455667788\nle16 %r0\nexit", 0x7788),
    ("lddw %r0, 0x1122334455667788\nbe16 %r0\nexit", 0x8877),
    ("lddw %r0, 0x1122334455667788\nbe32 %r0\nexit", 0x88776655),
    ("lddw %r0, 0x1122334455667788\nbswap64 %r0\nexit", 0x8877665544332211),
    # Signed and unsigned comparisons, 64 and 32 bits.
    ("mov %r0, 0\nmov %r1, -1\njslt %r1, 1, +1\nexit\nmov %r0, 1\nexit", 1),
    ("mov %r0, 0\nmov %r1, -1\njlt %r1, 1, +1\nexit\nmov %r0, 1\nexit", 0),
    ("mov %r0, 0\nlddw %r1, 0x100000000\njeq32 %r1, 0, +1\nexit\nmov %r0, 1\nexit", 1),
    ("mov %r0, 0\nmov32 %r1, 0xffffffff\njsgt32 %r1, 0, +1\nexit\nmov %r0, 1\nexit", 0),
])
def test_value_semantics_match_the_kernel(text, expected):
    assert r0_of(text) == expected


def test_context_loads_little_endian_and_sign_extending():
    mem = bytes([0x11, 0x22, 0x33, 0x84])
    assert r0_of("ldxw %r0, [%r1+0]\nexit", context=mem) == 0x84332211
    assert r0_of("ldxsw %r0, [%r1+0]\nexit", context=mem) == 0xFFFFFFFF84332211
    assert r0_of("ldxsb %r0, [%r1+3]\nexit", context=mem) == 0xFFFFFFFFFFFFFF84
    assert r0_of("mov %r0, %r2\nexit", context=mem) == 4
    assert r0_of("mov %r0, %r1\nexit", context=mem) == region_base(Region.CONTEXT)


def test_load_past_the_context_traps_with_the_pc():
    result = run("mov %r0, 0\nldxw %r0, [%r1+1]\nexit", context=bytes(4))
    assert (result.trap, result.trap_pc) == (TrapCause.OUT_OF_BOUNDS, 1)
    assert result.insn_count == 1
    assert "past the end of the context region" in result.trap_message


def test_null_pointer_store_traps():
    result = run("mov %r1, 0\nstw [%r1+0], 1\nexit")
    assert (result.trap, result.trap_pc) == (TrapCause.OUT_OF_BOUNDS, 1)


def test_stack_below_the_first_frame_traps_but_the_frame_itself_works():
    assert r0_of("stdw [%r10-512], 9\nldxdw %r0, [%r10-512]\nexit") == 9
    result = run("stb [%r10-513], 9\nexit")
    assert (result.trap, result.trap_pc) == (TrapCause.OUT_OF_BOUNDS, 0)


def test_stack_bytes_are_returned():
    result = run("lddw %r1, 0x0807060504030201\nstxdw [%r10-8], %r1\nmov %r0, 0\nexit")
    assert result.stack[-8:] == bytes(range(1, 9))
    assert result.stack[:-8] == bytes(504)


def test_writing_r10_is_an_illegal_instruction():
    result = run("mov %r0, 0\nmov %r10, 0\nexit")
    assert (result.trap, result.trap_pc) == (TrapCause.ILLEGAL_INSTRUCTION, 1)


def test_unknown_opcode_traps_where_it_is_executed():
    code = assemble("mov %r0, 1\nexit")
    bad = isa.decode_program(isa.encode_program(code[:1]) + bytes([0x8f]) + bytes(7)
                             + isa.encode_program(code[1:]), strict=False)
    result = model.run(bad)
    assert (result.trap, result.trap_pc) == (TrapCause.ILLEGAL_INSTRUCTION, 1)
    assert "unknown opcode 0x8f" in result.trap_message


def test_falling_off_the_end_traps():
    result = run("mov %r0, 1")
    assert (result.trap, result.trap_pc) == (TrapCause.PC_OUT_OF_RANGE, 1)


def test_budget_stops_an_endless_loop_after_exactly_budget_instructions():
    result = run("mov %r0, 0\nloop:\nadd %r0, 1\nja loop", budget=100)
    assert (result.trap, result.trap_pc) == (TrapCause.BUDGET, 2)
    assert result.insn_count == 100
    assert result.r0 == 50          # mov, 50 adds and 49 jumps; the 50th jump is refused


def test_local_call_preserves_r6_to_r9_and_gets_its_own_frame():
    text = """
        mov %r6, 6
        stdw [%r10-8], 1
        mov %r1, 5
        call local f
        ldxdw %r7, [%r10-8]
        lsh %r0, 8
        or %r0, %r6
        lsh %r0, 8
        or %r0, %r7
        exit
    f:
        stdw [%r10-8], 2
        mov %r6, 0
        mov %r0, %r1
        add %r0, 1
        exit
    """
    result = run(text)
    assert result.r0 == (6 << 16) | (6 << 8) | 1
    # The callee's frame sits above the caller's in the stack RAM.
    assert result.memory.stack[2 * 512 - 8] == 2
    assert result.regs[10] == frame_pointer(0)


def test_recursion_deeper_than_eight_frames_traps_at_the_call():
    result = run("f:\ncall local f\nexit")
    assert (result.trap, result.trap_pc) == (TrapCause.CALL_DEPTH, 0)
    assert result.insn_count == 7


def test_helpers_get_r1_to_r5_and_set_r0():
    seen = []

    def helper(memory, *args):
        seen.append(args)
        return -1

    result = run("mov %r1, 1\nmov %r2, 2\nmov %r3, 3\nmov %r4, 4\nmov %r5, 5\ncall 77\nexit",
                 helpers={77: helper})
    assert seen == [(1, 2, 3, 4, 5)]
    assert result.r0 == M64
    assert result.regs[1:6] == [1, 2, 3, 4, 5]


def test_unknown_helper_traps():
    result = run("call 77\nexit")
    assert (result.trap, result.trap_pc) == (TrapCause.UNKNOWN_HELPER, 0)


def test_unwind_helper_stops_the_program_when_r1_is_zero():
    helpers = model.conformance_helpers()
    assert r0_of("mov %r1, 0\ncall 5\nmov %r0, 2\nexit", helpers=helpers) == 0
    assert r0_of("mov %r1, -1\ncall 5\nmov %r0, 2\nexit", helpers=helpers) == 2


def test_atomics_fetch_and_cmpxchg_zero_extend():
    text = """
        lddw %r1, 0xffffffff00000010
        stxdw [%r10-8], %r1
        mov %r2, 1
        lock fetch add32 [%r10-8], %r2
        lddw %r0, 0x1234567800000011
        mov %r3, 7
        lock cmpxchg32 [%r10-8], %r3
        ldxdw %r4, [%r10-8]
        exit
    """
    result = run(text)
    assert result.regs[2] == 0x10              # old value, zero-extended
    assert result.r0 == 0x11                   # old value, zero-extended, matched
    assert result.regs[4] == 0xFFFFFFFF00000007


def test_atomic_xchg_and_or_without_fetch_leave_src():
    result = run("stdw [%r10-8], 3\nmov %r1, 4\nlock or [%r10-8], %r1\nmov %r2, 9\n"
                 "lock xchg [%r10-8], %r2\nldxdw %r0, [%r10-8]\nexit")
    assert (result.regs[1], result.regs[2], result.r0) == (4, 7, 9)


def test_lddw_map_forms():
    assert r0_of("lddw %r0, map_idx 3\nexit") == 3
    assert r0_of("lddw %r0, map_idx_value 3 + 16\nexit") == map_value_address(3, 16)


def test_map_value_region_reads_and_writes_the_map():
    value = bytearray(8)
    result = run("lddw %r1, map_idx_value 2 + 4\nstw [%r1+0], 0x55\nldxw %r0, [%r1+0]\nexit",
                 map_values={2: value})
    assert result.r0 == 0x55
    assert value == bytes(4) + b"\x55\0\0\0"
    assert run("lddw %r1, map_idx_value 2 + 8\nldxb %r0, [%r1+0]\nexit",
               map_values={2: value}).trap == TrapCause.OUT_OF_BOUNDS


def test_legacy_packet_loads_are_big_endian_and_end_the_program_out_of_bounds():
    packet = bytes([0xAA, 0xBB, 0xCC, 0xDD])
    assert r0_of("ldabsh 1\nexit", packet=packet) == 0xBBCC
    assert r0_of("mov %r3, 2\nldindh %r3, 0\nexit", packet=packet) == 0xCCDD
    assert r0_of("mov %r0, 9\nldabsw 1\nmov %r0, 7\nexit", packet=packet) == 0


def test_trace_lists_every_instruction_with_the_register_it_wrote():
    result = run("mov %r0, 1\nadd %r0, 2\nja +0\nexit", trace=True)
    assert result.trace == [
        "    0: mov %r0, 1  ; r0 = 0x1",
        "    1: add %r0, 2  ; r0 = 0x3",
        "    2: ja +0",
        "    3: exit",
    ]
