"""Layer 4: path-sensitive abstract interpretation of registers and stack (kernel style).

Paths are explored depth first from the entry state.  At prune points (jump targets, the
instruction after a conditional jump or a call, function entries) a state is stored now and
then, as the kernel's ``is_state_visited`` does; a later state that a fully explored one
*covers* (``state.covers``, on the live registers and the stack bytes read after it) is
pruned, and one equal to a state still being explored on the current path is a loop that
makes no progress ("infinite loop detected").  Bounded loops are simply walked; the number of
instructions processed is capped as the kernel's is (``BPF_COMPLEXITY_LIMIT_INSNS``).
``privileged`` picks the kernel's rules for root (the default) or stricter ones
(docs/verifier.md).  Ref: Linux 6.18 kernel/bpf/verifier.c ``do_check``,
``is_state_visited``, ``check_mem_access``, ``check_helper_call``,
``adjust_ptr_min_max_vals``, ``reg_set_min_max``.
"""

from __future__ import annotations

from ..isa import (MASK32, MASK64, SIZE_BYTES, STACK_SIZE, MAX_CALL_DEPTH, AluOp, AtomicOp,
                   Cls, Fmt, Insn, JmpOp, Mode, Pseudo, FRAME_POINTER)
from .. import isa
from ..maps import MapType
from .checks import Assume, Cfg, Reject, is_cond_jump, lookup_map
from . import kernel_log
from .opinfo import fast_spec
from .liveness import live_registers
from .platform import (Arg, ContextLayout, Platform, Ret, SOCK_COMMON_FIELDS,
                       SOCK_COMMON_WHOLE, SOCK_SIZE,
                       VALUE_MAPS)
from .scalar import Scalar, refine, swap, _meet
from .state import (Byte, Frame, NOT_INIT, OR_NULL, PKT_DATA, PKT_END, PKT_META, Reg, State, T,
                    covers, fingerprint)

__all__ = ["Analyzer", "COMPLEXITY_LIMIT"]

# Ref: kernel/bpf/verifier.c BPF_COMPLEXITY_LIMIT_INSNS.
COMPLEXITY_LIMIT = 1_000_000

_SIGNED_OF = {JmpOp.JGT: JmpOp.JSGT, JmpOp.JGE: JmpOp.JSGE, JmpOp.JLT: JmpOp.JSLT,
              JmpOp.JLE: JmpOp.JSLE}
_SIGNED_OPS = (JmpOp.JSGT, JmpOp.JSGE, JmpOp.JSLT, JmpOp.JSLE)
_UNSIGNED_OPS = (JmpOp.JEQ, JmpOp.JNE, JmpOp.JGT, JmpOp.JGE, JmpOp.JLT, JmpOp.JLE)
_UNSIGNED_ORDER = (JmpOp.JGT, JmpOp.JGE, JmpOp.JLT, JmpOp.JLE)

_MEM_TYPES = (T.CTX, T.STACK, T.PACKET, T.MAP_VALUE, T.MEM, T.SOCKET)
_ARITH_PTRS = (T.STACK, T.PACKET, T.MAP_VALUE, T.MEM, T.CTX)
# Ref: kernel/bpf/verifier.c can_elide_value_nullness
_CONST_KEY_MAPS = (MapType.ARRAY, MapType.PERCPU_ARRAY)


def _zero() -> Scalar:
    return Scalar.const(0)


def _scalar(val: Scalar) -> Reg:
    return Reg(T.SCALAR, val)


def _unknown_bytes(n: int) -> Scalar:
    return Scalar.unknown() if n >= 8 else Scalar.urange(0, (1 << (8 * n)) - 1)


# States kept per instruction.  Comparing a new state against every stored one would make
# a long bounded loop quadratic; past this many, the state that failed to match most often is
# dropped (the kernel likewise evicts states that keep missing).  Dropping a state can only
# cost pruning or an early "infinite loop" verdict, never soundness.
MAX_STATES_PER_INSN = 16


class _Checkpoint:
    """A stored state.  ``written``: stack bytes (per frame, a bit per byte) the path wrote
    between the parent checkpoint and this one; ``read``: stack bytes the paths explored
    from here read before writing them (the kernel's REG_LIVE_WRITTEN / REG_LIVE_READ marks
    on stack slots): only those need to match for a later state to be pruned here."""
    __slots__ = ("state", "branches", "parent", "pc", "miss", "fp", "written", "read")

    def __init__(self, state, parent, pc):
        self.state = state
        self.branches = 1
        self.parent = parent
        self.pc = pc
        self.miss = 0
        self.fp = None          # fingerprint, once compared against a later state
        self.written: dict[int, int] = {}
        self.read: dict[int, int] = {}


_NOT_STORED = object()
_JMP_CLASSES = (Cls.JMP, Cls.JMP32)


class _PathEnd(Exception):
    """The current path ends without error (pruned, infeasible or exited)."""


class Analyzer:
    """One run of layer 4 over a program that passed layers 1-3."""

    def __init__(self, insns: list[Insn], cfg: Cfg, platform: Platform, program_type: str,
                 maps, context: ContextLayout | None, allow_division_by_zero: bool = True,
                 max_insns: int = COMPLEXITY_LIMIT, privileged: bool = True):
        self.insns = insns
        self.cfg = cfg
        self.platform = platform
        self.program_type = program_type
        self.maps = maps
        self.context = context
        self.allow_div0 = allow_division_by_zero
        self.max_insns = max_insns
        # the kernel's rules for a loader with CAP_BPF + CAP_PERFMON (bpftool as root):
        # allow_ptr_leaks and allow_uninit_stack; False keeps the stricter rules
        self.privileged = privileged
        self.processed = 0
        self.jmps = 0                   # jump-class instructions processed
        self.prev_jmps = self.prev_insns = 0    # the counts when a state was last stored
        self.explored: dict[int, list[_Checkpoint]] = {}
        self.total_states = 0
        self.pc = 0
        self.state: State | None = None
        # log level 2: (pc, registers before it) for every instruction processed
        # the kernel-format log (kernel_log): None, or a list of lines; ``trace_path``
        # keeps only the current path (a popped branch drops what came after its push),
        # as the kernel's level-1 log does
        self.trace = None
        self.trace_path = False
        self.stored = 0                 # states stored now (the kernel's peak_states)
        self.peak_states = 0
        self.max_states_per_insn = 0
        self.cp = None                  # the checkpoint the current path descends from
        self.written: dict[int, int] = {}   # stack bytes written since it, per frame
        self.live = live_registers(insns, platform)

    # --- driver ---------------------------------------------------------------------------

    def run(self, entries: list[State]) -> None:
        """Explore every path from every entry state; raises ``Reject`` on the first error."""
        if self.trace is not None and not self.trace_path:
            self.trace.extend(self._live_table())
        for entry in entries:
            self._explore(entry)

    def _explore(self, entry: State) -> None:
        stack: list = [(0, entry, None, None, 0, {})]
        trace = self.trace
        while stack:
            pc, state, cp, came_from, mark, self.written = stack.pop()
            self.cp = cp
            if trace is not None:
                if self.trace_path:
                    del trace[mark:]
                if came_from is None:
                    trace.append(f"{pc}: {kernel_log.state_text(state)}")
            popped = came_from
            while True:
                if pc in self.cfg.prune:
                    verdict = self._visit(pc, state, cp)
                    if verdict is None:          # pruned
                        if trace is not None:
                            trace.extend(["", f"from {popped} to {pc}: safe"]
                                         if popped is not None else [f"{pc}: safe"])
                        self._finish(cp)
                        break
                    if verdict is not _NOT_STORED:
                        cp = self.cp = verdict
                self.processed += 1
                if self.processed > self.max_insns:
                    raise Reject(pc, f"BPF program is too large. Processed {self.processed - 1}"
                                     f" insn (limit {self.max_insns})")
                self.pc = pc
                self.state = state
                if trace is not None:
                    if popped is not None:
                        trace.append("")
                        trace.append(f"from {popped} to {pc}: {kernel_log.state_text(state)}")
                        trace.append(f"{pc}: {kernel_log.state_text(state)}")
                        popped = None
                    line = kernel_log.insn_line(pc, self.insns[pc], self._helper_name)
                    trace.append(line)           # replaced by the annotated line below
                succ = self._step(pc, state)
                if fast_spec(self.insns[pc].spec).cls in _JMP_CLASSES:
                    self.jmps += 1
                if trace is not None and succ:
                    trace[-1] = kernel_log.annotated(line, self._touched(pc, succ[0][1]))
                if not succ:
                    self._finish(cp)
                    break
                if len(succ) > 1:
                    for extra in succ[1:]:
                        if cp is not None:
                            cp.branches += 1
                        stack.append((extra[0], extra[1], cp, pc,
                                       len(trace) if trace is not None else 0,
                                       dict(self.written)))
                pc, state = succ[0]

    def _live_table(self) -> list[str]:
        """The kernel's level-2 preamble: each function's start and the registers live
        before each instruction (``0123456789``, ``.`` for dead)."""
        lines = [f"func#{i} @{entry}" for i, entry in enumerate(self.cfg.subprogs)]
        lines.append("Live regs before insn:")
        for pc, insn in enumerate(self.insns):
            if insn.spec is None:
                continue                         # the second slot of an lddw
            mask = self.live[pc]
            regs = "".join(str(r) if mask >> r & 1 else "." for r in range(10))
            lines.append(f"{pc:7d}: {regs} ({insn.opcode:02x}) "
                         f"{kernel_log.insn_text(insn, self._helper_name)}")
        return lines

    def _helper_name(self, hid: int) -> str | None:
        proto = self.platform.helper(hid)
        return proto.name if proto is not None else None

    def _touched(self, pc: int, state: State) -> str:
        """The registers (and stack slot) an instruction read or wrote, after it, as the
        kernel annotates each instruction of its log."""
        insn = self.insns[pc]
        spec = fast_spec(insn.spec)
        fmt = spec.fmt
        if fmt == Fmt.EXIT or fmt == Fmt.JA or fmt == Fmt.JA32:
            return ""
        if fmt in (Fmt.CALL_HELPER, Fmt.CALLX):
            regs = {0}
        elif fmt == Fmt.CALL_LOCAL:
            return ""
        elif fmt == Fmt.LDDW:
            regs = {insn.dst}
        elif fmt in (Fmt.ALU_K, Fmt.ALU_UNARY, Fmt.JMP_K, Fmt.ST):
            regs = {insn.dst}
        else:
            regs = {insn.dst, insn.src}
        text = kernel_log.state_text(state, regs, stack=False)
        if fmt in (Fmt.ST, Fmt.STX, Fmt.ATOMIC) and insn.dst == FRAME_POINTER:
            slot = (insn.off + STACK_SIZE) // 8
            frame = state.cur
            stack = [t for t in kernel_log.stack_slots(frame, len(state.frames) - 1)
                     if t[0] == slot]
            if stack:
                text += " " + stack[0][1]
        return text

    def _live_masks(self, pc: int, state: State) -> list[int]:
        """Per frame, the registers the rest of the path may read: a caller's from the
        instruction its call returns to (r0-r5 come back new)."""
        frames = state.frames
        masks = [self.live[frames[i + 1].callsite + 1] & ~0b111111
                 for i in range(len(frames) - 1)]
        masks.append(self.live[pc])
        return masks

    def _visit(self, pc: int, state: State, cp: _Checkpoint | None):
        """None: pruned; a new checkpoint; or ``_NOT_STORED`` (go on without storing).

        As the kernel's ``is_state_visited``: a state is stored only after at least 2 jumps
        and 8 instructions since the last one stored, and, inside a loop still being
        explored, only after 20 jumps or 100 instructions (loop iterations differ and rarely
        help pruning)."""
        seen = self.explored.setdefault(pc, [])
        since_jmps = self.jmps - self.prev_jmps
        since_insns = self.processed - self.prev_insns
        add = since_jmps >= 2 and since_insns >= 8
        live = self._live_masks(pc, state) if seen else None
        new_fp = None
        for old in seen:
            if old.branches:
                # a state still being explored on this very path: the same state again
                # is a loop that makes no progress (compared exactly, as the kernel does)
                if new_fp is None:
                    new_fp = fingerprint(state, live)
                if old.fp is None:
                    old.fp = fingerprint(old.state, live)
                if old.fp == new_fp:
                    raise Reject(pc, f"infinite loop detected at insn {pc}")
                if since_jmps < 20 and since_insns < 100:
                    add = False
            elif covers(old.state, state, live, old.read):
                # what the rest of the path would read is what old's paths read
                for fi, mask in old.read.items():
                    self._note_read(fi, mask)
                return None
            old.miss += 1
        if not add:
            return _NOT_STORED
        self.prev_jmps, self.prev_insns = self.jmps, self.processed
        new = _Checkpoint(state.copy(), cp, pc)
        new.written, self.written = self.written, {}
        # the kernel's max_states_per_insn: states already there when one is added
        self.max_states_per_insn = max(self.max_states_per_insn, len(seen))
        if len(seen) >= MAX_STATES_PER_INSN:
            seen.remove(max(seen, key=lambda c: c.miss))
            self.stored -= 1
        seen.append(new)
        self.total_states += 1
        self.stored += 1
        self.peak_states = max(self.peak_states, self.stored)
        return new

    @staticmethod
    def _finish(cp: _Checkpoint | None) -> None:
        while cp is not None:
            cp.branches -= 1
            if cp.branches:
                return
            cp = cp.parent

    # --- stack liveness -------------------------------------------------------------------

    def _note_read(self, fi: int, mask: int) -> None:
        """Stack bytes ``mask`` of frame ``fi`` are read: mark them on every checkpoint up
        the path until the segment that wrote them."""
        mask &= ~self.written.get(fi, 0)
        cp = self.cp
        while mask and cp is not None:
            cp.read[fi] = cp.read.get(fi, 0) | mask
            mask &= ~cp.written.get(fi, 0)
            cp = cp.parent

    def _note_write(self, fi: int, mask: int) -> None:
        self.written[fi] = self.written.get(fi, 0) | mask

    # --- helpers --------------------------------------------------------------------------

    def fail(self, reason: str):
        raise Reject(self.pc, reason)

    def read(self, state: State, r: int) -> Reg:
        reg = state.regs[r]
        if reg.type == T.NOT_INIT:
            self.fail(f"R{r} !read_ok")
        return reg

    def write(self, state: State, r: int, reg: Reg) -> None:
        if r == FRAME_POINTER:
            self.fail("frame pointer is read only")
        state.regs[r] = reg

    # --- one instruction ------------------------------------------------------------------

    def _step(self, pc: int, state: State) -> list[tuple[int, State]]:
        insn = self.insns[pc]
        spec = fast_spec(insn.spec)
        fmt = spec.fmt
        cls = spec.cls
        if isinstance(insn, Assume):
            taken, _ = self._branch(state, insn, need_fall=False)
            return [(pc + 1, taken)] if taken is not None else []
        if cls in (Cls.ALU, Cls.ALU64):
            self._alu(state, insn)
            return [(pc + 1, state)]
        if fmt == Fmt.LDDW:
            self._lddw(state, insn)
            return [(pc + 2, state)]
        if cls == Cls.LDX:
            self._ldx(state, insn)
            return [(pc + 1, state)]
        if fmt in (Fmt.ST, Fmt.STX):
            self._store(state, insn)
            return [(pc + 1, state)]
        if fmt == Fmt.ATOMIC:
            self._atomic(state, insn)
            return [(pc + 1, state)]
        if fmt == Fmt.JA:
            return [(pc + 1 + insn.off, state)]
        if fmt == Fmt.JA32:
            return [(pc + 1 + insn.imm, state)]
        if is_cond_jump(insn):
            taken, fall = self._branch(state, insn, need_fall=True)
            out = []
            if fall is not None:
                out.append((pc + 1, fall))
            if taken is not None:
                out.append((pc + 1 + insn.off, taken))
            return out
        if fmt == Fmt.CALL_HELPER:
            self._helper_call(state, insn.imm)
            return [(pc + 1, state)]
        if fmt == Fmt.CALLX:
            target = self.read(state, insn.dst)
            if target.type != T.SCALAR or not target.val.is_const:
                self.fail(f"callx R{insn.dst}: helper function id is not a known constant")
            hid = target.val.umin
            if hid > MASK32 or self.platform.helper(hid) is None:
                self.fail(f"invalid helper function id {isa.sign_extend(hid, 64)} in callx")
            self._helper_call(state, hid)
            return [(pc + 1, state)]
        if fmt == Fmt.CALL_LOCAL:
            return [self._local_call(state, pc, pc + 1 + insn.imm)]
        if fmt == Fmt.EXIT:
            return self._exit(state)
        self.fail(f"unsupported instruction {spec.mnemonic}")

    # --- ALU ------------------------------------------------------------------------------

    def _alu(self, state: State, insn: Insn) -> None:
        spec = fast_spec(insn.spec)
        op = spec.alu_op
        is64 = spec.cls == Cls.ALU64
        dst_r = insn.dst
        if op == AluOp.END or op == AluOp.NEG:
            dst = self.read(state, dst_r)
            if dst.type != T.SCALAR:
                self.fail(f"R{dst_r} {'byte swap' if op == AluOp.END else 'negation'} of "
                          f"pointer {dst.describe()} prohibited")
            val = dst.val.alu(op, Scalar.const(0), is64, insn.off, insn.imm, spec.src_is_reg)
            self.write(state, dst_r, _scalar(val))
            return
        if spec.src_is_reg:
            src = self.read(state, insn.src)
        else:
            imm = insn.imm & MASK64 if is64 else insn.imm & MASK32
            src = _scalar(Scalar.const(isa.sign_extend(insn.imm, 32) if is64 else imm))
        if op == AluOp.MOV:
            if src.type != T.SCALAR:
                if (not is64 or insn.off) and self.privileged:
                    # allow_ptr_leaks: a partial copy of a pointer is an unknown number
                    unknown = Scalar.unknown() if is64 else Scalar.urange(0, MASK32)
                    self.write(state, dst_r, _scalar(unknown))
                    return
                if not is64 or insn.off:
                    self.fail(f"R{insn.src} 32-bit or sign-extending move of pointer "
                              f"{src.describe()} prohibited")
                self.write(state, dst_r, src)
                return
            val = Scalar.const(0).alu(op, src.val, is64, insn.off)
            reg = _scalar(val)
            if spec.src_is_reg and is64 and not insn.off and insn.src != dst_r:
                # link the copies so that a comparison of one narrows both
                if src.id == 0:
                    src = src.with_(id=state.fresh_id())
                    state.regs[insn.src] = src
                reg = reg.with_(id=src.id)
            self.write(state, dst_r, reg)
            return
        dst = self.read(state, dst_r)
        if op in (AluOp.DIV, AluOp.MOD):
            if src.type != T.SCALAR:
                self.fail(f"R{insn.src} pointer {src.describe()} used as divisor")
            if not self.allow_div0:
                sv = src.val if is64 else src.val.low32()
                if sv.umin == 0:
                    what = f"R{insn.src} may be 0" if spec.src_is_reg else "imm is 0"
                    self.fail(f"possible division by zero ({what})")
        if dst.type == T.SCALAR and src.type == T.SCALAR:
            if self.privileged and not self._kernel_tracks(op, is64, src.val):
                # is_safe_to_compute_dst_reg_range: the kernel (6.18) learns nothing from a
                # division, a modulo or a shift by a register
                val = Scalar.unknown() if is64 else Scalar.urange(0, MASK32)
            else:
                val = dst.val.alu(op, src.val, is64, insn.off, insn.imm, spec.src_is_reg)
            self.write(state, dst_r, _scalar(val))
            return
        self.write(state, dst_r, self._ptr_alu(state, insn, op, is64, dst, src))

    @staticmethod
    def _kernel_tracks(op: AluOp, is64: bool, src: Scalar) -> bool:
        if op in (AluOp.DIV, AluOp.MOD):
            return False
        if op in (AluOp.LSH, AluOp.RSH, AluOp.ARSH):
            amount = src if is64 else src.low32()
            return amount.is_const and amount.umin < (64 if is64 else 32)
        return True

    def _check_ptr_offset(self, ptr: Reg, amount: Scalar, r: int) -> None:
        """The kernel's check_reg_sane_offset on the number added to a pointer."""
        name = ptr.describe().split("(")[0]
        limit = 1 << 29                      # BPF_MAX_VAR_OFF
        if amount.is_const:
            v = isa.sign_extend(amount.umin, 64)
            if v >= limit or v <= -limit:
                self.fail(f"math between {name} pointer and {v} is not allowed")
            return
        if amount.smin == -(1 << 63):
            self.fail(f"math between {name} pointer and register with unbounded min value "
                      f"is not allowed")
        if amount.smin >= limit or amount.smin <= -limit:
            self.fail(f"value {amount.smin} makes {name} pointer be out of bounds")

    def _ptr_alu(self, state: State, insn: Insn, op: AluOp, is64: bool, dst: Reg,
                 src: Reg) -> Reg:
        d, s = insn.dst, insn.src
        if op == AluOp.SUB and self.privileged and (not is64 or (dst.is_ptr and src.is_ptr)):
            # the kernel (allow_ptr_leaks) makes any pointer difference, and any 32-bit
            # subtraction involving a pointer, an unknown number
            if not is64 or dst.type != T.SCALAR:
                return _scalar(Scalar.unknown())
        if not is64:
            if op == AluOp.SUB and dst.is_ptr and src.is_ptr:
                # clang -mcpu=v3 computes data_end - data in 32 bits: the low half of the
                # 64-bit distance (the kernel, for root, makes it an unknown number)
                return _scalar(self._ptr_diff(state, d, dst, s, src).low32())
            self.fail(f"R{d} 32-bit pointer arithmetic prohibited")
        if op == AluOp.ADD:
            if dst.type == T.SCALAR:               # scalar + pointer: commute
                dst, src, d, s = src, dst, s, d
            if src.type != T.SCALAR:
                self.fail(f"R{d} pointer += pointer prohibited")
            self._check_arith_ptr(dst, d)
            if self.privileged:
                self._check_ptr_offset(dst, src.val, d)
            return self._moved(state, dst, AluOp.ADD, src.val)
        if op == AluOp.SUB:
            if dst.type == T.SCALAR:
                self.fail(f"R{d} scalar -= pointer {src.describe()} prohibited")
            if src.type == T.SCALAR:
                self._check_arith_ptr(dst, d)
                if self.privileged:
                    self._check_ptr_offset(dst, src.val, d)
                return self._moved(state, dst, AluOp.SUB, src.val)
            return _scalar(self._ptr_diff(state, d, dst, s, src))
        self.fail(f"R{d if dst.is_ptr else s} {op.name.lower()} on pointer prohibited")

    def _moved(self, state: State, ptr: Reg, op: AluOp, amount: Scalar) -> Reg:
        """``ptr op amount``.  A packet pointer moved by a variable amount gets a new id
        (the kernel's): a range later proven for it against data_end holds for every pointer
        with that id, each by its fixed distance (``fixed``) from the shared variable base."""
        val = ptr.val.alu(op, amount, True)
        if ptr.type != T.PACKET:
            if self.privileged and not amount.is_const and op == AluOp.ADD:
                # the kernel keeps the constant part (reg->off) apart from the variable one:
                # its bounds are the plain sums, never narrowed by the known bits of both
                val = _kernel_bounds(val, ptr.val.smin + amount.smin,
                                     ptr.val.smax + amount.smax)
            return ptr.with_(val=val, id=0)
        if amount.is_const:
            c = isa.sign_extend(amount.umin, 64)
            step = c if op == AluOp.ADD else -c
            return ptr.with_(val=val, fixed=ptr.fixed + step if ptr.id else 0)
        # something variable was added: the kernel forgets the pointer's proven range
        return ptr.with_(val=val, id=state.fresh_id(), fixed=0, range=0)

    def _check_arith_ptr(self, ptr: Reg, r: int) -> None:
        if ptr.type not in _ARITH_PTRS:
            self.fail(f"R{r} pointer arithmetic on {ptr.type.value} prohibited")
        if ptr.type == T.PACKET and ptr.base == PKT_END and self.privileged:
            self.fail(f"R{r} pointer arithmetic on pkt_end prohibited")
        if ptr.alloc:
            self.fail(f"R{r} pointer arithmetic on ringbuf memory prohibited")

    def _same_region(self, a: Reg, b: Reg) -> bool:
        if a.type != b.type:
            return False
        if a.type == T.STACK:
            return a.frame == b.frame
        if a.type == T.MAP_VALUE:
            return a.map is b.map and a.id == b.id == 0 and a.map is not None \
                and _single_entry(a.map)
        if a.type == T.CTX or a.type == T.PACKET:
            return True
        return False

    def _ptr_diff(self, state: State, d: int, a: Reg, s: int, b: Reg) -> Scalar:
        if not self._same_region(a, b):
            self.fail(f"R{d} -= R{s}: cannot subtract pointers to different regions "
                      f"({a.describe()} and {b.describe()})")
        self._check_lower_bound(state, d, a)
        self._check_lower_bound(state, s, b)
        diff = a.val.alu(AluOp.SUB, b.val, True)
        if a.type == T.PACKET and a.base != b.base:
            extra = self._base_distance(state, a.base, b.base)
            diff = diff.alu(AluOp.ADD, extra, True)
        return diff

    def _base_distance(self, state: State, x: str, y: str) -> Scalar:
        """The address of base ``x`` minus that of base ``y``, as an interval."""
        pos = {PKT_META: (-1, 0), PKT_DATA: (0, 0), PKT_END: (0, 1)}
        # address(base) = data + a*meta_len + b*pkt_len with (a, b) from pos
        (ax, bx), (ay, by) = pos[x], pos[y]
        ca, cb = ax - ay, bx - by
        lo = hi = 0
        for c, (mlo, mhi) in ((ca, state.meta_len), (cb, state.pkt_len)):
            if c > 0:
                lo, hi = lo + c * mlo, hi + c * mhi
            elif c < 0:
                lo, hi = lo + c * mhi, hi + c * mlo
        return Scalar.srange(lo, hi)

    def _check_lower_bound(self, state: State, r: int, reg: Reg) -> None:
        """A pointer compared or subtracted must not lie below its region (as PREVAIL asks)."""
        lo = reg.val.smin
        if reg.type == T.STACK and (lo < -STACK_SIZE or not state.stack_floor_known):
            self.fail(f"R{r} stack pointer offset {_rng(lo, reg.val.smax)} may lie below "
                      f"the stack frame")
        if reg.type == T.PACKET:
            bound = {PKT_META: 0, PKT_DATA: -state.meta_len[0],
                     PKT_END: -state.pkt_len[0] - state.meta_len[0]}[reg.base]
            if lo < bound:
                self.fail(f"R{r} packet pointer offset {lo} may lie below data_meta")
        if reg.type in (T.MAP_VALUE, T.MEM, T.CTX) and lo < 0:
            self.fail(f"R{r} pointer offset {lo} is below its region")

    # --- lddw -----------------------------------------------------------------------------

    def _lddw(self, state: State, insn: Insn) -> None:
        src = insn.src
        if src == Pseudo.IMM64:
            self.write(state, insn.dst, _scalar(Scalar.const(insn.imm64)))
            return
        fd = isa.sign_extend(insn.imm64, 32)
        m = lookup_map(self.maps, fd, by_index=src in (Pseudo.MAP_IDX, Pseudo.MAP_IDX_VALUE))
        if src in (Pseudo.MAP_FD, Pseudo.MAP_IDX):
            self.write(state, insn.dst, Reg(T.MAP_PTR, _zero(), map=m))
            return
        off = (insn.imm64 >> 32) & MASK32
        self.write(state, insn.dst, Reg(T.MAP_VALUE, Scalar.const(off), map=m,
                                        readonly=_readonly(m)))

    # --- memory ---------------------------------------------------------------------------

    def _ldx(self, state: State, insn: Insn) -> None:
        spec = fast_spec(insn.spec)
        n = SIZE_BYTES[spec.size]
        ptr = self.read(state, insn.src)
        reg = self.access(state, insn.src, ptr, insn.off, n, "read")
        if spec.mode == Mode.MEMSX and reg.type == T.SCALAR:
            reg = _scalar(reg.val.low_bits(8 * n).sext(8 * n))
        self.write(state, insn.dst, reg)

    def _store(self, state: State, insn: Insn) -> None:
        n = SIZE_BYTES[fast_spec(insn.spec).size]
        ptr = self.read(state, insn.dst)
        if fast_spec(insn.spec).fmt == Fmt.STX:
            value = self.read(state, insn.src)
            vr = insn.src
        else:
            value = _scalar(Scalar.const(isa.sign_extend(insn.imm, 32)))
            vr = None
        self.access(state, insn.dst, ptr, insn.off, n, "write", value, vr)

    def _atomic(self, state: State, insn: Insn) -> None:
        n = SIZE_BYTES[fast_spec(insn.spec).size]
        ptr = self.read(state, insn.dst)
        value = self.read(state, insn.src)
        aop = insn.imm
        if value.type != T.SCALAR:
            self.fail(f"R{insn.src} leaks addr into mem")
        if ptr.type not in (T.STACK, T.MAP_VALUE, T.MEM):
            self.fail(f"BPF_ATOMIC stores into R{insn.dst} {ptr.describe()} is not allowed")
        if aop == AtomicOp.CMPXCHG:
            r0 = self.read(state, 0)
            if r0.type != T.SCALAR:
                self.fail("R0 leaks addr into mem")
        old = self.access(state, insn.dst, ptr, insn.off, n, "read")
        if old.type != T.SCALAR:
            self.fail(f"atomic operation on a spilled pointer at R{insn.dst}")
        self.access(state, insn.dst, ptr, insn.off, n, "write",
                    _scalar(_unknown_bytes(n)), None)
        if aop & isa.ATOMIC_FETCH:
            result = _scalar(old.val if n == 8 else old.val.low32())
            if aop == AtomicOp.CMPXCHG:
                self.write(state, 0, result)
            else:
                self.write(state, insn.src, result)

    def access(self, state: State, r: int, ptr: Reg, off: int, n: int, kind: str,
               value: Reg | None = None, vr: int | None = None) -> Reg | None:
        """Check a load (``kind='read'``) or store of ``n`` bytes at ``ptr + off``; give the
        loaded value, or apply the store."""
        t = ptr.type
        if t == T.SCALAR:
            self.fail(f"R{r} invalid mem access 'scalar'")
        if t in OR_NULL:
            self.fail(f"R{r} invalid mem access '{t.value}' (check it against NULL first)")
        if t not in _MEM_TYPES:
            self.fail(f"R{r} invalid mem access '{t.value}'")
        if kind == "write" and value.type != T.SCALAR and t != T.STACK and (
                not self.privileged or t == T.CTX):
            self.fail(f"R{vr} leaks addr into {t.value}: only numbers may be stored outside "
                      f"the stack")
        o = ptr.val.alu(AluOp.ADD, Scalar.const(off & MASK64), True)
        if self.privileged and not o.is_const:
            o = _kernel_bounds(o, ptr.val.smin + off, ptr.val.smax + off)
        lo, hi = o.smin, o.smax
        if t == T.STACK:
            return self._stack_access(state, r, ptr, o, n, kind, value, vr)
        if t == T.CTX:
            return self._ctx_access(r, o, n, kind, value)
        if t == T.PACKET:
            self._packet_bounds(state, r, ptr, lo, hi, n, kind)
            return _scalar(_unknown_bytes(n)) if kind == "read" else None
        if self.privileged and t in (T.MAP_VALUE, T.MEM) and not ptr.val.is_const:
            # check_mem_region_access: a variable offset needs a signed floor and an
            # unsigned bound below BPF_MAX_VAR_OFF (an offset in [-1, 0] has neither)
            if lo < 0:
                self.fail(f"R{r} min value is negative, either use unsigned index or do a if "
                          f"(index >=0) check.")
            if ptr.val.umax >= 1 << 29:
                self.fail(f"R{r} unbounded memory access, make sure to bounds check any such "
                          f"access")
        if t == T.MAP_VALUE:
            size = ptr.map.value_size if ptr.map is not None else 0
            if lo < 0 or hi + n > size:
                self.fail(f"invalid access to map value, value_size={size} off={_rng(lo, hi)}"
                          f" size={n}")
            if kind == "write" and ptr.readonly:
                self.fail(f"write into map forbidden, value_size={size} off={_rng(lo, hi)}"
                          f" size={n} (read-only map)")
            return _scalar(_unknown_bytes(n)) if kind == "read" else None
        if t == T.MEM:
            if lo < 0 or hi + n > ptr.size:
                self.fail(f"invalid access to memory, mem_size={ptr.size} off={_rng(lo, hi)}"
                          f" size={n}")
            if kind == "write" and ptr.readonly:
                self.fail(f"R{r} cannot write into read-only memory")
            return _scalar(_unknown_bytes(n)) if kind == "read" else None
        if t == T.SOCKET:
            if kind != "read":
                self.fail(f"R{r} cannot write into {t.value}")
            if not o.is_const or not (any(f <= lo and lo + n <= f + s
                                          for f, s in SOCK_COMMON_FIELDS)
                                      or (lo, n) in SOCK_COMMON_WHOLE):
                self.fail(f"R{r} invalid {t.value} access off={_rng(lo, hi)} size={n}")
            return _scalar(_unknown_bytes(n))
        self.fail(f"R{r} invalid mem access '{t.value}'")

    def _packet_bounds(self, state: State, r: int, ptr: Reg, lo: int, hi: int, n: int,
                       kind: str) -> None:
        if self.privileged:
            return self._packet_bounds_kernel(r, ptr, lo, n)
        mlo = state.meta_len[0]
        plo = state.pkt_len[0]
        if ptr.base == PKT_DATA:
            low_ok, high = lo >= -mlo, hi + n <= plo
            if ptr.id and not high:
                # proven for this pointer's variable base V: V + range <= data_end, and the
                # access covers V + fixed + off .. + n
                off = lo - ptr.val.smin
                high = ptr.fixed + off + n <= state.pkt_ranges.get(ptr.id, 0)
        elif ptr.base == PKT_META:
            low_ok, high = lo >= 0, hi + n <= mlo
        else:   # END: data_end + o must stay inside [data_meta, data_end)
            low_ok, high = lo >= -plo - mlo, hi + n <= 0
        if not low_ok or not high:
            name = {PKT_DATA: "packet", PKT_META: "packet metadata", PKT_END: "packet end"}
            self.fail(f"invalid access to {name[ptr.base]}, off={_rng(lo, hi)} size={n}, "
                      f"R{r} proven range: data_end - data >= {plo}, data - data_meta >= {mlo}")

    def _packet_bounds_kernel(self, r: int, ptr: Reg, lo: int, n: int) -> None:
        """``check_packet_access``: the access's constant offset (the pointer's and the
        instruction's) plus its size within the range proven for this very pointer."""
        if ptr.base == PKT_END:
            self.fail(f"R{r} invalid mem access 'pkt_end'")
        if ptr.val.smin < 0 and ptr.id:
            self.fail(f"R{r} min value is negative, either use unsigned index or "
                      f"'if (index >=0)' check.")
        insn_off = lo - ptr.val.smin
        base_off = ptr.fixed if ptr.id else ptr.val.smin
        off = base_off + insn_off
        if off < 0 or off + n > ptr.range:
            what = "packet" if ptr.base == PKT_DATA else "packet metadata"
            self.fail(f"invalid access to {what}, off={off} size={n}, R{r}(id={ptr.id},"
                      f"off={base_off},r={ptr.range})")

    def _ctx_access(self, r: int, o: Scalar, n: int, kind: str, value: Reg | None) -> Reg | None:
        layout = self.context
        if layout is None:
            self.fail(f"R{r} no context for this program type")
        if not o.is_const:
            self.fail(f"dereference of modified ctx ptr R{r} off={_rng(o.smin, o.smax)} "
                      f"disallowed")
        a = o.smin
        if a < 0 or a + n > layout.size:
            self.fail(f"invalid bpf_context access off={a} size={n}")
        for f in layout.fields:
            overlap = a < f.offset + f.size and f.offset < a + n
            if not overlap:
                continue
            if f.name == "egress_ifindex" and self.program_type == "xdp":
                # Ref: net/core/filter.c xdp_is_valid_access: only a program attached to a
                # devmap entry (BPF_XDP_DEVMAP) may read it; we load no such programs
                self.fail(f"invalid bpf_context access off={a} size={n}")
            if f.kind != "scalar":
                if kind != "read":
                    self.fail(f"invalid bpf_context access off={a} size={n}: cannot write to "
                              f"context pointer field {layout.name}.{f.name}")
                if a != f.offset or n not in (f.size, 8) or n > f.size and any(
                        g is not f and a < g.offset + g.size and g.offset < a + n
                        for g in layout.fields):
                    self.fail(f"invalid bpf_context access off={a} size={n}: pointer field "
                              f"{layout.name}.{f.name} must be read whole")
                base = {"packet": PKT_DATA, "packet_end": PKT_END, "packet_meta": PKT_META}
                return Reg(T.PACKET, _zero(), base=base[f.kind])
            if layout.exact_fields:
                if a != f.offset or n != f.size:
                    self.fail(f"invalid bpf_context access off={a} size={n}: "
                              f"{layout.name}.{f.name} is {f.size} bytes at {f.offset}")
                if kind != "read" and not f.writable:
                    self.fail(f"invalid bpf_context access off={a} size={n}: "
                              f"{layout.name}.{f.name} is read-only")
        if layout.exact_fields and not any(f.offset == a for f in layout.fields):
            self.fail(f"invalid bpf_context access off={a} size={n}")
        return _scalar(_unknown_bytes(n)) if kind == "read" else None

    def _stack_access(self, state: State, r: int, ptr: Reg, o: Scalar, n: int, kind: str,
                      value: Reg | None, vr: int | None) -> Reg | None:
        frame = state.frames[ptr.frame] if ptr.frame < len(state.frames) else None
        if frame is None:
            self.fail(f"R{r} points into a stack frame that no longer exists")
        lo, hi = o.smin, o.smax
        if self.privileged and n > 1 and (o.value | o.mask) & (n - 1):
            # check_ptr_alignment: stack accesses are always strictly aligned
            self.fail(f"misaligned stack access off {_rng(lo, hi)} size {n}")
        if lo < -STACK_SIZE or hi + n > 0 or (kind != "read" and not state.stack_floor_known):
            what = "read from" if kind == "read" else "write to"
            if lo != hi and self.privileged:
                what = "variable-offset " + what      # the kernel's words
            self.fail(f"invalid {what} stack R{r} off={_rng(lo, hi)} size={n}")
        span = _bytes(lo, hi + n)
        if kind == "read":
            self._note_read(ptr.frame, span)
            return self._stack_read(frame, r, lo, hi, n)
        if lo == hi:
            self._note_write(ptr.frame, span)
        else:
            self._note_read(ptr.frame, span)     # a byte may keep what it held
        self._stack_write(frame, lo, hi, n, value)
        return None

    def _stack_read(self, frame: Frame, r: int, lo: int, hi: int, n: int) -> Reg:
        base = STACK_SIZE
        if lo == hi:
            i = lo + base
            if n == 8 and i % 8 == 0 and frame.stack[i] == Byte.SPILL:
                return frame.spills[i // 8]
            narrow = frame.narrow.get(i)
            if narrow is not None and narrow[0] == n:
                if (self.privileged and i % 8 and not (narrow[1].is_const
                                                       and narrow[1].umin == 0)):
                    # the kernel keeps a narrow spill only at the start of an 8-byte slot
                    # (elsewhere the bytes are STACK_MISC, or STACK_ZERO for a zero)
                    return _scalar(_unknown_bytes(n))
                return _scalar(narrow[1])
            slot = i // 8
            if all(frame.stack[j] == Byte.SPILL for j in range(i, i + n)) and \
                    (i + n - 1) // 8 == slot:
                spilled = frame.spills[slot]
                if spilled.type != T.SCALAR:
                    self.fail(f"invalid size of register fill: {n} bytes at fp{lo} of a "
                              f"spilled {spilled.describe()}")
                if spilled.val.is_const:
                    shift = 8 * (i - slot * 8)
                    return _scalar(Scalar.const((spilled.val.umin >> shift)
                                                & ((1 << (8 * n)) - 1)))
                return _scalar(_unknown_bytes(n))
        for j in range(lo + base, hi + base + n):
            b = frame.stack[j]
            if b == Byte.INVALID and not self.privileged:
                self.fail(f"invalid read from stack R{r} off={_rng(lo, hi)} size={n}: "
                          f"fp{j - base} is not initialized")
            if b == Byte.POISON or (b == Byte.SPILL and frame.spills[j // 8].type != T.SCALAR):
                self.fail(f"invalid read from stack R{r} off={_rng(lo, hi)} size={n}: "
                          f"fp{j - base} holds part of a pointer")
        return _scalar(_unknown_bytes(n))

    def _stack_write(self, frame: Frame, lo: int, hi: int, n: int, value: Reg) -> None:
        base = STACK_SIZE
        i = lo + base
        if frame.narrow:
            # any store over a narrow spilled number makes it stale
            for k in [k for k, (m, _) in frame.narrow.items()
                      if k < hi + base + n and lo + base < k + m]:
                del frame.narrow[k]
        if lo == hi and n == 8 and i % 8 == 0:
            frame.spills[i // 8] = value
            frame.stack[i:i + 8] = bytes([Byte.SPILL]) * 8
            return
        exact = lo == hi
        new = Byte.MISC if value.type == T.SCALAR else Byte.POISON
        start, end = lo + base, hi + base + n
        # break the spilled slots this store touches
        for slot in range(start // 8, (end - 1) // 8 + 1):
            if slot in frame.spills:
                old = frame.spills.pop(slot)
                # the kernel (allow_ptr_leaks) scrubs the slot to STACK_MISC whatever it
                # held; else the bytes of a pointer stay unreadable
                rest = Byte.MISC if old.type == T.SCALAR or self.privileged else Byte.POISON
                for j in range(slot * 8, slot * 8 + 8):
                    frame.stack[j] = rest
        if exact and n < 8 and i % n == 0 and value.type == T.SCALAR:
            # a narrow spill of a number (clang's 32-bit spills): keep its value
            frame.narrow[i] = (n, value.val.low_bits(8 * n))
        for j in range(start, end):
            if exact:
                frame.stack[j] = new
            else:
                # a variable-offset store may or may not write each byte
                cur = frame.stack[j]
                if new == Byte.POISON and cur != Byte.INVALID:
                    frame.stack[j] = Byte.POISON

    # --- branches -------------------------------------------------------------------------

    def _branch(self, state: State, insn: Insn, need_fall: bool):
        """(taken state, fall-through state), each None when that edge cannot be taken."""
        spec = fast_spec(insn.spec)
        op = spec.jmp_op
        is64 = spec.cls == Cls.JMP
        a = self.read(state, insn.dst)
        if spec.src_is_reg:
            b = self.read(state, insn.src)
        else:
            b = _scalar(Scalar.const(isa.sign_extend(insn.imm, 32)) if is64
                        else Scalar.const(insn.imm & MASK32))
        if a.type == T.SCALAR and b.type == T.SCALAR:
            return self._branch_scalars(state, insn, op, is64, a, b)
        return self._branch_ptrs(state, insn, op, is64, a, b)

    def _branch_scalars(self, state, insn, op, is64, a, b):
        out = []
        for taken in (True, False):
            r = _cond(op, is64, a.val, b.val, taken)
            if r is None:
                out.append(None)
                continue
            st = state.copy() if taken else state
            new_a = r[0]
            if (self.privileged and op == JmpOp.JSET and not taken and b.val.is_const
                    and not a.val.is_const):
                # regs_refine_cond_op: "forget the ranges before narrowing tnums": the
                # kernel keeps only the known bits of a value that has none of imm's bits
                bits = b.val.umin if is64 else b.val.umin & MASK32
                new_a = Scalar.make(a.val.value & ~bits, a.val.mask & ~bits) or new_a
            elif (self.privileged and is64 and op in _UNSIGNED_ORDER and b.val.is_const
                  and not a.val.is_const):
                # an unsigned bound that leaves the value non-negative becomes its signed
                # range too, replacing a tighter signed bound (what Linux 6.18 does, seen
                # in its logs: s< 16 then <= 16 gives [0, 16])
                unsigned = refine(op, Scalar.make(a.val.value, a.val.mask, a.val.umin,
                                                  a.val.umax), b.val, taken)
                if unsigned is not None and unsigned[0].umax < 1 << 63:
                    new_a = unsigned[0]
            self._set_scalar(st, insn.dst, a, new_a)
            if fast_spec(insn.spec).src_is_reg:
                self._set_scalar(st, insn.src, b, r[1])
            out.append(st)
        return out[0], out[1]

    def _set_scalar(self, state: State, r: int, old: Reg, val: Scalar) -> None:
        state.regs[r] = old.with_(val=val)
        if old.id:
            state.replace_where(lambda g: g.type == T.SCALAR and g.id == old.id,
                                lambda g: g.with_(val=val))

    def _branch_ptrs(self, state, insn, op, is64, a, b):
        d, s = insn.dst, (insn.src if fast_spec(insn.spec).src_is_reg else None)
        if self.privileged:
            return self._branch_ptrs_privileged(state, op, is64, a, b)
        bname = f"R{s}" if s is not None else "imm"
        if not is64 or op == JmpOp.JSET:
            self.fail(f"R{d if a.is_ptr else s} pointer comparison prohibited "
                      f"({fast_spec(insn.spec).mnemonic})")
        if a.type == T.SCALAR:
            self.fail(f"R{d} scalar compared with pointer {bname} {b.describe()} prohibited")
        if b.type == T.SCALAR:
            is_zero = b.val.is_const and b.val.umin == 0
            if op in _SIGNED_OPS:
                # an address has no meaningful sign: only a pointer of the same region may
                # be compared signed (PREVAIL refuses this as well)
                self.fail(f"R{d} signed comparison of pointer {a.describe()} with a number "
                          f"prohibited")
            if a.type in (T.MAP_PTR, T.SOCKET):
                self.fail(f"R{d} comparison of {a.type.value} prohibited")
            if a.type not in OR_NULL:
                self._check_lower_bound(state, d, a)
            if a.type in OR_NULL and is_zero and op in (JmpOp.JEQ, JmpOp.JNE):
                null_state = state.copy()
                self._settle_null(null_state, a, null=True)
                self._settle_null(state, a, null=False)
                return (null_state, state) if op == JmpOp.JEQ else (state, null_state)
            if a.type in OR_NULL:
                self.fail(f"R{d} {a.type.value} compared with a value other than 0")
            if b.val.is_const and op in _UNSIGNED_OPS:
                # a pointer that is not maybe-NULL is an address in [1, 2**64): that settles
                # some comparisons with constants (ptr == 0, ptr < 0, ptr > 0, ...)
                nonzero = Scalar.urange(1, MASK64)
                taken = refine(op, nonzero, b.val, True) is not None
                fall = refine(op, nonzero, b.val, False) is not None
                if not taken:
                    return None, state
                if not fall:
                    return state, None
            return state.copy(), state
        # pointer against pointer
        if a.type == b.type == T.MAP_PTR and op in (JmpOp.JEQ, JmpOp.JNE):
            if a.map is not b.map:
                return (None, state) if op == JmpOp.JEQ else (state, None)
            return state.copy(), state
        if a.type in (T.MAP_PTR, T.SOCKET) or b.type in (T.MAP_PTR, T.SOCKET):
            self.fail(f"R{d} comparison of {a.type.value} with {b.type.value} prohibited")
        if a.type in OR_NULL or b.type in OR_NULL:
            self.fail(f"R{d} comparison of maybe-NULL pointers prohibited")
        if a.type != b.type or (a.type == T.STACK and a.frame != b.frame) or \
                (a.type == T.MAP_VALUE and a.map is not b.map):
            self.fail(f"R{d} pointer comparison between different regions "
                      f"({a.describe()} and {b.describe()})")
        self._check_lower_bound(state, d, a)
        self._check_lower_bound(state, s, b)
        # Only pointers known to share a base are narrowed by comparing them: two map values
        # (or two memory blocks) may come from different entries, so their offsets say
        # nothing about each other.  Offsets that could wrap an address are left alone too,
        # since the signed comparison of offsets stands for an unsigned one of addresses.
        if a.type not in (T.PACKET, T.STACK, T.CTX):
            return state.copy(), state
        if max(abs(a.val.smin), abs(a.val.smax), abs(b.val.smin), abs(b.val.smax)) >= 1 << 31:
            return state.copy(), state
        if a.type == T.PACKET and a.base != b.base:
            return self._branch_packet(state, op, a, b)
        sop = _SIGNED_OF.get(op, op)
        out = []
        for taken in (True, False):
            r = refine(sop, a.val, b.val, taken)
            if r is None:
                out.append(None)
                continue
            st = state.copy() if taken else state
            st.regs[d] = a.with_(val=r[0])
            if s is not None:
                st.regs[s] = b.with_(val=r[1])
            out.append(st)
        return out[0], out[1]

    def _branch_ptrs_privileged(self, state, op, is64, a, b):
        """The kernel's ``check_cond_jmp_op`` with ``allow_ptr_leaks``: any pointer may be
        compared with anything; only a NULL check (``== 0``/``!= 0``, 64-bit) settles a
        maybe-NULL pointer, a non-NULL pointer is never 0, and ``try_match_pkt_pointers``
        learns packet ranges from unsigned orderings of packet pointers with different
        bases.  Nothing else is narrowed (``reg_set_min_max`` is for numbers only)."""
        zero = b.type == T.SCALAR and b.val.is_const and b.val.umin == 0
        if is64 and zero and op in (JmpOp.JEQ, JmpOp.JNE) and a.is_ptr:
            if a.type in OR_NULL:
                null_state = state.copy()
                self._settle_null(null_state, a, null=True)
                self._settle_null(state, a, null=False)
                return (null_state, state) if op == JmpOp.JEQ else (state, null_state)
            return (None, state) if op == JmpOp.JEQ else (state, None)
        if (is64 and a.type == b.type == T.PACKET
                and {a.base, b.base} in ({PKT_DATA, PKT_END}, {PKT_META, PKT_DATA})
                and op in (JmpOp.JGT, JmpOp.JGE, JmpOp.JLT, JmpOp.JLE)):
            return self._branch_packet_kernel(state, op, a, b)
        return state.copy(), state

    def _branch_packet_kernel(self, state, op, a, b):
        """``try_match_pkt_pointers``/``find_good_pkt_pointers``: on the edge that shows
        ``p <= data_end`` (or ``p <= data`` for a metadata pointer), every packet pointer
        with p's id may read up to p's offset (one byte more for ``<``).  No edge is ruled
        out and nothing else is learned."""
        if a.base in (PKT_END,) or (a.base == PKT_DATA and b.base == PKT_META):
            a, b = b, a
            op = swap(op)
        out = []
        for taken in (True, False):
            st = state.copy() if taken else state
            if _implies_le(op, taken):
                reach = a.fixed if a.id else a.val.umin
                strict = _implies_lt(op, taken)
                if a.val.smin >= 0 and (reach > 0 or reach == 0 and not strict):
                    reach += strict
                    st.replace_where(
                        lambda g: g.type == T.PACKET and g.base == a.base and g.id == a.id
                        and g.range < reach, lambda g: g.with_(range=reach))
            out.append(st)
        return out[0], out[1]

    def _branch_packet(self, state, op, a, b):
        """Compare packet pointers with different bases: narrows pkt_len or meta_len."""
        sop = _SIGNED_OF.get(op, op)
        if {a.base, b.base} == {PKT_META, PKT_END}:
            return state.copy(), state
        if a.base in (PKT_END,) or (a.base == PKT_DATA and b.base == PKT_META):
            a, b = b, a
            sop = swap(sop)
        # now (a, b) is (data, end) or (meta, data): a op b  <=>  a.off - b.off  op  LEN
        attr = "pkt_len" if b.base == PKT_END else "meta_len"
        x = a.val.alu(AluOp.SUB, b.val, True)
        out = []
        for taken in (True, False):
            lo, hi = getattr(state, attr)
            r = refine(sop, x, Scalar.srange(lo, hi), taken)
            if r is None:
                out.append(None)
                continue
            st = state.copy() if taken else state
            setattr(st, attr, (max(lo, r[1].smin), min(hi, r[1].smax)))
            if (attr == "pkt_len" and a.id and b.val.is_const
                    and _implies_le(sop, taken)):
                # V + fixed <= data_end + c: V + (fixed - c) <= data_end for every pointer
                # sharing a's variable base
                proven = a.fixed - isa.sign_extend(b.val.umin, 64)
                if _implies_lt(sop, taken):
                    proven += 1          # V + fixed < data_end + c: one byte more
                if proven > st.pkt_ranges.get(a.id, 0):
                    st.pkt_ranges = {**st.pkt_ranges, a.id: proven}
            out.append(st)
        return out[0], out[1]

    def _settle_null(self, state: State, reg: Reg, null: bool) -> None:
        rid = reg.id

        def same(g: Reg) -> bool:
            return g.type in OR_NULL and g.id == rid

        if null:
            state.replace_where(same, lambda g: _scalar(_zero()))
        else:
            state.replace_where(same, lambda g: g.with_(
                type=OR_NULL[g.type], id=g.id if g.alloc else 0))

    # --- calls ----------------------------------------------------------------------------

    def _helper_call(self, state: State, hid: int) -> None:
        proto = self.platform.helper(hid)
        regs = state.regs
        the_map = None
        sizes: dict[int, Scalar] = {}
        for i, arg in enumerate(proto.args):
            r = i + 1
            reg = self.read(state, r)
            if arg == Arg.ANYTHING:
                continue
            if arg in (Arg.SCALAR, Arg.CONST_SIZE, Arg.CONST_SIZE_OR_ZERO):
                if reg.type != T.SCALAR:
                    self.fail(f"R{r} type={reg.describe()} expected=scalar "
                              f"({proto.name} arg{r})")
                if arg == Arg.CONST_SIZE and reg.val.umin == 0:
                    self.fail(f"R{r} invalid zero-sized read ({proto.name} arg{r})")
                if arg != Arg.SCALAR and reg.val.umax >= 1 << 29:
                    self.fail(f"R{r} unbounded memory access, use 'var &= const' or "
                              f"'if (var < const)' ({proto.name} arg{r})")
                sizes[r] = reg.val
                continue
            if arg == Arg.CONST_MAP_PTR:
                if reg.type != T.MAP_PTR:
                    self.fail(f"R{r} type={reg.describe()} expected=map_ptr ({proto.name})")
                the_map = reg.map
                mtype = the_map.type if the_map is not None else None
                wildcard = mtype is not None and mtype == self.platform.wildcard_map_type
                if not wildcard and (mtype not in proto.map_types
                                     or mtype not in self.platform.map_types):
                    self.fail(f"cannot pass map_type {mtype} into func {proto.name}#{hid}")
                continue
            if arg == Arg.CTX:
                if reg.type != T.CTX or not (reg.val.is_const and reg.val.umin == 0):
                    self.fail(f"R{r} type={reg.describe()} expected=ctx ({proto.name})")
                continue
            if arg == Arg.ALLOC_MEM:
                if reg.type != T.MEM or not reg.alloc or not (reg.val.is_const
                                                             and reg.val.umin == 0):
                    self.fail(f"R{r} type={reg.describe()} expected=ringbuf memory "
                              f"({proto.name})")
                continue
        # memory arguments, now that sizes and the map are known
        for i, arg in enumerate(proto.args):
            r = i + 1
            reg = regs[r]
            if arg in (Arg.MAP_KEY, Arg.MAP_VALUE):
                if the_map is None:
                    self.fail(f"R{r}: {proto.name} has no map argument before its key")
                n = the_map.key_size if arg == Arg.MAP_KEY else the_map.value_size
                self._helper_mem(state, r, reg, Scalar.const(n), "read", proto.name)
            elif arg in (Arg.MEM, Arg.MEM_OR_NULL, Arg.UNINIT_MEM):
                size = sizes.get(r + 1, Scalar.const(0))
                if arg == Arg.MEM_OR_NULL and reg.type == T.SCALAR and reg.val.is_const \
                        and reg.val.umin == 0:
                    if size.umax != 0:
                        self.fail(f"R{r + 1} size must be 0 with a NULL R{r} ({proto.name})")
                    continue
                kind = "write" if arg == Arg.UNINIT_MEM else "read"
                self._helper_mem(state, r, reg, size, kind, proto.name)
        # effects
        ret = proto.ret
        const_key = None
        if ret == Ret.MAP_VALUE_OR_NULL and the_map is not None and Arg.MAP_KEY in proto.args:
            const_key = self._const_map_key(state, regs[1 + proto.args.index(Arg.MAP_KEY)],
                                            the_map.key_size)
        release_id = regs[1].id if Arg.ALLOC_MEM in proto.args else 0
        for r in range(1, 6):
            regs[r] = NOT_INIT
        if release_id:
            state.replace_where(lambda g: g.alloc and g.id == release_id, lambda g: NOT_INIT)
        if proto.changes_pkt_data:
            # the packet moved: its old pointers are gone and nothing proven about its length
            # (or its metadata's) holds any more
            # (mark_reg_invalid: an unknown number when pointers may leak, else unreadable)
            gone = _scalar(Scalar.unknown()) if self.privileged else NOT_INIT
            state.replace_where(lambda g: g.type == T.PACKET, lambda g: gone)
            state.pkt_len = (0, self.platform.max_packet_size)
            state.pkt_ranges = {}
            state.meta_len = (min(0, state.meta_len[0]), self.platform.max_meta_size)
        if ret == Ret.INTEGER:
            regs[0] = _scalar(Scalar.unknown())
        elif ret == Ret.VOID:
            regs[0] = NOT_INIT
        elif ret == Ret.MAP_VALUE_OR_NULL and getattr(the_map, "inner", None) is not None:
            # a map of maps gives the inner map (its template: sizes, type) or NULL
            regs[0] = Reg(T.MAP_PTR_OR_NULL, _zero(), id=state.fresh_id(), map=the_map.inner)
        elif ret == Ret.MAP_VALUE_OR_NULL:
            if the_map is None or (the_map.type not in VALUE_MAPS
                                   and the_map.type != self.platform.wildcard_map_type):
                regs[0] = _scalar(Scalar.unknown())
            elif (const_key is not None and the_map.type in _CONST_KEY_MAPS
                  and 0 <= const_key < the_map.max_entries):
                # a constant key inside an array: the lookup cannot fail (the kernel's
                # can_elide_value_nullness)
                regs[0] = Reg(T.MAP_VALUE, _zero(), map=the_map, readonly=_readonly(the_map))
            else:
                regs[0] = Reg(T.MAP_VALUE_OR_NULL, _zero(), id=state.fresh_id(), map=the_map,
                              readonly=_readonly(the_map))
        elif ret == Ret.SOCKET_OR_NULL:
            regs[0] = Reg(T.SOCKET_OR_NULL, _zero(), id=state.fresh_id(), size=SOCK_SIZE)
        elif ret == Ret.ALLOC_MEM_OR_NULL:
            size = sizes.get(2)
            if size is None or not size.is_const:
                self.fail(f"R2 size of {proto.name} must be a known constant")
            regs[0] = Reg(T.MEM_OR_NULL, _zero(), id=state.fresh_id(), size=size.umin,
                          alloc=True)

    @staticmethod
    def _const_map_key(state: State, key: Reg, size: int) -> int | None:
        """The key a stack pointer points to, when the kernel's ``get_constant_map_key``
        knows it: ``size`` zero bytes, or a spilled number whose spilled bytes from the
        key's first byte to the top of its 8-byte slot are exactly ``size``."""
        if key.type != T.STACK or not key.val.is_const or key.frame >= len(state.frames):
            return None
        frame = state.frames[key.frame]
        i = isa.sign_extend(key.val.umin, 64) + STACK_SIZE
        if not 0 <= i < STACK_SIZE:
            return None
        narrow = frame.narrow.get(i)
        if narrow is not None and narrow[0] == size and narrow[1].is_const:
            if i % 8 == 0:
                return narrow[1].umin
            return 0 if narrow[1].umin == 0 else None
        spilled = frame.spills.get(i // 8)
        if spilled is not None and spilled.type == T.SCALAR and spilled.val.is_const:
            if i % 8 + size == 8:
                return isa.sign_extend(spilled.val.umin, 64)
            if spilled.val.umin == 0 and i % 8 + size <= 8:
                return 0
        return None

    def _helper_mem(self, state: State, r: int, reg: Reg, size: Scalar, kind: str,
                    name: str) -> None:
        if reg.type == T.SCALAR or reg.type in OR_NULL or reg.type not in (
                T.STACK, T.PACKET, T.MAP_VALUE, T.MEM):
            self.fail(f"R{r} type={reg.describe()} expected=fp, pkt, map_value or mem "
                      f"({name})")
        if size.umax == 0:
            return
        if reg.type == T.STACK:
            frame = state.frames[reg.frame]
            o = reg.val
            lo, hi = o.smin, o.smax + size.umax
            if lo < -STACK_SIZE or hi > 0:
                self.fail(f"invalid indirect access to stack R{r} off={_rng(o.smin, o.smax)}"
                          f" size={size.umax} ({name})")
            if kind == "read":
                self._note_read(reg.frame, _bytes(lo, hi))
                for j in range(lo + STACK_SIZE, hi + STACK_SIZE):
                    b = frame.stack[j]
                    if b == Byte.INVALID and not self.privileged:
                        self.fail(f"invalid indirect read from stack R{r} off="
                                  f"{_rng(o.smin, o.smax)} size={size.umax}: fp{j - STACK_SIZE}"
                                  f" is not initialized ({name})")
                    if b == Byte.POISON or (b == Byte.SPILL
                                            and frame.spills[j // 8].type != T.SCALAR):
                        self.fail(f"invalid indirect read from stack R{r} off="
                                  f"{_rng(o.smin, o.smax)} size={size.umax}: fp{j - STACK_SIZE}"
                                  f" holds part of a pointer ({name})")
            else:
                # the helper may write the whole buffer; only the bytes it surely writes
                # (the smallest size, at a known offset) become initialized
                if o.smin == o.smax:
                    self._note_write(reg.frame, _bytes(lo, hi))
                else:
                    self._note_read(reg.frame, _bytes(lo, hi))
                self._stack_write(frame, o.smin, o.smax, size.umax, _scalar(Scalar.unknown()))
                if o.smin == o.smax and size.umin < size.umax:
                    for j in range(o.smin + size.umin + STACK_SIZE,
                                   o.smin + size.umax + STACK_SIZE):
                        frame.stack[j] = Byte.INVALID
            return
        # other regions: a bounds check over the whole range
        probe = reg.with_(val=reg.val)
        n = size.umax
        saved = self.pc
        try:
            self.access(state, r, probe, 0, 1, "read")
            self.access(state, r, probe.with_(val=reg.val.alu(AluOp.ADD, Scalar.const(n - 1),
                                                               True)), 0, 1, "read")
        finally:
            self.pc = saved
        if kind == "write" and getattr(reg, "readonly", False):
            self.fail(f"R{r} points to read-only memory ({name})")

    def _local_call(self, state: State, pc: int, target: int) -> tuple[int, State]:
        if len(state.frames) >= MAX_CALL_DEPTH:
            self.fail(f"the call stack of {len(state.frames) + 1} frames is too deep")
        if any(f.entry == target for f in state.frames):
            self.fail(f"recursive call from insn {pc} to {target}")
        caller = state.cur
        callee = Frame.new(pc, target)
        for r in range(1, 6):
            callee.regs[r] = caller.regs[r]
        callee.regs[FRAME_POINTER] = Reg(T.STACK, _zero(), frame=len(state.frames))
        # the new frame's bytes owe nothing to what came before the call
        self._note_write(len(state.frames), _ALL_BYTES)
        for r in range(0, 6):
            caller.regs[r] = NOT_INIT if r else caller.regs[0]
        state.frames.append(callee)
        return target, state

    def _exit(self, state: State) -> list[tuple[int, State]]:
        if len(state.frames) > 1:
            # a function may return nothing: the caller's r0 is then uninitialized (as in
            # kernels where prepare_func_exit runs before the R0 check)
            r0 = state.regs[0]
        else:
            r0 = self.read(state, 0)
        if len(state.frames) == 1:
            if self.program_type in self.platform.return_scalar and r0.type != T.SCALAR:
                self.fail(f"At program exit the register R0 is not a known value "
                          f"({r0.describe()}): {self.program_type} programs return a number")
            return []
        depth = len(state.frames) - 1
        if r0.type == T.STACK and r0.frame == depth:
            self.fail("cannot return stack pointer to the caller")
        callee = state.frames.pop()
        self.written.pop(depth, None)
        caller = state.cur
        caller.regs[0] = r0
        for r in range(1, 6):
            caller.regs[r] = NOT_INIT
        # nothing may keep pointing into the frame that is gone
        state.replace_where(lambda g: g.type == T.STACK and g.frame >= depth,
                            lambda g: NOT_INIT)
        return [(callee.callsite + 1, state)]


def _implies_lt(op: JmpOp, taken: bool) -> bool:
    """Whether the edge of ``a op b`` shows ``a < b``."""
    if taken:
        return op in (JmpOp.JLT, JmpOp.JSLT)
    return op in (JmpOp.JGE, JmpOp.JSGE)


def _implies_le(op: JmpOp, taken: bool) -> bool:
    """Whether the edge of ``a op b`` shows ``a <= b``."""
    if taken:
        return op in (JmpOp.JLE, JmpOp.JLT, JmpOp.JSLE, JmpOp.JSLT, JmpOp.JEQ)
    return op in (JmpOp.JGT, JmpOp.JGE, JmpOp.JSGT, JmpOp.JSGE, JmpOp.JNE)


def _cond(op: JmpOp, is64: bool, a: Scalar, b: Scalar, taken: bool):
    if is64:
        return refine(op, a, b, taken)
    signed = op in _SIGNED_OPS
    a32, b32 = a.low32(), b.low32()
    if signed:
        r = refine(op, a32.sext(32), b32.sext(32), taken)
    else:
        r = refine(op, a32, b32, taken)
    if r is None:
        return None
    na, nb = _merge32(a, r[0], signed), _merge32(b, r[1], signed)
    if na is None or nb is None:
        return None          # no 64-bit value has such a low half: the edge is dead
    return na, nb


def _merge32(full: Scalar, part: Scalar, signed: bool) -> Scalar | None:
    """``full`` narrowed by what a 32-bit comparison learned about its low half; None when
    no value of ``full`` has such a low half."""
    low = part.low32()
    hi_unknown = MASK64 ^ MASK32
    m = _meet(full, Scalar.make(low.value & MASK32, (low.mask & MASK32) | hi_unknown))
    if m is None:
        return None
    if m.umax <= MASK32:
        m = _meet(m, low)
    elif -(1 << 31) <= m.smin and m.smax < (1 << 31):
        # the value is its low half sign-extended: what the comparison learned of the low
        # half, read as signed, bounds it
        m = _meet(m, part if signed else part.sext(32))
    return m


_ALL_BYTES = (1 << STACK_SIZE) - 1


def _kernel_bounds(val: Scalar, smin: int, smax: int) -> Scalar:
    """``val`` with its signed range widened to [smin, smax] (never narrowed): a pointer
    offset as the kernel bounds it."""
    if smin < -(1 << 63) or smax >= 1 << 63:
        return val
    return Scalar(val.value, val.mask, val.umin, val.umax, min(val.smin, smin),
                  max(val.smax, smax))


def _bytes(lo: int, end: int) -> int:
    """Bit mask of stack bytes at offsets [lo, end) from the frame's top."""
    lo, end = max(lo, -STACK_SIZE), min(end, 0)
    if end <= lo:
        return 0
    return ((1 << (end - lo)) - 1) << (lo + STACK_SIZE)


def _rng(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"[{lo}, {hi}]"


def _readonly(m) -> bool:
    # Ref: include/uapi/linux/bpf.h BPF_F_RDONLY_PROG
    return bool(getattr(m, "flags", 0) & (1 << 7))


def _single_entry(m) -> bool:
    return getattr(m, "max_entries", 0) == 1
