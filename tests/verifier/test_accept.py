"""Programs the verifier must accept, one per feature of the abstract interpretation, and the
exact amount of work (instructions processed) it takes, so that a change in pruning shows.

``ACCEPTED`` runs under the default (privileged) rules, and each count is the one this
machine's kernel (Linux 6.18) prints for the same program loaded as root with the same maps
(``tests.kernel.diffgen.judge_kernel``), except where a comment says ours differs.
``ACCEPTED_STRICT`` are programs the kernel refuses for want of precision (a packet range
lost to a variable offset) that the stricter rules' own range tracking proves safe."""

import pytest

from firmware.ebpf.asm import assemble
from firmware.ebpf.maps import MapType
from firmware.ebpf.verifier import (CONFORMANCE, MapInfo, memory_entry_state, verify)
from firmware.ebpf.verifier.checks import Assume
from firmware.ebpf import isa

MAPS = {0: MapInfo(MapType.HASH, 4, 8, 16, "hash"), 1: MapInfo(MapType.ARRAY, 4, 16, 4, "a")}

ACCEPTED = [
    ("packet access after a data_end check",
     "ldxw %r2, [%r1]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, +2\n"
     "ldxh %r0, [%r2+12]\nexit\nmov %r0, 1\nexit", 9),
    ("check written the other way round",
     "ldxw %r2, [%r1]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 8\njle %r3, %r4, +2\n"
     "ldxdw %r0, [%r2]\nexit\nmov %r0, 1\nexit", 9),
    ("packet metadata checked against data",
     "ldxw %r2, [%r1+8]\nldxw %r3, [%r1]\nmov %r4, %r2\nadd %r4, 4\njgt %r4, %r3, +2\n"
     "ldxw %r0, [%r2]\nexit\nmov %r0, 1\nexit", 9),
    ("map value used after a NULL check, copy checked",
     "mov %r2, %r10\nadd %r2, -4\nstw [%r2], 0\nlddw %r1, map_fd 0\ncall 1\nmov %r6, %r0\n"
     "jeq %r6, 0, +3\nldxdw %r1, [%r0]\nstxdw [%r6], %r1\nlock add [%r0], %r1\n"
     "mov %r0, 0\nexit", 12),        # the kernel: 13
    ("map value variable offset within bounds",
     "mov %r2, %r10\nadd %r2, -4\nstw [%r2], 0\nlddw %r1, map_fd 1\ncall 1\njeq %r0, 0, +5\n"
     "ldxw %r1, [%r0]\nand %r1, 12\nadd %r0, %r1\nldxw %r0, [%r0]\nexit\nmov %r0, 0\nexit", 11),
    ("spill and fill a pointer",
     "stxdw [%r10-16], %r1\nldxdw %r6, [%r10-16]\nldxw %r0, [%r6+12]\nexit", 4),
    ("scalar spill keeps its value",
     "mov %r3, 20\nstxdw [%r10-8], %r3\nldxdw %r4, [%r10-8]\nldxw %r2, [%r1]\n"
     "ldxw %r3, [%r1+4]\nmov %r5, %r2\nadd %r5, 24\njgt %r5, %r3, +3\nadd %r2, %r4\n"
     "ldxw %r0, [%r2]\nexit\nmov %r0, 1\nexit", 13),
    ("bounded loop over the stack",
     "mov %r1, 0\nmov %r2, %r10\nadd %r2, -64\nl: stb [%r2], 0\nadd %r2, 1\nadd %r1, 1\n"
     "jlt %r1, 64, l\nldxdw %r0, [%r10-8]\nmov %r0, 0\nexit", 262),
    ("bpf-to-bpf call: r1-r5 in, r0 out, r6-r9 kept, stack pointer argument",
     "mov %r6, 7\nstdw [%r10-8], 1\nmov %r1, %r10\nadd %r1, -8\ncall local f\nadd %r0, %r6\n"
     "exit\nf:\nldxdw %r0, [%r1]\nstdw [%r1], 2\nexit", 10),
    ("32-bit comparison bounds a zero-extended value",
     "ldxw %r2, [%r1+16]\njge32 %r2, 16, +4\nmov %r3, %r10\nadd %r3, -16\nadd %r3, %r2\n"
     "stb [%r3], 1\nmov %r0, 0\nexit", 10),
]


ACCEPTED += [
    # the DHCP relay's pattern: a packet pointer kept across bpf_xdp_adjust_head and then
    # used in arithmetic; the kernel (root) makes it an unknown number (mark_reg_invalid)
    ("packet pointer computed with after adjust_head",
     "mov %r6, %r1\nldxw %r2, [%r6]\nldxw %r3, [%r6+4]\nmov %r4, %r2\nadd %r4, 42\njgt %r4, %r3, +9\nmov %r9, %r2\nadd %r9, 42\nmov %r1, %r6\nmov %r2, -8\ncall 44\nldxw %r2, [%r6]\nmov %r8, %r9\nadd %r8, 14\nstxdw [%r10-8], %r8\nmov %r0, 2\nexit", 19),
]

ACCEPTED_STRICT = [
    ("variable packet offset bounded by a mask",
     "ldxw %r2, [%r1]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 64\njgt %r4, %r3, +5\n"
     "ldxb %r5, [%r2]\nand %r5, 63\nadd %r2, %r5\nldxb %r0, [%r2]\nexit\nmov %r0, 1\nexit", 12),
    ("linked scalar copies are narrowed together",
     "ldxw %r2, [%r1]\nldxw %r3, [%r1+4]\nldxw %r4, [%r1+16]\nmov %r5, %r4\njgt %r4, 8, +6\n"
     "mov %r6, %r2\nadd %r6, 16\njgt %r6, %r3, +3\nadd %r2, %r5\nldxdw %r0, [%r2]\nexit\n"
     "mov %r0, 1\nexit", 15),
]


@pytest.mark.parametrize("name,source,processed", ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_accepted(name, source, processed):
    result = verify(assemble(source), maps=MAPS)
    _check_accepted(result, processed)


@pytest.mark.parametrize("name,source,processed", ACCEPTED_STRICT,
                         ids=[a[0] for a in ACCEPTED_STRICT])
def test_accepted_by_the_stricter_rules_own_ranges(name, source, processed):
    result = verify(assemble(source), maps=MAPS, privileged=False)
    _check_accepted(result, processed)
    # the kernel's rule: a variable offset forgets the pointer's proven range
    refused = verify(assemble(source), maps=MAPS)
    assert refused.error.startswith("invalid access to packet"), refused.log


def test_packet_pointer_after_adjust_head_is_unreadable_under_the_stricter_rules():
    source = next(src for name, src, _ in ACCEPTED if "adjust_head" in name)
    result = verify(assemble(source), maps=MAPS, privileged=False)
    assert (result.error_pc, result.error) == (12, "R9 !read_ok")


def _check_accepted(result, processed):
    assert result.accepted, "\n".join(result.log)
    assert result.insns_processed == processed
    assert result.error is None and result.error_pc is None
    assert len(result.log) == 1 and result.log[0].startswith(
        f"processed {processed} insns (limit 1000000) max_states_per_insn ")


def test_bytes_and_insns_give_the_same_verdict():
    insns = assemble("ldxw %r0, [%r1+12]\nexit")
    from_bytes = verify(isa.encode_program(insns))
    assert from_bytes.accepted and from_bytes.insns_processed == 2


def test_conformance_entry_state_bounds_the_memory():
    prog = assemble("ldxw %r0, [%r1+4]\nexit")
    assert verify(prog, "conformance", None, CONFORMANCE, memory_entry_state(8)).accepted
    result = verify(prog, "conformance", None, CONFORMANCE, memory_entry_state(7))
    assert (result.error_pc, result.error) == (0, "invalid access to memory, mem_size=7 "
                                                  "off=4 size=4")


def test_assume_narrows_and_drops_the_other_edge():
    prog = assemble("ldxw %r2, [%r1+16]\nmov %r0, 0\nexit")
    cond = Assume(isa.Cls.JMP | isa.JmpOp.JLT, 2, 0, 0, 4)
    cond.spec = isa.lookup(cond.opcode, 0, 0, 4)
    body = assemble("mov %r3, %r10\nadd %r3, -8\nadd %r3, %r2\nstw [%r3], 0\nmov %r0, 0\nexit")
    prog = prog[:1] + [cond] + body
    result = verify(prog, privileged=False)
    assert result.accepted, result.log
    # without the assume the store may reach fp+[..] above the frame
    result = verify(prog[:1] + body, privileged=False)
    assert result.error == "invalid write to stack R3 off=[-8, 4294967287] size=4"


VARIABLE_HEADER = """
ldxw %r2, [%r1]
ldxw %r3, [%r1+4]
mov %r4, %r2
add %r4, 34
jgt %r4, %r3, drop
ldxb %r5, [%r2+14]
and %r5, 15
lsh %r5, 2
add %r5, 14
mov %r6, %r2
add %r6, %r5
mov %r7, %r6
add %r7, 8
jgt %r7, %r3, drop
ldxh %r0, [%r6+ACCESS]
exit
drop:
mov %r0, 1
exit
"""


def test_variable_length_header_checked_through_its_own_pointer():
    """data + 14 + ihl*4 is a packet pointer with a variable offset; checking it + 8 against
    data_end proves 8 bytes from it (the kernel's per-pointer range), though no fixed length
    of the packet is known."""
    ok = verify(assemble(VARIABLE_HEADER.replace("ACCESS", "6")))
    assert ok.accepted, ok.log
    bad = verify(assemble(VARIABLE_HEADER.replace("ACCESS", "7")))
    # the kernel: "invalid access to packet, off=7 size=2, R6(id=1,off=7,r=8)" (its off
    # counts the 14 added before the variable part)
    assert (bad.error_pc, bad.error) == (
        14, "invalid access to packet, off=7 size=2, R6(id=1,off=0,r=8)")
    strict = verify(assemble(VARIABLE_HEADER.replace("ACCESS", "7")), privileged=False)
    assert (strict.error_pc, strict.error) == (
        14, "invalid access to packet, off=[21, 81] size=2, R6 proven range: data_end - data "
            ">= 34, data - data_meta >= 0")


def test_narrow_spill_of_a_number_keeps_its_bounds():
    """clang -mcpu=v3 spills 32-bit values as u32: the fill must give back the bound (the
    stricter rules; the kernel keeps a narrow spill only at the start of an 8-byte slot and
    refuses this one: "misaligned stack access off (0x0; 0xffffffff)+-16+0 size 8")."""
    src = ("ldxw %r2, [%r1+16]\njgt %r2, 8, +7\nstxw [%r10-4], %r2\nmov %r2, 0\n"
           "ldxw %r3, [%r10-4]\nmov %r4, %r10\nadd %r4, -16\nadd %r4, %r3\nstdw [%r4], 0\n"
           "mov %r0, 0\nexit")
    result = verify(assemble(src), privileged=False)
    assert result.accepted, result.log
    assert verify(assemble(src)).error.startswith("misaligned stack access")
    # a store over any byte of it makes the fill an unknown u32 again
    clobbered = src.replace("mov %r2, 0\n", "stb [%r10-2], 0\n")
    result = verify(assemble(clobbered), privileged=False)
    assert (result.error_pc, result.error) == (
        8, "invalid write to stack R4 off=[-16, 4294967279] size=8")
