"""AXI-Stream as the NIC's packet interfaces use it; the one statement of the beat conventions.

* A beat carries ``data_bytes`` bytes; byte 0 of the beat (the earliest on the wire) is
  ``tdata[7:0]``.  ``tkeep`` has one bit per byte.
* Every beat but the last of a frame is full (``tkeep`` all ones); the last beat (``tlast``)
  keeps its first ``k`` bytes (``tkeep`` = k low ones, k = 0 only for a zero-length frame).
  Ingress counts the bytes of the last beat by ``tkeep``'s population.
* ``tuser`` is the MAC's error flag: set on any beat of a frame, the whole frame is bad.
* Transfers happen when ``tvalid & tready`` at a rising edge; egress keeps ``tvalid`` up and
  its payload still while ``tready`` is low (AXI4-Stream rule).

Members are named ``tdata/tkeep/tlast/tuser/tvalid/tready`` so that cocotbext-axi binds with
``AxiStreamBus.from_prefix(dut, "rx0", bus_separator="__")``.

Ref: ARM IHI 0051 (AMBA 4 AXI4-Stream Protocol Specification).
"""

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from firmware.ebpf import machine

__all__ = ["AxisSignature", "DATA_WIDTHS", "check_data_width"]

# Beat widths whose byte count divides the headroom and the frame room, so that a received
# frame starts on a row of the packet buffer and the largest frame ends on one.
DATA_WIDTHS = tuple(w for w in (64, 128, 256, 512)
                    if machine.XDP_HEADROOM % (w // 8) == 0
                    and machine.XDP_MAX_FRAME % (w // 8) == 0)


def check_data_width(data_width: int) -> int:
    """The beat width in bytes, or a ValueError naming the widths that work."""
    if data_width not in DATA_WIDTHS:
        raise ValueError(f"data width must be one of {', '.join(map(str, DATA_WIDTHS))} bits, "
                         f"not {data_width!r}")
    return data_width // 8


class AxisSignature(wiring.Signature):
    """An AXI-Stream from the transmitter's side (a receiver uses ``In(AxisSignature(w))``)."""

    def __init__(self, data_width: int):
        self.data_width = data_width
        super().__init__({
            "tdata": Out(data_width), "tkeep": Out(data_width // 8), "tlast": Out(1),
            "tuser": Out(1), "tvalid": Out(1), "tready": In(1),
        })
