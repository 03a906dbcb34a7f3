"""Byte-addressable RAM with 1/2/4/8-byte accesses at any alignment: the stack and context.

Eight byte lanes, each a ``lib.memory.Memory`` of ``size // 8`` bytes; byte address ``a`` lives
in lane ``a % 8``, row ``a // 8``.  An access of up to 8 bytes touches each lane at most once
(lane ``L`` is at row ``a // 8 + (L < a % 8)``), so any aligned or unaligned access takes one
port cycle.  Reads are synchronous (data the cycle after ``rd_en``), as block RAM is.

Data on the access ports is access-relative: byte 0 of the access is bits 7..0.  The host port
works on whole rows (8 bytes, with a byte mask) for loading, clearing and reading back.
"""

from amaranth.hdl import Module, Signal, Cat
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["ByteRAM", "StackRAM"]


class ByteRAM(wiring.Component):
    """Byte-lane RAM of ``size`` bytes.

    Parameters
    ----------
    size : int
        Bytes; a power of two, at least 8.

    Members
    -------
    rd_en, rd_addr : In
        Read ``rd_addr`` .. ``rd_addr + 7``; ``rd_data`` holds it the next cycle.
    rd_data : Out(64)
    wr_en, wr_addr, wr_data, wr_mask : In
        Write byte ``k`` of ``wr_data`` to ``wr_addr + k`` for each set bit ``k`` of ``wr_mask``.
    host_addr : In
        Row for the host port; ``host_rd_data`` holds that row the next cycle.
    host_wr_en, host_wr_data, host_wr_mask : In
        Host row write; takes priority over ``wr_en`` (the core only writes while running,
        the host only while it is idle).
    """

    def __init__(self, size: int):
        if not isinstance(size, int) or size < 8 or size & (size - 1):
            raise TypeError(f"ByteRAM size must be a power of two >= 8, not {size!r}")
        self.size = size
        self.abits = (size - 1).bit_length()
        self.rows = size // 8
        rbits = max(1, (self.rows - 1).bit_length())
        super().__init__({
            "rd_en": In(1), "rd_addr": In(self.abits), "rd_data": Out(64),
            "wr_en": In(1), "wr_addr": In(self.abits), "wr_data": In(64), "wr_mask": In(8),
            "host_addr": In(rbits), "host_rd_data": Out(64),
            "host_wr_en": In(1), "host_wr_data": In(64), "host_wr_mask": In(8),
        })

    def elaborate(self, platform):
        m = Module()
        rd_lo = self.rd_addr[:3]
        rd_row = self.rd_addr[3:]
        wr_lo = self.wr_addr[:3]
        wr_row = self.wr_addr[3:]
        rd_lo_q = Signal(3)
        with m.If(self.rd_en):
            m.d.sync += rd_lo_q.eq(rd_lo)

        # Rotate access-relative data into lane order (byte k -> lane (k + lo) % 8).
        wr_lanes = Signal(64)
        wr_lane_mask = Signal(8)
        wr_rot = Signal(3)     # (8 - lo) % 8: rotating left by lo = selecting from there
        m.d.comb += [
            wr_rot.eq(-wr_lo),
            wr_lanes.eq(Cat(self.wr_data, self.wr_data).bit_select(wr_rot * 8, 64)),
            wr_lane_mask.eq(Cat(self.wr_mask, self.wr_mask).bit_select(wr_rot, 8)),
        ]
        lanes_out = Signal(64)
        host_out = []
        for lane in range(8):
            mem = Memory(shape=8, depth=self.rows, init=[])
            m.submodules[f"lane{lane}"] = mem
            rp = mem.read_port()
            hp = mem.read_port()
            wp = mem.write_port()
            m.d.comb += [
                rp.en.eq(self.rd_en),
                rp.addr.eq(rd_row + (lane < rd_lo)),
                lanes_out[8 * lane:8 * lane + 8].eq(rp.data),
                hp.addr.eq(self.host_addr),
            ]
            host_out.append(hp.data)
            with m.If(self.host_wr_en):
                m.d.comb += [
                    wp.en.eq(self.host_wr_mask[lane]),
                    wp.addr.eq(self.host_addr),
                    wp.data.eq(self.host_wr_data[8 * lane:8 * lane + 8]),
                ]
            with m.Else():
                m.d.comb += [
                    wp.en.eq(self.wr_en & wr_lane_mask[lane]),
                    wp.addr.eq(wr_row + (lane < wr_lo)),
                    wp.data.eq(wr_lanes[8 * lane:8 * lane + 8]),
                ]
        m.d.comb += [
            self.rd_data.eq(Cat(lanes_out, lanes_out).bit_select(8 * rd_lo_q, 64)),
            self.host_rd_data.eq(Cat(*host_out)),
        ]
        return m


class StackRAM(ByteRAM):
    """The stack: ``frames`` call frames of ``frame_size`` bytes in one region."""

    def __init__(self, frames: int = 8, frame_size: int = 512):
        self.frames = frames
        self.frame_size = frame_size
        super().__init__(frames * frame_size)
