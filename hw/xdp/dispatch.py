"""The dispatcher: frames from the ports, one at a time, each to an engine.

Ports take turns (round robin at frame boundaries).  The engine of a frame is chosen as
``machine.dispatch_engines`` says, so the golden model can tell which engine (hence which
per-CPU copy and processor id) each frame gets:

* **Round robin** (``flow_hash`` low): the k-th frame handed over goes to engine ``k mod N``;
  the dispatcher waits for that engine to be free.  The frame's beats pass straight through,
  so with one engine the dispatcher adds no cycle.
* **Flow hash** (``flow_hash`` high): the first ``machine.FLOW_HEADER_BYTES`` of the frame
  (``ceil(38 / width)`` beats) are taken into a header register, ``machine.flow_engine``
  names the engine (an XOR network and two multiplies by constants), and once that engine is free the
  header beats are replayed into it and the rest passes through.  Every frame of a flow
  meets the same engine; the replay costs the header's beats once per frame.

With ``drop_when_busy`` a frame that cannot be handed over at once (the dispatcher or its
engine is busy) is swallowed and reported on ``swallowed`` (counted as buffer-full); without
it the port waits (``tready`` low).
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

from firmware.ebpf import machine
from hw import regs

from .arbiter import round_robin
from .axis import AxisSignature, check_data_width

__all__ = ["Dispatcher", "flow_engine_value"]


class _State(enum.Enum, shape=3):
    IDLE = 0
    STREAM = 1       # the granted port's beats pass to the target engine
    HEAD = 2         # flow hash: taking the header
    CHOOSE = 3       # flow hash: waiting for the hashed engine
    REPLAY = 4       # flow hash: the header into the engine


def flow_engine_value(m: Module, head: Signal, have: Signal, engines: int) -> Signal:
    """``machine.flow_engine`` of a frame whose first ``have`` bytes (at most
    ``FLOW_HEADER_BYTES``) are ``head`` (byte 0 in bits 7..0, zeros beyond ``have``)."""
    byte = [head[8 * i:8 * i + 8] for i in range(machine.FLOW_HEADER_BYTES)]
    ipv4 = ((have >= 34) & (byte[12] == 0x08) & (byte[13] == 0x00) & (byte[14] == 0x45))
    l4 = (byte[23] == 6) | (byte[23] == 17)
    ports_ok = l4 & (have >= 38)
    key = []
    for k in range(machine.FLOW_KEY_BYTES):
        if k == 0:
            v4 = byte[23]
        elif k <= 8:
            v4 = byte[25 + k]
        else:
            v4 = Mux(ports_ok, byte[25 + k], 0)
        other = Const(0, 8) if k == 0 else byte[k - 1]
        key.append(Mux(ipv4, v4, other))
    # Byte k has been rotated left by 5 once for each of the bytes after it.
    h = Signal(32)
    terms = []
    for k, b in enumerate(key):
        r = (machine.FLOW_HASH_ROTATE * (machine.FLOW_KEY_BYTES - 1 - k)) % 32
        wide = Cat(b, Const(0, 24))
        terms.append(Cat(wide[32 - r:], wide[:32 - r]) if r else wide)
    acc = terms[0]
    for t in terms[1:]:
        acc = acc ^ t
    m.d.comb += h.eq(acc)
    mixed = (h * machine.FLOW_MIX)[16:32]
    engine = Signal(range(max(engines, 2)))
    m.d.comb += engine.eq((mixed * engines) >> 16)
    return engine


class Dispatcher(wiring.Component):
    """Ports in, one frame at a time to an engine (see the module docstring).

    Members
    -------
    rx<p> : In(AxisSignature)
        The ports.
    frame : Out(AxisSignature)
        The beats of the frame being handed over (to engine ``engine``).
    start : Out(1)
        A frame is handed to engine ``engine`` from port ``port`` this cycle.
    engine : Out(ENGINE_BITS), port : Out(PORT_BITS)
    lead : Out(32)
        With the first beat the engine takes: the cycles since the port gave that beat (the
        header's capture under flow hash; 0 in round robin), so ``cycles`` in the verdict
        counts from the port's first beat.
    engine_idle : In(engines)
        Which engines can take a frame.
    enable, drop_when_busy, flow_hash : In(1)
    swallowed : Out(ports)
        The last beat of a frame swallowed from that port is taken this cycle.
    idle : Out(1)
    """

    def __init__(self, ports: int, data_width: int, engines: int):
        if not 1 <= ports <= regs.MAX_PORTS or not 1 <= engines <= machine.MAX_ENGINES:
            raise ValueError(f"ports must be 1..{regs.MAX_PORTS} and engines "
                             f"1..{machine.MAX_ENGINES}, not {ports!r} and {engines!r}")
        self.ports = ports
        self.engines = engines
        self.data_bytes = check_data_width(data_width)
        members = {f"rx{p}": In(AxisSignature(data_width)) for p in range(ports)}
        members.update({
            "frame": Out(AxisSignature(data_width)), "start": Out(1),
            "engine": Out(machine.ENGINE_BITS), "port": Out(regs.PORT_BITS), "lead": Out(32), "engine_idle": In(engines),
            "enable": In(1), "drop_when_busy": In(1), "flow_hash": In(1),
            "swallowed": Out(ports), "idle": Out(1),
        })
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        P, N, W = self.ports, self.engines, self.data_bytes
        head_beats = -(-machine.FLOW_HEADER_BYTES // W)
        rx_ports = [getattr(self, f"rx{p}") for p in range(P)]

        state = Signal(_State)
        grant = Signal(range(max(P, 2)))
        target = Signal(range(max(N, 2)))
        next_rr = Signal(range(max(N, 2)))
        m.d.comb += [self.idle.eq(state == _State.IDLE), self.engine.eq(target),
                     self.port.eq(grant)]

        # --- the header register (flow hash) ---
        head = Signal(8 * W * head_beats)
        head_keep = Signal(W * head_beats)          # bytes the frame has there (for the hash)
        head_tkeep = Signal(W * head_beats)         # tkeep as it came (replayed as it came)
        lead = Signal(32)
        head_user = Signal(head_beats)
        taken = Signal(range(head_beats + 1))        # header beats taken
        ended = Signal()                             # the frame ended within the header
        replayed = Signal(range(head_beats + 1))
        have = Signal(range(W * head_beats + 1))
        m.d.comb += have.eq(sum(head_keep[i] for i in range(len(head_keep))))
        hashed = flow_engine_value(m, head[:8 * machine.FLOW_HEADER_BYTES],
                                   Mux(have > machine.FLOW_HEADER_BYTES,
                                       machine.FLOW_HEADER_BYTES, have), N)

        # --- ports: who is granted, who is swallowed ---
        at_start = Signal(P, init=(1 << P) - 1)     # a port's next beat starts a frame
        swallowing = Signal(P)
        swallow_now = Signal(P)
        granted = Signal(P)
        can_grant = Signal()
        m.d.comb += can_grant.eq((state == _State.IDLE) & self.enable
                                 & (self.flow_hash | self.engine_idle.bit_select(next_rr, 1)))
        candidates = Signal(P)
        for p, port in enumerate(rx_ports):
            m.d.comb += [
                candidates[p].eq(port.tvalid & at_start[p] & ~swallowing[p]),
                granted[p].eq((state != _State.IDLE) & (grant == p)),
                swallow_now[p].eq(swallowing[p] | (self.drop_when_busy & port.tvalid
                                                   & at_start[p] & ~granted[p] & ~can_grant)),
            ]
            with m.If(port.tvalid & port.tready):
                m.d.sync += at_start[p].eq(port.tlast)
                with m.If(swallow_now[p]):
                    m.d.sync += swallowing[p].eq(~port.tlast)
                    m.d.comb += self.swallowed[p].eq(port.tlast)
        pick, found = round_robin(m, candidates, grant)

        g_valid = Signal()
        g_ready = Signal()           # take a beat from the granted port
        g_data = Signal(8 * W)
        g_keep = Signal(W)
        g_last = Signal()
        g_user = Signal()
        for p, port in enumerate(rx_ports):
            with m.If(grant == p):
                m.d.comb += [g_valid.eq(port.tvalid), g_data.eq(port.tdata),
                             g_keep.eq(port.tkeep), g_last.eq(port.tlast),
                             g_user.eq(port.tuser)]
            m.d.comb += port.tready.eq(Mux(granted[p], g_ready, swallow_now[p]))

        fr = self.frame
        with m.Switch(state):
            with m.Case(_State.IDLE):
                with m.If(can_grant & found):
                    m.d.sync += grant.eq(pick)
                    with m.If(self.flow_hash):
                        m.d.sync += [head.eq(0), head_keep.eq(0), head_tkeep.eq(0),
                                     head_user.eq(0), taken.eq(0), ended.eq(0),
                                     state.eq(_State.HEAD)]
                    with m.Else():
                        m.d.comb += [self.start.eq(1), self.engine.eq(next_rr),
                                     self.port.eq(pick)]
                        m.d.sync += [target.eq(next_rr), state.eq(_State.STREAM),
                                     next_rr.eq(Mux(next_rr == N - 1, 0, next_rr + 1))]
            with m.Case(_State.STREAM):
                m.d.comb += [fr.tvalid.eq(g_valid), fr.tdata.eq(g_data), fr.tkeep.eq(g_keep),
                             fr.tlast.eq(g_last), fr.tuser.eq(g_user), g_ready.eq(fr.tready)]
                with m.If(g_valid & fr.tready & g_last):
                    m.d.sync += state.eq(_State.IDLE)
            with m.Case(_State.HEAD):
                m.d.comb += g_ready.eq(1)
                with m.If(g_valid):
                    for k in range(head_beats):
                        with m.If(taken == k):
                            m.d.sync += [head[8 * W * k:8 * W * (k + 1)].eq(g_data),
                                         # A partial beat before the last (a MAC
                                         # error, discarded by the engine) hashes as
                                         # a full one.
                                         head_keep[W * k:W * (k + 1)].eq(
                                             Mux(g_last, g_keep, (1 << W) - 1)),
                                         head_tkeep[W * k:W * (k + 1)].eq(g_keep),
                                         head_user[k].eq(g_user)]
                    m.d.sync += [taken.eq(taken + 1), lead.eq(Mux(taken == 0, 1, lead + 1))]
                    with m.If(g_last | (taken == head_beats - 1)):
                        m.d.sync += [ended.eq(g_last), state.eq(_State.CHOOSE)]
                with m.Elif(taken != 0):
                    m.d.sync += lead.eq(lead + 1)
            with m.Case(_State.CHOOSE):
                m.d.sync += lead.eq(lead + 1)
                with m.If(self.engine_idle.bit_select(hashed, 1)):
                    m.d.comb += [self.start.eq(1), self.engine.eq(hashed)]
                    m.d.sync += [target.eq(hashed), replayed.eq(0), state.eq(_State.REPLAY)]
                with m.Elif(self.drop_when_busy):
                    for p in range(P):
                        with m.If(grant == p):
                            m.d.comb += self.swallowed[p].eq(ended)
                            m.d.sync += swallowing[p].eq(~ended)
                    m.d.sync += state.eq(_State.IDLE)
            with m.Case(_State.REPLAY):
                last_head = replayed == taken - 1
                for k in range(head_beats):
                    with m.If(replayed == k):
                        m.d.comb += [fr.tdata.eq(head[8 * W * k:8 * W * (k + 1)]),
                                     fr.tkeep.eq(head_tkeep[W * k:W * (k + 1)]),
                                     fr.tuser.eq(head_user[k])]
                m.d.comb += [fr.tvalid.eq(1), fr.tlast.eq(last_head & ended),
                             self.lead.eq(lead)]
                m.d.sync += lead.eq(lead + 1)
                with m.If(fr.tready):
                    m.d.sync += replayed.eq(replayed + 1)
                    with m.If(last_head):
                        m.d.sync += state.eq(Mux(ended, _State.IDLE, _State.STREAM))
        return m
