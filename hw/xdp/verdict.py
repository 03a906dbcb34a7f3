"""The verdict record: what the datapath reports for every frame that reached it.

One record per received frame (except frames discarded as buffer-full, which only count), in
frame order, on ``verdict_valid``/``verdict``.  Dispositions and reasons are numbered here once;
the host side (:mod:`sim.nic_run`) decodes them with the same tables.
"""

from amaranth.lib import data, enum

from firmware.ebpf.machine import ENGINE_BITS
from firmware.ebpf.xdp import Disposition as _Names
from hw.regs import PORT_BITS

__all__ = ["DispositionCode", "ReasonCode", "VerdictLayout", "DISPOSITION_NAMES", "decode_verdict"]

# Disposition codes follow xdp.Disposition.ALL's order.
DISPOSITION_NAMES = _Names.ALL


class DispositionCode(enum.Enum, shape=3):
    """Where a frame went: xdp.Disposition's names, numbered in xdp.Disposition.ALL's order."""
    DROP = 0
    ABORTED = 1
    PASS = 2
    TX = 3
    REDIRECT = 4
    DISCARD = 5


assert tuple(c.name.lower() for c in DispositionCode) == DISPOSITION_NAMES


class ReasonCode(enum.Enum, shape=4):
    """Why a frame was aborted or discarded."""
    NONE = 0
    RUNT = 1
    OVERSIZE = 2
    MAC_ERROR = 3
    BUFFER_FULL = 4
    TRAP = 5              # the core trapped (cause in ``trap``)
    ACTION_ABORTED = 6    # the program returned XDP_ABORTED
    INVALID_ACTION = 7    # r0 (as u32) is no XDP action
    REDIRECT_FAILED = 8   # XDP_REDIRECT without a target, or to no such port


VerdictLayout = data.StructLayout({
    "ingress": PORT_BITS,
    "disposition": DispositionCode,
    "egress": PORT_BITS,
    "reason": ReasonCode,
    "trap": 3,
    "trap_pc": 32,
    "r0": 64,
    "insns": 32,
    "cycles": 32,
    "length": 16,          # bytes received
    "out_length": 16,      # bytes of the frame as it leaves (0 when it does not)
    "meta_length": 8,      # metadata bytes before the frame (XDP_PASS: sent ahead of it)
    "redirect_ifindex": 32,
    "engine": ENGINE_BITS,  # the engine that ran the program
})


def decode_verdict(raw: int) -> dict:
    """A verdict record's fields from its bits (as read from the Verilog port or the
    simulator): plain ints, with ``disposition`` and ``reason`` as their names."""
    out = {}
    for name, field in VerdictLayout:
        value = (raw >> field.offset) & ((1 << field.width) - 1)
        out[name] = value
    out["disposition"] = DISPOSITION_NAMES[out["disposition"]]
    out["reason"] = ReasonCode(out["reason"]).name.lower().replace("_", "-")
    return out
