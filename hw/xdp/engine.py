"""One XDP engine: a packet buffer and an eBPF core that take one frame at a time.

The dispatcher (:class:`hw.xdp.dispatch.Dispatcher`) hands the engine a frame with ``start``
and streams it into ``rx``; the engine runs the program on it and offers its verdict on
``result``; once the datapath takes the verdict (in dispatch order), the frame leaves on ``out``
when the verdict sends it::

    IDLE --start--> RX --tlast--> (discard?) ---------------------------> RESULT -> IDLE
                               \\-> CLEAN -> SETUP -> START -> RUN -> DECIDE -> [RESULT] -> EGRESS -> IDLE

* **RX**: the frame is written into the buffer (:class:`hw.xdp.rx.RxWriter`) and checked.
* **CLEAN**: rows written by earlier frames outside this frame's rows are zeroed, so the program
  and the helpers see the golden model's fresh buffer (zeros around the frame).  Writes are
  tracked as one dirty row range, so this costs only the rows the last frames used beyond this
  one.
* **SETUP/START/RUN**: :class:`hw.xdp.helpers.PacketHelpers` writes ``xdp_md`` into the core's
  context RAM; the core runs with r1 at the context.  Its loads and stores, and the helpers'
  reads of their arguments, go through :class:`hw.xdp.route.ExtRouter` by region: packet to
  :class:`hw.xdp.access.RowAccess` on the buffer, stack to a reader on the core's stack port,
  map values out on ``map_req`` (the map unit, shared by the engines).  Helper calls go to the
  packet helpers; map helpers on to ``maps_req`` (the map unit), the rest to this engine's
  :class:`hw.xdp.misc.MiscHelpers` (ktime, prandom, processor id = ``engine_id``, csum_diff,
  trace_printk into ``trace``).
* **DECIDE**: the verdict as ``xdp.run_frame`` applies it: a trap is XDP_ABORTED; r0 is read as
  u32; XDP_TX leaves by the ingress port; XDP_REDIRECT by the port ``bpf_redirect`` chose
  (ifindex = port + 1) or is aborted; any other value is aborted.  The verdict is offered on
  ``result`` in this very cycle; if the datapath takes it now, egress starts at once, else the
  engine waits in **RESULT**.  ``cycles`` counts from the cycle the port gave the first beat
  (``rx_lead`` cycles before this engine took it, under flow hash) to the verdict leaving: a
  verdict that waits in RESULT for earlier frames counts its wait, so the verdict's cycle minus
  ``cycles`` is always the first beat's.
* **EGRESS**: :class:`hw.xdp.egress.EgressReader` streams the frame (metadata first for
  XDP_PASS) on ``out``; the datapath steers it to the port or the host stream.
"""

from amaranth.hdl import Module, Signal, Mux
from amaranth.lib import enum, stream, wiring
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

__all__ = ["Engine", "shared_members"]


def shared_members() -> dict:
    """The members of an engine (and of the datapath) toward what the engines share: the helpers'
    clock and trace FIFO, and the map unit (map helpers, map-value accesses, the map unit's
    reads of helper arguments, ``bpf_redirect_map``'s choice)."""
    return {
        "now": In(64), "ns_per_cycle": In(32), "trace": Out(stream.Signature(32)),
        "maps_req": Out(stream.Signature(HelperRequest)),
        "maps_resp": In(stream.Signature(HelperResponse)),
        "map_req": Out(stream.Signature(ExtRequest)),
        "map_resp": In(stream.Signature(ExtResponse)),
        "hmem_req": In(stream.Signature(ExtRequest)),
        "hmem_resp": Out(stream.Signature(ExtResponse)),
        "redirect_set": In(1), "redirect_set_ifindex": In(32),
    }


class _State(enum.Enum, shape=4):
    IDLE = 0
    RX = 1
    CLEAN = 2
    SETUP = 3
    START = 4
    RUN = 5
    DECIDE = 6
    EGRESS = 7
    RESULT = 8


class Engine(wiring.Component):
    """One engine (see the module docstring).

    Parameters
    ----------
    ports : int
        Ethernet ports of the NIC (XDP_REDIRECT to ifindex 1..ports is valid).
    data_width : int
        AXI-Stream data width in bits (64, 128, 256 or 512).
    imem_depth : int
        Instruction slots.
    engine_id : int
        This engine's number (``bpf_get_smp_processor_id``, the verdict's ``engine``).

    Members
    -------
    start : In(1), rx_port : In(PORT_BITS)
        The dispatcher hands over a frame from ingress port ``rx_port`` (only when ``idle``).
    rx_lead : In(32)
        With the first beat: the cycles since the port gave it (``Dispatcher.lead``).
    rx : In(AxisSignature)
        Its beats (``tready`` high from ``start`` to the last beat).
    idle : Out(1), core_busy : Out(1)
    result : Out(stream VerdictLayout)
        The frame's verdict; after it is taken the frame leaves on ``out`` if it is sent.
    out : Out(AxisSignature)
    prog_len, budget, imem_wr_* : In
        The program, written into every engine at once.
    now, ns_per_cycle : In; trace : Out(stream.Signature(32))
        For the helpers (:class:`hw.xdp.misc.MiscHelpers`).
    maps_req, maps_resp, map_req, map_resp, hmem_req, hmem_resp, redirect_set,
    redirect_set_ifindex
        This engine's side of the map unit (the datapath arbitrates the engines).
    """

    def __init__(self, ports: int, data_width: int = 64, imem_depth: int = 4096,
                 engine_id: int = 0):
        self.ports = ports
        self.data_bytes = check_data_width(data_width)
        self.engine_id = engine_id
        self.core = Core(imem_depth=imem_depth)
        super().__init__({
            "start": In(1), "rx_port": In(regs.PORT_BITS), "rx_lead": In(32),
            "rx": In(AxisSignature(data_width)),
            "idle": Out(1), "core_busy": Out(1),
            "result": Out(stream.Signature(VerdictLayout)),
            "out": Out(AxisSignature(data_width)),
            "prog_len": In(32), "budget": In(32),
            "imem_wr_en": In(1), "imem_wr_addr": In((imem_depth - 1).bit_length()),
            "imem_wr_data": In(64),
            **shared_members(),
        })

    def elaborate(self, platform):
        m = Module()
        W = self.data_bytes
        P = self.ports
        rows = machine.PACKET_BUFFER_SIZE // W
        head_row = machine.XDP_HEADROOM // W

        m.submodules.core = core = self.core
        m.submodules.buffer = buf = Memory(shape=8 * W, depth=rows, init=[])
        rd = buf.read_port()
        wr = buf.write_port(granularity=8)
        m.submodules.access = acc = RowAccess(W)
        m.submodules.rx = rx = RxWriter(W)
        m.submodules.egress = eg = EgressReader(W)
        m.submodules.helpers = hp = PacketHelpers(len(core.ctx_row))

        state = Signal(_State)
        ingress = Signal(regs.PORT_BITS)
        length = Signal(16)
        cyc = Signal(32)
        verdict = Signal(VerdictLayout)
        sends = Signal()
        waited = Signal(32)          # cycles the verdict has waited in RESULT (see below)
        m.d.comb += [self.idle.eq(state == _State.IDLE), self.core_busy.eq(core.busy)]

        # --- host side of the core ---------------------------------------------------
        m.d.comb += [
            core.imem_wr_en.eq(self.imem_wr_en), core.imem_wr_addr.eq(self.imem_wr_addr),
            core.imem_wr_data.eq(self.imem_wr_data),
            core.ctx_wr_en.eq(hp.ctx_wr_en), core.ctx_row.eq(hp.ctx_row),
            core.ctx_wr_mask.eq(hp.ctx_wr_mask), core.ctx_wr_data.eq(hp.ctx_wr_data),
            core.prog_len.eq(self.prog_len), core.budget.eq(self.budget),
            core.ctx_len.eq(machine.XDP_MD_SIZE), core.ctx_writable.eq(0),
        ]
        m.d.comb += [hp.init_length.eq(length), hp.ingress_port.eq(ingress)]
        connect(m, core.helper_req, hp.req)
        connect(m, hp.resp, core.helper_resp)
        m.d.comb += [hp.redirect_set.eq(self.redirect_set),
                     hp.redirect_set_ifindex.eq(self.redirect_set_ifindex)]

        # --- helpers the packet helpers pass on: map helpers to the map unit, the rest here ----
        m.submodules.misc = misc = MiscHelpers(self.engine_id)
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
            with m.Case(_State.DECIDE, _State.RESULT, _State.EGRESS):
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

        # --- ingress ------------------------------------------------------------------
        connect(m, flipped(self.rx), rx.axis)
        m.d.comb += rx.active.eq(state == _State.RX)

        # --- the sequence ---------------------------------------------------------------
        with m.If(state != _State.IDLE):
            m.d.sync += cyc.eq(cyc + 1)
        discard_reason = Signal(ReasonCode)
        with m.If(rx.mac_error):
            m.d.comb += discard_reason.eq(ReasonCode.MAC_ERROR)
        with m.Elif(rx.runt):
            m.d.comb += discard_reason.eq(ReasonCode.RUNT)
        with m.Elif(rx.oversize):
            m.d.comb += discard_reason.eq(ReasonCode.OVERSIZE)

        # The verdict as DECIDE makes it, offered at once (egress then starts without delay).
        decided = Signal(VerdictLayout)
        decided_sends = Signal()
        begin = Signal(16)
        action = core.r0[:32]
        trapped = core.trap_cause != TrapCause.NONE
        ifindex = hp.redirect_ifindex
        redirect_ok = hp.redirect_valid & (ifindex >= 1) & (ifindex <= P)
        disp = Signal(DispositionCode)
        reason = Signal(ReasonCode)
        out_port = Signal(regs.PORT_BITS)
        with m.If(trapped):
            m.d.comb += [disp.eq(DispositionCode.ABORTED), reason.eq(ReasonCode.TRAP)]
        with m.Elif(action == machine.XdpAction.DROP):
            m.d.comb += disp.eq(DispositionCode.DROP)
        with m.Elif(action == machine.XdpAction.PASS):
            m.d.comb += disp.eq(DispositionCode.PASS)
        with m.Elif(action == machine.XdpAction.TX):
            m.d.comb += [disp.eq(DispositionCode.TX), out_port.eq(ingress)]
        with m.Elif(action == machine.XdpAction.REDIRECT):
            with m.If(redirect_ok):
                m.d.comb += [disp.eq(DispositionCode.REDIRECT), out_port.eq(ifindex - 1)]
            with m.Else():
                m.d.comb += [disp.eq(DispositionCode.ABORTED),
                             reason.eq(ReasonCode.REDIRECT_FAILED)]
        with m.Elif(action == machine.XdpAction.ABORTED):
            m.d.comb += [disp.eq(DispositionCode.ABORTED), reason.eq(ReasonCode.ACTION_ABORTED)]
        with m.Else():
            m.d.comb += [disp.eq(DispositionCode.ABORTED), reason.eq(ReasonCode.INVALID_ACTION)]
        is_pass = disp == DispositionCode.PASS
        m.d.comb += [
            decided_sends.eq(disp.as_value().matches(DispositionCode.PASS, DispositionCode.TX,
                                                     DispositionCode.REDIRECT)),
            begin.eq(Mux(is_pass, hp.data_meta, hp.data)),
            decided.eq(verdict),
            decided.disposition.eq(disp), decided.reason.eq(reason),
            decided.egress.eq(out_port), decided.trap.eq(core.trap_cause),
            decided.trap_pc.eq(core.trap_pc), decided.r0.eq(core.r0),
            decided.insns.eq(core.insn_count), decided.cycles.eq(cyc),
            decided.out_length.eq(Mux(decided_sends, hp.data_end - hp.data, 0)),
            decided.meta_length.eq(Mux(is_pass, hp.data - hp.data_meta, 0)),
            decided.redirect_ifindex.eq(Mux(hp.redirect_valid, ifindex, 0)),
        ]
        m.d.comb += [eg.begin.eq(begin), eg.end.eq(hp.data_end)]

        with m.Switch(state):
            with m.Case(_State.IDLE):
                with m.If(self.start):
                    m.d.sync += [ingress.eq(self.rx_port), state.eq(_State.RX)]
            with m.Case(_State.RX):
                with m.If(rx.first):
                    m.d.sync += cyc.eq(1 + self.rx_lead)
                with m.If(rx.done):
                    m.d.sync += [length.eq(rx.length),
                                 end_row.eq(head_row + ((rx.length + W - 1) >> (W.bit_length() - 1))),
                                 verdict.eq(0), verdict.ingress.eq(ingress),
                                 verdict.engine.eq(self.engine_id),
                                 verdict.length.eq(rx.length)]
                    with m.If(discard_reason != ReasonCode.NONE):
                        m.d.sync += [verdict.disposition.eq(DispositionCode.DISCARD),
                                     verdict.reason.eq(discard_reason),
                                     # a one-beat frame ends in its first cycle
                                     verdict.cycles.eq(Mux(rx.first, self.rx_lead, cyc)),
                                     sends.eq(0), waited.eq(0), state.eq(_State.RESULT)]
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
                m.d.comb += [self.result.valid.eq(1), self.result.payload.eq(decided)]
                m.d.sync += [verdict.eq(decided), sends.eq(decided_sends)]
                with m.If(self.result.ready):
                    m.d.comb += eg.start.eq(decided_sends)
                    m.d.sync += state.eq(Mux(decided_sends, _State.EGRESS, _State.IDLE))
                with m.Else():
                    m.d.sync += [waited.eq(1), state.eq(_State.RESULT)]
            with m.Case(_State.RESULT):
                m.d.comb += [self.result.valid.eq(1), self.result.payload.eq(verdict),
                             self.result.payload.cycles.eq(verdict.cycles + waited)]
                m.d.sync += waited.eq(waited + 1)
                with m.If(self.result.ready):
                    m.d.comb += eg.start.eq(sends)
                    m.d.sync += state.eq(Mux(sends, _State.EGRESS, _State.IDLE))
            with m.Case(_State.EGRESS):
                with m.If(eg.done):
                    m.d.sync += state.eq(_State.IDLE)

        connect(m, eg.axis, flipped(self.out))
        return m
