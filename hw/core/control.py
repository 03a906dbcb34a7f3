"""Execute-stage control: fetch sequencing, write-back, calls, helpers, traps and counters.

Pipeline: the instruction memory is read synchronously at ``f_pc``; the slot arrives one
cycle later as the execute stage's instruction at ``x_pc`` (``f_pc = x_pc + 1`` while the
stage is full).  Execute decodes it, reads registers combinationally, and retires it in the
same cycle (ALU, not-taken branch, store) or holds it (``stall``: load, atomic, div/mod,
helper call) until its unit answers.  A taken branch, call or exit from a callee redirects
``f_pc`` and empties the stage for one cycle (one bubble).  lddw retires over two cycles,
its second slot supplying the upper immediate.

Checks come in the golden model's order: pc in the program, budget left, legal instruction;
then a trap in execution (out of bounds, unknown helper, call depth) stops at that
instruction.  ``insn_count`` counts completed instructions (lddw once): a trapping one is
not counted, and the budget is the most that may complete.
"""

from amaranth.hdl import Module, Signal, Cat, Mux
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.lib import data

from firmware.ebpf import isa, machine

from .callstack import FrameLayout, DEPTH_BITS
from .decoder import AluOp, DecodedLayout, Kind, Mode, mirror_enum
from .helper import HelperRequest, HelperResponse

__all__ = ["TrapCause", "Control"]

TrapCause = mirror_enum(machine.TrapCause, 3)


class _State(enum.Enum, shape=2):
    IDLE = 0
    CLEAR = 1      # the stack RAM starts a new epoch (or sweeps) before a run
    RUN = 2


class Control(wiring.Component):
    """The core's sequencer (see the module docstring). Ports are grouped by partner unit."""

    def __init__(self, imem_abits: int):
        super().__init__({
            # host
            "start": In(1), "prog_len": In(32), "budget": In(32), "ctx_len": In(32),
            "busy": Out(1), "done": Out(1), "trap_cause": Out(TrapCause), "trap_pc": Out(32),
            "cycles": Out(64), "insn_count": Out(32),
            # fetch and decode
            "imem_addr": Out(imem_abits), "imem_en": Out(1), "d": In(DecodedLayout),
            # register file
            "rs1_addr": Out(4), "rs2_addr": Out(4), "rs1": In(64), "rs2": In(64),
            "rf_we": Out(1), "rf_waddr": Out(4), "rf_wdata": Out(64),
            "rf_init": Out(1), "rf_init_r1": Out(64), "rf_init_r2": Out(64),
            "rf_restore": Out(1), "fp": Out(64), "saved": In(data.ArrayLayout(64, 4)),
            "args": In(data.ArrayLayout(64, 5)),
            # ALU, branch and divider operands and results
            "operand_b": Out(64), "alu_result": In(64), "taken": In(1),
            "div_start": Out(1), "div_signed": Out(1), "div_modulo": Out(1),
            "div_done": In(1), "div_result": In(64),
            # load/store unit
            "lsu_start": Out(1), "lsu_base": Out(64), "lsu_disp": Out(32), "lsu_sdata": Out(64),
            "lsu_done": In(1), "lsu_fault": In(1), "lsu_wb_en": In(1), "lsu_wb_data": In(64),
            # call-frame stack
            "depth": Out(DEPTH_BITS), "push": Out(1), "push_frame": Out(FrameLayout),
            "top": In(FrameLayout),
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
        d = self.d
        state = Signal(_State)
        f_pc = Signal(32)
        x_pc = Signal(32)
        x_valid = Signal()
        depth = Signal(DEPTH_BITS)
        lddw_pending = Signal()
        lddw_lo = Signal(32)
        lddw_dst = Signal(4)
        lddw_src = Signal(4)
        div_running = Signal()
        helper_wait = Signal()      # request accepted, waiting for the response
        count = Signal(32)
        cycles = Signal(64)

        m.d.comb += [
            self.busy.eq(state != _State.IDLE),
            self.insn_count.eq(count),
            self.cycles.eq(cycles),
            self.depth.eq(depth),
            self.fp.eq(machine.region_base(machine.Region.STACK)
                       + isa.STACK_SIZE * (depth + 1)),
            self.imem_addr.eq(f_pc),
        ]

        # Operands: a = dst register, b = src register or sign-extended imm.
        imm64 = d.imm.as_signed()
        off64 = d.off.as_signed()
        m.d.comb += [
            self.rs1_addr.eq(d.dst),
            self.rs2_addr.eq(d.src),
            self.operand_b.eq(Mux(d.src_is_reg, self.rs2, imm64)),
            self.div_signed.eq(d.off == 1),
            self.div_modulo.eq(d.alu_op == AluOp.MOD),
        ]
        # Memory operands.
        is_ldx = d.kind == Kind.LDX
        is_pkt = d.kind == Kind.LD_PACKET
        m.d.comb += [
            self.lsu_base.eq(Mux(is_ldx, self.rs2,
                                 Mux(is_pkt, Mux(d.mode == Mode.IND, self.rs2, 0), self.rs1))),
            self.lsu_disp.eq(Mux(is_pkt, d.imm, d.off)),
            self.lsu_sdata.eq(Mux(d.kind == Kind.ST, imm64, self.rs2)),
        ]
        # Helper request: id from imm (call) or the dst register (callx).
        m.d.comb += [
            self.helper_req.payload.id.eq(Mux(d.kind == Kind.CALLX, self.rs1[:32], d.imm)),
            self.helper_req.payload.args.eq(self.args),
        ]
        # Call-frame push: return to the next slot with the caller's r6-r9.
        m.d.comb += [
            self.push_frame.ret_pc.eq(x_pc + 1),
            self.push_frame.regs.eq(self.saved),
        ]

        # --- actions, decided combinationally below and applied once here ---
        advance = Signal()     # retire and fall through to x_pc + 1
        redirect = Signal()    # retire and continue at target (one bubble)
        target = Signal(32)
        finish = Signal()      # the program ends (exit, helper stop, packet-load miss)
        trap = Signal()
        cause = Signal(TrapCause)
        counted = Signal()     # the instruction counts as executed
        wb = Signal()
        wb_reg = Signal(4)
        wb_val = Signal(64)
        m.d.comb += [
            self.rf_we.eq(wb), self.rf_waddr.eq(wb_reg), self.rf_wdata.eq(wb_val),
            self.retire_reg.eq(wb_reg), self.retire_value.eq(wb_val), self.retire_wb.eq(wb),
        ]

        with m.If(state == _State.IDLE):
            with m.If(self.start):
                m.d.comb += [
                    self.rf_init.eq(1),
                    self.rf_init_r1.eq(machine.region_base(machine.Region.CONTEXT)),
                    self.rf_init_r2.eq(self.ctx_len),
                ]
                m.d.comb += self.stack_clear.eq(1)
                m.d.sync += [
                    state.eq(_State.CLEAR), self.done.eq(0),
                    self.trap_cause.eq(TrapCause.NONE), self.trap_pc.eq(0),
                    count.eq(0), cycles.eq(0), depth.eq(0), lddw_pending.eq(0),
                    div_running.eq(0), helper_wait.eq(0),
                ]
        with m.Elif(state == _State.CLEAR):
            with m.If(~self.stack_clearing):
                m.d.sync += [state.eq(_State.RUN), f_pc.eq(0), x_pc.eq(0), x_valid.eq(0)]
        with m.Else():
            m.d.sync += cycles.eq(cycles + 1)
            with m.If(~x_valid):
                m.d.comb += self.imem_en.eq(1)           # the bubble after a redirect
                m.d.sync += [x_valid.eq(1), f_pc.eq(f_pc + 1)]
            with m.Elif(lddw_pending & ((x_pc >= self.prog_len) | ~d.imm_only)):
                # A truncated lddw or a second slot with anything but imm set: the pair is
                # one illegal instruction at its first slot (model, kernel's ld_imm64 check).
                m.d.comb += [trap.eq(1), cause.eq(TrapCause.ILLEGAL_INSTRUCTION)]
            with m.Elif(x_pc >= self.prog_len):
                m.d.comb += [trap.eq(1), cause.eq(TrapCause.PC_OUT_OF_RANGE)]
            with m.Elif(lddw_pending):
                # Second slot of lddw: its imm is the upper half; the pair completes here.
                value = Signal(64)
                with m.Switch(lddw_src):
                    with m.Case(isa.Pseudo.MAP_FD, isa.Pseudo.MAP_IDX):
                        m.d.comb += value.eq(lddw_lo)
                    with m.Case(isa.Pseudo.MAP_VALUE, isa.Pseudo.MAP_IDX_VALUE):
                        m.d.comb += value.eq(
                            machine.region_base(machine.Region.MAP_VALUE)
                            | (lddw_lo[:8] << machine.MAP_ID_SHIFT)
                            | d.imm[:machine.MAP_ID_SHIFT])
                    with m.Default():
                        m.d.comb += value.eq(Cat(lddw_lo, d.imm))
                m.d.comb += [advance.eq(1), counted.eq(1), wb.eq(1), wb_reg.eq(lddw_dst),
                             wb_val.eq(value), self.retire.eq(1), self.retire_pc.eq(x_pc - 1)]
                m.d.sync += lddw_pending.eq(0)
            with m.Elif(count >= self.budget):
                m.d.comb += [trap.eq(1), cause.eq(TrapCause.BUDGET)]
            with m.Elif(d.illegal):
                m.d.comb += [trap.eq(1), cause.eq(TrapCause.ILLEGAL_INSTRUCTION)]
            with m.Else():
                retire_now = Signal()
                m.d.comb += [self.retire.eq(retire_now), self.retire_pc.eq(x_pc)]
                with m.Switch(d.kind):
                    with m.Case(Kind.ALU):
                        m.d.comb += [advance.eq(1), counted.eq(1), retire_now.eq(1),
                                     wb.eq(1), wb_reg.eq(d.dst), wb_val.eq(self.alu_result)]
                    with m.Case(Kind.DIVMOD):
                        with m.If(~div_running):
                            m.d.comb += self.div_start.eq(1)
                            m.d.sync += div_running.eq(1)
                        with m.Elif(self.div_done):
                            m.d.sync += div_running.eq(0)
                            m.d.comb += [advance.eq(1), counted.eq(1), retire_now.eq(1),
                                         wb.eq(1), wb_reg.eq(d.dst),
                                         wb_val.eq(self.div_result)]
                    with m.Case(Kind.JCOND):
                        m.d.comb += [counted.eq(1), retire_now.eq(1),
                                     target.eq(x_pc + 1 + off64)]
                        with m.If(self.taken):
                            m.d.comb += redirect.eq(1)
                        with m.Else():
                            m.d.comb += advance.eq(1)
                    with m.Case(Kind.JA):
                        m.d.comb += [counted.eq(1), retire_now.eq(1), redirect.eq(1),
                                     target.eq(x_pc + 1 + off64)]
                    with m.Case(Kind.JA32):
                        m.d.comb += [counted.eq(1), retire_now.eq(1), redirect.eq(1),
                                     target.eq(x_pc + 1 + imm64)]
                    with m.Case(Kind.CALL_HELPER, Kind.CALLX):
                        beyond_id = (d.kind == Kind.CALLX) & (self.rs1[32:] != 0)
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
                            m.d.comb += [self.push.eq(1), retire_now.eq(1), redirect.eq(1),
                                         target.eq(x_pc + 1 + imm64)]
                            m.d.sync += depth.eq(depth + 1)
                    with m.Case(Kind.EXIT):
                        m.d.comb += [counted.eq(1), retire_now.eq(1)]
                        with m.If(depth == 0):
                            m.d.comb += finish.eq(1)
                        with m.Else():
                            m.d.comb += [self.rf_restore.eq(1), redirect.eq(1),
                                         target.eq(self.top.ret_pc)]
                            m.d.sync += depth.eq(depth - 1)
                    with m.Case(Kind.LDDW):
                        m.d.comb += advance.eq(1)
                        m.d.sync += [lddw_pending.eq(1), lddw_lo.eq(d.imm),
                                     lddw_dst.eq(d.dst), lddw_src.eq(d.src)]
                    with m.Case(Kind.LDX, Kind.ST, Kind.STX, Kind.ATOMIC):
                        m.d.comb += self.lsu_start.eq(1)
                        with m.If(self.lsu_fault):
                            m.d.comb += [counted.eq(1), trap.eq(1),
                                         cause.eq(TrapCause.OUT_OF_BOUNDS)]
                        with m.Elif(self.lsu_done):
                            cmpxchg = d.imm[:8] == isa.AtomicOp.CMPXCHG
                            reg = Mux(d.kind == Kind.LDX, d.dst, Mux(cmpxchg, 0, d.src))
                            m.d.comb += [advance.eq(1), counted.eq(1), retire_now.eq(1),
                                         wb.eq(self.lsu_wb_en), wb_reg.eq(reg),
                                         wb_val.eq(self.lsu_wb_data)]
                    with m.Case(Kind.LD_PACKET):
                        m.d.comb += self.lsu_start.eq(1)
                        with m.If(self.lsu_fault):
                            # Out of the packet: the program ends with r0 = 0 (kernel).
                            m.d.comb += [counted.eq(1), retire_now.eq(1), finish.eq(1),
                                         wb.eq(1), wb_reg.eq(0), wb_val.eq(0)]
                        with m.Elif(self.lsu_done):
                            m.d.comb += [advance.eq(1), counted.eq(1), retire_now.eq(1),
                                         wb.eq(1), wb_reg.eq(0), wb_val.eq(self.lsu_wb_data)]

            # Apply the decision.
            with m.If(counted & ~trap):     # a trapping instruction does not complete
                m.d.sync += count.eq(count + 1)
            with m.If(trap | finish):
                m.d.sync += [state.eq(_State.IDLE), self.done.eq(1)]
            with m.If(trap):
                m.d.sync += [self.trap_cause.eq(cause),
                             self.trap_pc.eq(Mux(lddw_pending, x_pc - 1, x_pc))]
            with m.Elif(redirect):
                m.d.comb += self.imem_en.eq(1)
                m.d.sync += [x_pc.eq(target), f_pc.eq(target), x_valid.eq(0)]
            with m.Elif(advance):
                m.d.comb += self.imem_en.eq(1)
                m.d.sync += [x_pc.eq(x_pc + 1), f_pc.eq(f_pc + 1)]
        return m
