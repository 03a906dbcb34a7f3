"""Small hardware units that stand in, in simulation, for parts of the NIC not built yet.

* :class:`ConformanceHelpers` answers the core's helper port the way the bpf_conformance
  suite expects: helper 5 ("unwind") returns r1 and stops the program when r1 is 0; every
  other id is unknown (the core traps ``UNKNOWN_HELPER``).
* ``hw.xdp.misc.NoMaps`` answers every packet / map-value access with a fault (no packet and
  no maps are attached), so such accesses trap ``OUT_OF_BOUNDS`` as in the golden model run
  without a packet or maps.
* :class:`SimTop` is the core with both attached: the top level the RTL simulators run.
"""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from firmware.ebpf import machine
from hw.core.core import Core
from hw.core.helper import HelperRequest, HelperResponse
from hw.xdp.misc import NoMaps

__all__ = ["ConformanceHelpers", "SimTop"]


class ConformanceHelpers(wiring.Component):
    """Helper answerer with the suite's unwind helper; one response per request."""

    req: In(stream.Signature(HelperRequest))
    resp: Out(stream.Signature(HelperResponse))

    def elaborate(self, platform):
        m = Module()
        # Accept a request only when no response is pending, answer it the next cycle.
        with m.If(self.resp.valid & self.resp.ready):
            m.d.sync += self.resp.valid.eq(0)
        m.d.comb += self.req.ready.eq(~self.resp.valid)
        with m.If(self.req.valid & self.req.ready):
            r1 = self.req.payload.args[0]
            known = self.req.payload.id == machine.UNWIND_HELPER_ID
            m.d.sync += [
                self.resp.valid.eq(1),
                self.resp.payload.r0.eq(r1),
                self.resp.payload.stop.eq(known & (r1 == 0)),
                self.resp.payload.unknown.eq(~known),
            ]
        return m


class SimTop(wiring.Component):
    """:class:`Core` with :class:`ConformanceHelpers` and :class:`NoMaps` attached.

    Its ports are the core's host ports (same names), so one driver serves the Amaranth
    simulator and the Verilog under cocotb.  ``core_class`` is the core to build (the
    pipelined one, ``hw.core.pipelined.core.Core``, has the same ports).
    """

    def __init__(self, imem_depth: int = 4096, ctx_bytes: int = 4096, core_class=Core):
        self.core = core_class(imem_depth, ctx_bytes)
        members = {name: member for name, member in self.core.signature.members.items()
                   if name not in ("ext_req", "ext_resp", "helper_req", "helper_resp")}
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        m.submodules.helpers = helpers = ConformanceHelpers()
        m.submodules.extmem = extmem = NoMaps()
        wiring.connect(m, core.helper_req, helpers.req)
        wiring.connect(m, helpers.resp, core.helper_resp)
        wiring.connect(m, core.ext_req, extmem.req)
        wiring.connect(m, extmem.resp, core.ext_resp)
        for name, member in self.signature.members.items():
            ours, theirs = getattr(self, name), getattr(core, name)
            if member.flow == In:
                m.d.comb += theirs.eq(ours)
            else:
                m.d.comb += ours.eq(theirs)
        return m
