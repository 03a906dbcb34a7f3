"""The packet helpers, answering the core's helper port; owner of the frame's ``xdp_buff``.

The unit holds ``data``, ``data_end``, ``data_meta`` (byte offsets in the packet buffer) and the
redirect target, writes the ``xdp_md`` context the program reads into the core's context RAM
(at ``init``, and again after every adjust, so the program sees the kernel's view), and answers:

=====================  ===================================================================
``bpf_xdp_adjust_head``  move ``data`` (and the metadata with it); -EINVAL out of limits
``bpf_xdp_adjust_meta``  move ``data_meta``; -EINVAL out of limits, -EACCES bad length
``bpf_xdp_adjust_tail``  move ``data_end``; -EINVAL out of limits; a grow reads as zeros
``bpf_redirect``         remember the ifindex, return XDP_REDIRECT (XDP_ABORTED if flags)
anything else            forwarded on ``aux_req``/``aux_resp`` (map and other helpers attach
                         there; the top level's default answerer says "unknown", and the
                         core traps UNKNOWN_HELPER)
=====================  ===================================================================

Limits and error returns follow ``firmware/ebpf/xdp.py`` (``XdpBuffer``), i.e.
``net/core/filter.c``, except one corner where the model is looser than the kernel:
``adjust_head`` also refuses to move the metadata below the ``xdp_frame`` floor, as the kernel's
``xdp_frame_end = data_hard_start + sizeof(struct xdp_frame) + metalen`` check does.

Metadata moves copy 4 bytes at a time (metadata lengths are multiples of 4), in the direction
that never overwrites a byte before it is read; a tail grow writes zeros 8 bytes at a time;
both through ``mem_req``/``mem_resp`` into :class:`hw.xdp.access.RowAccess`.

Ref: Linux net/core/filter.c (bpf_xdp_adjust_head, bpf_xdp_adjust_meta, bpf_xdp_adjust_tail,
bpf_xdp_redirect), include/uapi/linux/bpf.h.
"""

import errno

from amaranth.hdl import Module, Signal, Cat, Mux, signed
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out

from firmware.ebpf import machine
from firmware.ebpf.helpers import HelperId
from firmware.ebpf.isa import MASK64
from hw import regs
from hw.core.decoder import Size
from hw.core.helper import HelperRequest, HelperResponse
from hw.core.lsu import ExtRequest, ExtResponse

__all__ = ["PacketHelpers"]

EINVAL = -errno.EINVAL & MASK64
EACCES = -errno.EACCES & MASK64
PACKET_BASE = machine.region_base(machine.Region.PACKET)
DATA_END_LIMIT = machine.PACKET_BUFFER_SIZE - machine.XDP_TAILROOM


class _State(enum.Enum, shape=4):
    IDLE = 0
    DISPATCH = 1
    MOVE_READ = 2
    MOVE_READ_WAIT = 3
    MOVE_WRITE = 4
    MOVE_WRITE_WAIT = 5
    ZERO = 6
    ZERO_WAIT = 7
    CTX = 8
    RESP = 9
    AUX = 10
    AUX_WAIT = 11


class PacketHelpers(wiring.Component):
    """Packet helpers and the frame's pointers (see the module docstring).

    ``HELPERS``: the helper ids answered here.

    Members
    -------
    init : In(1)
        A new frame of ``init_length`` bytes at the headroom, from ``ingress_port``: reset the
        pointers and the redirect, write the context; ``busy`` until written.
    req, resp : the core's helper port.
    aux_req, aux_resp : helpers this unit does not implement, passed on.
    mem_req, mem_resp : byte access to the packet buffer.
    redirect_set, redirect_set_ifindex : In
        ``bpf_redirect_map`` (the map unit) chose a device: it replaces any earlier target.
    ctx_wr_en, ctx_row, ctx_wr_mask, ctx_wr_data : Out
        The core's context-RAM host write port.
    data, data_end, data_meta : Out(13)
    redirect_valid, redirect_ifindex : Out
    """

    HELPERS = (HelperId.XDP_ADJUST_HEAD, HelperId.XDP_ADJUST_META, HelperId.XDP_ADJUST_TAIL,
               HelperId.REDIRECT)

    def __init__(self, ctx_row_bits: int = 9):
        super().__init__({
            "init": In(1), "init_length": In(16), "ingress_port": In(regs.PORT_BITS),
            "busy": Out(1),
            "req": In(stream.Signature(HelperRequest)),
            "resp": Out(stream.Signature(HelperResponse)),
            "aux_req": Out(stream.Signature(HelperRequest)),
            "aux_resp": In(stream.Signature(HelperResponse)),
            "mem_req": Out(stream.Signature(ExtRequest)),
            "mem_resp": In(stream.Signature(ExtResponse)),
            "redirect_set": In(1), "redirect_set_ifindex": In(32),
            "ctx_wr_en": Out(1), "ctx_row": Out(ctx_row_bits), "ctx_wr_mask": Out(8),
            "ctx_wr_data": Out(64),
            "data": Out(13), "data_end": Out(13), "data_meta": Out(13),
            "redirect_valid": Out(1), "redirect_ifindex": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        state = Signal(_State)
        ctx_step = Signal(2)
        ctx_then_resp = Signal()
        req_id = Signal(32)
        args = Signal.like(self.req.payload.args)
        r0 = Signal(64)
        word = Signal(32)          # a metadata word in flight
        src = Signal(13)
        dst = Signal(13)
        count = Signal(13)         # metadata words, or zero bytes, left to do
        ascending = Signal()
        new_ptr = Signal(13)       # the pointer an adjust commits after its memory work
        port = Signal(4)

        data, data_end, data_meta = self.data, self.data_end, self.data_meta
        m.d.comb += self.busy.eq(state != _State.IDLE)
        with m.If(self.redirect_set):
            m.d.sync += [self.redirect_valid.eq(1), self.redirect_ifindex.eq(self.redirect_set_ifindex)]

        # Arithmetic on signed deltas: pointers fit 13 bits, deltas are s32.
        delta = Signal(signed(34))
        m.d.comb += delta.eq(args[1][:32].as_signed())
        head = Signal(signed(35))
        meta = Signal(signed(35))
        tail = Signal(signed(35))
        metalen = Signal(13)
        m.d.comb += [head.eq(data + delta), meta.eq(data_meta + delta), tail.eq(data_end + delta),
                     metalen.eq(data - data_meta)]
        new_metalen = Signal(signed(36))
        m.d.comb += new_metalen.eq(data - meta)

        # Context rows: data | data_end, data_meta | ingress_ifindex, rx_queue | egress_ifindex
        # (rx_queue_index and egress_ifindex read 0: one queue per port, no devmap egress).
        fields = [Signal(32, name=f"ctx_{n}") for n in machine.XDP_MD_FIELDS]
        m.d.comb += [fields[0].eq(PACKET_BASE | data), fields[1].eq(PACKET_BASE | data_end),
                     fields[2].eq(PACKET_BASE | data_meta), fields[3].eq(port + 1)]
        ctx_rows = Signal(64 * 3)
        m.d.comb += ctx_rows.eq(Cat(*fields))

        def respond(value):
            return [r0.eq(value), state.eq(_State.RESP)]

        with m.Switch(state):
            with m.Case(_State.IDLE):
                m.d.comb += self.req.ready.eq(~self.init)
                with m.If(self.init):
                    m.d.sync += [
                        data.eq(machine.XDP_HEADROOM), data_meta.eq(machine.XDP_HEADROOM),
                        data_end.eq(machine.XDP_HEADROOM + self.init_length),
                        port.eq(self.ingress_port),
                        self.redirect_valid.eq(0), self.redirect_ifindex.eq(0),
                        ctx_step.eq(0), ctx_then_resp.eq(0), state.eq(_State.CTX)]
                with m.Elif(self.req.valid):
                    m.d.sync += [req_id.eq(self.req.payload.id), args.eq(self.req.payload.args),
                                 state.eq(_State.DISPATCH)]
            with m.Case(_State.DISPATCH):
                with m.Switch(req_id):
                    with m.Case(HelperId.XDP_ADJUST_HEAD):
                        with m.If((head < machine.XDP_FRAME_STRUCT_SIZE + metalen)
                                  | (head > data_end - machine.ETH_HLEN)):
                            m.d.sync += respond(EINVAL)
                        with m.Else():
                            m.d.sync += [new_ptr.eq(head), r0.eq(0)]
                            with m.If(metalen == 0):
                                m.d.sync += [data.eq(head), data_meta.eq(head),
                                             ctx_step.eq(0), ctx_then_resp.eq(1),
                                             state.eq(_State.CTX)]
                            with m.Elif(delta < 0):
                                m.d.sync += [src.eq(data_meta), dst.eq(meta), ascending.eq(1),
                                             count.eq(metalen >> 2),
                                             state.eq(_State.MOVE_READ)]
                            with m.Else():
                                m.d.sync += [src.eq(data - 4), dst.eq(head - 4), ascending.eq(0),
                                             count.eq(metalen >> 2),
                                             state.eq(_State.MOVE_READ)]
                    with m.Case(HelperId.XDP_ADJUST_META):
                        with m.If((meta < machine.XDP_FRAME_STRUCT_SIZE) | (meta > data)):
                            m.d.sync += respond(EINVAL)
                        with m.Elif((new_metalen[:2] != 0)
                                    | (new_metalen > machine.XDP_METADATA_MAX)):
                            m.d.sync += respond(EACCES)
                        with m.Else():
                            m.d.sync += [data_meta.eq(meta), r0.eq(0), ctx_step.eq(0),
                                         ctx_then_resp.eq(1), state.eq(_State.CTX)]
                    with m.Case(HelperId.XDP_ADJUST_TAIL):
                        with m.If((tail > DATA_END_LIMIT) | (tail < data + machine.ETH_HLEN)):
                            m.d.sync += respond(EINVAL)
                        with m.Elif(delta > 0):
                            m.d.sync += [new_ptr.eq(tail), dst.eq(data_end), count.eq(delta),
                                         r0.eq(0), state.eq(_State.ZERO)]
                        with m.Else():
                            m.d.sync += [data_end.eq(tail), r0.eq(0), ctx_step.eq(0),
                                         ctx_then_resp.eq(1), state.eq(_State.CTX)]
                    with m.Case(HelperId.REDIRECT):
                        with m.If(args[1] != 0):
                            m.d.sync += respond(machine.XdpAction.ABORTED)
                        with m.Else():
                            m.d.sync += [self.redirect_valid.eq(1),
                                         self.redirect_ifindex.eq(args[0][:32])]
                            m.d.sync += respond(machine.XdpAction.REDIRECT)
                    with m.Default():
                        m.d.sync += state.eq(_State.AUX)

            # Metadata move, one 4-byte word per read/write pair.
            with m.Case(_State.MOVE_READ):
                m.d.comb += [self.mem_req.valid.eq(1), self.mem_req.payload.write.eq(0),
                             self.mem_req.payload.addr.eq(PACKET_BASE | src),
                             self.mem_req.payload.size.eq(Size.W)]
                with m.If(self.mem_req.ready):
                    m.d.sync += state.eq(_State.MOVE_READ_WAIT)
            with m.Case(_State.MOVE_READ_WAIT):
                m.d.comb += self.mem_resp.ready.eq(1)
                with m.If(self.mem_resp.valid):
                    m.d.sync += [word.eq(self.mem_resp.payload.rdata[:32]),
                                 state.eq(_State.MOVE_WRITE)]
            with m.Case(_State.MOVE_WRITE):
                m.d.comb += [self.mem_req.valid.eq(1), self.mem_req.payload.write.eq(1),
                             self.mem_req.payload.addr.eq(PACKET_BASE | dst),
                             self.mem_req.payload.size.eq(Size.W),
                             self.mem_req.payload.wdata.eq(word)]
                with m.If(self.mem_req.ready):
                    m.d.sync += state.eq(_State.MOVE_WRITE_WAIT)
            with m.Case(_State.MOVE_WRITE_WAIT):
                m.d.comb += self.mem_resp.ready.eq(1)
                with m.If(self.mem_resp.valid):
                    step = Mux(ascending, 4, -4)
                    m.d.sync += [src.eq(src + step), dst.eq(dst + step), count.eq(count - 1)]
                    with m.If(count == 1):
                        m.d.sync += [data.eq(new_ptr), data_meta.eq(data_meta + delta),
                                     ctx_step.eq(0), ctx_then_resp.eq(1), state.eq(_State.CTX)]
                    with m.Else():
                        m.d.sync += state.eq(_State.MOVE_READ)

            # Tail grow: zeros over [old data_end, new data_end).
            with m.Case(_State.ZERO):
                wide = count >= 8
                m.d.comb += [self.mem_req.valid.eq(1), self.mem_req.payload.write.eq(1),
                             self.mem_req.payload.addr.eq(PACKET_BASE | dst),
                             self.mem_req.payload.size.eq(Mux(wide, Size.DW, Size.B)),
                             self.mem_req.payload.wdata.eq(0)]
                with m.If(self.mem_req.ready):
                    m.d.sync += [dst.eq(dst + Mux(wide, 8, 1)),
                                 count.eq(count - Mux(wide, 8, 1)), state.eq(_State.ZERO_WAIT)]
            with m.Case(_State.ZERO_WAIT):
                m.d.comb += self.mem_resp.ready.eq(1)
                with m.If(self.mem_resp.valid):
                    with m.If(count == 0):
                        m.d.sync += [data_end.eq(new_ptr), ctx_step.eq(0), ctx_then_resp.eq(1),
                                     state.eq(_State.CTX)]
                    with m.Else():
                        m.d.sync += state.eq(_State.ZERO)

            with m.Case(_State.CTX):
                m.d.comb += [self.ctx_wr_en.eq(1), self.ctx_row.eq(ctx_step),
                             self.ctx_wr_mask.eq(0xFF)]
                with m.Switch(ctx_step):
                    for i in range(3):
                        with m.Case(i):
                            m.d.comb += self.ctx_wr_data.eq(ctx_rows[64 * i:64 * i + 64])
                m.d.sync += ctx_step.eq(ctx_step + 1)
                with m.If(ctx_step == 2):
                    m.d.sync += state.eq(Mux(ctx_then_resp, _State.RESP, _State.IDLE))

            with m.Case(_State.RESP):
                m.d.comb += [self.resp.valid.eq(1), self.resp.payload.r0.eq(r0)]
                with m.If(self.resp.ready):
                    m.d.sync += state.eq(_State.IDLE)

            with m.Case(_State.AUX):
                m.d.comb += [self.aux_req.valid.eq(1), self.aux_req.payload.id.eq(req_id),
                             self.aux_req.payload.args.eq(args)]
                with m.If(self.aux_req.ready):
                    m.d.sync += state.eq(_State.AUX_WAIT)
            with m.Case(_State.AUX_WAIT):
                m.d.comb += [self.aux_resp.ready.eq(self.resp.ready),
                             self.resp.valid.eq(self.aux_resp.valid),
                             self.resp.payload.eq(self.aux_resp.payload)]
                with m.If(self.aux_resp.valid & self.resp.ready):
                    m.d.sync += state.eq(_State.IDLE)
        return m
