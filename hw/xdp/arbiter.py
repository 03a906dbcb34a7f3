"""Sharing one answerer among several engines: a request/response arbiter, and round robin.

:class:`TransactionArbiter` puts ``n`` requesters in front of one answerer that serves one
transaction (a request, later its response) at a time, as the map unit does.  A free arbiter
passes the round-robin winner's request through combinationally (no added cycle, so one
engine sees the answerer exactly as if it were wired to it); once the answerer takes it, the
arbiter is the winner's (``owner``) until the response has been taken, and routes the
response back to it.  Whatever else belongs to the transaction (the map unit reading a
helper's arguments from the calling engine) the datapath routes by ``owner``.

With ``locking`` (map-value accesses, :data:`hw.core.lsu.ExtRequest`), a request with ``lock``
set (an atomic's read) keeps the arbiter its requester's until that requester's next request
(the atomic's write) has been taken, so no other engine's access reaches the value between
the read and the write.  A locked read answered with ``fault`` locks nothing (the core traps;
no write follows), as the map unit does.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["TransactionArbiter", "round_robin"]


def round_robin(m: Module, candidates: Signal, last) -> tuple[Signal, Signal]:
    """The first candidate after ``last`` (wrapping around), and whether there is any:
    ``(pick, found)``, combinational.  Used for ports and for engines."""
    n = len(candidates)
    pick = Signal(range(max(n, 2)))
    found = Signal()
    for i in reversed(range(n)):
        with m.If(candidates[i]):
            m.d.comb += [pick.eq(i), found.eq(1)]
    for i in reversed(range(n)):
        with m.If(candidates[i] & (i > last)):
            m.d.comb += pick.eq(i)
    return pick, found


class TransactionArbiter(wiring.Component):
    """``n`` requesters, one answerer (see the module docstring).

    Members
    -------
    req<i> : In(stream request), resp<i> : Out(stream response)
        Requester ``i``.
    req : Out(stream request), resp : In(stream response)
        The answerer.
    owner : Out(range(n))
        Whose transaction is in flight (while ``busy``), or whose request is offered now.
    busy : Out(1)
    """

    def __init__(self, n: int, request, response, locking: bool = False):
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"requesters must be a whole number >= 1, not {n!r}")
        self.n = n
        self.locking = locking
        members = {}
        for i in range(n):
            members[f"req{i}"] = In(stream.Signature(request))
            members[f"resp{i}"] = Out(stream.Signature(response))
        members.update({"req": Out(stream.Signature(request)),
                        "resp": In(stream.Signature(response)),
                        "owner": Out(range(max(n, 2))), "busy": Out(1)})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        n = self.n
        reqs = [getattr(self, f"req{i}") for i in range(n)]
        resps = [getattr(self, f"resp{i}") for i in range(n)]
        owner = Signal(range(max(n, 2)))
        held = Signal()              # an atomic's read was taken: only its owner until its write
        candidates = Signal(n)
        for i, r in enumerate(reqs):
            m.d.comb += candidates[i].eq(r.valid & (~held | (owner == i)))
        pick, found = round_robin(m, candidates, owner)
        m.d.comb += self.owner.eq(owner)

        with m.If(~self.busy):
            with m.If(found):
                m.d.comb += self.owner.eq(pick)
            for i, r in enumerate(reqs):
                with m.If(found & (pick == i)):
                    m.d.comb += [self.req.valid.eq(1), self.req.payload.eq(r.payload),
                                 r.ready.eq(self.req.ready)]
            with m.If(self.req.valid & self.req.ready):
                m.d.sync += [self.busy.eq(1), owner.eq(pick)]
                if self.locking:
                    m.d.sync += held.eq(self.req.payload.lock)
        with m.Else():
            for i, r in enumerate(resps):
                with m.If(owner == i):
                    m.d.comb += [r.valid.eq(self.resp.valid), r.payload.eq(self.resp.payload),
                                 self.resp.ready.eq(r.ready)]
            with m.If(self.resp.valid & self.resp.ready):
                m.d.sync += self.busy.eq(0)
                if self.locking:
                    with m.If(self.resp.payload.fault):
                        m.d.sync += held.eq(0)
        return m
