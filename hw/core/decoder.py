"""Instruction decoder, generated from the one ISA table (:data:`firmware.ebpf.isa.OPCODES`).

Every row of the table becomes one match term: the opcode byte, the row's discriminator field
(``off``, ``imm`` or ``src``) equal to its value, and every field the row's format leaves unused
equal to zero.  An instruction no term matches is ``illegal``, as are register numbers above
r10 and the forms the golden model refuses (writes to r10, lddw ``BTF_ID``/``FUNC``): the same
rules as ``firmware.ebpf.model._illegal_reason``, so hardware and model trap alike.

Ref: RFC 9669 sections 3-5 (through ``isa``).
"""

from amaranth.hdl import Module, Cat, Const
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out

from firmware.ebpf import isa

__all__ = ["Cls", "Size", "Mode", "AluOp", "JmpOp", "Kind", "DecodedLayout", "Decoder",
           "field_slices"]


def mirror_enum(py_enum: type, shape: int) -> type:
    """An ``amaranth.lib.enum.Enum`` with the same names and values as an ``isa`` IntEnum."""
    namespace = enum.EnumType.__prepare__(py_enum.__name__, (enum.Enum,))
    for member in py_enum:
        namespace[member.name] = member.value
    namespace["__doc__"] = f"Hardware mirror of :class:`firmware.ebpf.isa.{py_enum.__name__}`."
    return enum.EnumType(py_enum.__name__, (enum.Enum,), namespace, shape=shape)


# The field enums carry the opcode bits in place (e.g. AluOp.SUB = 0x10), exactly as isa does.
Cls = mirror_enum(isa.Cls, 3)
Size = mirror_enum(isa.Size, 5)
Mode = mirror_enum(isa.Mode, 8)
AluOp = mirror_enum(isa.AluOp, 8)
JmpOp = mirror_enum(isa.JmpOp, 8)


class Kind(enum.Enum, shape=5):
    """What the execute stage does with an instruction; one per operand format group."""
    ALU = 0          # ALU_K / ALU_X / ALU_UNARY except div and mod
    DIVMOD = 1       # div, mod, sdiv, smod (the multi-cycle divider)
    JCOND = 2        # conditional jumps
    JA = 3           # ja (target in off)
    JA32 = 4         # gotol (target in imm)
    CALL_HELPER = 5
    CALL_LOCAL = 6
    CALL_KFUNC = 7
    CALLX = 8
    EXIT = 9
    LDDW = 10
    LD_PACKET = 11   # legacy ldabs / ldind
    LDX = 12
    ST = 13
    STX = 14
    ATOMIC = 15


_FMT_KIND = {
    isa.Fmt.ALU_K: Kind.ALU, isa.Fmt.ALU_X: Kind.ALU, isa.Fmt.ALU_UNARY: Kind.ALU,
    isa.Fmt.JMP_K: Kind.JCOND, isa.Fmt.JMP_X: Kind.JCOND, isa.Fmt.JA: Kind.JA,
    isa.Fmt.JA32: Kind.JA32, isa.Fmt.CALL_HELPER: Kind.CALL_HELPER,
    isa.Fmt.CALL_LOCAL: Kind.CALL_LOCAL, isa.Fmt.CALL_KFUNC: Kind.CALL_KFUNC,
    isa.Fmt.CALLX: Kind.CALLX, isa.Fmt.EXIT: Kind.EXIT, isa.Fmt.LDDW: Kind.LDDW,
    isa.Fmt.LD_ABS: Kind.LD_PACKET, isa.Fmt.LD_IND: Kind.LD_PACKET, isa.Fmt.LDX: Kind.LDX,
    isa.Fmt.ST: Kind.ST, isa.Fmt.STX: Kind.STX, isa.Fmt.ATOMIC: Kind.ATOMIC,
}

# Formats whose dst register is written (the model traps a write to r10).
_WRITES_DST = {isa.Fmt.ALU_K, isa.Fmt.ALU_X, isa.Fmt.ALU_UNARY, isa.Fmt.LDDW, isa.Fmt.LDX}


def spec_kind(spec: isa.OpSpec) -> Kind:
    """The execute-stage kind of a table row."""
    kind = _FMT_KIND[spec.fmt]
    if kind == Kind.ALU and spec.alu_op in (isa.AluOp.DIV, isa.AluOp.MOD):
        return Kind.DIVMOD
    return kind


def field_slices(insn):
    """The raw fields of a 64-bit instruction slot value: opcode, dst, src, off, imm."""
    return {"opcode": insn[0:8], "dst": insn[8:12], "src": insn[12:16],
            "off": insn[16:32], "imm": insn[32:64]}


DecodedLayout = data.StructLayout({
    "illegal": 1,
    "kind": Kind,
    "cls": Cls,
    "alu_op": AluOp,
    "jmp_op": JmpOp,
    "size": Size,
    "mode": Mode,
    "src_is_reg": 1,
    "is64": 1,
    "dst": 4,
    "src": 4,
    "off": 16,        # raw bits; sign-extend where used
    "imm": 32,        # raw bits; sign-extend where used
    "imm_only": 1,    # opcode, dst, src and off all zero: a valid second slot of lddw
})


class Decoder(wiring.Component):
    """Combinational decoder of one instruction slot.

    Members
    -------
    insn : In(64)
        The instruction slot, little-endian fields as in ``isa``.
    d : Out(DecodedLayout)
        Decoded fields; ``d.illegal`` is set when no row of ``isa.OPCODES`` matches, a
        reserved field is set, a register above r10 is named, r10 would be written, or the
        lddw form is one the target does not offer.
    """

    insn: In(64)
    d: Out(DecodedLayout)

    def elaborate(self, platform):
        m = Module()
        f = field_slices(self.insn)
        opcode = f["opcode"]
        d = self.d
        m.d.comb += [
            d.cls.eq(opcode[0:3]),
            d.alu_op.eq(Cat(Const(0, 4), opcode[4:8])),
            d.jmp_op.eq(Cat(Const(0, 4), opcode[4:8])),
            d.size.eq(Cat(Const(0, 3), opcode[3:5])),
            d.mode.eq(Cat(Const(0, 5), opcode[5:8])),
            d.src_is_reg.eq(opcode[3]),
            d.dst.eq(f["dst"]),
            d.src.eq(f["src"]),
            d.off.eq(f["off"]),
            d.imm.eq(f["imm"]),
            d.imm_only.eq(self.insn[:32] == 0),
        ]

        matches = []
        for spec in isa.OPCODES:
            term = opcode == spec.opcode
            if spec.discriminator is not None:
                width = len(f[spec.discriminator])
                term &= f[spec.discriminator] == (spec.value & ((1 << width) - 1))
            for name in spec.unused_fields:
                if name != spec.discriminator:
                    term &= f[name] == 0
            # Rules beyond the table, mirroring the golden model's _illegal_reason.
            if spec.fmt in _WRITES_DST:
                term &= f["dst"] != isa.FRAME_POINTER
            if spec.fmt == isa.Fmt.ATOMIC and spec.value & isa.ATOMIC_FETCH:
                term &= f["src"] != isa.FRAME_POINTER
            if spec.fmt == isa.Fmt.LDDW and spec.value in (isa.Pseudo.BTF_ID, isa.Pseudo.FUNC):
                continue
            matches.append((spec, term))

        legal = Cat(*[term for _, term in matches]).any()
        regs_ok = (f["dst"] < isa.NUM_REGS) & (f["src"] < isa.NUM_REGS)
        m.d.comb += d.illegal.eq(~(legal & regs_ok))

        # The kind and width come from whichever row matched (rows sharing an opcode byte
        # share both, except div/sdiv-style twins, which share the kind too).
        by_kind: dict = {}
        is64_terms = []
        for spec, term in matches:
            by_kind.setdefault(spec_kind(spec), []).append(term)
            if spec.is64:
                is64_terms.append(term)
        for kind, terms in by_kind.items():
            with m.If(Cat(*terms).any()):
                m.d.comb += d.kind.eq(kind)
        m.d.comb += d.is64.eq(Cat(*is64_terms).any())
        return m
