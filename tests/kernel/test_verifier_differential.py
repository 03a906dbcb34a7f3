"""Our verifier against this machine's kernel on generated XDP programs (tests.kernel.diffgen):
packet checks with constant and variable offsets, map lookups with and without NULL checks,
stack reads initialized or not, spills and fills, loops, bpf-to-bpf calls, helpers with
right and wrong argument types, pointers after bpf_xdp_adjust_head, 32-bit pointer
arithmetic.  Each program is loaded into the kernel as root; our verdict (default,
privileged rules) must be the kernel's.  A disagreement is minimized for the message; keep it
in tests/verifier/kernel_corpus.jsonl once fixed.

Default: 500 programs.  ``--runslow``: 10,000 more (seeds 1000-10999), at least 99.9% in
agreement and none accepted by us that the kernel refuses.
"""

import pytest

from firmware.ebpf.disasm import disassemble
from tests.kernel.diffgen import assemble, generate, judge_kernel, judge_ours, minimize

pytestmark = pytest.mark.usefixtures("bpf")


def _judge(seed):
    snippets, sub = generate(seed)
    prog = assemble(snippets, sub)
    kernel = judge_kernel(prog)
    ours = judge_ours(prog)
    return snippets, sub, kernel, ours


def _explain(seed, snippets, sub, kernel):
    small = minimize(snippets, sub, lambda p: judge_kernel(p).accepted == kernel.accepted
                     and judge_ours(p).accepted != kernel.accepted)
    ours = judge_ours(small)
    return (f"seed {seed}: kernel {'accepts' if kernel.accepted else 'refuses: ' + kernel.reason}"
            f", we {'accept' if ours.accepted else 'refuse: ' + str(ours.error)}\n"
            + "\n".join(disassemble(small)))


@pytest.mark.parametrize("block", range(5))
def test_verdicts_match_the_kernel(block):
    for seed in range(100 * block, 100 * block + 100):
        snippets, sub, kernel, ours = _judge(seed)
        assert ours.accepted == kernel.accepted, _explain(seed, snippets, sub, kernel)


@pytest.mark.slow
def test_ten_thousand_verdicts_match_the_kernel():
    disagreements, unsafe = [], []
    for seed in range(1000, 11000):
        snippets, sub, kernel, ours = _judge(seed)
        if ours.accepted != kernel.accepted:
            disagreements.append(seed)
            if ours.accepted:
                unsafe.append(_explain(seed, snippets, sub, kernel))
    assert not unsafe, "\n\n".join(unsafe)
    assert len(disagreements) <= 10, disagreements
