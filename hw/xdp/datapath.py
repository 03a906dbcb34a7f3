"""The XDP datapath: ports in, the eBPF core on each frame, the verdict applied, ports out.

One engine, one packet buffer, one frame at a time::

    IDLE --grant--> RX --tlast--> (discard?) ----------------------------> VERDICT -> IDLE
                               \\-> CLEAN -> SETUP -> START -> RUN -> DECIDE -> EGRESS -> IDLE

* **IDLE/RX**: a round-robin arbiter grants a port whose next beat starts a frame; the frame is
  written into the buffer (:class:`hw.xdp.rx.RxWriter`) and checked.  Other ports wait
  (``tready`` low) or, with ``drop_when_busy``, have their frames swallowed and counted as
  buffer-full.
* **CLEAN**: rows written by earlier frames outside this frame's rows are zeroed, so the program
  and the helpers see the golden model's fresh buffer (zeros around the frame).  Writes are
  tracked as one dirty row range, so this costs only the rows the last frames used beyond this
  one.
* **SETUP/START/RUN**: :class:`hw.xdp.helpers.PacketHelpers` writes ``xdp_md`` into the core's
  context RAM; the core runs with r1 at the context.  Its loads and stores, and the helpers'
  reads of their arguments, go through :class:`hw.xdp.route.ExtRouter` by region: packet to
  :class:`hw.xdp.access.RowAccess` on the buffer, stack to a reader on the core's stack port,
  map values out on ``map_req`` (the map unit).  Helper calls go to the packet helpers; map
  helpers on to ``maps_req`` (the map unit), the rest to :class:`hw.xdp.misc.MiscHelpers`
  (ktime, prandom, processor id, csum_diff, trace_printk into ``trace``).
* **DECIDE**: the verdict as ``xdp.run_frame`` applies it: a trap is XDP_ABORTED; r0 is read as
  u32; XDP_TX leaves by the ingress port; XDP_REDIRECT by the port ``bpf_redirect`` chose
  (ifindex = port + 1) or is aborted; any other value is aborted.  The verdict record and the
  counters are updated here; ``cycles`` is counted from the cycle the first beat is accepted.
* **EGRESS**: :class:`hw.xdp.egress.EgressReader` streams the frame (metadata first for
  XDP_PASS) to the chosen port or the host stream.

Counters (see :mod:`hw.regs`) add up per ingress port: RX_FRAMES = DROP + ABORTED + PASS + TX +
REDIRECT + DISCARD_*.
"""

from amaranth.hdl import Module, Signal, Mux
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out, connect, flipped

from firmware.ebpf import isa, machine
from hw import regs
from hw.core.core import Core
from hw.core.control import TrapCause
from hw.core.helper import HelperRequest, HelperResponse
from hw.core.lsu import ExtRequest, ExtResponse

from hw.maps.unit import MAP_HELPERS

from .access import RowAccess
from .axis import AxisSignature, check_data_width
from .egress import EgressReader
from .helpers import PacketHelpers
from .misc import MiscHelpers
from .route import ExtRouter
from .rx import RxWriter
from .verdict import DispositionCode, ReasonCode, VerdictLayout

__all__ = ["Datapath"]

COUNTER_NAMES = [name for name, _doc in regs.PORT_COUNTERS]
NCOUNTERS = len(COUNTER_NAMES)


class _State(enum.Enum, shape=4):
    IDLE = 0
    RX = 1
    CLEAN = 2
    SETUP = 3
    START = 4
    RUN = 5
    DECIDE = 6
    EGRESS = 7
    VERDICT = 8


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

    Members
    -------
    rx<p> : In(AxisSignature), tx<p> : Out(AxisSignature), host : Out(AxisSignature)
    enable, drop_when_busy, clear_counters, prog_len, budget, imem_wr_* : In
        From the register bank.
    idle, core_busy, last_cycles, last_insns, last_r0, last_trap, last_trap_pc : Out
    port_counters : Out(ArrayLayout(32, ports * NCOUNTERS)); trap_counters : Out(6 x 32);
    host_frames : Out(32)
    verdict_valid : Out(1), verdict : Out(VerdictLayout)
        One record per frame, valid for one cycle.
    now, ns_per_cycle : In
        The NIC's cycle counter and ``KTIME_NS_PER_CYCLE``, for ``bpf_ktime_get_ns``.
    trace : Out(stream.Signature(32))
        ``bpf_trace_printk`` records, to the trace FIFO.
    maps_req, maps_resp : the map helpers (``hw.maps.unit.MAP_HELPERS``).
    map_req, map_resp : map-value region accesses.
    hmem_req, hmem_resp : the map unit's reads of helper arguments (stack, packet).
    redirect_set, redirect_set_ifindex : In
        ``bpf_redirect_map`` chose a device.
    """

    def __init__(self, ports: int = 2, data_width: int = 64, imem_depth: int = 4096):
        if not isinstance(ports, int) or not 1 <= ports <= regs.MAX_PORTS:
            raise ValueError(f"ports must be an integer 1..{regs.MAX_PORTS}, not {ports!r}")
        self.ports = ports
        self.data_bytes = check_data_width(data_width)
        self.data_width = data_width
        self.imem_depth = imem_depth
        self.core = Core(imem_depth=imem_depth)
        members = {}
        for p in range(ports):
            members[f"rx{p}"] = In(AxisSignature(data_width))
            members[f"tx{p}"] = Out(AxisSignature(data_width))
        members.update({
            "host": Out(AxisSignature(data_width)),
            "enable": In(1), "drop_when_busy": In(1), "clear_counters": In(1),
            "prog_len": In(32), "budget": In(32),
            "imem_wr_en": In(1), "imem_wr_addr": In((imem_depth - 1).bit_length()),
            "imem_wr_data": In(64),
            "idle": Out(1), "core_busy": Out(1), "last_cycles": Out(32), "last_insns": Out(32),
            "last_r0": Out(32), "last_trap": Out(32), "last_trap_pc": Out(32),
            "port_counters": Out(data.ArrayLayout(32, ports * NCOUNTERS)),
            "trap_counters": Out(data.ArrayLayout(32, len(regs.TRAP_COUNTERS))),
            "host_frames": Out(32),
            "verdict_valid": Out(1), "verdict": Out(VerdictLayout),
            "now": In(64), "ns_per_cycle": In(32), "trace": Out(stream.Signature(32)),
            "maps_req": Out(stream.Signature(HelperRequest)),
            "maps_resp": In(stream.Signature(HelperResponse)),
            "map_req": Out(stream.Signature(ExtRequest)),
            "map_resp": In(stream.Signature(ExtResponse)),
            "hmem_req": In(stream.Signature(ExtRequest)),
            "hmem_resp": Out(stream.Signature(ExtResponse)),
            "redirect_set": In(1), "redirect_set_ifindex": In(32),
        })
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        W = self.data_bytes
        P = self.ports
        rows = machine.PACKET_BUFFER_SIZE // W
        head_row = machine.XDP_HEADROOM // W
        rx_ports = [getattr(self, f"rx{p}") for p in range(P)]
        tx_ports = [getattr(self, f"tx{p}") for p in range(P)]

        m.submodules.core = core = self.core
        m.submodules.buffer = buf = Memory(shape=8 * W, depth=rows, init=[])
        rd = buf.read_port()
        wr = buf.write_port(granularity=8)
        m.submodules.access = acc = RowAccess(W)
        m.submodules.rx = rx = RxWriter(W)
        m.submodules.egress = eg = EgressReader(W)
        m.submodules.helpers = hp = PacketHelpers(len(core.ctx_row))

        state = Signal(_State)
        grant = Signal(range(P))
        length = Signal(16)
        cyc = Signal(32)
        dest_host = Signal()
        dest_port = Signal(range(P))
        verdict = Signal(VerdictLayout)
        m.d.comb += [self.verdict.eq(verdict), self.idle.eq(state == _State.IDLE),
                     self.core_busy.eq(core.busy)]

        # --- host side of the core ---------------------------------------------------
        m.d.comb += [
            core.imem_wr_en.eq(self.imem_wr_en), core.imem_wr_addr.eq(self.imem_wr_addr),
            core.imem_wr_data.eq(self.imem_wr_data),
            core.ctx_wr_en.eq(hp.ctx_wr_en), core.ctx_row.eq(hp.ctx_row),
            core.ctx_wr_mask.eq(hp.ctx_wr_mask), core.ctx_wr_data.eq(hp.ctx_wr_data),
            core.prog_len.eq(self.prog_len), core.budget.eq(self.budget),
            core.ctx_len.eq(machine.XDP_MD_SIZE), core.ctx_writable.eq(0),
        ]
        m.d.comb += [hp.init_length.eq(length), hp.ingress_port.eq(grant)]
        connect(m, core.helper_req, hp.req)
        connect(m, hp.resp, core.helper_resp)
        m.d.comb += [hp.redirect_set.eq(self.redirect_set),
                     hp.redirect_set_ifindex.eq(self.redirect_set_ifindex)]

        # --- helpers the packet helpers pass on: map helpers to the map unit, the rest here ----
        m.submodules.misc = misc = MiscHelpers()
        m.d.comb += [misc.now.eq(self.now), misc.ns_per_cycle.eq(self.ns_per_cycle)]
        connect(m, misc.trace, flipped(self.trace))
        to_maps = Signal()
        aux_waiting = Signal()
        is_map_helper = hp.aux_req.payload.id.matches(*[h.value for h in MAP_HELPERS])
        m.d.comb += [self.maps_req.payload.eq(hp.aux_req.payload),
                     misc.req.payload.eq(hp.aux_req.payload)]
        with m.If(~aux_waiting):
            with m.If(is_map_helper):
                m.d.comb += [self.maps_req.valid.eq(hp.aux_req.valid),
                             hp.aux_req.ready.eq(self.maps_req.ready)]
            with m.Else():
                m.d.comb += [misc.req.valid.eq(hp.aux_req.valid),
                             hp.aux_req.ready.eq(misc.req.ready)]
            with m.If(hp.aux_req.valid & hp.aux_req.ready):
                m.d.sync += [aux_waiting.eq(1), to_maps.eq(is_map_helper)]
        with m.Else():
            with m.If(to_maps):
                m.d.comb += [hp.aux_resp.payload.eq(self.maps_resp.payload),
                             hp.aux_resp.valid.eq(self.maps_resp.valid),
                             self.maps_resp.ready.eq(hp.aux_resp.ready)]
            with m.Else():
                m.d.comb += [hp.aux_resp.payload.eq(misc.resp.payload),
                             hp.aux_resp.valid.eq(misc.resp.valid),
                             misc.resp.ready.eq(hp.aux_resp.ready)]
            with m.If(hp.aux_resp.valid & hp.aux_resp.ready):
                m.d.sync += aux_waiting.eq(0)

        # --- external memory: who asks (core, helper units) to which memory ---------------
        Region = machine.Region
        m.submodules.router = router = ExtRouter(4, (Region.PACKET, Region.STACK,
                                                     Region.MAP_VALUE))
        m.submodules.stack_reader = stack_reader = RowAccess(
            8, isa.STACK_SIZE * isa.MAX_CALL_DEPTH, Region.STACK)
        connect(m, core.ext_req, router.req0)
        connect(m, router.resp0, core.ext_resp)
        connect(m, hp.mem_req, router.req1)
        connect(m, router.resp1, hp.mem_resp)
        connect(m, flipped(self.hmem_req), router.req2)
        connect(m, router.resp2, flipped(self.hmem_resp))
        connect(m, misc.mem_req, router.req3)
        connect(m, router.resp3, misc.mem_resp)
        connect(m, router.packet_req, acc.req)
        connect(m, acc.resp, router.packet_resp)
        connect(m, router.stack_req, stack_reader.req)
        connect(m, stack_reader.resp, router.stack_resp)
        connect(m, router.map_value_req, flipped(self.map_req))
        connect(m, flipped(self.map_resp), router.map_value_resp)
        # The stack is read through the core's host port (the core waits for the helper).
        m.d.comb += [core.stack_row.eq(stack_reader.rd_addr),
                     stack_reader.rd_data.eq(core.stack_rd_data)]

        # --- the buffer's ports, by phase ---------------------------------------------
        clean_row = Signal(range(rows + 1))
        clean_wr = Signal()
        end_row = Signal(range(rows + 1))
        with m.Switch(state):
            with m.Case(_State.RX):
                m.d.comb += [wr.addr.eq(rx.wr_addr), wr.en.eq(rx.wr_en), wr.data.eq(rx.wr_data)]
            with m.Case(_State.CLEAN):
                m.d.comb += [wr.addr.eq(clean_row), wr.en.eq(Mux(clean_wr, (1 << W) - 1, 0)),
                             wr.data.eq(0)]
            with m.Case(_State.DECIDE, _State.EGRESS):
                m.d.comb += [rd.addr.eq(eg.rd_addr), rd.en.eq(eg.rd_en)]
            with m.Default():
                m.d.comb += [rd.addr.eq(acc.rd_addr), rd.en.eq(acc.rd_en),
                             wr.addr.eq(acc.wr_addr), wr.en.eq(acc.wr_en),
                             wr.data.eq(acc.wr_data)]
        m.d.comb += [acc.rd_data.eq(rd.data), eg.rd_data.eq(rd.data)]

        # Dirty rows: every row written since the last clean-up, as one range.
        dirty_lo = Signal(range(rows + 1), init=rows)
        dirty_hi = Signal(range(rows + 1))
        with m.If((wr.en != 0) & (state != _State.CLEAN)):
            with m.If(wr.addr < dirty_lo):
                m.d.sync += dirty_lo.eq(wr.addr)
            with m.If(wr.addr >= dirty_hi):
                m.d.sync += dirty_hi.eq(wr.addr + 1)

        # --- ingress: arbitration, swallowing, the writer ---------------------------------
        at_start = Signal(P, init=(1 << P) - 1)     # a port's next beat starts a frame
        swallowing = Signal(P)
        swallow_now = Signal(P)
        granted = Signal(P)
        can_grant = (state == _State.IDLE) & self.enable
        for p, port in enumerate(rx_ports):
            m.d.comb += granted[p].eq((state == _State.RX) & (grant == p))
            m.d.comb += swallow_now[p].eq(
                swallowing[p] | (self.drop_when_busy & port.tvalid & at_start[p]
                                 & ~granted[p] & ~can_grant))
            m.d.comb += port.tready.eq(Mux(granted[p], rx.axis.tready, swallow_now[p]))
            with m.If(port.tvalid & port.tready):
                m.d.sync += at_start[p].eq(port.tlast)
                with m.If(swallow_now[p]):
                    m.d.sync += swallowing[p].eq(~port.tlast)
            with m.If(granted[p]):
                m.d.comb += [rx.axis.tdata.eq(port.tdata), rx.axis.tkeep.eq(port.tkeep),
                             rx.axis.tlast.eq(port.tlast), rx.axis.tuser.eq(port.tuser),
                             rx.axis.tvalid.eq(port.tvalid)]
        m.d.comb += rx.active.eq(state == _State.RX)

        # Round robin: the first candidate after the last grant, else the first at all.
        candidates = Signal(P)
        for p, port in enumerate(rx_ports):
            m.d.comb += candidates[p].eq(port.tvalid & at_start[p] & ~swallowing[p])
        pick = Signal(range(P))
        found = Signal()
        for p in reversed(range(P)):
            with m.If(candidates[p]):
                m.d.comb += [pick.eq(p), found.eq(1)]
        for p in reversed(range(P)):
            with m.If(candidates[p] & (p > grant)):
                m.d.comb += pick.eq(p)

        # --- counters -----------------------------------------------------------------
        inc = {(p, name): [] for p in range(P) for name in COUNTER_NAMES}
        trap_inc = [[] for _ in regs.TRAP_COUNTERS]
        host_inc = []
        for p, port in enumerate(rx_ports):
            ended = port.tvalid & port.tready & port.tlast & swallow_now[p]
            inc[(p, "RX_FRAMES")].append(ended)
            inc[(p, "DISCARD_BUFFER_FULL")].append(ended)

        # --- the sequence ---------------------------------------------------------------
        def record(**fields):
            return [getattr(verdict, k).eq(v) for k, v in fields.items()]

        m.d.sync += self.verdict_valid.eq(0)
        with m.If(state != _State.IDLE):
            m.d.sync += cyc.eq(cyc + 1)
        discard_reason = Signal(ReasonCode)
        with m.If(rx.mac_error):
            m.d.comb += discard_reason.eq(ReasonCode.MAC_ERROR)
        with m.Elif(rx.runt):
            m.d.comb += discard_reason.eq(ReasonCode.RUNT)
        with m.Elif(rx.oversize):
            m.d.comb += discard_reason.eq(ReasonCode.OVERSIZE)
        discard_counter = {ReasonCode.MAC_ERROR: "DISCARD_MAC_ERROR", ReasonCode.RUNT:
                           "DISCARD_RUNT", ReasonCode.OVERSIZE: "DISCARD_OVERSIZE"}

        with m.Switch(state):
            with m.Case(_State.IDLE):
                with m.If(can_grant & found):
                    m.d.sync += [grant.eq(pick), state.eq(_State.RX)]
            with m.Case(_State.RX):
                with m.If(rx.first):
                    m.d.sync += cyc.eq(1)
                with m.If(rx.done):
                    m.d.sync += [length.eq(rx.length),
                                 end_row.eq(head_row + ((rx.length + W - 1) >> (W.bit_length() - 1))),
                                 verdict.eq(0), verdict.ingress.eq(grant),
                                 verdict.length.eq(rx.length)]
                    for p in range(P):
                        inc[(p, "RX_FRAMES")].append(rx.done & (grant == p))
                    with m.If(discard_reason != ReasonCode.NONE):
                        m.d.sync += [verdict.disposition.eq(DispositionCode.DISCARD),
                                     verdict.reason.eq(discard_reason),
                                     # a one-beat frame ends in its first cycle
                                     verdict.cycles.eq(Mux(rx.first, 0, cyc)),
                                     state.eq(_State.VERDICT)]
                        for code, name in discard_counter.items():
                            for p in range(P):
                                inc[(p, name)].append(rx.done & (grant == p)
                                                      & (discard_reason == code))
                    with m.Else():
                        m.d.sync += [clean_row.eq(dirty_lo), state.eq(_State.CLEAN)]
            with m.Case(_State.CLEAN):
                # Zero dirty rows outside [head_row, end_row); skip the frame's own rows.
                with m.If(clean_row >= dirty_hi):
                    m.d.sync += [dirty_lo.eq(head_row), dirty_hi.eq(end_row),
                                 state.eq(_State.SETUP)]
                    m.d.comb += hp.init.eq(1)
                with m.Elif(clean_row == head_row):
                    m.d.sync += clean_row.eq(end_row)
                with m.Else():
                    m.d.comb += clean_wr.eq(1)
                    m.d.sync += clean_row.eq(clean_row + 1)
            with m.Case(_State.SETUP):
                with m.If(~hp.busy):
                    m.d.sync += state.eq(_State.START)
            with m.Case(_State.START):
                m.d.comb += core.start.eq(1)
                m.d.sync += state.eq(_State.RUN)
            with m.Case(_State.RUN):
                with m.If(~core.busy):
                    m.d.sync += state.eq(_State.DECIDE)
            with m.Case(_State.DECIDE):
                action = core.r0[:32]
                trapped = core.trap_cause != TrapCause.NONE
                ifindex = hp.redirect_ifindex
                redirect_ok = hp.redirect_valid & (ifindex >= 1) & (ifindex <= P)
                disp = Signal(DispositionCode)
                reason = Signal(ReasonCode)
                out_port = Signal(range(P))
                with m.If(trapped):
                    m.d.comb += [disp.eq(DispositionCode.ABORTED), reason.eq(ReasonCode.TRAP)]
                with m.Elif(action == machine.XdpAction.DROP):
                    m.d.comb += disp.eq(DispositionCode.DROP)
                with m.Elif(action == machine.XdpAction.PASS):
                    m.d.comb += disp.eq(DispositionCode.PASS)
                with m.Elif(action == machine.XdpAction.TX):
                    m.d.comb += [disp.eq(DispositionCode.TX), out_port.eq(grant)]
                with m.Elif(action == machine.XdpAction.REDIRECT):
                    with m.If(redirect_ok):
                        m.d.comb += [disp.eq(DispositionCode.REDIRECT),
                                     out_port.eq(ifindex - 1)]
                    with m.Else():
                        m.d.comb += [disp.eq(DispositionCode.ABORTED),
                                     reason.eq(ReasonCode.REDIRECT_FAILED)]
                with m.Elif(action == machine.XdpAction.ABORTED):
                    m.d.comb += [disp.eq(DispositionCode.ABORTED),
                                 reason.eq(ReasonCode.ACTION_ABORTED)]
                with m.Else():
                    m.d.comb += [disp.eq(DispositionCode.ABORTED),
                                 reason.eq(ReasonCode.INVALID_ACTION)]
                sends = disp.as_value().matches(DispositionCode.PASS, DispositionCode.TX,
                                                DispositionCode.REDIRECT)
                is_pass = disp == DispositionCode.PASS
                begin = Mux(is_pass, hp.data_meta, hp.data)
                m.d.sync += [
                    verdict.disposition.eq(disp), verdict.reason.eq(reason),
                    verdict.egress.eq(out_port), verdict.trap.eq(core.trap_cause),
                    verdict.trap_pc.eq(core.trap_pc), verdict.r0.eq(core.r0),
                    verdict.insns.eq(core.insn_count), verdict.cycles.eq(cyc),
                    verdict.out_length.eq(Mux(sends, hp.data_end - hp.data, 0)),
                    verdict.meta_length.eq(Mux(is_pass, hp.data - hp.data_meta, 0)),
                    verdict.redirect_ifindex.eq(Mux(hp.redirect_valid, ifindex, 0)),
                    self.verdict_valid.eq(1),
                    self.last_cycles.eq(cyc), self.last_insns.eq(core.insn_count),
                    self.last_r0.eq(core.r0[:32]), self.last_trap.eq(core.trap_cause),
                    self.last_trap_pc.eq(core.trap_pc),
                    dest_host.eq(is_pass), dest_port.eq(out_port),
                ]
                deciding = state == _State.DECIDE
                for code, name in ((DispositionCode.DROP, "DROP"),
                                   (DispositionCode.ABORTED, "ABORTED"),
                                   (DispositionCode.PASS, "PASS"), (DispositionCode.TX, "TX"),
                                   (DispositionCode.REDIRECT, "REDIRECT")):
                    for p in range(P):
                        inc[(p, name)].append(deciding & (disp == code) & (grant == p))
                for i, _name in enumerate(regs.TRAP_COUNTERS):
                    trap_inc[i].append(deciding & (core.trap_cause.as_value() == i + 1))
                m.d.comb += [eg.begin.eq(begin), eg.end.eq(hp.data_end), eg.start.eq(sends)]
                m.d.sync += state.eq(Mux(sends, _State.EGRESS, _State.IDLE))
            with m.Case(_State.EGRESS):
                with m.If(eg.done):
                    m.d.sync += state.eq(_State.IDLE)
                sent = (state == _State.EGRESS) & eg.done
                host_inc.append(sent & dest_host)
                for p in range(P):
                    inc[(p, "EGRESS_FRAMES")].append(sent & ~dest_host & (dest_port == p))
            with m.Case(_State.VERDICT):
                m.d.sync += [self.verdict_valid.eq(1), state.eq(_State.IDLE)]

        # --- egress demultiplexer -------------------------------------------------------
        outs = [(self.host, dest_host)] + [(tx, ~dest_host & (dest_port == p))
                                           for p, tx in enumerate(tx_ports)]
        for port, selected in outs:
            m.d.comb += [port.tdata.eq(eg.axis.tdata), port.tkeep.eq(eg.axis.tkeep),
                         port.tlast.eq(eg.axis.tlast),
                         port.tvalid.eq(eg.axis.tvalid & selected & (state == _State.EGRESS))]
            with m.If(selected):
                m.d.comb += eg.axis.tready.eq(port.tready)

        # --- counter registers ------------------------------------------------------------
        def count(target, strobes):
            with m.If(self.clear_counters):
                m.d.sync += target.eq(0)
            if strobes:
                with m.Else():
                    m.d.sync += target.eq(target + sum(Mux(s, 1, 0) for s in strobes))

        for p in range(P):
            for k, name in enumerate(COUNTER_NAMES):
                count(self.port_counters[p * NCOUNTERS + k], inc[(p, name)])
        for i in range(len(regs.TRAP_COUNTERS)):
            count(self.trap_counters[i], trap_inc[i])
        count(self.host_frames, host_inc)
        return m
