"""External-memory router: whoever asks (the core, a helper unit) to whichever memory holds the
address (packet buffer, stack, map values), by the region in address bits 31..28.

One access is in flight at a time, which is all one engine needs: the core waits for each
access, and while it waits for a helper only that helper issues accesses.  The request passes
through combinationally (no added latency); the router remembers who asked and which memory
answers, and passes the response back the same way.  Among requesters asking in the same cycle
the lowest-numbered wins.  An address in no routed region gets a ``fault`` response one cycle
later (OUT_OF_BOUNDS, as the golden model's memory).
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from firmware.ebpf import machine
from hw.core.lsu import ExtRequest, ExtResponse

__all__ = ["ExtRouter"]


class ExtRouter(wiring.Component):
    """Route ``requesters`` request streams to one answerer per region in ``regions``.

    Members
    -------
    req<i> : In(stream ExtRequest), resp<i> : Out(stream ExtResponse)
        Requester ``i`` (``0`` has priority).
    <region>_req : Out(stream ExtRequest), <region>_resp : In(stream ExtResponse)
        The answerer of a region, named in lower case (``packet_req``, ``stack_req`` ...).
    """

    def __init__(self, requesters: int, regions: tuple[machine.Region, ...]):
        self.requesters = requesters
        self.regions = tuple(regions)
        members = {}
        for i in range(requesters):
            members[f"req{i}"] = In(stream.Signature(ExtRequest))
            members[f"resp{i}"] = Out(stream.Signature(ExtResponse))
        for region in self.regions:
            members[f"{region.name.lower()}_req"] = Out(stream.Signature(ExtRequest))
            members[f"{region.name.lower()}_resp"] = In(stream.Signature(ExtResponse))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        reqs = [getattr(self, f"req{i}") for i in range(self.requesters)]
        resps = [getattr(self, f"resp{i}") for i in range(self.requesters)]
        targets = [(getattr(self, f"{r.name.lower()}_req"), getattr(self, f"{r.name.lower()}_resp"))
                   for r in self.regions]
        nowhere = len(targets)          # the fault answerer's index

        waiting = Signal()
        asker = Signal(range(max(self.requesters, 2)))
        answerer = Signal(range(nowhere + 1))
        fault_pending = Signal()

        # Who asks, and which answerer the address goes to.
        pick = Signal.like(asker)
        any_valid = Signal()
        for i in reversed(range(self.requesters)):
            with m.If(reqs[i].valid):
                m.d.comb += [pick.eq(i), any_valid.eq(1)]
        request = Signal(ExtRequest)
        with m.Switch(pick):
            for i in range(self.requesters):
                with m.Case(i):
                    m.d.comb += request.eq(reqs[i].payload)
        dest = Signal.like(answerer)
        m.d.comb += dest.eq(nowhere)
        region = request.addr[machine.REGION_SHIFT:]
        for k, r in enumerate(self.regions):
            with m.If(region == r):
                m.d.comb += dest.eq(k)

        for req, _resp in targets:
            m.d.comb += req.payload.eq(request)
        accepted = Signal()
        with m.If(~waiting & any_valid):
            for k, (req, _resp) in enumerate(targets):
                with m.If(dest == k):
                    m.d.comb += [req.valid.eq(1), accepted.eq(req.ready)]
            with m.If(dest == nowhere):
                m.d.comb += accepted.eq(1)
            for i in range(self.requesters):
                with m.If(pick == i):
                    m.d.comb += reqs[i].ready.eq(accepted)
            with m.If(accepted):
                m.d.sync += [waiting.eq(1), asker.eq(pick), answerer.eq(dest),
                             fault_pending.eq(dest == nowhere)]

        # The response, back to whoever asked.
        resp_valid = Signal()
        resp_payload = Signal(ExtResponse)
        resp_ready = Signal()
        with m.If(waiting):
            for k, (_req, resp) in enumerate(targets):
                with m.If(answerer == k):
                    m.d.comb += [resp_valid.eq(resp.valid), resp_payload.eq(resp.payload),
                                 resp.ready.eq(resp_ready)]
            with m.If(answerer == nowhere):
                m.d.comb += [resp_valid.eq(fault_pending), resp_payload.fault.eq(1)]
            for i in range(self.requesters):
                with m.If(asker == i):
                    m.d.comb += [resps[i].valid.eq(resp_valid), resps[i].payload.eq(resp_payload),
                                 resp_ready.eq(resps[i].ready)]
            with m.If(resp_valid & resp_ready):
                m.d.sync += waiting.eq(0)
        return m
