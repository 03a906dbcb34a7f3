"""The eBPF core: composes the units; no logic of its own beyond connections.

Host side (a plain port bundle for now; the datapath wraps it with a control bus):
instruction-memory and context-RAM write ports, ``start``, ``prog_len``, ``budget``,
``ctx_len``/``ctx_writable``, ``busy``/``done``, ``r0``, ``trap_cause``/``trap_pc``,
``cycles``, ``insn_count``, and row read ports into the stack and context RAMs.
Memory side: ``ext_req``/``ext_resp`` for the packet and map-value regions.
Helper side: ``helper_req``/``helper_resp``.
"""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out, connect

from firmware.ebpf import isa

from ..branch import BranchUnit
from ..callstack import CallStack
from ..control import TrapCause
from ..alu import ALU
from ..decoder import Decoder, Mode
from ..divider import Divider
from ..helper import HelperRequest, HelperResponse
from ..imem import InstructionMemory
from ..lsu import ExtRequest, ExtResponse
from ..regfile import RegisterFile
from ..stack import ByteRAM, StackRAM
from .lsu import LSU
from .multiplier import Multiplier
from .pipeline import Pipeline

__all__ = ["Core"]


class Core(wiring.Component):
    """eBPF execution core.

    Parameters
    ----------
    imem_depth : int
        Instruction slots (power of two; default 4096).
    ctx_bytes : int
        Context RAM size in bytes (power of two; default 4096).
    """

    def __init__(self, imem_depth: int = 4096, ctx_bytes: int = 4096):
        self.imem_depth = imem_depth
        self.ctx_bytes = ctx_bytes
        self.stack_bytes = isa.STACK_SIZE * isa.MAX_CALL_DEPTH
        ibits = (imem_depth - 1).bit_length()
        crow = max(1, (ctx_bytes // 8 - 1).bit_length())
        srow = max(1, (self.stack_bytes // 8 - 1).bit_length())
        super().__init__({
            "imem_wr_en": In(1), "imem_wr_addr": In(ibits), "imem_wr_data": In(64),
            "ctx_wr_en": In(1), "ctx_wr_mask": In(8), "ctx_wr_data": In(64),
            "ctx_row": In(crow), "ctx_rd_data": Out(64),
            "stack_row": In(srow), "stack_rd_data": Out(64),
            "start": In(1), "prog_len": In(32), "budget": In(32), "ctx_len": In(32),
            "ctx_writable": In(1),
            "busy": Out(1), "done": Out(1), "r0": Out(64), "trap_cause": Out(TrapCause),
            "trap_pc": Out(32), "cycles": Out(64), "insn_count": Out(32),
            "ext_req": Out(stream.Signature(ExtRequest)),
            "ext_resp": In(stream.Signature(ExtResponse)),
            "helper_req": Out(stream.Signature(HelperRequest)),
            "helper_resp": In(stream.Signature(HelperResponse)),
            "retire": Out(1), "retire_pc": Out(32), "retire_wb": Out(1), "retire_reg": Out(4),
            "retire_value": Out(64),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.imem = imem = InstructionMemory(self.imem_depth)
        m.submodules.decoder = dec = Decoder()
        m.submodules.regfile = rf = RegisterFile()
        m.submodules.alu = alu = ALU(with_mul=False)
        m.submodules.branch = br = BranchUnit()
        m.submodules.multiplier = mul = Multiplier()
        m.submodules.divider = div = Divider()
        m.submodules.callstack = cs = CallStack()
        m.submodules.stack = stk = StackRAM()
        m.submodules.ctx = ctx = ByteRAM(self.ctx_bytes)
        m.submodules.lsu = lsu = LSU(self.stack_bytes, self.ctx_bytes)
        m.submodules.pipeline = pl = Pipeline(imem.abits)

        xd = pl.x_dec
        m.d.comb += [
            # host
            imem.wr_en.eq(self.imem_wr_en), imem.wr_addr.eq(self.imem_wr_addr),
            imem.wr_data.eq(self.imem_wr_data),
            ctx.host_addr.eq(self.ctx_row), ctx.host_wr_en.eq(self.ctx_wr_en),
            ctx.host_wr_mask.eq(self.ctx_wr_mask), ctx.host_wr_data.eq(self.ctx_wr_data),
            self.ctx_rd_data.eq(ctx.host_rd_data),
            stk.host_addr.eq(self.stack_row),
            stk.clear.eq(pl.stack_clear), pl.stack_clearing.eq(stk.clearing),
            self.stack_rd_data.eq(stk.host_rd_data),
            pl.start.eq(self.start), pl.prog_len.eq(self.prog_len),
            pl.budget.eq(self.budget), pl.ctx_len.eq(self.ctx_len),
            self.busy.eq(pl.busy), self.done.eq(pl.done), self.r0.eq(rf.r0),
            self.trap_cause.eq(pl.trap_cause), self.trap_pc.eq(pl.trap_pc),
            self.cycles.eq(pl.cycles), self.insn_count.eq(pl.insn_count),
            self.retire.eq(pl.retire), self.retire_pc.eq(pl.retire_pc),
            self.retire_wb.eq(pl.retire_wb), self.retire_reg.eq(pl.retire_reg),
            self.retire_value.eq(pl.retire_value),
            # F and D
            imem.rd_addr.eq(pl.f_addr), imem.rd_en.eq(pl.f_en), pl.f_data.eq(imem.rd_data),
            dec.insn.eq(pl.d_insn), pl.d_dec.eq(dec.d),
            # register file: D reads, X writes
            rf.rs1_addr.eq(pl.d_rs1_addr), rf.rs2_addr.eq(pl.d_rs2_addr),
            pl.d_rs1.eq(rf.rs1_data), pl.d_rs2.eq(rf.rs2_data),
            rf.we.eq(pl.x_rf_we), rf.waddr.eq(pl.x_rf_waddr), rf.wdata.eq(pl.x_rf_wdata),
            rf.init.eq(pl.rf_init), rf.init_r1.eq(pl.rf_init_r1),
            rf.init_r2.eq(pl.rf_init_r2), rf.fp.eq(pl.fp),
            rf.restore.eq(pl.x_rf_restore), rf.restore_data.eq(cs.top.regs),
            pl.x_saved.eq(rf.saved), pl.x_args.eq(rf.args),
            # X: ALU, branch, multiplier, divider
            alu.op.eq(xd.alu_op), alu.is64.eq(xd.is64), alu.a.eq(pl.x_a),
            alu.b.eq(pl.x_b), alu.off.eq(xd.off), alu.imm.eq(xd.imm),
            alu.src_is_reg.eq(xd.src_is_reg), pl.x_alu_result.eq(alu.result),
            br.op.eq(xd.jmp_op), br.is64.eq(xd.is64), br.a.eq(pl.x_a),
            br.b.eq(pl.x_b), pl.x_taken.eq(br.taken),
            mul.start.eq(pl.x_mul_start), mul.a.eq(pl.x_a), mul.b.eq(pl.x_b),
            mul.is64.eq(xd.is64), pl.x_mul_done.eq(mul.done), pl.x_mul_result.eq(mul.result),
            div.start.eq(pl.x_div_start), div.a.eq(pl.x_a), div.b.eq(pl.x_b),
            div.is64.eq(xd.is64), div.signed.eq(pl.x_div_signed),
            div.modulo.eq(pl.x_div_modulo), pl.x_div_done.eq(div.done),
            pl.x_div_result.eq(div.result),
            # X: load/store unit and its RAMs
            lsu.start.eq(pl.x_lsu_start), lsu.kind.eq(xd.kind), lsu.size.eq(xd.size),
            lsu.sext.eq(xd.mode == Mode.MEMSX), lsu.atomic_op.eq(xd.imm[:8]),
            lsu.addr.eq(pl.x_lsu_addr), lsu.sdata.eq(pl.x_b),
            lsu.r0.eq(rf.r0), lsu.ctx_len.eq(self.ctx_len),
            lsu.ctx_writable.eq(self.ctx_writable),
            pl.x_lsu_done.eq(lsu.done), pl.x_lsu_fault.eq(lsu.fault),
            pl.x_lsu_wb_en.eq(lsu.wb_en), pl.x_lsu_wb_data.eq(lsu.wb_data),
            stk.rd_en.eq(lsu.stk_rd_en), stk.rd_addr.eq(lsu.stk_rd_addr),
            lsu.stk_rd_data.eq(stk.rd_data), stk.wr_en.eq(lsu.stk_wr_en),
            stk.wr_addr.eq(lsu.stk_wr_addr), stk.wr_data.eq(lsu.stk_wr_data),
            stk.wr_mask.eq(lsu.stk_wr_mask),
            ctx.rd_en.eq(lsu.ctx_rd_en), ctx.rd_addr.eq(lsu.ctx_rd_addr),
            lsu.ctx_rd_data.eq(ctx.rd_data), ctx.wr_en.eq(lsu.ctx_wr_en),
            ctx.wr_addr.eq(lsu.ctx_wr_addr), ctx.wr_data.eq(lsu.ctx_wr_data),
            ctx.wr_mask.eq(lsu.ctx_wr_mask),
            # call frames
            cs.depth.eq(pl.depth), cs.push.eq(pl.x_push), cs.push_frame.eq(pl.x_push_frame),
            pl.x_top.eq(cs.top),
        ]
        connect(m, wiring.flipped(self.ext_req), lsu.ext_req)
        connect(m, lsu.ext_resp, wiring.flipped(self.ext_resp))
        connect(m, wiring.flipped(self.helper_req), pl.helper_req)
        connect(m, pl.helper_resp, wiring.flipped(self.helper_resp))
        return m
