"""The helpers that need neither the packet nor maps, on the datapath's ``aux`` helper port.

``bpf_get_smp_processor_id`` returns the engine number (0: one engine), and
``bpf_get_prandom_u32`` the next xorshift32 value of the engine's state (reset to 1, the golden
model's ``EngineState`` default; ``machine.prandom_next``).  Every other id is answered
"unknown" (the core traps ``UNKNOWN_HELPER``) -- map helpers will answer before this unit once
the map hardware exists; ``bpf_ktime_get_ns``, ``bpf_csum_diff`` and ``bpf_trace_printk`` are
not in hardware yet.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from firmware.ebpf.helpers import HelperId
from hw.core.helper import HelperRequest, HelperResponse
from hw.core.lsu import ExtRequest, ExtResponse

__all__ = ["MiscHelpers", "NoMaps"]


class MiscHelpers(wiring.Component):
    """Answers one request per response (see the module docstring)."""

    req: In(stream.Signature(HelperRequest))
    resp: Out(stream.Signature(HelperResponse))

    def __init__(self, engine: int = 0):
        self.engine = engine
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        prng = Signal(32, init=1)
        # xorshift32, as machine.prandom_next
        x1 = prng ^ (prng << 13)[:32]
        x2 = x1 ^ (x1 >> 17)
        x3 = x2 ^ (x2 << 5)[:32]
        with m.If(self.resp.valid & self.resp.ready):
            m.d.sync += self.resp.valid.eq(0)
        m.d.comb += self.req.ready.eq(~self.resp.valid)
        with m.If(self.req.valid & self.req.ready):
            m.d.sync += [self.resp.valid.eq(1), self.resp.payload.stop.eq(0),
                         self.resp.payload.unknown.eq(0)]
            with m.Switch(self.req.payload.id):
                with m.Case(HelperId.GET_SMP_PROCESSOR_ID):
                    m.d.sync += self.resp.payload.r0.eq(self.engine)
                with m.Case(HelperId.GET_PRANDOM_U32):
                    m.d.sync += [self.resp.payload.r0.eq(x3), prng.eq(x3)]
                with m.Default():
                    m.d.sync += [self.resp.payload.r0.eq(0), self.resp.payload.unknown.eq(1)]
        return m


class NoMaps(wiring.Component):
    """External-memory answerer for regions with nothing behind them: every access faults
    (OUT_OF_BOUNDS, as in the golden model).  The NIC's map-value port until the map unit
    exists; the conformance top's packet and map-value port."""

    req: In(stream.Signature(ExtRequest))
    resp: Out(stream.Signature(ExtResponse))

    def elaborate(self, platform):
        m = Module()
        with m.If(self.resp.valid & self.resp.ready):
            m.d.sync += self.resp.valid.eq(0)
        m.d.comb += self.req.ready.eq(~self.resp.valid)
        with m.If(self.req.valid & self.req.ready):
            m.d.sync += [self.resp.valid.eq(1), self.resp.payload.fault.eq(1)]
        return m
