"""Register file: r0-r9 as 64-bit flops, r10 the read-only frame pointer.

Flops rather than a ``lib.memory.Memory``: a bpf-to-bpf call saves r6-r9 and an exit restores
them in one cycle, which needs four reads and four writes at once; ten 64-bit registers are
cheap as flops.  Reads are combinational and a write lands at the clock edge, so the next
instruction sees it: dependent ALU instructions run back to back without forwarding.
"""

from amaranth.hdl import Module, Signal, Array
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from firmware.ebpf import isa

__all__ = ["RegisterFile"]

_CALLEE_SAVED = range(6, 10)
_ARGS = range(1, 6)


class RegisterFile(wiring.Component):
    """Eleven eBPF registers with two read ports, one write port and bulk save/restore.

    Members
    -------
    rs1_addr, rs2_addr : In(4)
        Read addresses; ``rs1_data``/``rs2_data`` follow combinationally. r10 reads ``fp``.
    we, waddr, wdata : In
        Write port (r10 and numbers above it are ignored: the decoder makes them illegal).
    init, init_r1, init_r2 : In
        Start of a run: r0 and r3-r9 become 0, r1 and r2 take the given values.
    saved : Out(4 x 64)
        r6-r9, for the call-frame stack.
    restore, restore_data : In
        Load r6-r9 from a popped call frame (an exit from a callee).
    args : Out(5 x 64)
        r1-r5, the helper-call arguments.
    r0 : Out(64)
    """

    rs1_addr: In(4)
    rs1_data: Out(64)
    rs2_addr: In(4)
    rs2_data: Out(64)
    we: In(1)
    waddr: In(4)
    wdata: In(64)
    fp: In(64)
    init: In(1)
    init_r1: In(64)
    init_r2: In(64)
    saved: Out(data.ArrayLayout(64, 4))
    restore: In(1)
    restore_data: In(data.ArrayLayout(64, 4))
    args: Out(data.ArrayLayout(64, 5))
    r0: Out(64)

    def elaborate(self, platform):
        m = Module()
        regs = [Signal(64, name=f"r{i}") for i in range(isa.FRAME_POINTER)]
        readable = Array(regs + [self.fp] + [Signal(64, name=f"none{i}") for i in range(5)])
        m.d.comb += [
            self.rs1_data.eq(readable[self.rs1_addr]),
            self.rs2_data.eq(readable[self.rs2_addr]),
            self.r0.eq(regs[0]),
        ]
        for i, n in enumerate(_CALLEE_SAVED):
            m.d.comb += self.saved[i].eq(regs[n])
        for i, n in enumerate(_ARGS):
            m.d.comb += self.args[i].eq(regs[n])

        with m.If(self.init):
            for n, reg in enumerate(regs):
                m.d.sync += reg.eq(self.init_r1 if n == 1 else self.init_r2 if n == 2 else 0)
        with m.Else():
            for n, reg in enumerate(regs):
                with m.If(self.we & (self.waddr == n)):
                    m.d.sync += reg.eq(self.wdata)
            with m.If(self.restore):
                for i, n in enumerate(_CALLEE_SAVED):
                    m.d.sync += regs[n].eq(self.restore_data[i])
        return m
