"""Byte-addressable RAM with 1/2/4/8-byte accesses at any alignment: the stack and context.

Eight byte lanes, each a ``lib.memory.Memory`` of ``size // 8`` bytes; byte address ``a`` lives
in lane ``a % 8``, row ``a // 8``.  An access of up to 8 bytes touches each lane at most once
(lane ``L`` is at row ``a // 8 + (L < a % 8)``), so any aligned or unaligned access takes one
port cycle.  Reads are synchronous (data the cycle after ``rd_en``), as block RAM is.

Data on the access ports is access-relative: byte 0 of the access is bits 7..0.  The host port
works on whole rows (8 bytes, with a byte mask) for loading and reading back.

Clearing in one cycle (``epoch_bits`` > 0, the stack): every byte is stored with the epoch in
which it was written, and reads as zero unless that epoch is the current one.  ``clear``
starts a new epoch, so the whole RAM reads as zero at once; only when the epoch counter wraps
(every ``2**epoch_bits`` clears) does the RAM sweep itself to zero, one row per cycle, with
``clearing`` high meanwhile.  Each lane is then ``8 + epoch_bits`` bits wide (a 16- or 18-bit
block-RAM configuration).
"""

from amaranth.hdl import Module, Signal, Cat, Mux
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
    epoch_bits : int
        Width of the per-byte epoch tag for one-cycle clearing; 0 for none.

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
    clear : In(1), clearing : Out(1)
        With ``epoch_bits``: make every byte read as zero (see the module docstring);
        ``clearing`` is high while a wrap-around sweep is in progress.
    """

    def __init__(self, size: int, epoch_bits: int = 0):
        if not isinstance(size, int) or size < 8 or size & (size - 1):
            raise TypeError(f"ByteRAM size must be a power of two >= 8, not {size!r}")
        self.size = size
        self.epoch_bits = epoch_bits
        self.abits = (size - 1).bit_length()
        self.rows = size // 8
        rbits = max(1, (self.rows - 1).bit_length())
        super().__init__({
            "rd_en": In(1), "rd_addr": In(self.abits), "rd_data": Out(64),
            "wr_en": In(1), "wr_addr": In(self.abits), "wr_data": In(64), "wr_mask": In(8),
            "host_addr": In(rbits), "host_rd_data": Out(64),
            "host_wr_en": In(1), "host_wr_data": In(64), "host_wr_mask": In(8),
            "clear": In(1), "clearing": Out(1),
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
        ebits = self.epoch_bits
        epoch = Signal(max(1, ebits))
        sweep_row = Signal(range(self.rows))
        sweeping = Signal()
        if ebits:
            m.d.comb += self.clearing.eq(sweeping)
            with m.If(sweeping):
                m.d.sync += sweep_row.eq(sweep_row + 1)
                with m.If(sweep_row == self.rows - 1):
                    m.d.sync += [sweeping.eq(0), epoch.eq(0)]
            with m.Elif(self.clear):
                with m.If(epoch == (1 << ebits) - 1):
                    m.d.sync += [sweeping.eq(1), sweep_row.eq(0)]
                with m.Else():
                    m.d.sync += epoch.eq(epoch + 1)

        def byte_of(word):
            """A stored lane word's byte: zero unless written in the current epoch."""
            if not ebits:
                return word[:8]
            return Mux(word[8:] == epoch, word[:8], 0)

        def stored(byte):
            return Cat(byte, epoch) if ebits else byte

        lanes_out = Signal(64)
        host_out = []
        for lane in range(8):
            mem = Memory(shape=8 + ebits, depth=self.rows, init=[])
            m.submodules[f"lane{lane}"] = mem
            rp = mem.read_port()
            hp = mem.read_port()
            wp = mem.write_port()
            m.d.comb += [
                rp.en.eq(self.rd_en),
                rp.addr.eq(rd_row + (lane < rd_lo)),
                lanes_out[8 * lane:8 * lane + 8].eq(byte_of(rp.data)),
                hp.addr.eq(self.host_addr),
            ]
            host_out.append(byte_of(hp.data))
            with m.If(sweeping):
                m.d.comb += [wp.en.eq(1), wp.addr.eq(sweep_row), wp.data.eq(0)]
            with m.Elif(self.host_wr_en):
                m.d.comb += [
                    wp.en.eq(self.host_wr_mask[lane]),
                    wp.addr.eq(self.host_addr),
                    wp.data.eq(stored(self.host_wr_data[8 * lane:8 * lane + 8])),
                ]
            with m.Else():
                m.d.comb += [
                    wp.en.eq(self.wr_en & wr_lane_mask[lane]),
                    wp.addr.eq(wr_row + (lane < wr_lo)),
                    wp.data.eq(stored(wr_lanes[8 * lane:8 * lane + 8])),
                ]
        m.d.comb += [
            self.rd_data.eq(Cat(lanes_out, lanes_out).bit_select(8 * rd_lo_q, 64)),
            self.host_rd_data.eq(Cat(*host_out)),
        ]
        return m


class StackRAM(ByteRAM):
    """The stack: ``frames`` call frames of ``frame_size`` bytes in one region."""

    def __init__(self, frames: int = 8, frame_size: int = 512, epoch_bits: int = 8):
        self.frames = frames
        self.frame_size = frame_size
        super().__init__(frames * frame_size, epoch_bits)
