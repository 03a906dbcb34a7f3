"""Load/store unit: address decode, bounds checks, the stack and context RAMs, atomics and the
external memory port for the packet and map-value regions.

Addresses follow :mod:`firmware.ebpf.machine`: bits 63..32 must be zero, bits 31..28 pick the
region.  Context and stack are RAMs inside the core and are bounds-checked here (context
against the host-set length, and writes refused when the host marks it read-only; the stack
is one region of all frames).  Packet and map-value accesses go out on ``ext_req``; whoever
answers (the datapath, the map unit) checks bounds and reports ``fault``.  No answerer (the
bare core in a test bench) should fault every access.

Timing: the address comes formed and registered (the pipeline's decode stage adds base and
displacement, :func:`access_address`), so the region and bounds are checked in the first
cycle and a store to an internal RAM completes in it; a load reads the RAM, registers its
output (the block RAM's clock-to-out and the byte-lane rotation get a cycle of their own) and
completes in the third cycle; an atomic computes its new value in the third and writes in
the fourth.  External accesses take as
long as the answerer; an atomic there is a locked read then a write (see ``ExtRequest``).

Ref: RFC 9669 sections 5.2-5.3 (loads, stores, atomics); Linux kernel/bpf/core.c (atomics).
"""

from amaranth.hdl import Module, Signal, Mux
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out

from firmware.ebpf import isa, machine

from ..alu import byte_swap
from ..decoder import Kind, Size
from ..lsu import ExtRequest, ExtResponse

__all__ = ["LSU", "access_address"]


def access_address(m: Module, kind, base, disp):
    """The 64-bit address of a memory instruction: ``base + sext(disp[:16])``; for the legacy
    packet loads (``kind`` LD_PACKET, ``disp`` the 32-bit imm) the packet region at offset
    ``(base + disp) mod 2**32``, or 0 (unmapped) when that is beyond any packet."""
    addr = Signal(64)
    offset = Signal(32)
    m.d.comb += offset.eq(base + disp)                     # (imm + src) mod 2**32
    with m.If(kind == Kind.LD_PACKET):
        m.d.comb += addr.eq(Mux(offset[machine.REGION_SHIFT:] == 0,
                                machine.region_base(machine.Region.PACKET) | offset, 0))
    with m.Else():
        m.d.comb += addr.eq(base + disp[:16].as_signed())
    return addr


class _State(enum.Enum, shape=3):
    IDLE = 0
    RAM_DATA = 1       # the RAM's output, registered (off every other path)
    RAM_HELD = 2       # a load completes; an atomic computes its new value
    ATOMIC_WRITE = 3   # an atomic writes (or faults: a read-only context)
    EXT_RESP = 4
    EXT_WRITE = 5
    EXT_WRITE_RESP = 6


class LSU(wiring.Component):
    """Load/store unit.

    Members
    -------
    start : In(1)
        Held high while a memory instruction is in execute; the unit answers with ``done``
        (the instruction retires this cycle) or ``fault`` (an out-of-bounds trap).
    kind : In(Kind)
        LDX, ST, STX, ATOMIC or LD_PACKET.
    size, sext, atomic_op : In
        Access size; sign-extending load (MEMSX); the atomic operation (imm bits 7..0).
    addr : In(64)
        The access's address (:func:`access_address`), stable while ``start`` is high.
    sdata : In(64)
        Store data / atomic operand (the src register or the sign-extended imm).
    r0 : In(64)
        cmpxchg compares against r0.
    ctx_len, ctx_writable : In
        Context region length in bytes and whether stores to it are allowed.
    wb_en, wb_data : Out
        The value loaded (LDX, LD_PACKET big-endian) or the old value (fetch atomics,
        cmpxchg); the control decides which register takes it.
    stk_*, ctx_* : ports to the two :class:`ByteRAM` s.
    ext_req, ext_resp : streams to the packet / map-value answerer.
    """

    def __init__(self, stack_bytes: int, ctx_bytes: int):
        self.stack_bytes = stack_bytes
        self.ctx_bytes = ctx_bytes
        sbits = (stack_bytes - 1).bit_length()
        cbits = (ctx_bytes - 1).bit_length()
        super().__init__({
            "start": In(1), "kind": In(Kind), "size": In(Size), "sext": In(1),
            "atomic_op": In(8), "addr": In(64), "sdata": In(64), "r0": In(64),
            "ctx_len": In(32), "ctx_writable": In(1),
            "done": Out(1), "fault": Out(1), "wb_en": Out(1), "wb_data": Out(64),
            "stk_rd_en": Out(1), "stk_rd_addr": Out(sbits), "stk_rd_data": In(64),
            "stk_wr_en": Out(1), "stk_wr_addr": Out(sbits), "stk_wr_data": Out(64),
            "stk_wr_mask": Out(8),
            "ctx_rd_en": Out(1), "ctx_rd_addr": Out(cbits), "ctx_rd_data": In(64),
            "ctx_wr_en": Out(1), "ctx_wr_addr": Out(cbits), "ctx_wr_data": Out(64),
            "ctx_wr_mask": Out(8),
            "ext_req": Out(stream.Signature(ExtRequest)),
            "ext_resp": In(stream.Signature(ExtResponse)),
        })

    def elaborate(self, platform):
        m = Module()
        state = Signal(_State)
        kind = self.kind

        # --- region ----------------------------------------------------------------
        addr = self.addr
        nbytes = Signal(4)
        with m.Switch(self.size):
            for size, n in isa.SIZE_BYTES.items():
                with m.Case(Size[size.name]):
                    m.d.comb += nbytes.eq(n)
        low32 = addr[32:] == 0
        region = addr[machine.REGION_SHIFT:32]
        offset28 = addr[:machine.REGION_SHIFT]
        end = Signal(29)
        m.d.comb += end.eq(offset28 + nbytes)
        is_store = (kind == Kind.ST) | (kind == Kind.STX)
        is_atomic = kind == Kind.ATOMIC
        writes = is_store | is_atomic
        in_stack = low32 & (region == machine.Region.STACK) & (end <= self.stack_bytes)
        # A read-only context refuses stores at once; an atomic reads first and is refused
        # only if it would store (a failing cmpxchg does not), as in the model.
        in_ctx = (low32 & (region == machine.Region.CONTEXT) & (end <= self.ctx_len)
                  & (end <= self.ctx_bytes)          # a ctx_len beyond the RAM is clipped
                  & (self.ctx_writable | ~is_store))
        is_ext = low32 & ((region == machine.Region.PACKET) |
                          (region == machine.Region.MAP_VALUE))

        # --- data formatting ---------------------------------------------------------
        size_mask = Signal(64)
        byte_mask = Signal(8)
        with m.Switch(self.size):
            for size, n in isa.SIZE_BYTES.items():
                with m.Case(Size[size.name]):
                    m.d.comb += [size_mask.eq((1 << (8 * n)) - 1), byte_mask.eq((1 << n) - 1)]

        raw = Signal(64)          # the bytes read this cycle (RAM or external), size-masked
        ram_data = Mux(region == machine.Region.STACK, self.stk_rd_data, self.ctx_rd_data)
        ext_old = Signal(64)      # an external atomic's old value, between read and write
        loaded = Signal(64)
        with m.Switch(self.size):
            for size, n in isa.SIZE_BYTES.items():
                with m.Case(Size[size.name]):
                    bits = 8 * n
                    be = byte_swap(m, raw, bits) if n > 1 else raw[:8]
                    with m.If(kind == Kind.LD_PACKET):
                        m.d.comb += loaded.eq(be)
                    with m.Elif(self.sext & (n < 8)):
                        m.d.comb += loaded.eq(raw[:bits].as_signed())
                    with m.Else():
                        m.d.comb += loaded.eq(raw[:bits])

        operand = self.sdata & size_mask
        aop = self.atomic_op
        new = Signal(64)
        store_ok = Signal()       # cmpxchg stores only when the compare matches
        m.d.comb += store_ok.eq(1)
        with m.Switch(aop & ~isa.ATOMIC_FETCH):
            with m.Case(isa.AtomicOp.ADD):
                m.d.comb += new.eq(raw + operand)
            with m.Case(isa.AtomicOp.OR):
                m.d.comb += new.eq(raw | operand)
            with m.Case(isa.AtomicOp.AND):
                m.d.comb += new.eq(raw & operand)
            with m.Case(isa.AtomicOp.XOR):
                m.d.comb += new.eq(raw ^ operand)
            with m.Case(isa.AtomicOp.XCHG & ~isa.ATOMIC_FETCH):
                m.d.comb += new.eq(operand)
            with m.Case(isa.AtomicOp.CMPXCHG & ~isa.ATOMIC_FETCH):
                m.d.comb += [new.eq(operand), store_ok.eq(raw == (self.r0 & size_mask))]
        atomic_wb = (aop & isa.ATOMIC_FETCH) != 0   # fetch forms, xchg and cmpxchg
        ram_q = Signal(64)        # the RAM's bytes, registered, size-masked
        new_q = Signal(64)        # an internal atomic's new value and whether it stores
        store_ok_q = Signal()

        # --- RAM ports (the address is live while the instruction is in execute) ------------
        m.d.comb += [
            self.stk_rd_addr.eq(addr), self.ctx_rd_addr.eq(addr),
            self.stk_wr_addr.eq(addr), self.ctx_wr_addr.eq(addr),
            self.stk_wr_mask.eq(byte_mask), self.ctx_wr_mask.eq(byte_mask),
            self.stk_wr_data.eq(Mux(is_atomic, new_q, self.sdata)),
            self.ctx_wr_data.eq(Mux(is_atomic, new_q, self.sdata)),
            self.ext_req.payload.addr.eq(addr),
            self.ext_req.payload.size.eq(self.size),
        ]

        with m.Switch(state):
            with m.Case(_State.IDLE):
                with m.If(self.start):
                    with m.If(in_stack | in_ctx):
                        with m.If(is_store):
                            m.d.comb += [
                                self.stk_wr_en.eq(in_stack), self.ctx_wr_en.eq(in_ctx),
                                self.done.eq(1),
                            ]
                        with m.Else():
                            m.d.comb += [self.stk_rd_en.eq(in_stack), self.ctx_rd_en.eq(in_ctx)]
                            m.d.sync += state.eq(_State.RAM_DATA)
                    with m.Elif(is_ext):
                        m.d.comb += [
                            self.ext_req.valid.eq(1),
                            self.ext_req.payload.write.eq(is_store),
                            self.ext_req.payload.lock.eq(is_atomic),
                            self.ext_req.payload.wdata.eq(self.sdata),
                        ]
                        with m.If(self.ext_req.ready):
                            m.d.sync += state.eq(_State.EXT_RESP)
                    with m.Else():
                        m.d.comb += self.fault.eq(1)
            with m.Case(_State.RAM_DATA):
                m.d.sync += [ram_q.eq(ram_data & size_mask), state.eq(_State.RAM_HELD)]
            with m.Case(_State.RAM_HELD):
                m.d.comb += raw.eq(ram_q)
                with m.If(is_atomic):
                    m.d.sync += [new_q.eq(new), store_ok_q.eq(store_ok),
                                 state.eq(_State.ATOMIC_WRITE)]
                with m.Else():
                    m.d.comb += [self.done.eq(1), self.wb_en.eq(1), self.wb_data.eq(loaded)]
                    m.d.sync += state.eq(_State.IDLE)
            with m.Case(_State.ATOMIC_WRITE):
                m.d.sync += state.eq(_State.IDLE)
                with m.If(in_ctx & ~self.ctx_writable & store_ok_q):
                    m.d.comb += self.fault.eq(1)
                with m.Else():
                    m.d.comb += [
                        self.done.eq(1),
                        self.stk_wr_en.eq(in_stack & store_ok_q),
                        self.ctx_wr_en.eq(in_ctx & store_ok_q),
                        self.wb_en.eq(atomic_wb),
                        self.wb_data.eq(ram_q),
                    ]
            with m.Case(_State.EXT_RESP):
                m.d.comb += [self.ext_resp.ready.eq(1), raw.eq(self.ext_resp.payload.rdata
                                                             & size_mask)]
                with m.If(self.ext_resp.valid):
                    m.d.sync += state.eq(_State.IDLE)
                    with m.If(self.ext_resp.payload.fault):
                        m.d.comb += self.fault.eq(1)
                    with m.Elif(is_atomic):
                        m.d.sync += [ext_old.eq(raw), state.eq(_State.EXT_WRITE)]
                    with m.Else():
                        m.d.comb += [self.done.eq(1), self.wb_en.eq(~is_store),
                                     self.wb_data.eq(loaded)]
            with m.Case(_State.EXT_WRITE):
                # A failed cmpxchg writes the old value back: every locked read is followed
                # by its write, which is what releases the answerer's lock.
                m.d.comb += [
                    raw.eq(ext_old),
                    self.ext_req.valid.eq(1),
                    self.ext_req.payload.write.eq(1),
                    self.ext_req.payload.wdata.eq(Mux(store_ok, new, ext_old)),
                ]
                with m.If(self.ext_req.ready):
                    m.d.sync += state.eq(_State.EXT_WRITE_RESP)
            with m.Case(_State.EXT_WRITE_RESP):
                m.d.comb += self.ext_resp.ready.eq(1)
                with m.If(self.ext_resp.valid):
                    m.d.sync += state.eq(_State.IDLE)
                    with m.If(self.ext_resp.payload.fault):
                        m.d.comb += self.fault.eq(1)
                    with m.Else():
                        m.d.comb += [self.done.eq(1), self.wb_en.eq(atomic_wb),
                                     self.wb_data.eq(ext_old)]
        return m
