"""Build ``Insn``s by mnemonic, from the one ISA table (no opcode numbers written here).

The kernel target writes its own prologues and epilogues, and the tests hand-assemble small
programs, so both need instructions without going through text assembly.
"""

from ..ebpf.isa import OPCODES, Fmt, Insn, OpSpec, Pseudo, lookup

__all__ = ["make", "lddw", "spec_for"]

_BY_MNEMONIC: dict[str, list[OpSpec]] = {}
for _spec in OPCODES:
    _BY_MNEMONIC.setdefault(_spec.mnemonic, []).append(_spec)
del _spec

_REG_FORMATS = {Fmt.ALU_X, Fmt.JMP_X}


def spec_for(mnemonic: str, x: bool = False, src: int = 0, atomic: bool = False) -> OpSpec:
    """The table row for ``mnemonic``; ``x`` picks the register-source form (``add r1, r2``
    rather than ``add r1, 5``); ``src`` picks the call kind for ``call``; ``atomic`` the
    atomic ``add``/``or``/``and``/``xor`` (``lock add [r10-8], r1``) over the ALU ones."""
    specs = _BY_MNEMONIC.get(mnemonic)
    if not specs:
        raise ValueError(f"unknown mnemonic {mnemonic!r}")
    specs = [s for s in specs if (s.fmt == Fmt.ATOMIC) == atomic]
    if not specs:
        raise ValueError(f"mnemonic {mnemonic!r} has no {'atomic' if atomic else 'plain'} form")
    if len(specs) > 1:
        specs = [s for s in specs if (s.fmt in _REG_FORMATS) == x] or specs
    if len(specs) > 1:
        specs = [s for s in specs if s.discriminator == "src" and s.value == src] or specs
    if len(specs) != 1:
        raise ValueError(f"mnemonic {mnemonic!r} (x={x}, src={src}) is ambiguous")
    return specs[0]


def make(mnemonic: str, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0, *,
         x: bool = False, atomic: bool = False) -> Insn:
    """One instruction: ``make("add", 1, imm=5)``, ``make("add", 1, 2, x=True)``,
    ``make("jeq", 1, imm=0, off=3)``, ``make("stxdw", 10, 1, off=-8)``, ``make("exit")``,
    ``make("add", 10, 1, off=-8, atomic=True)`` (``lock add [r10-8], r1``).

    The field that tells apart instructions sharing an opcode (``off`` of sdiv/movsx, ``imm``
    of the byte swaps and atomics) is filled in from the table.
    """
    spec = spec_for(mnemonic, x=x, src=src, atomic=atomic)
    fields = {"src": src, "off": off, "imm": imm}
    if spec.discriminator in ("off", "imm"):
        fields[spec.discriminator] = spec.value
    insn = Insn(spec.opcode, dst, fields["src"], fields["off"], fields["imm"])
    insn.spec = lookup(insn.opcode, insn.src, insn.off, insn.imm)
    if insn.spec is not spec:
        raise ValueError(f"{mnemonic!r} with src={src} off={off} imm={imm} decodes as"
                         f" {insn.spec.mnemonic if insn.spec else 'nothing'}")
    return insn


def lddw(dst: int, imm64: int, pseudo: int = Pseudo.IMM64) -> list[Insn]:
    """``lddw dst, imm64`` as its two slots (the instruction and its filler), as
    ``decode_program`` lists them.  For ``MAP_VALUE`` forms ``imm64`` is
    ``fd | offset << 32``."""
    imm64 &= (1 << 64) - 1
    low = imm64 & 0xFFFF_FFFF
    first = Insn(spec_for("lddw").opcode, dst, int(pseudo), 0,
                 low - (1 << 32) if low & 0x8000_0000 else low, imm64)
    first.spec = spec_for("lddw")
    high = imm64 >> 32
    return [first, Insn(0, 0, 0, 0, high - (1 << 32) if high & 0x8000_0000 else high)]
