"""The 313 bpf_conformance programs under their calling convention (r1 -> a memory block of
r2 bytes, helper 5 = the suite's "unwind"): every one is safe and accepted with
``linux_compat=False``; by default the twelve whose immediate shift amount is outside
0..width-1 are refused as the kernel refuses them ("invalid shift"; RFC 9669 masks the amount,
so they are not unsafe on the NIC: see docs/verifier.md)."""

import pytest

from firmware.conformance import find_data_files, parse_data_file
from firmware.ebpf.verifier import CONFORMANCE, memory_entry_state, verify

KERNEL_REFUSED = {
    "arsh32-imm-high": (2, "invalid shift 48"), "arsh32-imm-neg": (2, "invalid shift -16"),
    "arsh64-imm-high": (2, "invalid shift 124"), "arsh64-imm-neg": (2, "invalid shift -4"),
    "lsh32-imm-high": (1, "invalid shift 60"), "lsh32-imm-neg": (1, "invalid shift -4"),
    "lsh64-imm-high": (1, "invalid shift 68"), "lsh64-imm-neg": (1, "invalid shift -60"),
    "rsh32-imm-high": (2, "invalid shift 40"), "rsh32-imm-neg": (2, "invalid shift -24"),
    "rsh64-imm-high": (1, "invalid shift 68"), "rsh64-imm-neg": (1, "invalid shift -60"),
}


@pytest.fixture(scope="module")
def cases(conformance_dir):
    return [parse_data_file(p) for p in find_data_files(conformance_dir)]


def _verify(case, size=None):
    size = len(case.mem) if size is None else size
    return verify(case.insns, "conformance", None, CONFORMANCE, memory_entry_state(size))


def test_all_accepted_but_the_kernel_refused_shifts(cases):
    assert len(cases) == 313
    refused = {}
    for case in cases:
        result = _verify(case)
        if not result.accepted:
            refused[case.name] = (result.error_pc, result.error)
    assert refused == KERNEL_REFUSED


def test_all_accepted_when_judging_safety_alone(cases):
    """Without the kernel's extra refusals every program is safe under the convention."""
    refused = [c.name for c in cases
               if not verify(c.insns, "conformance", None, CONFORMANCE,
                             memory_entry_state(len(c.mem)), linux_compat=False).accepted]
    assert refused == []


def test_memory_accesses_are_checked_against_the_block(cases):
    """With one byte less memory than the file gives, every program that touches the last
    byte is refused; those that do not are still accepted."""
    with_mem = [c for c in cases if c.mem]
    assert len(with_mem) == 40
    refused = sorted(c.name for c in with_mem if not _verify(c, len(c.mem) - 1).accepted)
    assert len(refused) == 25
    assert "ldxb" not in refused          # reads byte 2 of 5
    by_name = {c.name: c for c in with_mem}
    result = _verify(by_name["ldxb"], 2)
    assert (result.error_pc, result.error) == (0, "invalid access to memory, mem_size=2 off=2 "
                                                  "size=1")


def test_unwind_helper_and_callx(cases):
    by_name = {c.name: c for c in cases}
    for name in ("call_unwind_fail", "callx"):
        assert _verify(by_name[name]).accepted
    # on xdpnic's platform helper 5 is bpf_ktime_get_ns, taking no argument: still fine;
    # an unknown id in callx is refused
    from firmware.ebpf.asm import assemble
    result = verify(assemble("mov %r2, 77\ncall %r2\nmov %r0, 0\nexit"), "conformance", None,
                    CONFORMANCE, memory_entry_state(0))
    assert (result.error_pc, result.error) == (1, "invalid helper function id 77 in callx")
