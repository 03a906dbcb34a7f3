"""The host's map mailbox: the ``MAP_KEY`` window and the ``MAP_VALUE`` staging RAM.

The host writes a key (and a value) through the control bus before it writes ``MAP_CMD``, and
reads the answer from the same windows after ``busy`` falls (``docs/maps.md``).  The map unit
reads the whole key window at once, writes it back whole (get-next-key's answer), and moves
values between the staging RAM and the value memory 8 bytes at a time.
"""

from amaranth.hdl import Module, Signal, Array, Cat, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw import regs
from hw.core.stack import ByteRAM

__all__ = ["Mailbox"]


class Mailbox(wiring.Component):
    """The two windows of the map mailbox.

    Members
    -------
    key_addr, key_wr_en, key_wr_data, key_wr_strb, key_rd_data
        The host's ``MAP_KEY`` window: word ``key_addr``; read data the cycle after.
    value_addr, value_wr_en, value_wr_data, value_wr_strb, value_rd_data
        The host's ``MAP_VALUE`` window, likewise.
    key : Out
        The key window's bytes (byte ``i`` at bits ``8 i``).
    key_load, key_load_data : In
        Replace the whole key window (the unit wins over a host write in the same cycle).
    stage_rd_en, stage_rd_addr, stage_rd_data, stage_wr_en, stage_wr_addr, stage_wr_data,
    stage_wr_mask
        The unit's side of the value window (:class:`hw.core.stack.ByteRAM`'s ports).
    """

    def __init__(self):
        key_words = regs.MAP_KEY_WINDOW.size // 4
        value_words = regs.MAP_VALUE_WINDOW.size // 4
        self._stage = ByteRAM(regs.MAP_VALUE_WINDOW.size)
        abits = self._stage.abits
        super().__init__({
            "key_addr": In(range(key_words)), "key_wr_en": In(1), "key_wr_data": In(32),
            "key_wr_strb": In(4), "key_rd_data": Out(32),
            "value_addr": In(range(value_words)), "value_wr_en": In(1),
            "value_wr_data": In(32), "value_wr_strb": In(4), "value_rd_data": Out(32),
            "key": Out(8 * regs.MAP_KEY_WINDOW.size), "key_load": In(1),
            "key_load_data": In(8 * regs.MAP_KEY_WINDOW.size),
            "stage_rd_en": In(1), "stage_rd_addr": In(abits), "stage_rd_data": Out(64),
            "stage_wr_en": In(1), "stage_wr_addr": In(abits), "stage_wr_data": In(64),
            "stage_wr_mask": In(8),
        })

    def elaborate(self, platform):
        m = Module()
        kwin = self.key
        kwords = [kwin[32 * i:32 * i + 32] for i in range(regs.MAP_KEY_WINDOW.size // 4)]
        with m.If(self.key_load):
            m.d.sync += kwin.eq(self.key_load_data)
        with m.Elif(self.key_wr_en):
            for i, word in enumerate(kwords):
                with m.If(self.key_addr == i):
                    for b in range(4):
                        with m.If(self.key_wr_strb[b]):
                            m.d.sync += word[8 * b:8 * b + 8].eq(self.key_wr_data[8 * b:8 * b + 8])
        m.d.sync += self.key_rd_data.eq(Array(kwords)[self.key_addr])

        # The value window: 32-bit host words on a RAM of 8-byte rows.
        m.submodules.stage = stage = self._stage
        half = Signal()
        m.d.sync += half.eq(self.value_addr[0])
        m.d.comb += [
            stage.host_addr.eq(self.value_addr >> 1),
            stage.host_wr_en.eq(self.value_wr_en),
            stage.host_wr_data.eq(Cat(self.value_wr_data, self.value_wr_data)),
            stage.host_wr_mask.eq(Mux(self.value_addr[0], self.value_wr_strb << 4,
                                      self.value_wr_strb)),
            self.value_rd_data.eq(Mux(half, stage.host_rd_data[32:], stage.host_rd_data[:32])),
            stage.rd_en.eq(self.stage_rd_en), stage.rd_addr.eq(self.stage_rd_addr),
            self.stage_rd_data.eq(stage.rd_data),
            stage.wr_en.eq(self.stage_wr_en), stage.wr_addr.eq(self.stage_wr_addr),
            stage.wr_data.eq(self.stage_wr_data), stage.wr_mask.eq(self.stage_wr_mask),
        ]
        return m
