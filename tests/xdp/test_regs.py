"""The register declaration: consistent, documented, and the doc up to date."""

import pathlib
import subprocess
import sys

import pytest

from hw import regs

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent


def test_committed_register_doc_is_generated_from_the_declaration():
    doc = (ROOT / "docs" / "registers.md").read_text()
    assert doc == regs.markdown(), \
        "docs/registers.md is stale: run python -m hw.regs --markdown > docs/registers.md"


def test_module_prints_the_doc():
    out = subprocess.run([sys.executable, "-m", "hw.regs", "--markdown"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert out == regs.markdown()


def test_offsets_are_unique_aligned_and_below_the_window():
    table = regs.offsets(regs.MAX_PORTS)
    assert len(set(table.values())) == len(table)
    assert all(o % 4 == 0 and o < regs.IMEM_WINDOW.offset for o in table.values())
    assert table["ID"] == 0 and table["PORT1_RX_FRAMES"] == 0x140
    assert table["PORT0_EGRESS_FRAMES"] == 0x100 + 4 * 10


def test_port_counter_offset_names_bad_arguments():
    with pytest.raises(KeyError, match="no per-port counter 'NOPE'"):
        regs.port_counter_offset(0, "NOPE")
    with pytest.raises(ValueError, match="port 16 outside"):
        regs.port_counter_offset(16, "DROP")


def test_trap_counters_follow_trap_cause_order():
    from firmware.ebpf.machine import TrapCause
    assert regs.TRAP_COUNTERS == tuple(f"TRAP_{c.name}" for c in TrapCause
                                       if c != TrapCause.NONE)
