"""docs/isa.md is generated from the ISA table and must match it."""

import pathlib

from firmware.ebpf import isa_doc

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "isa.md"


def test_committed_isa_doc_matches_the_table():
    assert DOC.read_text() == isa_doc.markdown(), \
        "docs/isa.md is stale: run python -m firmware.ebpf.isa_doc > docs/isa.md"
