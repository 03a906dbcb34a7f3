"""The XDP datapath: ports in, a dispatcher, N engines, the verdicts in order, ports out.

::

    rx0..rxP-1 --> Dispatcher --frame--> Engine 0..N-1 --result/out--> in-order egress --> tx0..txP-1, host
                        |  start(engine)                 ^
                        +------> order queue (engine ids)+

* :class:`hw.xdp.dispatch.Dispatcher` takes one frame at a time from the ports (round robin)
  and hands it to an engine: round robin over engines, or by flow hash
  (``machine.dispatch_engines``); with ``drop_when_busy`` a frame that cannot be handed over
  at once is swallowed and counted as buffer-full.
* Each :class:`hw.xdp.engine.Engine` has its own packet buffer, core and helpers; while one
  runs its program the dispatcher fills another.
* The verdicts are taken in the order the frames were handed over (a queue of engine ids
  pushed by the dispatcher), and each sent frame leaves before the next verdict is taken: the
  egress order is the ingress order, so packets of a flow never overtake each other, whatever
  the dispatch.  A frame that finishes early waits for the frames handed over before it.
* Shared with all engines: the map unit, through :class:`hw.xdp.arbiter.TransactionArbiter`s
  (map helpers, with the map unit's reads of their arguments routed back to the calling
  engine, and map-value loads/stores/atomics, an atomic holding the arbiter from its read to its
  write), and the trace FIFO (records merged whole, :class:`hw.xdp.trace.TraceMerge`).
* Counters (see :mod:`hw.regs`) are counted from the verdicts as they are taken, per ingress
  port: RX_FRAMES = DROP + ABORTED + PASS + TX + REDIRECT + DISCARD_*.

With one engine nothing here adds a cycle: requests and beats pass through combinationally.
"""

from amaranth.hdl import Module, Signal, Mux, Array
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out, connect, flipped

from firmware.ebpf import machine
from hw import regs
from hw.core.helper import HelperRequest, HelperResponse
from hw.core.lsu import ExtRequest, ExtResponse

from .arbiter import TransactionArbiter
from .axis import AxisSignature, check_data_width
from .dispatch import Dispatcher
from .engine import Engine, shared_members
from .trace import TraceMerge
from .verdict import DispositionCode, ReasonCode, VerdictLayout

__all__ = ["Datapath", "COUNTER_NAMES", "NCOUNTERS"]

COUNTER_NAMES = [name for name, _doc in regs.PORT_COUNTERS]
NCOUNTERS = len(COUNTER_NAMES)


class Datapath(wiring.Component):
    """The NIC without its control bus.

    Parameters
    ----------
    ports : int
        Ethernet ports (>= 1; the NIC uses >= 2).
    data_width : int
        AXI-Stream data width in bits (64, 128, 256 or 512).
    imem_depth : int
        Instruction slots.
    engines : int
        Engines, 1 .. ``machine.MAX_ENGINES``.

    Members
    -------
    rx<p> : In(AxisSignature), tx<p> : Out(AxisSignature), host : Out(AxisSignature)
    enable, drop_when_busy, flow_hash, clear_counters, prog_len, budget, imem_wr_* : In
        From the register bank.
    idle, core_busy, last_cycles, last_insns, last_r0, last_trap, last_trap_pc : Out
    port_counters : Out(ArrayLayout(32, ports * NCOUNTERS)); trap_counters : Out(6 x 32);
    host_frames : Out(32)
    verdict_valid : Out(1), verdict : Out(VerdictLayout)
        One record per frame, valid for one cycle, in ingress order.
    now, ns_per_cycle : In
        The NIC's cycle counter and ``KTIME_NS_PER_CYCLE``, for ``bpf_ktime_get_ns``.
    trace : Out(stream.Signature(32))
        ``bpf_trace_printk`` records, to the trace FIFO.
    maps_req, maps_resp, maps_engine : the map helpers (``hw.maps.unit.MAP_HELPERS``) and the
        engine that calls (valid with ``maps_req``).
    map_req, map_resp : map-value region accesses.
    hmem_req, hmem_resp : the map unit's reads of helper arguments (the calling engine's stack,
        packet).
    redirect_set, redirect_set_ifindex : In
        ``bpf_redirect_map`` chose a device (for the calling engine).
    """

    def __init__(self, ports: int = 2, data_width: int = 64, imem_depth: int = 4096,
                 engines: int = 1):
        if not isinstance(ports, int) or not 1 <= ports <= regs.MAX_PORTS:
            raise ValueError(f"ports must be an integer 1..{regs.MAX_PORTS}, not {ports!r}")
        if not isinstance(engines, int) or not 1 <= engines <= machine.MAX_ENGINES:
            raise ValueError(f"engines must be an integer 1..{machine.MAX_ENGINES}, "
                             f"not {engines!r}")
        self.ports = ports
        self.engines = engines
        self.data_bytes = check_data_width(data_width)
        self.data_width = data_width
        self.imem_depth = imem_depth
        self.engine_units = [Engine(ports, data_width, imem_depth, e) for e in range(engines)]
        members = {}
        for p in range(ports):
            members[f"rx{p}"] = In(AxisSignature(data_width))
            members[f"tx{p}"] = Out(AxisSignature(data_width))
        members.update({
            "host": Out(AxisSignature(data_width)),
            "enable": In(1), "drop_when_busy": In(1), "flow_hash": In(1),
            "clear_counters": In(1), "prog_len": In(32), "budget": In(32),
            "imem_wr_en": In(1), "imem_wr_addr": In((imem_depth - 1).bit_length()),
            "imem_wr_data": In(64),
            "idle": Out(1), "core_busy": Out(1), "last_cycles": Out(32), "last_insns": Out(32),
            "last_r0": Out(32), "last_trap": Out(32), "last_trap_pc": Out(32),
            "port_counters": Out(data.ArrayLayout(32, ports * NCOUNTERS)),
            "trap_counters": Out(data.ArrayLayout(32, len(regs.TRAP_COUNTERS))),
            "host_frames": Out(32),
            "verdict_valid": Out(1), "verdict": Out(VerdictLayout),
            "maps_engine": Out(machine.ENGINE_BITS),
            **shared_members(),
        })
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        P, N = self.ports, self.engines
        tx_ports = [getattr(self, f"tx{p}") for p in range(P)]
        engines = self.engine_units
        for e, eng in enumerate(engines):
            m.submodules[f"engine{e}"] = eng

        # --- dispatch ---------------------------------------------------------------------
        m.submodules.dispatch = disp = Dispatcher(P, self.data_width, N)
        for p in range(P):
            connect(m, flipped(getattr(self, f"rx{p}")), getattr(disp, f"rx{p}"))
        m.d.comb += [disp.enable.eq(self.enable), disp.drop_when_busy.eq(self.drop_when_busy),
                     disp.flow_hash.eq(self.flow_hash)]
        for e, eng in enumerate(engines):
            m.d.comb += [
                disp.engine_idle[e].eq(eng.idle),
                eng.start.eq(disp.start & (disp.engine == e)), eng.rx_port.eq(disp.port),
                eng.rx_lead.eq(disp.lead),
                eng.rx.tdata.eq(disp.frame.tdata), eng.rx.tkeep.eq(disp.frame.tkeep),
                eng.rx.tlast.eq(disp.frame.tlast), eng.rx.tuser.eq(disp.frame.tuser),
                eng.rx.tvalid.eq(disp.frame.tvalid & (disp.engine == e)),
            ]
            with m.If(disp.engine == e):
                m.d.comb += disp.frame.tready.eq(eng.rx.tready)
            m.d.comb += [
                eng.prog_len.eq(self.prog_len), eng.budget.eq(self.budget),
                eng.imem_wr_en.eq(self.imem_wr_en), eng.imem_wr_addr.eq(self.imem_wr_addr),
                eng.imem_wr_data.eq(self.imem_wr_data),
                eng.now.eq(self.now), eng.ns_per_cycle.eq(self.ns_per_cycle),
            ]

        # --- the order queue: engine ids in dispatch order ---------------------------------
        queue = Array(Signal(machine.ENGINE_BITS, name=f"order{i}") for i in range(N))
        queued = Signal(range(N + 1))
        pop = Signal()
        head = queue[0]
        for i in range(N):
            shifted = queue[i + 1] if i + 1 < N else 0
            slot_after_pop = Mux(pop, shifted, queue[i])
            fill = queued - pop
            with m.If(disp.start & (fill == i)):
                m.d.sync += queue[i].eq(disp.engine)
            with m.Else():
                m.d.sync += queue[i].eq(slot_after_pop)
        m.d.sync += queued.eq(queued + disp.start - pop)

        # --- verdicts in order, then the frame out ------------------------------------------
        sending = Signal()
        send_engine = Signal(range(max(N, 2)))
        dest_host = Signal()
        dest_port = Signal(regs.PORT_BITS)
        taken = Signal(VerdictLayout)
        take = Signal()
        sent = Signal()              # the last beat of the frame being sent leaves this cycle
        for e, eng in enumerate(engines):
            # The next verdict may be taken as the last beat leaves: its engine's egress primes
            # while that beat goes, so frames leave back to back.
            with m.If((~sending | sent) & (queued != 0) & (head == e)):
                m.d.comb += [eng.result.ready.eq(1), take.eq(eng.result.valid),
                             taken.eq(eng.result.payload)]
        m.d.comb += pop.eq(take)
        d = taken.disposition
        takes_egress = d.as_value().matches(DispositionCode.PASS, DispositionCode.TX,
                                            DispositionCode.REDIRECT)
        m.d.sync += self.verdict_valid.eq(take)
        with m.If(sent):
            m.d.sync += sending.eq(0)
        with m.If(take):
            m.d.sync += [self.verdict.eq(taken), sending.eq(takes_egress),
                         send_engine.eq(head), dest_host.eq(d == DispositionCode.PASS),
                         dest_port.eq(taken.egress)]
            with m.If(d != DispositionCode.DISCARD):
                m.d.sync += [self.last_cycles.eq(taken.cycles), self.last_insns.eq(taken.insns),
                             self.last_r0.eq(taken.r0[:32]), self.last_trap.eq(taken.trap),
                             self.last_trap_pc.eq(taken.trap_pc)]
        out_valid = Signal()
        out_last = Signal()
        out_ready = Signal()
        outs = [(self.host, dest_host)] + [(tx, ~dest_host & (dest_port == p))
                                           for p, tx in enumerate(tx_ports)]
        for e, eng in enumerate(engines):
            with m.If(send_engine == e):
                for port, _selected in outs:
                    m.d.comb += [port.tdata.eq(eng.out.tdata), port.tkeep.eq(eng.out.tkeep),
                                 port.tlast.eq(eng.out.tlast)]
                m.d.comb += [out_valid.eq(eng.out.tvalid & sending), out_last.eq(eng.out.tlast),
                             eng.out.tready.eq(out_ready & sending)]
        for port, selected in outs:
            m.d.comb += port.tvalid.eq(out_valid & selected)
            with m.If(selected):
                m.d.comb += out_ready.eq(port.tready)
        m.d.comb += sent.eq(out_valid & out_ready & out_last)

        all_idle = 1
        any_busy = 0
        for eng in engines:
            all_idle = all_idle & eng.idle
            any_busy = any_busy | eng.core_busy
        m.d.comb += [self.idle.eq(disp.idle & (queued == 0) & ~sending & all_idle),
                     self.core_busy.eq(any_busy)]

        # --- the map unit and the trace FIFO, shared -----------------------------------------
        m.submodules.helper_arbiter = harb = TransactionArbiter(N, HelperRequest, HelperResponse)
        m.submodules.value_arbiter = varb = TransactionArbiter(N, ExtRequest, ExtResponse,
                                                                locking=True)
        m.submodules.trace_merge = tmerge = TraceMerge(N)
        for e, eng in enumerate(engines):
            connect(m, eng.maps_req, getattr(harb, f"req{e}"))
            connect(m, getattr(harb, f"resp{e}"), eng.maps_resp)
            connect(m, eng.map_req, getattr(varb, f"req{e}"))
            connect(m, getattr(varb, f"resp{e}"), eng.map_resp)
            connect(m, eng.trace, getattr(tmerge, f"in{e}"))
            # The map unit's argument reads and redirect_map go to the calling engine.
            mine = harb.owner == e
            m.d.comb += [eng.hmem_req.payload.eq(self.hmem_req.payload),
                         eng.hmem_req.valid.eq(self.hmem_req.valid & mine),
                         eng.hmem_resp.ready.eq(self.hmem_resp.ready & mine),
                         eng.redirect_set.eq(self.redirect_set & mine),
                         eng.redirect_set_ifindex.eq(self.redirect_set_ifindex)]
            with m.If(mine):
                m.d.comb += [self.hmem_req.ready.eq(eng.hmem_req.ready),
                             self.hmem_resp.valid.eq(eng.hmem_resp.valid),
                             self.hmem_resp.payload.eq(eng.hmem_resp.payload)]
        connect(m, harb.req, flipped(self.maps_req))
        connect(m, flipped(self.maps_resp), harb.resp)
        connect(m, varb.req, flipped(self.map_req))
        connect(m, flipped(self.map_resp), varb.resp)
        connect(m, tmerge.out, flipped(self.trace))
        m.d.comb += self.maps_engine.eq(harb.owner)

        # --- counters, from the verdicts as they are taken ----------------------------------
        inc = {(p, name): [] for p in range(P) for name in COUNTER_NAMES}
        for p in range(P):
            inc[(p, "RX_FRAMES")].append(disp.swallowed[p])
            inc[(p, "DISCARD_BUFFER_FULL")].append(disp.swallowed[p])
        by_code = {DispositionCode.DROP: "DROP", DispositionCode.ABORTED: "ABORTED",
                   DispositionCode.PASS: "PASS", DispositionCode.TX: "TX",
                   DispositionCode.REDIRECT: "REDIRECT"}
        discards = {ReasonCode.MAC_ERROR: "DISCARD_MAC_ERROR", ReasonCode.RUNT: "DISCARD_RUNT",
                    ReasonCode.OVERSIZE: "DISCARD_OVERSIZE"}
        for p in range(P):
            here = take & (taken.ingress == p)
            inc[(p, "RX_FRAMES")].append(here)
            for code, name in by_code.items():
                inc[(p, name)].append(here & (d == code))
            for reason, name in discards.items():
                inc[(p, name)].append(here & (d == DispositionCode.DISCARD)
                                      & (taken.reason == reason))
            inc[(p, "EGRESS_FRAMES")].append(sent & ~dest_host & (dest_port == p))
        trap_inc = [[take & (d != DispositionCode.DISCARD) & (taken.trap == i + 1)]
                    for i in range(len(regs.TRAP_COUNTERS))]

        def count(target, strobes):
            with m.If(self.clear_counters):
                m.d.sync += target.eq(0)
            with m.Else():
                m.d.sync += target.eq(target + sum(Mux(s, 1, 0) for s in strobes))

        for p in range(P):
            for k, name in enumerate(COUNTER_NAMES):
                count(self.port_counters[p * NCOUNTERS + k], inc[(p, name)])
        for i in range(len(regs.TRAP_COUNTERS)):
            count(self.trap_counters[i], trap_inc[i])
        count(self.host_frames, [sent & dest_host])
        return m
