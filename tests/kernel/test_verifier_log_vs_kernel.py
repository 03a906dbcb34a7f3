"""Our level-2 log beside the kernel's for the same generated programs (tests.kernel.diffgen),
loaded into this machine's kernel as root: the "Live regs before insn" table and the text of
every instruction must be the kernel's, character for character (a map's ``lddw`` aside: the
kernel prints the map's kernel address).  Register annotations are compared in
docs/verifier.md, not here: they differ where our representation does (a pointer's constant
and variable offset in one range, no separate 32-bit bounds)."""

import re

import pytest

from firmware.ebpf.verifier import LINUX, verify
from tests.kernel.diffgen import MAPS, assemble, generate, judge_kernel

pytestmark = pytest.mark.usefixtures("bpf")

_LIVE = re.compile(r"^\s+(\d+): ([0-9.]{10}) \((..)\) (.*)$")
_INSN = re.compile(r"^(\d+): \(([0-9a-f]{2})\) (.*?)(\s+;.*)?$")


def _table(lines, pattern):
    out = {}
    for line in lines:
        m = pattern.match(line)
        if m and "0xffff" not in line:
            out.setdefault(int(m.group(1)), m.group(0).split(";")[0].rstrip())
    return out


@pytest.mark.parametrize("block", range(2))
def test_live_registers_and_instructions_are_printed_as_the_kernel_prints_them(block):
    compared = 0
    for seed in range(100 * block, 100 * block + 100):
        prog = assemble(*generate(seed))
        kernel = judge_kernel(prog, log_level=2).log.splitlines()
        ours = verify(prog, "xdp", maps=MAPS, platform=LINUX, log_level=2).log
        for pattern in (_LIVE, _INSN):
            want, got = _table(kernel, pattern), _table(ours, pattern)
            for pc in want.keys() & got.keys():
                assert got[pc] == want[pc], f"seed {seed}, insn {pc}"
                compared += 1
    assert compared > 1000
