"""The control-bus writes that put a program into the NIC and start it, written once for every
host that loads one: the driver (:meth:`firmware.driver.nic.Nic.load`), the cocotb testbench
(:class:`sim.nic_tb.TB`) and the fast harness's jobs (:func:`sim.fast.program_ops`).

The NIC must be stopped first (``CTRL.enable`` clear, and idle): the writes are every
instruction slot of the instruction-memory window (low word, then high word), ``PROG_LEN``,
``BUDGET``, then ``CTRL`` with ``enable`` and the caller's other bits.
"""

from hw import regs

__all__ = ["load_writes"]

_MASK32 = 0xFFFFFFFF


def load_writes(words: list[int], budget: int, ctrl: int) -> list[tuple[int, int]]:
    """``(offset, value)`` of each write, in order, for the 64-bit instruction ``words``, an
    instruction ``budget`` (clamped to 32 bits) and the ``CTRL`` bits besides ``enable``."""
    base = regs.IMEM_WINDOW.offset
    writes = []
    for index, word in enumerate(words):
        writes.append((base + 8 * index, word & _MASK32))
        writes.append((base + 8 * index + 4, word >> 32 & _MASK32))
    writes.append((regs.register("PROG_LEN").offset, len(words)))
    writes.append((regs.register("BUDGET").offset, min(budget, _MASK32)))
    writes.append((regs.register("CTRL").offset, ctrl | 1 << regs.CTRL.ENABLE))
    return writes
