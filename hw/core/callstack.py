"""Call-frame stack for bpf-to-bpf calls: return pc and the caller's r6-r9 per frame.

A ``lib.memory.Memory`` with a synchronous write (push) and a combinational read of the top
entry (pop), so both a call and an exit take one cycle.  r10 is not stored: it is derived from
the depth (``machine.frame_pointer``).
"""

from amaranth.hdl import Module
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from firmware.ebpf import isa

__all__ = ["FrameLayout", "CallStack"]

FrameLayout = data.StructLayout({
    "ret_pc": 32,
    "regs": data.ArrayLayout(64, 4),
})

DEPTH_BITS = (isa.MAX_CALL_DEPTH - 1).bit_length()


class CallStack(wiring.Component):
    """Saved frames, indexed by the caller's depth.

    Members
    -------
    depth : In
        Current call depth (0 = the program's entry function).
    push, push_frame : In
        Save ``push_frame`` as entry ``depth`` (the caller's state, at a call).
    top : Out(FrameLayout)
        Entry ``depth - 1``: what an exit from the current callee restores.
    """

    depth: In(DEPTH_BITS)
    push: In(1)
    push_frame: In(FrameLayout)
    top: Out(FrameLayout)

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=FrameLayout, depth=isa.MAX_CALL_DEPTH, init=[])
        wp = mem.write_port()
        rp = mem.read_port(domain="comb")
        m.d.comb += [
            wp.en.eq(self.push), wp.addr.eq(self.depth), wp.data.eq(self.push_frame),
            rp.addr.eq(self.depth - 1), self.top.eq(rp.data),
        ]
        return m
