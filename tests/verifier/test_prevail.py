"""PREVAIL's YAML suites as accept/reject oracles (../shared/conformance/prevail).

The default run checks every file: no case that PREVAIL rejects may be accepted (soundness),
and the agreement numbers are pinned exactly per file so that any change, better or worse,
shows.  ``python -m firmware.ebpf.verifier.prevail_report --list precision`` lists the gaps.
"""

import pytest

from firmware.ebpf import isa
from firmware.ebpf.isa import AluOp, Cls, JmpOp, Mode, Pseudo, Size, Src
from firmware.ebpf.verifier.checks import Assume
from firmware.ebpf.verifier.prevail_report import PREVAIL_IMPRECISE, run_all
from firmware.ebpf.verifier.prevail_syntax import (PrevailSyntaxError, assemble,
                                                   entry_states)
from firmware.ebpf.verifier.state import Byte, PKT_DATA, PKT_END, T

# file: (cases, agree, precision gaps, skipped, PREVAIL-imprecise accepted by us)
EXPECTED = {
    "add.yaml": (10, 10, 0, 0, 0),
    "assign.yaml": (26, 25, 1, 0, 0),
    "atomic.yaml": (45, 45, 0, 0, 0),
    "bitop.yaml": (12, 12, 0, 0, 0),
    "call.yaml": (30, 30, 0, 0, 0),
    "calllocal.yaml": (21, 15, 6, 0, 0),
    "callx.yaml": (25, 25, 0, 0, 0),
    "ctx.yaml": (16, 16, 0, 0, 0),
    "full64.yaml": (15, 15, 0, 0, 0),
    "jump.yaml": (56, 52, 0, 2, 2),
    "loop.yaml": (24, 22, 2, 0, 0),
    "map.yaml": (5, 4, 1, 0, 0),
    "movsx.yaml": (21, 20, 0, 1, 0),
    "muldiv.yaml": (4, 4, 0, 0, 0),
    "nonconvex.yaml": (5, 5, 0, 0, 0),
    "observe.yaml": (11, 0, 0, 11, 0),
    "packet.yaml": (18, 11, 7, 0, 0),
    "parse.yaml": (13, 13, 0, 0, 0),
    "pointer.yaml": (23, 22, 1, 0, 0),
    "sdivmod.yaml": (37, 37, 0, 0, 0),
    "sext.yaml": (4, 4, 0, 0, 0),
    "shift.yaml": (87, 87, 0, 0, 0),
    "stack.yaml": (38, 33, 4, 1, 0),
    "subtract.yaml": (9, 9, 0, 0, 0),
    "udivmod.yaml": (36, 36, 0, 0, 0),
    "uninit.yaml": (30, 26, 4, 0, 0),
    "unop.yaml": (28, 28, 0, 0, 0),
    "unsigned.yaml": (153, 153, 0, 0, 0),
}


@pytest.fixture(scope="module")
def reports(prevail_dir):
    return {rep.name: rep for rep in run_all(prevail_dir)}


def test_no_soundness_bugs(reports):
    unsound = [f"{r.case.file}: {r.case.name}" for rep in reports.values()
               for r in rep.results if r.kind == "soundness"]
    assert unsound == []


def test_every_file_is_judged(reports):
    assert sorted(reports) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_agreement_per_file(reports, name):
    rep = reports[name]
    got = (len(rep.results), rep.count("agree"), rep.count("precision"), rep.count("skipped"),
           rep.count("prevail_imprecise"))
    assert got == EXPECTED[name]


def test_prevail_imprecise_cases_are_the_reviewed_ones(reports):
    seen = {(r.case.file, r.case.name) for rep in reports.values() for r in rep.results
            if r.kind == "prevail_imprecise"}
    assert seen == set(PREVAIL_IMPRECISE)


def test_rejections_blame_prevails_instruction_mostly(reports):
    """Where both reject, we usually blame the same instruction; pinned to show drift."""
    both = [r for rep in reports.values() for r in rep.results
            if r.kind == "agree" and r.case.expect_reject and r.case.expected_pc is not None]
    same = sum(1 for r in both if r.error_pc == r.case.expected_pc)
    assert (len(both), same) == (172, 163)


# --- the translation itself ------------------------------------------------------------------

def _fields(insn):
    return (insn.opcode, insn.dst, insn.src, insn.off, insn.imm)


def test_syntax_to_instructions():
    insns, index = assemble([("<start>", [
        "r0 = 0", "w1 = w2", "r1 s>>= 3", "r2 = *(u8 *)(r1 + 4)", "*(u64 *)(r10 - 8) = r1",
        "lock *(u64 *)(r10 - 8) += r1 fetch", "if w1 s< 0 goto <out>", "call 1",
        "r3 = map_fd 5", "r4 = r4 ; a comment", "assume r1 < 10"]),
        ("<out>", ["r5 s16= r3", "r6 = be32 r6", "exit"])])
    want = [
        (Cls.ALU64 | Src.K | AluOp.MOV, 0, 0, 0, 0),
        (Cls.ALU | Src.X | AluOp.MOV, 1, 2, 0, 0),
        (Cls.ALU64 | Src.K | AluOp.ARSH, 1, 0, 0, 3),
        (Cls.LDX | Size.B | Mode.MEM, 2, 1, 4, 0),
        (Cls.STX | Size.DW | Mode.MEM, 10, 1, -8, 0),
        (Cls.STX | Size.DW | Mode.ATOMIC, 10, 1, -8, isa.AtomicOp.FETCH_ADD),
        (Cls.JMP32 | Src.K | JmpOp.JSLT, 1, 0, 5, 0),
        (Cls.JMP | JmpOp.CALL, 0, 0, 0, 1),
        (Cls.LD | Size.DW | Mode.IMM, 3, Pseudo.MAP_FD, 0, 5),
        (0, 0, 0, 0, 0),
        (Cls.ALU64 | Src.X | AluOp.MOV, 4, 4, 0, 0),
        (Cls.JMP | Src.K | JmpOp.JLT, 1, 0, 0, 10),
        (Cls.ALU64 | Src.X | AluOp.MOV, 5, 3, 16, 0),
        (Cls.ALU | Src.X | AluOp.END, 6, 0, 0, 32),
        (Cls.JMP | JmpOp.EXIT, 0, 0, 0, 0),
    ]
    assert [_fields(i) for i in insns] == want
    assert isinstance(insns[11], Assume)
    assert index == [0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 9, 10, 11, 12, 13]


def test_untranslatable_syntax_is_named():
    with pytest.raises(PrevailSyntaxError, match="'&!='"):
        assemble([("<start>", ["if r1 &!= 0 goto <start>"])])
    with pytest.raises(PrevailSyntaxError, match="unknown label <nowhere>"):
        assemble([("<start>", ["goto <nowhere>"])])


def test_pre_constraints_to_entry_states():
    (st,) = entry_states(["r1.type=packet", "r1.packet_offset=4", "packet_size=[20, 100]",
                          "meta_offset=-8", "r2.type=packet", "r2.packet_offset=packet_size",
                          "r3.type=number", "r3.svalue=[1, 9]", "r3.uvalue=r3.svalue",
                          "r10.type=stack", "r10.stack_offset=512",
                          "s[504...511].type=number", "s[504...511].svalue=7"])
    r1, r2, r3 = st.regs[1], st.regs[2], st.regs[3]
    assert (r1.type, r1.base, r1.val.umin) == (T.PACKET, PKT_DATA, 4)
    assert (r2.type, r2.base) == (T.PACKET, PKT_END)
    assert (r3.val.umin, r3.val.umax) == (1, 9)
    assert (st.pkt_len, st.meta_len) == ((20, 100), (8, 8))
    assert st.cur.spills[63].val.umin == 7 and st.cur.stack[504] == Byte.SPILL
    alternatives = entry_states(["r1.type in {ctx, packet}"])
    assert [s.regs[1].type for s in alternatives] == [T.CTX, T.PACKET]
