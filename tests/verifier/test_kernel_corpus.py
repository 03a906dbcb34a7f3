"""Programs on which xdpnic's verifier once disagreed with the kernel's, each kept with the
verdict, reason and processed-instruction count that this machine's kernel (Linux 6.18,
loaded as root) gave for it: ``kernel_corpus.jsonl``, one JSON object a line (``hex``: the
bytecode; maps as ``tests.kernel.diffgen.MAPS``).  The entries were minimized by
``tests.kernel.diffgen.minimize`` (seed = the generator's), so each shows one rule.

No kernel is needed here; tests/kernel/test_verifier_differential.py judges fresh programs
by the live kernel.
"""

import json
import pathlib

import pytest

from tests.kernel.diffgen import judge_ours, program_from_hex

CORPUS = [json.loads(line) for line in
          (pathlib.Path(__file__).with_name("kernel_corpus.jsonl")).read_text().splitlines()
          if line.strip()]


@pytest.mark.parametrize("entry", CORPUS, ids=[e["name"] for e in CORPUS])
def test_verdict_is_the_kernels(entry):
    result = judge_ours(program_from_hex(entry["hex"]))
    assert result.accepted == entry["kernel_accepts"], "\n".join(result.log)
    if not entry["kernel_accepts"]:
        # same reason, in the kernel's first words (our offsets are printed our way)
        assert result.error.split()[:3] == entry["kernel_reason"].split()[:3], result.error
    # the kernel counts its work on the same paths: within 2x of its count
    assert result.insns_processed <= 2 * entry["kernel_processed"]


@pytest.mark.parametrize("entry", [e for e in CORPUS if e["needs_privilege"]],
                         ids=[e["name"] for e in CORPUS if e["needs_privilege"]])
def test_stricter_rules_refuse_what_needs_privilege(entry):
    """Each of these needs allow_ptr_leaks or allow_uninit_stack (kernel/bpf/verifier.c);
    an unprivileged loader is refused."""
    result = judge_ours(program_from_hex(entry["hex"]), privileged=False)
    assert not result.accepted
