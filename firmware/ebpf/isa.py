"""The eBPF instruction set, defined once.

Everything that knows about opcodes derives from this module: the assembler and disassembler
(mnemonics and operand formats), the golden model and the hardware (field enums and value
semantics), the verifier (the allow-list and reserved-field checks) and the hardware decoder
(the table of legal opcodes).

Ref: RFC 9669, "BPF Instruction Set Architecture (ISA)", sections 3-5.
Ref: Linux include/uapi/linux/bpf.h and kernel/bpf/core.c (semantics where the RFC defers).

An instruction is one 64-bit slot: opcode (8 bits), dst_reg (4), src_reg (4), offset (s16),
imm (s32), little-endian.  ``lddw`` takes two slots; the second carries the upper 32 bits of the
immediate in its ``imm`` and zeros elsewhere.  Instruction indices (pc) count slots, as the
kernel's verifier log does.
"""

import enum
import struct
from dataclasses import dataclass, field

__all__ = [
    "Cls", "Src", "Size", "Mode", "AluOp", "JmpOp", "AtomicOp", "Pseudo", "CallKind", "Fmt",
    "Insn", "OpSpec", "OPCODES", "lookup", "decode_program", "encode_program", "IsaError",
    "SIZE_BYTES", "alu", "jump_taken", "byte_swap", "sign_extend", "MASK64", "MASK32",
    "STACK_SIZE", "MAX_CALL_DEPTH", "NUM_REGS", "FRAME_POINTER",
]

MASK32 = (1 << 32) - 1
MASK64 = (1 << 64) - 1

NUM_REGS = 11
FRAME_POINTER = 10
# Ref: Linux include/linux/filter.h MAX_BPF_STACK; kernel/bpf/verifier.c MAX_CALL_FRAMES.
STACK_SIZE = 512
MAX_CALL_DEPTH = 8


class IsaError(ValueError):
    """A malformed instruction or program; the message names the instruction index."""


class Cls(enum.IntEnum):
    """Instruction class: the low three bits of the opcode."""
    LD = 0x0
    LDX = 0x1
    ST = 0x2
    STX = 0x3
    ALU = 0x4
    JMP = 0x5
    JMP32 = 0x6
    ALU64 = 0x7


class Src(enum.IntEnum):
    """Source operand for ALU and JMP classes: bit 3 of the opcode."""
    K = 0x00
    X = 0x08


class Size(enum.IntEnum):
    """Access size for load and store classes: bits 3-4 of the opcode."""
    W = 0x00
    H = 0x08
    B = 0x10
    DW = 0x18


SIZE_BYTES = {Size.B: 1, Size.H: 2, Size.W: 4, Size.DW: 8}


class Mode(enum.IntEnum):
    """Addressing mode for load and store classes: bits 5-7 of the opcode."""
    IMM = 0x00
    ABS = 0x20
    IND = 0x40
    MEM = 0x60
    MEMSX = 0x80
    ATOMIC = 0xC0


class AluOp(enum.IntEnum):
    """ALU operation: bits 4-7 of the opcode."""
    ADD = 0x00
    SUB = 0x10
    MUL = 0x20
    DIV = 0x30
    OR = 0x40
    AND = 0x50
    LSH = 0x60
    RSH = 0x70
    NEG = 0x80
    MOD = 0x90
    XOR = 0xA0
    MOV = 0xB0
    ARSH = 0xC0
    END = 0xD0


class JmpOp(enum.IntEnum):
    """Jump operation: bits 4-7 of the opcode."""
    JA = 0x00
    JEQ = 0x10
    JGT = 0x20
    JGE = 0x30
    JSET = 0x40
    JNE = 0x50
    JSGT = 0x60
    JSGE = 0x70
    CALL = 0x80
    EXIT = 0x90
    JLT = 0xA0
    JLE = 0xB0
    JSLT = 0xC0
    JSLE = 0xD0


class AtomicOp(enum.IntEnum):
    """Atomic operation, carried in the imm field of an ATOMIC store."""
    ADD = 0x00
    OR = 0x40
    AND = 0x50
    XOR = 0xA0
    FETCH_ADD = 0x01
    FETCH_OR = 0x41
    FETCH_AND = 0x51
    FETCH_XOR = 0xA1
    XCHG = 0xE1
    CMPXCHG = 0xF1


ATOMIC_FETCH = 0x01


class Pseudo(enum.IntEnum):
    """src_reg of lddw: how the 64-bit immediate is to be read by the loader.

    Ref: Linux include/uapi/linux/bpf.h BPF_PSEUDO_*.
    """
    IMM64 = 0
    MAP_FD = 1
    MAP_VALUE = 2
    BTF_ID = 3
    FUNC = 4
    MAP_IDX = 5
    MAP_IDX_VALUE = 6


class CallKind(enum.IntEnum):
    """src_reg of a JMP|CALL|K instruction. Ref: RFC 9669 section 4.3.1."""
    HELPER = 0
    LOCAL = 1
    KFUNC = 2


class Fmt(enum.Enum):
    """Operand format: how an instruction reads and writes in the assembly syntax."""
    ALU_K = "op %dst, imm"
    ALU_X = "op %dst, %src"
    ALU_UNARY = "op %dst"
    JMP_K = "op %dst, imm, target"
    JMP_X = "op %dst, %src, target"
    JA = "op target"          # target in offset
    # Target in imm (gotol).  Each format's text must differ from every other's: equal values
    # would make this member an enum alias of JA (and JA's reserved fields those of JA32).
    JA32 = "op target32"
    CALL_HELPER = "call imm"
    CALL_LOCAL = "call local target"
    CALL_KFUNC = "call kfunc imm"
    CALLX = "call %dst"
    EXIT = "exit"
    LDDW = "lddw %dst, imm64"
    LD_ABS = "op imm"
    LD_IND = "op %src, imm"
    LDX = "op %dst, [%src+off]"
    ST = "op [%dst+off], imm"
    STX = "op [%dst+off], %src"
    ATOMIC = "lock op [%dst+off], %src"


# Which instruction fields a format leaves unused; the kernel rejects a program that sets
# them ("reserved fields"), and so do our decoder, verifier and hardware.
_UNUSED_FIELDS = {
    Fmt.ALU_K: ("src",),
    Fmt.ALU_X: ("imm",),
    Fmt.ALU_UNARY: ("src", "off", "imm"),
    Fmt.JMP_K: ("src",),
    Fmt.JMP_X: ("imm",),
    Fmt.JA: ("dst", "src", "imm"),
    Fmt.JA32: ("dst", "src", "off"),
    Fmt.CALL_HELPER: ("dst", "off"),
    Fmt.CALL_LOCAL: ("dst", "off"),
    Fmt.CALL_KFUNC: ("dst",),
    Fmt.CALLX: ("src", "off", "imm"),
    Fmt.EXIT: ("dst", "src", "off", "imm"),
    Fmt.LDDW: ("off",),
    Fmt.LD_ABS: ("dst", "src", "off"),
    Fmt.LD_IND: ("dst", "off"),
    Fmt.LDX: ("imm",),
    Fmt.ST: ("src",),
    Fmt.STX: ("imm",),
    Fmt.ATOMIC: (),
}


@dataclass(frozen=True)
class OpSpec:
    """One row of the instruction table.

    ``discriminator`` names the field (``off``, ``imm`` or ``src``) whose value tells apart
    instructions that share an opcode byte (sdiv from div, movsx from mov, the atomics, the
    byte swaps, the call kinds), and ``value`` is the value it must have here.
    """
    opcode: int
    mnemonic: str
    fmt: Fmt
    version: int          # lowest instruction-set version (v1..v4) with this instruction
    group: str            # RFC 9669 conformance group
    discriminator: str | None = None
    value: int | None = None

    @property
    def cls(self) -> Cls:
        return Cls(self.opcode & 0x07)

    @property
    def is64(self) -> bool:
        """Whether the operation is on 64 bits (ALU64, JMP, DW loads/stores/atomics)."""
        if self.cls in (Cls.ALU, Cls.JMP32):
            return False
        if self.cls in (Cls.ALU64, Cls.JMP):
            return True
        return (self.opcode & 0x18) == Size.DW

    @property
    def alu_op(self) -> AluOp:
        return AluOp(self.opcode & 0xF0)

    @property
    def jmp_op(self) -> JmpOp:
        return JmpOp(self.opcode & 0xF0)

    @property
    def size(self) -> Size:
        return Size(self.opcode & 0x18)

    @property
    def mode(self) -> Mode:
        return Mode(self.opcode & 0xE0)

    @property
    def src_is_reg(self) -> bool:
        return bool(self.opcode & Src.X)

    @property
    def unused_fields(self) -> tuple[str, ...]:
        return _UNUSED_FIELDS[self.fmt]


def _build_table() -> list[OpSpec]:
    table: list[OpSpec] = []
    add = table.append
    plain_alu = {
        AluOp.ADD: "add", AluOp.SUB: "sub", AluOp.MUL: "mul", AluOp.DIV: "div",
        AluOp.OR: "or", AluOp.AND: "and", AluOp.LSH: "lsh", AluOp.RSH: "rsh",
        AluOp.MOD: "mod", AluOp.XOR: "xor", AluOp.MOV: "mov", AluOp.ARSH: "arsh",
    }
    for cls, suffix, width_group in ((Cls.ALU64, "", "64"), (Cls.ALU, "32", "32")):
        base = "base64" if cls == Cls.ALU64 else "base32"
        for op, name in plain_alu.items():
            group = f"divmul{width_group}" if op in (AluOp.MUL, AluOp.DIV, AluOp.MOD) else base
            signed_twin = {AluOp.DIV: "sdiv", AluOp.MOD: "smod"}.get(op)
            for src, fmt in ((Src.K, Fmt.ALU_K), (Src.X, Fmt.ALU_X)):
                opcode = cls | src | op
                if signed_twin:
                    add(OpSpec(opcode, name + suffix, fmt, 1, group, "off", 0))
                    add(OpSpec(opcode, signed_twin + suffix, fmt, 4, group, "off", 1))
                elif op == AluOp.MOV and src == Src.X:
                    add(OpSpec(opcode, name + suffix, fmt, 1, group, "off", 0))
                    widths = (8, 16, 32) if cls == Cls.ALU64 else (8, 16)
                    for bits in widths:
                        add(OpSpec(opcode, f"movsx{bits}{64 if cls == Cls.ALU64 else 32}",
                                   fmt, 4, group, "off", bits))
                else:
                    add(OpSpec(opcode, name + suffix, fmt, 1, group, "off", 0))
        add(OpSpec(cls | AluOp.NEG, "neg" + suffix, Fmt.ALU_UNARY, 1, base))
    for bits in (16, 32, 64):
        add(OpSpec(Cls.ALU | Src.K | AluOp.END, f"le{bits}", Fmt.ALU_UNARY, 1, "base32",
                   "imm", bits))
        add(OpSpec(Cls.ALU | Src.X | AluOp.END, f"be{bits}", Fmt.ALU_UNARY, 1, "base32",
                   "imm", bits))
        add(OpSpec(Cls.ALU64 | Src.K | AluOp.END, f"bswap{bits}", Fmt.ALU_UNARY, 4, "base32",
                   "imm", bits))

    conditional = {
        JmpOp.JEQ: ("jeq", 1), JmpOp.JGT: ("jgt", 1), JmpOp.JGE: ("jge", 1),
        JmpOp.JSET: ("jset", 1), JmpOp.JNE: ("jne", 1), JmpOp.JSGT: ("jsgt", 1),
        JmpOp.JSGE: ("jsge", 1), JmpOp.JLT: ("jlt", 2), JmpOp.JLE: ("jle", 2),
        JmpOp.JSLT: ("jslt", 2), JmpOp.JSLE: ("jsle", 2),
    }
    for cls, suffix in ((Cls.JMP, ""), (Cls.JMP32, "32")):
        for op, (name, version) in conditional.items():
            v = 3 if cls == Cls.JMP32 else version
            add(OpSpec(cls | Src.K | op, name + suffix, Fmt.JMP_K, v, "base32"))
            add(OpSpec(cls | Src.X | op, name + suffix, Fmt.JMP_X, v, "base32"))
    add(OpSpec(Cls.JMP | JmpOp.JA, "ja", Fmt.JA, 1, "base32"))
    add(OpSpec(Cls.JMP32 | JmpOp.JA, "ja32", Fmt.JA32, 4, "base32"))
    call = Cls.JMP | Src.K | JmpOp.CALL
    add(OpSpec(call, "call", Fmt.CALL_HELPER, 1, "base32", "src", CallKind.HELPER))
    add(OpSpec(call, "call", Fmt.CALL_LOCAL, 3, "base32", "src", CallKind.LOCAL))
    add(OpSpec(call, "call", Fmt.CALL_KFUNC, 3, "base32", "src", CallKind.KFUNC))
    add(OpSpec(Cls.JMP | Src.X | JmpOp.CALL, "callx", Fmt.CALLX, 3, "callx"))
    add(OpSpec(Cls.JMP | JmpOp.EXIT, "exit", Fmt.EXIT, 1, "base32"))

    for pseudo in Pseudo:
        add(OpSpec(Cls.LD | Size.DW | Mode.IMM, "lddw", Fmt.LDDW, 1, "base64", "src", pseudo))
    size_names = {Size.B: "b", Size.H: "h", Size.W: "w", Size.DW: "dw"}
    for size in (Size.B, Size.H, Size.W):
        add(OpSpec(Cls.LD | size | Mode.ABS, f"ldabs{size_names[size]}", Fmt.LD_ABS, 1, "packet"))
        add(OpSpec(Cls.LD | size | Mode.IND, f"ldind{size_names[size]}", Fmt.LD_IND, 1, "packet"))
    for size, letter in size_names.items():
        group = "base64" if size == Size.DW else "base32"
        add(OpSpec(Cls.LDX | size | Mode.MEM, f"ldx{letter}", Fmt.LDX, 1, group))
        add(OpSpec(Cls.ST | size | Mode.MEM, f"st{letter}", Fmt.ST, 1, group))
        add(OpSpec(Cls.STX | size | Mode.MEM, f"stx{letter}", Fmt.STX, 1, group))
        if size != Size.DW:
            add(OpSpec(Cls.LDX | size | Mode.MEMSX, f"ldxs{letter}", Fmt.LDX, 4, group))
    atomic_names = {
        AtomicOp.ADD: "add", AtomicOp.OR: "or", AtomicOp.AND: "and", AtomicOp.XOR: "xor",
        AtomicOp.FETCH_ADD: "fetch add", AtomicOp.FETCH_OR: "fetch or",
        AtomicOp.FETCH_AND: "fetch and", AtomicOp.FETCH_XOR: "fetch xor",
        AtomicOp.XCHG: "xchg", AtomicOp.CMPXCHG: "cmpxchg",
    }
    for size, suffix, group in ((Size.DW, "", "atomic64"), (Size.W, "32", "atomic32")):
        for aop, name in atomic_names.items():
            version = 1 if aop == AtomicOp.ADD else 3
            add(OpSpec(Cls.STX | size | Mode.ATOMIC, name + suffix, Fmt.ATOMIC, version, group,
                       "imm", aop))
    return table


OPCODES: list[OpSpec] = _build_table()
_BY_OPCODE: dict[int, list[OpSpec]] = {}
for _spec in OPCODES:
    _BY_OPCODE.setdefault(_spec.opcode, []).append(_spec)
del _spec


@dataclass
class Insn:
    """One decoded instruction slot (or, for lddw, the pair: ``imm64`` holds all 64 bits)."""
    opcode: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0
    imm64: int | None = None   # lddw only: the full immediate from both slots
    spec: OpSpec | None = field(default=None, compare=False, repr=False)

    @property
    def slots(self) -> int:
        return 2 if self.imm64 is not None else 1

    def encode(self) -> bytes:
        """The instruction's bytes: 8, or 16 for lddw."""
        imm = self.imm if self.imm64 is None else self.imm64 & MASK32
        first = struct.pack("<BBhi", self.opcode, (self.src << 4) | self.dst, self.off,
                            sign_extend(imm, 32))
        if self.imm64 is None:
            return first
        return first + struct.pack("<BBhi", 0, 0, 0, sign_extend(self.imm64 >> 32, 32))


def lookup(opcode: int, src: int = 0, off: int = 0, imm: int = 0) -> OpSpec | None:
    """The table row for these fields, or None when no instruction has them."""
    fields = {"src": src, "off": off, "imm": imm}
    candidates = _BY_OPCODE.get(opcode, ())
    for spec in candidates:
        if spec.discriminator is None or fields[spec.discriminator] == spec.value:
            return spec
    return None


def reserved_field_error(insn: Insn, spec: OpSpec | None = None) -> str | None:
    """Why the instruction's unused fields make it malformed, or None when they are clear
    (``spec`` is the table row to check against; ``insn.spec`` by default)."""
    spec = spec or insn.spec
    for name in spec.unused_fields:
        if name == spec.discriminator or (name == "imm" and insn.imm64 is not None):
            continue
        value = getattr(insn, name)
        if value != 0:
            return f"reserved field {name}={value} must be 0 for {spec.mnemonic}"
    if max(insn.dst, insn.src) >= NUM_REGS:
        return f"register r{max(insn.dst, insn.src)} does not exist"
    return None


def decode_program(code: bytes, strict: bool = True) -> list[Insn]:
    """Decode raw bytecode into one ``Insn`` per slot.

    An lddw yields its ``Insn`` (with ``imm64``) followed by a filler ``Insn`` of opcode 0 for
    its second slot, so list indices are instruction indices.  With ``strict`` an unknown
    opcode, a set reserved field or a truncated lddw raises ``IsaError`` naming the index.
    """
    if len(code) % 8:
        raise IsaError(f"bytecode length {len(code)} is not a multiple of 8")
    raw = [struct.unpack_from("<BBhi", code, i) for i in range(0, len(code), 8)]
    out: list[Insn] = []
    pc = 0
    while pc < len(raw):
        opcode, regs, off, imm = raw[pc]
        insn = Insn(opcode, regs & 0x0F, regs >> 4, off, imm)
        insn.spec = lookup(opcode, insn.src, off, imm)
        if insn.spec is None:
            if strict:
                raise IsaError(f"instruction {pc}: unknown opcode 0x{opcode:02x}"
                               f" (src={insn.src} off={off} imm={imm})")
            out.append(insn)
            pc += 1
            continue
        if insn.spec.fmt == Fmt.LDDW:
            if strict and (why := reserved_field_error(insn)):
                raise IsaError(f"instruction {pc}: {why}")
            malformed = None
            if pc + 1 >= len(raw):
                malformed = f"instruction {pc}: lddw is missing its second slot"
            elif any(raw[pc + 1][:3]):
                malformed = (f"instruction {pc + 1}: second slot of lddw must have"
                             f" opcode, registers and offset 0")
            if malformed:
                if strict:
                    raise IsaError(malformed)
                # Leniently, the first half stays an undecodable slot (it traps if run, and
                # lists as raw), and the next slot is decoded on its own.
                insn.spec = None
                out.append(insn)
                pc += 1
                continue
            nimm = raw[pc + 1][3]
            insn.imm64 = (imm & MASK32) | ((nimm & MASK32) << 32)
            insn.imm = imm
            out.append(insn)
            out.append(Insn(0, 0, 0, 0, nimm))
            pc += 2
            continue
        if strict and (why := reserved_field_error(insn)):
            raise IsaError(f"instruction {pc}: {why}")
        out.append(insn)
        pc += 1
    return out


def encode_program(insns: list[Insn]) -> bytes:
    """Bytes for a list as ``decode_program`` returns it (lddw filler slots are skipped)."""
    out = bytearray()
    skip = False
    for insn in insns:
        if skip:
            skip = False
            continue
        out += insn.encode()
        skip = insn.imm64 is not None
    return bytes(out)


# --- Value semantics (Linux's): shared by the golden model and the hardware tests. ---

def sign_extend(value: int, bits: int) -> int:
    """``value``'s low ``bits`` as a signed Python int."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def byte_swap(value: int, bits: int) -> int:
    """Reverse the byte order of the low ``bits`` of ``value`` (upper bits cleared)."""
    return int.from_bytes((value & ((1 << bits) - 1)).to_bytes(bits // 8, "little"), "big")


def alu(op: AluOp, is64: bool, dst: int, src: int, off: int = 0, imm: int = 0,
        src_is_reg: bool = True) -> int:
    """The result an ALU instruction writes to dst.

    ``dst`` and ``src`` are the unsigned 64-bit register values (``src`` is the sign-extended
    imm for K forms).  32-bit forms operate on the low halves and zero-extend.  Division by
    zero gives 0 (div) or leaves dst (mod); ``off`` selects the signed forms (sdiv, smod) and
    movsx; ``imm`` is the width for END.  Ref: RFC 9669 section 4.1; Linux kernel/bpf/core.c.
    """
    bits = 64 if is64 else 32
    mask = MASK64 if is64 else MASK32
    a, b = dst & mask, src & mask
    if op == AluOp.ADD:
        r = a + b
    elif op == AluOp.SUB:
        r = a - b
    elif op == AluOp.MUL:
        r = a * b
    elif op == AluOp.DIV:
        if off == 1:
            sa, sb = sign_extend(a, bits), sign_extend(b, bits)
            r = 0 if sb == 0 else _trunc_div(sa, sb)
        else:
            r = 0 if b == 0 else a // b
    elif op == AluOp.MOD:
        if off == 1:
            sa, sb = sign_extend(a, bits), sign_extend(b, bits)
            r = a if sb == 0 else sa - sb * _trunc_div(sa, sb)
        else:
            r = a if b == 0 else a % b
    elif op == AluOp.OR:
        r = a | b
    elif op == AluOp.AND:
        r = a & b
    elif op == AluOp.XOR:
        r = a ^ b
    elif op == AluOp.LSH:
        r = a << (b & (bits - 1))
    elif op == AluOp.RSH:
        r = a >> (b & (bits - 1))
    elif op == AluOp.ARSH:
        r = sign_extend(a, bits) >> (b & (bits - 1))
    elif op == AluOp.NEG:
        r = -a
    elif op == AluOp.MOV:
        r = sign_extend(src, off) if off else src
    elif op == AluOp.END:
        if not is64 and not src_is_reg:   # le: truncate only, the host is little-endian
            return dst & ((1 << imm) - 1)
        return byte_swap(dst, imm)         # be (ALU|X) and bswap (ALU64)
    else:
        raise ValueError(f"not an ALU operation: {op!r}")
    return r & mask


def _trunc_div(a: int, b: int) -> int:
    """Signed division rounding towards zero, as C and the kernel do."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def jump_taken(op: JmpOp, is64: bool, dst: int, src: int) -> bool:
    """Whether a conditional jump is taken. Ref: RFC 9669 section 4.3."""
    bits = 64 if is64 else 32
    mask = MASK64 if is64 else MASK32
    a, b = dst & mask, src & mask
    sa, sb = sign_extend(a, bits), sign_extend(b, bits)
    if op == JmpOp.JEQ:
        return a == b
    if op == JmpOp.JNE:
        return a != b
    if op == JmpOp.JGT:
        return a > b
    if op == JmpOp.JGE:
        return a >= b
    if op == JmpOp.JLT:
        return a < b
    if op == JmpOp.JLE:
        return a <= b
    if op == JmpOp.JSET:
        return bool(a & b)
    if op == JmpOp.JSGT:
        return sa > sb
    if op == JmpOp.JSGE:
        return sa >= sb
    if op == JmpOp.JSLT:
        return sa < sb
    if op == JmpOp.JSLE:
        return sa <= sb
    raise ValueError(f"not a conditional jump: {op!r}")
