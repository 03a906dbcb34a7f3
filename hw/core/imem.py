"""Instruction memory: 64-bit slots, written by the host, read synchronously by fetch."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["InstructionMemory"]


class InstructionMemory(wiring.Component):
    """``depth`` instruction slots.

    Members
    -------
    rd_addr, rd_en : In
        Fetch port: ``rd_data`` is slot ``rd_addr`` the cycle after ``rd_en`` (held otherwise).
    rd_data : Out(64)
    wr_en, wr_addr, wr_data : In
        Host write port.
    """

    def __init__(self, depth: int = 4096):
        if not isinstance(depth, int) or depth < 2 or depth & (depth - 1):
            raise TypeError(f"instruction memory depth must be a power of two >= 2, "
                            f"not {depth!r}")
        self.depth = depth
        self.abits = (depth - 1).bit_length()
        super().__init__({
            "rd_addr": In(self.abits), "rd_en": In(1), "rd_data": Out(64),
            "wr_en": In(1), "wr_addr": In(self.abits), "wr_data": In(64),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=64, depth=self.depth, init=[])
        rp = mem.read_port()
        wp = mem.write_port()
        m.d.comb += [
            rp.addr.eq(self.rd_addr), rp.en.eq(self.rd_en), self.rd_data.eq(rp.data),
            wp.addr.eq(self.wr_addr), wp.en.eq(self.wr_en), wp.data.eq(self.wr_data),
        ]
        return m
