"""The core's pipeline sequencer: fetch, decode/issue, execute; calls, helpers, traps, counters.

Stages (each a :class:`Stage` register; docs/core.md has the diagram)::

    F  the instruction memory's address register: slot ``f.pc`` is being read
    D  the memory's output, registered (``d.insn``): decoded, its registers read with
       forwarding from X's write-back, into X's payload at the edge
    X  one instruction at a time: ALU and branches in one cycle; memory, mul, div/mod and
       helper calls hold X until their unit answers; the register write at the edge

Issue (D to X) happens when X retires sequentially or is empty, so an operand X writes in
that cycle is forwarded and dependent ALU instructions run one per cycle.  A taken branch,
jump, call or exit from a callee redirects F in the same cycle and empties D: the target
reaches X two cycles later (two bubbles).  lddw is paired in D: its first slot waits in the
``pair`` register for the second, and the pair issues as one instruction with its 64-bit
value (a bubble in X while the second slot arrives).

Checks come in the golden model's order in X: pc in the program, budget left, legal
instruction (a malformed or truncated lddw pair is illegal at its first slot); then a trap in
execution (out of bounds, unknown helper, call depth) stops at that instruction.  Only X
writes registers or memory and it holds one instruction, so a trap is precise: nothing after
the trapping instruction has done anything.  ``insn_count`` counts completed instructions
(lddw once): a trapping one is not counted, and the budget is the most that may complete.
"""

from amaranth.hdl import Module, Signal, Cat, Mux
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from firmware.ebpf import isa, machine

from ..callstack import FrameLayout, DEPTH_BITS
from ..control import TrapCause
from ..decoder import AluOp, DecodedLayout, Kind, Mode
from ..helper import HelperRequest, HelperResponse
from .lsu import access_address
from .stage import Stage

__all__ = ["Pipeline", "FetchLayout", "DecodeLayout", "ExecuteLayout"]

FetchLayout = data.StructLayout({"pc": 32})
"""F: the slot whose read is under way."""

DecodeLayout = data.StructLayout({"pc": 32, "insn": 64})
"""D: a slot out of the instruction memory."""

ExecuteLayout = data.StructLayout({
    "pc": 32,            # the instruction's (an lddw pair's first slot)
    "d": DecodedLayout,
    "a": 64,             # the dst register
    "b": 64,             # the src register, the sign-extended imm (K forms, st), lddw's value
    "target": 32,        # pc + 1 + off (jumps) or + imm (gotol, bpf-to-bpf call)
    "pair_bad": 1,       # lddw whose second slot is malformed or missing
    "beyond": 1,         # pc is past the program (compared in D, off X's critical path)
    "addr": 64,          # a memory instruction's address, formed in D
    "writes": 1,         # the instruction writes register wreg when it completes
    "wreg": 4,
})
"""X: a decoded instruction with its operands."""


_LDDW_OPCODE = isa.Cls.LD | isa.Size.DW | isa.Mode.IMM


class _State(enum.Enum, shape=2):
    IDLE = 0
    CLEAR = 1      # the stack RAM starts a new epoch (or sweeps) before a run
    RUN = 2


class Pipeline(wiring.Component):
    """The sequencer (see the module docstring).  Ports carry their stage's letter where they
    belong to one (``f_``, ``d_``, ``x_``) and are grouped by partner unit."""

    def __init__(self, imem_abits: int):
        super().__init__({
            # host
            "start": In(1), "prog_len": In(32), "budget": In(32), "ctx_len": In(32),
            "busy": Out(1), "done": Out(1), "trap_cause": Out(TrapCause), "trap_pc": Out(32),
            "cycles": Out(64), "insn_count": Out(32),
            # F: instruction memory read; D: its output and the decoder
            "f_addr": Out(imem_abits), "f_en": Out(1), "f_data": In(64),
            "d_insn": Out(64), "d_dec": In(DecodedLayout),
            # register file: D reads, X writes
            "d_rs1_addr": Out(4), "d_rs2_addr": Out(4), "d_rs1": In(64), "d_rs2": In(64),
            "x_rf_we": Out(1), "x_rf_waddr": Out(4), "x_rf_wdata": Out(64),
            "rf_init": Out(1), "rf_init_r1": Out(64), "rf_init_r2": Out(64),
            "x_rf_restore": Out(1), "fp": Out(64), "x_saved": In(data.ArrayLayout(64, 4)),
            "x_args": In(data.ArrayLayout(64, 5)),
            # X's units: operands and results
            "x_dec": Out(DecodedLayout), "x_a": Out(64), "x_b": Out(64),
            "x_alu_result": In(64), "x_taken": In(1),
            "x_mul_start": Out(1), "x_mul_done": In(1), "x_mul_result": In(64),
            "x_div_start": Out(1), "x_div_signed": Out(1), "x_div_modulo": Out(1),
            "x_div_done": In(1), "x_div_result": In(64),
            "x_lsu_start": Out(1), "x_lsu_addr": Out(64),
            "x_lsu_done": In(1), "x_lsu_fault": In(1), "x_lsu_wb_en": In(1),
            "x_lsu_wb_data": In(64),
            # call-frame stack
            "depth": Out(DEPTH_BITS), "x_push": Out(1), "x_push_frame": Out(FrameLayout),
            "x_top": In(FrameLayout),
            # helpers
            "helper_req": Out(stream.Signature(HelperRequest)),
            "helper_resp": In(stream.Signature(HelperResponse)),
            # stack clearing (one cycle, or a sweep when the RAM's epoch wraps)
            "stack_clear": Out(1), "stack_clearing": In(1),
            # per-instruction trace
            "retire": Out(1), "retire_pc": Out(32), "retire_wb": Out(1), "retire_reg": Out(4),
            "retire_value": Out(64),
        })

    def elaborate(self, platform):
        m = Module()
        state = Signal(_State)
        running = state == _State.RUN
        depth = Signal(DEPTH_BITS)
        div_running = Signal()
        mul_running = Signal()
        helper_wait = Signal()      # request accepted, waiting for the response
        count = Signal(32)
        exhausted = Signal()        # count >= budget, kept as a flag (its compares read
        cycles = Signal(64)         # only registers, off X's critical path)

        f = Stage("f", FetchLayout)
        d = Stage("d", DecodeLayout)
        x = Stage("x", ExecuteLayout)
        for stage in (f, d, x):
            stage.elaborate(m)
        xp = x.payload
        xd = xp.d

        m.d.comb += [
            self.busy.eq(state != _State.IDLE),
            self.insn_count.eq(count),
            self.cycles.eq(cycles),
            self.depth.eq(depth),
            self.fp.eq(machine.region_base(machine.Region.STACK)
                       + isa.STACK_SIZE * (depth + 1)),
            self.x_dec.eq(xd), self.x_a.eq(xp.a), self.x_b.eq(xp.b),
        ]

        # --- X: decide, then apply ------------------------------------------------------
        advance = Signal()     # retire and let the next instruction in
        redirect = Signal()    # retire and continue at target
        target = Signal(32)
        finish = Signal()      # the program ends (exit, helper stop, packet-load miss)
        trap = Signal()
        cause = Signal(TrapCause)
        counted = Signal()     # the instruction counts as executed
        wb = Signal()
        wb_reg = Signal(4)
        wb_val = Signal(64)
        m.d.comb += [
            self.x_rf_we.eq(wb), self.x_rf_waddr.eq(wb_reg), self.x_rf_wdata.eq(wb_val),
            self.retire_reg.eq(wb_reg), self.retire_value.eq(wb_val), self.retire_wb.eq(wb),
            self.retire_pc.eq(xp.pc),
            self.x_div_signed.eq(xd.off == 1),
            self.x_div_modulo.eq(xd.alu_op == AluOp.MOD),
        ]
        m.d.comb += [
            self.x_lsu_addr.eq(xp.addr),
            self.helper_req.payload.id.eq(Mux(xd.kind == Kind.CALLX, xp.a[:32], xd.imm)),
            self.helper_req.payload.args.eq(self.x_args),
            self.x_push_frame.ret_pc.eq(xp.pc + 1),
            self.x_push_frame.regs.eq(self.x_saved),
        ]

        with m.If(running & x.valid):
            retire_now = Signal()
            m.d.comb += self.retire.eq(retire_now)
            with m.If(xp.beyond):
                m.d.comb += [trap.eq(1), cause.eq(TrapCause.PC_OUT_OF_RANGE)]
            with m.Elif(exhausted):
                m.d.comb += [trap.eq(1), cause.eq(TrapCause.BUDGET)]
            with m.Elif(xd.illegal | xp.pair_bad):
                m.d.comb += [trap.eq(1), cause.eq(TrapCause.ILLEGAL_INSTRUCTION)]
            with m.Else():
                with m.Switch(xd.kind):
                    with m.Case(Kind.ALU):
                        with m.If(xd.alu_op == AluOp.MUL):
                            with m.If(~mul_running):
                                m.d.comb += self.x_mul_start.eq(1)
                                m.d.sync += mul_running.eq(1)
                            with m.Elif(self.x_mul_done):
                                m.d.sync += mul_running.eq(0)
                                m.d.comb += [advance.eq(1), counted.eq(1), retire_now.eq(1),
                                             wb.eq(1), wb_reg.eq(xd.dst),
                                             wb_val.eq(self.x_mul_result)]
                        with m.Else():
                            m.d.comb += [advance.eq(1), counted.eq(1), retire_now.eq(1),
                                         wb.eq(1), wb_reg.eq(xd.dst),
                                         wb_val.eq(self.x_alu_result)]
                    with m.Case(Kind.DIVMOD):
                        with m.If(~div_running):
                            m.d.comb += self.x_div_start.eq(1)
                            m.d.sync += div_running.eq(1)
                        with m.Elif(self.x_div_done):
                            m.d.sync += div_running.eq(0)
                            m.d.comb += [advance.eq(1), counted.eq(1), retire_now.eq(1),
                                         wb.eq(1), wb_reg.eq(xd.dst),
                                         wb_val.eq(self.x_div_result)]
                    with m.Case(Kind.JCOND):
                        m.d.comb += [counted.eq(1), retire_now.eq(1), target.eq(xp.target)]
                        with m.If(self.x_taken):
                            m.d.comb += redirect.eq(1)
                        with m.Else():
                            m.d.comb += advance.eq(1)
                    with m.Case(Kind.JA, Kind.JA32):
                        m.d.comb += [counted.eq(1), retire_now.eq(1), redirect.eq(1),
                                     target.eq(xp.target)]
                    with m.Case(Kind.CALL_HELPER, Kind.CALLX):
                        beyond_id = (xd.kind == Kind.CALLX) & (xp.a[32:] != 0)
                        with m.If(beyond_id):
                            m.d.comb += [counted.eq(1), trap.eq(1),
                                         cause.eq(TrapCause.UNKNOWN_HELPER)]
                        with m.Elif(~helper_wait):
                            m.d.comb += self.helper_req.valid.eq(1)
                            with m.If(self.helper_req.ready):
                                m.d.sync += helper_wait.eq(1)
                        with m.Else():
                            m.d.comb += self.helper_resp.ready.eq(1)
                            resp = self.helper_resp.payload
                            with m.If(self.helper_resp.valid):
                                m.d.sync += helper_wait.eq(0)
                                m.d.comb += counted.eq(1)
                                with m.If(resp.unknown):
                                    m.d.comb += [trap.eq(1), cause.eq(TrapCause.UNKNOWN_HELPER)]
                                with m.Elif(resp.fault):
                                    m.d.comb += [trap.eq(1), cause.eq(TrapCause.OUT_OF_BOUNDS)]
                                with m.Else():
                                    m.d.comb += [retire_now.eq(1), wb.eq(1), wb_reg.eq(0),
                                                 wb_val.eq(resp.r0)]
                                    with m.If(resp.stop):
                                        m.d.comb += finish.eq(1)
                                    with m.Else():
                                        m.d.comb += advance.eq(1)
                    with m.Case(Kind.CALL_KFUNC):
                        m.d.comb += [counted.eq(1), trap.eq(1), cause.eq(TrapCause.UNKNOWN_HELPER)]
                    with m.Case(Kind.CALL_LOCAL):
                        m.d.comb += counted.eq(1)
                        with m.If(depth == isa.MAX_CALL_DEPTH - 1):
                            m.d.comb += [trap.eq(1), cause.eq(TrapCause.CALL_DEPTH)]
                        with m.Else():
                            m.d.comb += [self.x_push.eq(1), retire_now.eq(1), redirect.eq(1),
                                         target.eq(xp.target)]
                            m.d.sync += depth.eq(depth + 1)
                    with m.Case(Kind.EXIT):
                        m.d.comb += [counted.eq(1), retire_now.eq(1)]
                        with m.If(depth == 0):
                            m.d.comb += finish.eq(1)
                        with m.Else():
                            m.d.comb += [self.x_rf_restore.eq(1), redirect.eq(1),
                                         target.eq(self.x_top.ret_pc)]
                            m.d.sync += depth.eq(depth - 1)
                    with m.Case(Kind.LDDW):
                        m.d.comb += [advance.eq(1), counted.eq(1), retire_now.eq(1),
                                     wb.eq(1), wb_reg.eq(xd.dst), wb_val.eq(xp.b)]
                    with m.Case(Kind.LDX, Kind.ST, Kind.STX, Kind.ATOMIC):
                        m.d.comb += self.x_lsu_start.eq(1)
                        with m.If(self.x_lsu_fault):
                            m.d.comb += [counted.eq(1), trap.eq(1),
                                         cause.eq(TrapCause.OUT_OF_BOUNDS)]
                        with m.Elif(self.x_lsu_done):
                            cmpxchg = xd.imm[:8] == isa.AtomicOp.CMPXCHG
                            reg = Mux(xd.kind == Kind.LDX, xd.dst, Mux(cmpxchg, 0, xd.src))
                            m.d.comb += [advance.eq(1), counted.eq(1), retire_now.eq(1),
                                         wb.eq(self.x_lsu_wb_en), wb_reg.eq(reg),
                                         wb_val.eq(self.x_lsu_wb_data)]
                    with m.Case(Kind.LD_PACKET):
                        m.d.comb += self.x_lsu_start.eq(1)
                        with m.If(self.x_lsu_fault):
                            # Out of the packet: the program ends with r0 = 0 (kernel).
                            m.d.comb += [counted.eq(1), retire_now.eq(1), finish.eq(1),
                                         wb.eq(1), wb_reg.eq(0), wb_val.eq(0)]
                        with m.Elif(self.x_lsu_done):
                            m.d.comb += [advance.eq(1), counted.eq(1), retire_now.eq(1),
                                         wb.eq(1), wb_reg.eq(0), wb_val.eq(self.x_lsu_wb_data)]

        stop = trap | finish
        with m.If(counted & ~trap):     # a trapping instruction does not complete
            m.d.sync += [count.eq(count + 1), exhausted.eq(count + 1 >= self.budget)]
        with m.Else():
            m.d.sync += exhausted.eq(count >= self.budget)

        # --- D: decode, pair lddw, read registers with forwarding, issue to X --------------
        dp = d.payload
        dec = self.d_dec
        pair_valid = Signal()
        pair_pc = Signal(32)
        pair_dec = Signal(DecodedLayout)
        x_ready = ~x.valid | advance           # X can take an instruction at this edge
        flush = redirect | stop | ~running
        # Stall and pairing decisions read the raw slot, not the decoder (whose match tree
        # would otherwise sit in front of every stage's clock enable).  A slot with lddw's
        # opcode pairs with the next one whatever its other fields; execute traps the pair
        # if the first slot is illegal.  A slot past the program is never paired: execute
        # traps it as out of range.
        opcode = dp.insn[:8]
        cls = opcode[:3]
        beyond = dp.pc >= self.prog_len
        capture = d.valid & ~pair_valid & (opcode == _LDDW_OPCODE) & ~beyond
        m.d.comb += [
            self.d_insn.eq(dp.insn),
            self.d_rs1_addr.eq(dec.dst),
            self.d_rs2_addr.eq(dec.src),
        ]

        def forwarded(addr, value):
            return Mux(wb & (wb_reg == addr), wb_val, value)
        rs1 = forwarded(dec.dst, self.d_rs1)
        rs2 = forwarded(dec.src, self.d_rs2)
        # A memory instruction's address is formed here from the register file as it is,
        # without forwarding (the adder stays off X's result path): when the instruction in
        # X writes the base register, the memory instruction waits a cycle for it.
        is_ldx = dec.kind == Kind.LDX
        is_pkt = dec.kind == Kind.LD_PACKET
        base_is_src = is_ldx | (is_pkt & (dec.mode == Mode.IND))
        base = Mux(base_is_src, self.d_rs2, Mux(is_pkt, 0, self.d_rs1))
        addr = access_address(m, dec.kind, base, Mux(is_pkt, dec.imm, dec.off))
        # The hazard, from the raw class: ldx and ldind take the base in src, st and stx
        # (atomics included) in dst; a malformed one waits too, then traps.
        raw_src_base = (cls == isa.Cls.LDX) | ((cls == isa.Cls.LD)
                                               & (opcode[5:8] == isa.Mode.IND >> 5))
        raw_dst_base = (cls == isa.Cls.ST) | (cls == isa.Cls.STX)
        raw_base = Mux(raw_src_base, dp.insn[12:16], dp.insn[8:12])
        base_hazard = ((raw_src_base | raw_dst_base) & ~beyond & ~pair_valid
                       & x.valid & xp.writes & (xp.wreg == raw_base))
        issue = d.valid & ~capture & x_ready & ~flush & ~base_hazard
        with m.If(flush):
            m.d.sync += pair_valid.eq(0)
        with m.Elif(capture):
            m.d.sync += [pair_valid.eq(1), pair_pc.eq(dp.pc), pair_dec.eq(dec)]
        with m.Elif(issue & pair_valid):
            m.d.sync += pair_valid.eq(0)
        # The register the instruction writes, known at issue (for the hazard above).
        fetch_form = (dec.imm[:8] & isa.ATOMIC_FETCH) != 0
        cmpxchg = dec.imm[:8] == isa.AtomicOp.CMPXCHG
        writes_dst = ((dec.kind == Kind.ALU) | (dec.kind == Kind.DIVMOD) | is_ldx)
        writes_r0 = (is_pkt | (dec.kind == Kind.CALL_HELPER) | (dec.kind == Kind.CALLX)
                     | ((dec.kind == Kind.ATOMIC) & cmpxchg))
        use_imm = (((dec.kind == Kind.ALU) | (dec.kind == Kind.DIVMOD)
                    | (dec.kind == Kind.JCOND)) & ~dec.src_is_reg) | (dec.kind == Kind.ST)
        imm64 = dec.imm.as_signed()
        # The second slot's imm is the upper half; map forms build a handle or an address.
        lo = pair_dec.imm
        pair_value = Signal(64)
        with m.Switch(pair_dec.src):
            with m.Case(isa.Pseudo.MAP_FD, isa.Pseudo.MAP_IDX):
                m.d.comb += pair_value.eq(lo)
            with m.Case(isa.Pseudo.MAP_VALUE, isa.Pseudo.MAP_IDX_VALUE):
                m.d.comb += pair_value.eq(machine.region_base(machine.Region.MAP_VALUE)
                                          | (lo[:8] << machine.MAP_ID_SHIFT)
                                          | dec.imm[:machine.MAP_ID_SHIFT])
            with m.Default():
                m.d.comb += pair_value.eq(Cat(lo, dec.imm))
        jump_disp = Mux((dec.kind == Kind.JA32) | (dec.kind == Kind.CALL_LOCAL),
                        imm64, dec.off.as_signed())
        xin = x.in_payload
        with m.If(pair_valid):
            m.d.comb += [
                xin.pc.eq(pair_pc), xin.d.eq(pair_dec), xin.b.eq(pair_value),
                xin.writes.eq(1), xin.wreg.eq(pair_dec.dst),
                # A truncated pair (the second slot past the program) or a second slot with
                # anything but imm set: one illegal instruction (kernel: ld_imm64 check).
                xin.pair_bad.eq(~dec.imm_only | beyond),
            ]
        with m.Else():
            m.d.comb += [
                xin.pc.eq(dp.pc), xin.d.eq(dec), xin.a.eq(rs1), xin.beyond.eq(beyond),
                xin.b.eq(Mux(use_imm, imm64, rs2)),
                xin.target.eq(dp.pc + 1 + jump_disp),
                xin.addr.eq(addr),
                xin.writes.eq(writes_dst | writes_r0 | ((dec.kind == Kind.ATOMIC) & fetch_form)),
                xin.wreg.eq(Mux(writes_dst, dec.dst, Mux(writes_r0, 0, dec.src))),
            ]
        m.d.comb += [
            x.in_valid.eq(issue),
            x.stall.eq(x.valid & ~advance & ~redirect),
            x.kill.eq(stop | ~running),
            d.in_valid.eq(f.valid),
            d.in_payload.pc.eq(f.payload.pc),
            d.in_payload.insn.eq(self.f_data),
            d.stall.eq(d.valid & ~issue & ~capture),
            d.kill.eq(flush),
        ]

        # --- F: the next slot, or the redirect's target ------------------------------------
        # Slot 0 is read in the last cycle of CLEAR, so the run starts with it in D.
        f_pc = Signal(32)
        fetch_pc = Mux(redirect, target, f_pc)
        starting = (state == _State.CLEAR) & ~self.stack_clearing
        m.d.comb += [
            f.in_valid.eq((running | starting) & ~stop),
            f.in_payload.pc.eq(fetch_pc),
            f.stall.eq(d.stall & ~redirect),
            f.kill.eq(stop | ~(running | starting)),
            self.f_addr.eq(fetch_pc),
            self.f_en.eq(~f.stall),
        ]
        with m.If((running | starting) & ~f.stall):
            m.d.sync += f_pc.eq(fetch_pc + 1)

        # --- run control --------------------------------------------------------------------
        with m.If(state == _State.IDLE):
            with m.If(self.start):
                m.d.comb += [
                    self.rf_init.eq(1),
                    self.rf_init_r1.eq(machine.region_base(machine.Region.CONTEXT)),
                    self.rf_init_r2.eq(self.ctx_len),
                    self.stack_clear.eq(1),
                ]
                m.d.sync += [
                    state.eq(_State.CLEAR), self.done.eq(0),
                    self.trap_cause.eq(TrapCause.NONE), self.trap_pc.eq(0),
                    count.eq(0), cycles.eq(0), depth.eq(0), f_pc.eq(0),
                    div_running.eq(0), mul_running.eq(0), helper_wait.eq(0),
                ]
        with m.Elif(state == _State.CLEAR):
            with m.If(~self.stack_clearing):
                m.d.sync += state.eq(_State.RUN)
        with m.Else():
            m.d.sync += cycles.eq(cycles + 1)
            with m.If(stop):
                m.d.sync += [state.eq(_State.IDLE), self.done.eq(1)]
            with m.If(trap):
                m.d.sync += [self.trap_cause.eq(cause), self.trap_pc.eq(xp.pc)]
        return m
