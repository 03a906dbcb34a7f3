"""The hardware decoder against the ISA table and the golden model's legality rules."""

import random

from firmware.ebpf import isa
from firmware.ebpf.isa import Insn
from firmware.ebpf.model import _illegal_reason
from hw.core.decoder import Decoder, spec_kind

from .simhelp import run_testbench


def _slot(opcode, dst=0, src=0, off=0, imm=0) -> int:
    return (opcode | (dst << 8) | (src << 12) | ((off & 0xFFFF) << 16)
            | ((imm & 0xFFFFFFFF) << 32))


def _model_illegal(word: int) -> bool:
    opcode, dst, src = word & 0xFF, (word >> 8) & 0xF, (word >> 12) & 0xF
    off = isa.sign_extend(word >> 16, 16)
    imm = isa.sign_extend(word >> 32, 32)
    insn = Insn(opcode, dst, src, off, imm)
    insn.spec = isa.lookup(opcode, src, off, imm)
    if insn.spec is not None and insn.spec.fmt == isa.Fmt.LDDW:
        insn.imm64 = imm & isa.MASK32       # the second slot is not the decoder's business
    return _illegal_reason(insn) is not None


def _decode_all(words):
    dut = Decoder()
    out = []

    async def bench(ctx):
        for word in words:
            ctx.set(dut.insn, word)
            d = dut.d
            out.append((ctx.get(d.illegal), ctx.get(d.kind), ctx.get(d.is64)))

    run_testbench(dut, bench, clock=False)
    return out


def _example(spec: isa.OpSpec) -> int:
    fields = {"dst": 1, "src": 2, "off": 3, "imm": 4}
    if spec.fmt in (isa.Fmt.ATOMIC,):
        fields["off"] = -8
    for name in spec.unused_fields:
        fields[name] = 0
    if spec.discriminator:
        fields[spec.discriminator] = spec.value
    return _slot(spec.opcode, **fields)


def test_every_table_row_decodes_legal_with_its_kind():
    specs = [s for s in isa.OPCODES
             if not (s.fmt == isa.Fmt.LDDW and s.value in (isa.Pseudo.BTF_ID, isa.Pseudo.FUNC))]
    results = _decode_all([_example(s) for s in specs])
    for spec, (illegal, kind, is64) in zip(specs, results):
        assert not illegal, spec.mnemonic
        assert kind == spec_kind(spec), spec.mnemonic
        assert is64 == spec.is64, spec.mnemonic


def test_reserved_fields_and_r10_writes_are_illegal():
    words = [
        _slot(0x07, dst=1, src=1, imm=1),          # add K with src set
        _slot(0x0F, dst=1, src=2, imm=5),          # add X with imm set
        _slot(0x95, dst=1),                        # exit with dst set
        _slot(0xB7, dst=10, imm=1),                # mov r10
        _slot(0x61, dst=10, src=1),                # ldxw r10
        _slot(0xDB, dst=1, src=10, imm=0x01),      # fetch add into r10
        _slot(0x18, dst=1, src=3),                 # lddw BTF_ID
        _slot(0x07, dst=11, imm=1),                # r11
        _slot(0x00),                               # opcode 0 (lddw filler slot)
        _slot(0x3F, dst=1, src=2, off=2),          # div with off 2
        _slot(0xD4, dst=1, imm=8),                 # le8
    ]
    assert [r[0] for r in _decode_all(words)] == [1] * len(words)
    assert all(_model_illegal(w) for w in words)


def test_random_slots_agree_with_the_model():
    rng = random.Random(9669)
    opcodes = sorted({s.opcode for s in isa.OPCODES})
    words = []
    for _ in range(1500):
        # Mostly real opcodes with small random fields, so legality is often in doubt.
        opcode = rng.choice(opcodes) if rng.random() < 0.9 else rng.randrange(256)
        words.append(_slot(opcode, rng.choice([0, 1, 2, 10, 11, 15]),
                           rng.choice([0, 0, 1, 2, 3, 10, 12]),
                           rng.choice([0, 0, 1, 8, 16, 32, -1, 7]),
                           rng.choice([0, 0, 1, 16, 32, 64, 0xE1, 0xF1, 0x41, 5, -1])))
    for word, (illegal, _, _) in zip(words, _decode_all(words)):
        assert illegal == _model_illegal(word), hex(word)
