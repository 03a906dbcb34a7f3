"""Each rejection reason of the verifier, on a small hand-written program: exact pc and message.

Programs are in the project's assembler syntax (firmware.ebpf.asm).  Maps: 0 is a hash map
(key 4, value 8), 1 an array (key 4, value 16), 2 a ring buffer (not offered by xdpnic), 3 a
read-only array (``BPF_F_RDONLY_PROG``, as libbpf marks ``.rodata``).

Every case runs under the stricter rules (``privileged=False``: no uninitialized stack read,
no pointer leak, packet ranges of our own tracking), where each reason exists; what the
default, privileged rules change is judged against the kernel in tests/verifier/
test_kernel_corpus.py and tests/kernel/test_verifier_differential.py.
"""

import functools

import pytest

from firmware.ebpf import isa
from firmware.ebpf.asm import assemble
from firmware.ebpf.maps import MapFlag, MapSpec, MapType
from firmware.ebpf.verifier import LINUX, MapInfo
from firmware.ebpf.verifier import verify as _verify

verify = functools.partial(_verify, privileged=False)

MAPS = {
    0: MapInfo(MapType.HASH, 4, 8, 16, "hash"),
    1: MapInfo(MapType.ARRAY, 4, 16, 4, "array"),
    2: MapInfo(MapType.RINGBUF, 0, 0, 4096, "ringbuf"),
    3: MapSpec("rodata", MapType.ARRAY, 4, 8, 1, int(MapFlag.RDONLY_PROG)),
}

# key on the stack at fp-4, r0 = lookup(map 0) -- the prologue of the map cases
LOOKUP = """
mov %r2, %r10
add %r2, -4
stw [%r2], 0
lddw %r1, map_fd 0
call 1
"""

PACKET = """
ldxw %r2, [%r1]
ldxw %r3, [%r1+4]
mov %r4, %r2
add %r4, 14
"""

CASES = [
    # layer 2: fields
    ("uninitialized register", "mov %r0, %r5\nexit", 0, "R5 !read_ok"),
    ("write to r10", "mov %r10, 0\nexit", 0, "frame pointer is read only"),
    ("load into r10", "ldxdw %r10, [%r1]\nexit", 0, "frame pointer is read only"),
    ("div by immediate zero", "mov %r0, 1\ndiv %r0, 0\nexit", 1, "div by zero"),
    ("shift out of range", "mov %r0, 1\nlsh32 %r0, 32\nexit", 1, "invalid shift 32"),
    ("unknown helper", "call 999\nexit", 0, "invalid func unknown#999"),
    ("helper not on the platform", "call 67\nexit", 0,
     "helper bpf_get_stack#67 is not offered by platform xdpnic"),
    ("unknown map fd", "lddw %r1, map_fd 7\nmov %r0, 0\nexit", 0,
     "fd 7 is not pointing to valid bpf_map"),
    ("map type not on the device", "lddw %r1, map_fd 2\nmov %r0, 0\nexit", 0,
     "map type RINGBUF not supported by device xdpnic"),
    ("map value pseudo past the value", "lddw %r1, map_value 1 + 16\nmov %r0, 0\nexit", 0,
     "invalid access to map value pointer, value_size=16 off=16"),
    ("kfunc", "call kfunc 3\nexit", 0, "kernel function calls are not supported"),
    ("legacy packet load", "ldabsb 12\nexit", 0,
     "BPF_LD_[ABS|IND] instructions not allowed for this program type"),
    # layer 3: control flow
    ("unreachable code", "ja +1\nmov %r0, 0\nmov %r0, 1\nexit", 1, "unreachable insn 1"),
    ("jump past the end", "ja +5\nexit", 0, "jump out of range from insn 0 to 6"),
    ("jump into lddw", "lddw %r0, 5\nja -2\nexit", 2, "jump into the middle of ldimm64 insn 0"),
    ("fall off the end", "mov %r0, 0", 0, "last insn is not an exit or jmp"),
    ("fall into the next function", "call local f\nexit\nf:\nmov %r0, 1", 2,
     "last insn is not an exit or jmp"),
    ("jump out of a function", "call local f\nmov %r0, 0\nexit\nf:\nja -3\nexit", 3,
     "jump out of range from insn 3 to 1"),
    # layer 4: context
    ("ctx pointer field read narrow", "ldxh %r2, [%r1]\nmov %r0, 0\nexit", 0,
     "invalid bpf_context access off=0 size=2: pointer field xdp_md.data must be read whole"),
    ("ctx field write", "stw [%r1+12], 1\nmov %r0, 0\nexit", 0,
     "invalid bpf_context access off=12 size=4: xdp_md.ingress_ifindex is read-only"),
    ("ctx pointer field write", "stw [%r1+4], 1\nmov %r0, 0\nexit", 0,
     "invalid bpf_context access off=4 size=4: cannot write to context pointer field "
     "xdp_md.data_end"),
    ("ctx past the end", "ldxw %r0, [%r1+24]\nexit", 0, "invalid bpf_context access off=24 size=4"),
    ("ctx between fields", "ldxb %r0, [%r1+13]\nexit", 0,
     "invalid bpf_context access off=13 size=1: xdp_md.ingress_ifindex is 4 bytes at 12"),
    ("ctx variable offset", "ldxw %r2, [%r1+12]\nand %r2, 4\nadd %r1, %r2\nldxw %r0, [%r1+12]"
     "\nexit", 3, "dereference of modified ctx ptr R1 off=[12, 16] disallowed"),
    # packet
    ("packet without a check", "ldxw %r2, [%r1]\nldxb %r0, [%r2]\nexit", 1,
     "invalid access to packet, off=0 size=1, R2 proven range: data_end - data >= 0, "
     "data - data_meta >= 0"),
    ("packet past the checked range", PACKET + "jgt %r4, %r3, +2\nldxb %r0, [%r2+14]\nexit\n"
     "mov %r0, 1\nexit", 5,
     "invalid access to packet, off=14 size=1, R2 proven range: data_end - data >= 14, "
     "data - data_meta >= 0"),
    ("packet check on the wrong branch", PACKET + "jle %r4, %r3, +2\nldxb %r0, [%r2]\nexit\n"
     "mov %r0, 1\nexit", 5,
     "invalid access to packet, off=0 size=1, R2 proven range: data_end - data >= 0, "
     "data - data_meta >= 0"),
    ("packet end dereferenced", "ldxw %r3, [%r1+4]\nldxb %r0, [%r3]\nexit", 1,
     "invalid access to packet end, off=0 size=1, R3 proven range: data_end - data >= 0, "
     "data - data_meta >= 0"),
    ("packet metadata unchecked", "ldxw %r2, [%r1+8]\nldxb %r0, [%r2]\nexit", 1,
     "invalid access to packet metadata, off=0 size=1, R2 proven range: data_end - data >= 0,"
     " data - data_meta >= 0"),
    ("packet pointer after adjust_head", PACKET + "jgt %r4, %r3, +5\nmov %r6, %r2\n"
     "mov %r2, -4\ncall 44\nldxb %r0, [%r6]\nexit\nmov %r0, 1\nexit", 8, "R6 !read_ok"),
    ("pointer stored to packet", PACKET + "jgt %r4, %r3, +2\nstxdw [%r2], %r10\nexit\n"
     "mov %r0, 1\nexit", 5,
     "R10 leaks addr into pkt: only numbers may be stored outside the stack"),
    # stack
    ("stack read before write", "ldxdw %r0, [%r10-8]\nexit", 0,
     "invalid read from stack R10 off=-8 size=8: fp-8 is not initialized"),
    ("stack read one byte short", "stw [%r10-8], 0\nldxdw %r0, [%r10-8]\nexit", 1,
     "invalid read from stack R10 off=-8 size=8: fp-4 is not initialized"),
    ("stack below the frame", "stdw [%r10-520], 0\nmov %r0, 0\nexit", 0,
     "invalid write to stack R10 off=-520 size=8"),
    ("stack above the frame", "stb [%r10], 0\nmov %r0, 0\nexit", 0,
     "invalid write to stack R10 off=0 size=1"),
    ("partial fill of a spilled pointer", "stxdw [%r10-8], %r1\nldxw %r0, [%r10-8]\nexit", 1,
     "invalid size of register fill: 4 bytes at fp-8 of a spilled ctx"),
    ("spilled pointer partly overwritten", "stxdw [%r10-8], %r1\nstw [%r10-8], 0\n"
     "ldxw %r0, [%r10-4]\nexit", 2,
     "invalid read from stack R10 off=-4 size=4: fp-4 holds part of a pointer"),
    ("variable stack offset may be uninitialized", "stdw [%r10-8], 0\nldxw %r2, [%r1+12]\n"
     "and %r2, 8\nmov %r3, %r10\nsub %r3, %r2\nldxb %r0, [%r3-1]\nexit", 5,
     "invalid read from stack R3 off=[-9, -1] size=1: fp-9 is not initialized"),
    # maps
    ("map value not checked for NULL", LOOKUP + "ldxdw %r0, [%r0]\nexit", 6,
     "R0 invalid mem access 'map_value_or_null' (check it against NULL first)"),
    ("map value past its size", LOOKUP + "jeq %r0, 0, +2\nldxdw %r0, [%r0+4]\nexit\n"
     "mov %r0, 0\nexit", 7, "invalid access to map value, value_size=8 off=4 size=8"),
    ("map value with a variable offset", LOOKUP + "jeq %r0, 0, +5\nldxw %r1, [%r0]\n"
     "and %r1, 15\nadd %r0, %r1\nldxb %r0, [%r0]\nexit\nmov %r0, 0\nexit", 10,
     "invalid access to map value, value_size=8 off=[0, 15] size=1"),
    ("map key not initialized", "mov %r2, %r10\nadd %r2, -4\nlddw %r1, map_fd 0\ncall 1\n"
     "mov %r0, 0\nexit", 4,
     "invalid indirect read from stack R2 off=-4 size=4: fp-4 is not initialized "
     "(bpf_map_lookup_elem)"),
    ("map key that is a pointer", "stxdw [%r10-8], %r1\nmov %r2, %r10\nadd %r2, -8\n"
     "lddw %r1, map_fd 0\ncall 1\nmov %r0, 0\nexit", 5,
     "invalid indirect read from stack R2 off=-8 size=4: fp-8 holds part of a pointer "
     "(bpf_map_lookup_elem)"),
    ("helper gets a scalar for the map", "mov %r1, 0\nmov %r2, %r10\ncall 1\nexit", 2,
     "R1 type=0 expected=map_ptr (bpf_map_lookup_elem)"),
    ("write into a read-only map", "lddw %r1, map_value 3 + 0\nstw [%r1], 1\nmov %r0, 0\nexit",
     2, "write into map forbidden, value_size=8 off=0 size=4 (read-only map)"),
    ("map pointer dereferenced", "lddw %r1, map_fd 0\nldxw %r0, [%r1]\nexit", 2,
     "R1 invalid mem access 'map_ptr'"),
    # ALU on pointers
    ("pointer arithmetic on a map pointer", "lddw %r1, map_fd 0\nadd %r1, 8\nmov %r0, 0\nexit",
     2, "R1 pointer arithmetic on map_ptr prohibited"),
    ("32-bit pointer arithmetic", "add32 %r1, 8\nmov %r0, 0\nexit", 0,
     "R1 32-bit pointer arithmetic prohibited"),
    ("multiply a pointer", "mul %r1, 2\nmov %r0, 0\nexit", 0, "R1 mul on pointer prohibited"),
    ("pointer minus pointer of different regions", "mov %r2, %r10\nsub %r2, %r1\n"
     "mov %r0, 0\nexit", 1,
     "R2 -= R1: cannot subtract pointers to different regions (fp and ctx)"),
    ("scalar compared with a pointer", "mov %r2, 0\njgt %r2, %r1, +0\nmov %r0, 0\nexit", 1,
     "R2 scalar compared with pointer R1 ctx prohibited"),
    # calls, loops, exit
    ("infinite loop", "mov %r0, 0\nadd %r0, 0\nja -2", 1, "infinite loop detected at insn 1"),
    ("pointer returned from xdp", "mov %r0, %r10\nexit", 1,
     "At program exit the register R0 is not a known value (fp): xdp programs return a "
     "number"),
    ("recursion", "call local f\nmov %r0, 0\nexit\nf:\ncall local f\nexit", 3,
     "recursive call from insn 3 to 3"),
    ("callee's stack pointer returned", "call local f\nmov %r0, 0\nexit\nf:\nmov %r0, %r10\n"
     "exit", 4, "cannot return stack pointer to the caller"),
    ("caller-saved registers die across a call", "mov %r1, 1\ncall local f\nmov %r0, %r1\n"
     "exit\nf:\nmov %r0, 0\nexit", 2, "R1 !read_ok"),
    ("callee cannot read the caller's r6", "mov %r6, 1\ncall local f\nexit\nf:\nmov %r0, %r6\n"
     "exit", 3, "R6 !read_ok"),
]


@pytest.mark.parametrize("name,source,pc,message", CASES, ids=[c[0] for c in CASES])
def test_rejection(name, source, pc, message):
    result = verify(assemble(source), maps=MAPS)
    assert not result.accepted
    assert (result.error_pc, result.error) == (pc, message)
    # the log names the instruction (index and opcode) and then the reason, as the kernel's
    insn_line = [line for line in result.log if line.startswith(f"{pc}: (")]
    assert insn_line, result.log
    assert result.log[-2] == message
    assert result.log[-1].startswith(f"processed {result.insns_processed} insns")


def test_call_stack_too_deep():
    # nine nested functions: the ninth call exceeds the kernel's 8 frames
    src = []
    for i in range(9):
        src += [f"f{i}:" if i else "", f"call local f{i + 1}", "mov %r0, 0", "exit"]
    src += ["f9:", "mov %r0, 0", "exit"]
    result = verify(assemble("\n".join(s for s in src if s)))
    assert not result.accepted
    assert result.error == "the call stack of 9 frames is too deep"
    assert result.error_pc == 21


def test_complexity_limit():
    # a loop of 2**20 iterations: each one is a new state, so the walk hits the limit
    src = "mov %r0, 0\nadd %r0, 1\njlt %r0, 0x100000, -2\nmov %r0, 0\nexit"
    result = verify(assemble(src), max_insns=5000)
    assert not result.accepted
    assert result.error == "BPF program is too large. Processed 5000 insn (limit 5000)"
    assert result.insns_processed == 5001


def test_division_by_possible_zero_only_when_asked():
    src = "ldxw %r2, [%r1+12]\nmov %r0, 10\ndiv %r0, %r2\nmov %r0, 0\nexit"
    assert verify(assemble(src)).accepted           # eBPF defines x / 0 = 0
    result = verify(assemble(src), allow_division_by_zero=False)
    assert (result.error_pc, result.error) == (2, "possible division by zero (R2 may be 0)")


def test_bad_bytecode_is_named():
    result = verify(b"\xff" + bytes(7))
    assert (result.accepted, result.error_pc) == (False, 0)
    assert result.error == "unknown opcode 0xff (src=0 off=0 imm=0)"
    result = verify(bytes(12))
    assert (result.error_pc, result.error) == (None, "program length 12 is not a multiple of 8 bytes")
    lddw = isa.Insn(0x18, 0, 0, 0, 1, imm64=1).encode()[:8]
    result = verify(lddw)
    assert result.error_pc == 0 and "lddw is missing its second slot" in result.error


def test_ringbuf_helpers_on_linux_platform():
    """Helper prototypes are data: the same program is refused by xdpnic (no ring buffer)
    and, on the Linux platform, checked against bpf_ringbuf_reserve's prototype."""
    src = ("lddw %r1, map_fd 2\nmov %r2, 8\nmov %r3, 0\ncall 131\njeq %r0, 0, +4\n"
           "stdw [%r0], 7\nmov %r1, %r0\nmov %r2, 0\ncall 132\nmov %r0, 0\nexit")
    assert verify(assemble(src), maps=MAPS).error == \
        "map type RINGBUF not supported by device xdpnic"
    assert verify(assemble(src), maps=MAPS, platform=LINUX).accepted
    past = src.replace("stdw [%r0], 7", "stdw [%r0+4], 7")
    result = verify(assemble(past), maps=MAPS, platform=LINUX)
    assert (result.error_pc, result.error) == (6, "invalid access to memory, mem_size=8 off=4 size=8")
    # after submit the record is gone: using it again is refused
    reuse = src.replace("mov %r0, 0\nexit", "ldxdw %r0, [%r6]\nexit").replace(
        "mov %r1, %r0\n", "mov %r1, %r0\nmov %r6, %r0\n")
    result = verify(assemble(reuse), maps=MAPS, platform=LINUX)
    assert (result.error_pc, result.error) == (11, "R6 !read_ok")


def test_packet_length_proof_dies_with_adjust_tail():
    """A range proven before bpf_xdp_adjust_tail says nothing about the new packet."""
    src = ("mov %r6, %r1\nldxw %r2, [%r1]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\n"
           "jgt %r4, %r3, +7\nmov %r1, %r6\nmov %r2, -100\ncall 65\nldxw %r2, [%r6]\n"
           "ldxb %r0, [%r2+10]\nmov %r0, 2\nexit\nmov %r0, 1\nexit")
    result = verify(assemble(src))
    assert (result.error_pc, result.error) == (
        10, "invalid access to packet, off=10 size=1, R2 proven range: data_end - data >= 0, "
            "data - data_meta >= 0")
    # without the helper call the same access is fine
    assert verify(assemble(src.replace("call 65", "mov %r0, 0"))).accepted


@pytest.mark.parametrize("source,pc,message", [
    ("lock add [%r1+16], %r2\nexit", 0, "R2 !read_ok"),
    ("mov %r2, 1\nlock add [%r1+16], %r2\nmov %r0, 0\nexit", 1,
     "BPF_ATOMIC stores into R1 ctx is not allowed"),
    ("lock fetch add [%r10-8], %r10\nexit", 0, "frame pointer is read only"),
    ("mov %r2, 1\nlock add [%r10-8], %r2\nmov %r0, 0\nexit", 1,
     "invalid read from stack R10 off=-8 size=8: fp-8 is not initialized"),
    ("stdw [%r10-8], 0\nlock add [%r10-8], %r10\nmov %r0, 0\nexit", 1,
     "R10 leaks addr into mem"),
    ("stdw [%r10-8], 0\nmov %r0, %r10\nmov %r2, 1\nlock cmpxchg [%r10-8], %r2\nmov %r0, 0\n"
     "exit", 3, "R0 leaks addr into mem"),
    ("stxdw [%r10-8], %r1\nmov %r2, 1\nlock add [%r10-8], %r2\nmov %r0, 0\nexit", 2,
     "atomic operation on a spilled pointer at R10"),
])
def test_atomic_rejections(source, pc, message):
    result = verify(assemble(source), maps=MAPS)
    assert (result.error_pc, result.error) == (pc, message)


def test_atomic_fetch_result_is_a_number_of_the_width():
    src = ("stdw [%r10-8], 5\nmov %r2, 1\nlock fetch add32 [%r10-8], %r2\n"
           "lddw %r3, 0xffffffff\njgt %r2, %r3, +2\nmov %r0, 0\nexit\nmov %r0, %r10\nexit")
    result = verify(assemble(src))
    # the old value is 32 bits wide: the jump to the bad exit is never taken
    assert result.accepted and result.insns_processed == 7


def test_end_width_outside_the_table_is_an_unknown_opcode():
    bad = isa.Insn(isa.Cls.ALU | isa.AluOp.END, 0, 0, 0, 8)      # "le8" does not exist
    exit_ = isa.Insn(isa.Cls.JMP | isa.JmpOp.EXIT)
    result = verify(bad.encode() + exit_.encode())
    assert (result.error_pc, result.error) == (0, "unknown opcode 0xd4 (src=0 off=0 imm=8)")


def test_signed_comparison_of_a_pointer_with_a_number():
    result = verify(assemble("jslt %r1, 0, +1\nmov %r0, 0\nmov %r0, 1\nexit"))
    assert (result.error_pc, result.error) == (
        0, "R1 signed comparison of pointer ctx with a number prohibited")


def test_32bit_pointer_difference_is_the_low_half():
    """``w1 = data_end - data`` (clang -mcpu=v3) is a number; 32-bit adds to pointers are not."""
    src = ("ldxw %r2, [%r1]\nldxw %r3, [%r1+4]\nsub32 %r3, %r2\njgt32 %r3, 0xffff, +1\n"
           "mov %r0, 0\nexit")
    result = verify(assemble(src), log_level=2)
    assert result.accepted
    assert ("2: (1c) w3 -= w2                      ; R2=pkt(r=0) R3=scalar(smin=smin32=0,"
            "smax=umax=smax32=umax32=0xffff,var_off=(0x0; 0xffff))") in result.log
    assert not any(line.startswith("from 3 to 5") for line in result.log)   # never taken
    result = verify(assemble("ldxw %r2, [%r1]\nadd32 %r2, 1\nmov %r0, 0\nexit"))
    assert (result.error_pc, result.error) == (1, "R2 32-bit pointer arithmetic prohibited")
