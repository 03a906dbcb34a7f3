"""Ingress: one frame from an AXI-Stream into the packet buffer, with the ingress checks.

The frame's first byte lands at ``machine.XDP_HEADROOM`` (a row boundary, see
:mod:`hw.xdp.axis`), one beat per row per cycle, and bytes after the frame's end in its last
row are written as zeros (the program may read them, and they must read as the golden model's
fresh buffer does).  Beats past the frame room (``machine.XDP_MAX_FRAME`` bytes) are accepted
and not written.  At ``tlast`` the unit reports the length and why the frame must be
discarded, in ``xdp.ingress_discard_reason``'s order: MAC error (``tuser`` on any beat, or a
partial beat before the last), runt (< 14 bytes, including zero-length), oversize.

``tready`` is high whenever ``active``: the unit never stalls a granted port.
"""

from amaranth.hdl import Module, Signal, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from firmware.ebpf import machine

from .axis import AxisSignature

__all__ = ["RxWriter"]


class RxWriter(wiring.Component):
    """Writes one frame per ``active`` period.

    Members
    -------
    axis : In(AxisSignature)
        The granted port (the datapath multiplexes the ports into it).
    active : In(1)
        Accept beats (held from grant until ``done``).
    first : Out(1)
        The frame's first beat is accepted this cycle.
    done : Out(1)
        The last beat is accepted this cycle; ``length``, ``mac_error``, ``runt`` and
        ``oversize`` are valid with it.
    wr_addr, wr_en, wr_data : Out
        The packet buffer's write port.
    """

    def __init__(self, data_bytes: int):
        self.data_bytes = data_bytes
        self.rows = machine.PACKET_BUFFER_SIZE // data_bytes
        abits = (self.rows - 1).bit_length()
        super().__init__({
            "axis": In(AxisSignature(8 * data_bytes)),
            "active": In(1), "first": Out(1), "done": Out(1),
            "length": Out(16), "mac_error": Out(1), "runt": Out(1), "oversize": Out(1),
            "wr_addr": Out(abits), "wr_en": Out(data_bytes), "wr_data": Out(8 * data_bytes),
        })

    def elaborate(self, platform):
        m = Module()
        W = self.data_bytes
        head_row = machine.XDP_HEADROOM // W
        room_rows = machine.XDP_MAX_FRAME // W
        ax = self.axis
        beats = Signal(16)           # beats accepted so far in this frame (saturating)
        error = Signal()
        keep_count = Signal(range(W + 1))
        m.d.comb += keep_count.eq(sum(ax.tkeep[i] for i in range(W)))
        full_keep = ax.tkeep == (1 << W) - 1
        # Bytes of the last beat as zeros after the kept ones (tkeep is packed from byte 0).
        masked = Signal(8 * W)
        for i in range(W):
            m.d.comb += masked[8 * i:8 * i + 8].eq(Mux(ax.tkeep[i], ax.tdata[8 * i:8 * i + 8], 0))

        m.d.comb += ax.tready.eq(self.active)
        beat = ax.tvalid & ax.tready
        length = Signal(24)
        m.d.comb += length.eq(beats * W + keep_count)
        with m.If(beat):
            m.d.comb += [
                self.first.eq(beats == 0),
                self.wr_addr.eq(head_row + beats),
                self.wr_en.eq(Mux(beats < room_rows, (1 << W) - 1, 0)),
                self.wr_data.eq(masked),
            ]
            bad_beat = ax.tuser | (~ax.tlast & ~full_keep)
            with m.If(ax.tlast):
                m.d.comb += [
                    self.done.eq(1),
                    self.length.eq(Mux(length > 0xFFFF, 0xFFFF, length)),
                    self.mac_error.eq(error | bad_beat),
                    self.runt.eq(length < machine.ETH_HLEN),
                    self.oversize.eq(length > machine.XDP_MAX_FRAME),
                ]
                m.d.sync += [beats.eq(0), error.eq(0)]
            with m.Else():
                m.d.sync += [beats.eq(Mux(beats == 0xFFFF, beats, beats + 1)),
                             error.eq(error | bad_beat)]
        return m
