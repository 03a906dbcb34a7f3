"""The one program-load sequence (firmware/driver/program_load.py), derived by hand from the
register map: each slot low word then high word, PROG_LEN, BUDGET, CTRL with enable."""

from firmware.driver.program_load import load_writes
from hw import regs


def test_load_writes_slots_length_budget_then_enable():
    imem = regs.IMEM_WINDOW.offset
    clear = 1 << regs.CTRL.CLEAR_COUNTERS
    writes = load_writes([0x1122334455667788, 0x95], 7, clear)
    assert writes == [(imem, 0x55667788), (imem + 4, 0x11223344),
                      (imem + 8, 0x95), (imem + 12, 0),
                      (regs.register("PROG_LEN").offset, 2),
                      (regs.register("BUDGET").offset, 7),
                      (regs.register("CTRL").offset, clear | 1 << regs.CTRL.ENABLE)]


def test_budget_clamped_to_the_register():
    *_, (_budget, value), _ctrl = load_writes([], 1 << 40, 0)
    assert value == 0xFFFFFFFF
