"""The driver's translation step and its refusals, and the model transport's register map
(pure Python, no simulator)."""

import asyncio

import pytest

from firmware.driver.model_transport import MODEL_FEATURES, ModelTransport
from firmware.driver.nic import (XDP1_FEATURES, Nic, NicError, NotSupportedByDevice,
                                 ProgramTooLarge, check_maps, translate)
from firmware.driver.transport import TransportError
from firmware.ebpf.asm import assemble
from firmware.ebpf.isa import Pseudo
from firmware.ebpf.maps import MapSpec, MapType
from firmware.program import ProgramImage
from hw import regs

MAPS = [MapSpec("a", MapType.ARRAY, 4, 8, 4), MapSpec("b", MapType.HASH, 4, 4, 8),
        MapSpec(".rodata", MapType.ARRAY, 4, 16, 1, initial=bytes(16), section=".rodata")]
REFS = """
    lddw %r1, map_fd 1
    lddw %r2, map_idx 0
    lddw %r3, map_value 2 + 8
    lddw %r4, map_idx_value 0 + 4
    lddw %r5, 0x1122334455667788
    mov %r0, 2
    exit
"""


def test_map_references_become_hardware_ids():
    image = ProgramImage("refs", assemble(REFS), MAPS)
    t = translate(image, MODEL_FEATURES, 4096, map_ids=[7, 9, 11])
    lddw = [i for i in t.insns if i.imm64 is not None]
    assert [(Pseudo(i.src), i.imm64) for i in lddw] == [
        (Pseudo.MAP_IDX, 9), (Pseudo.MAP_IDX, 7), (Pseudo.MAP_IDX_VALUE, 11 | 8 << 32),
        (Pseudo.MAP_IDX_VALUE, 7 | 4 << 32), (Pseudo.IMM64, 0x1122334455667788)]
    assert len(t.words) == len(image.insns) == 12
    # slot 0 is lddw r1 with src MAP_IDX (5), imm 9; slot 1 its second half (imm 0)
    assert t.words[0] == 9 << 32 | 5 << 12 | 1 << 8 | 0x18
    assert t.words[1] == 0
    assert t.words[5] == 8 << 32        # map_value offset in the second slot
    # The image is not changed in place.
    assert image.insns[0].src == Pseudo.MAP_FD and image.insns[0].imm64 == 1


def test_a_reference_to_a_missing_map_names_the_instruction():
    image = ProgramImage("refs", assemble("lddw %r1, map_idx 3\nmov %r0, 2\nexit"), MAPS)
    with pytest.raises(NicError, match=r"^refs: insn 0: lddw refers to map 3, but the program "
                                       r"has 3 map\(s\)$"):
        translate(image, MODEL_FEATURES, 4096)


def test_the_rtl_refuses_global_data_as_a_map_type():
    image = ProgramImage("globals", assemble("mov %r0, 2\nexit"), MAPS[2:])
    with pytest.raises(NotSupportedByDevice) as info:
        check_maps(image, XDP1_FEATURES)
    assert str(info.value) == ("globals: map type ARRAY not supported by device "
                               "(map '.rodata', global data)")


def test_helpers_are_checked_against_the_device():
    image = ProgramImage("csum", assemble("mov %r0, 2\ncall 7\ncall 28\nexit"))
    assert translate(image, MODEL_FEATURES, 4096).words
    with pytest.raises(NotSupportedByDevice, match=r"^csum: insn 2: helper bpf_csum_diff "
                                                   r"\(id 28\) not supported by device$"):
        translate(image, XDP1_FEATURES, 4096)


def test_size_limit_is_the_instruction_memory():
    image = ProgramImage("p", assemble("\n".join(["mov %r0, 2"] * 15 + ["exit"])))
    assert len(translate(image, XDP1_FEATURES, 16).words) == 16
    with pytest.raises(ProgramTooLarge, match="needs 16 instruction slots; the device's "
                                              "instruction memory holds 15"):
        translate(image, XDP1_FEATURES, 15)
    with pytest.raises(NicError, match="empty program"):
        translate(ProgramImage("e", []), XDP1_FEATURES, 15)


def test_model_register_map():
    async def go():
        t = ModelTransport(ports=3, data_width=128, imem_depth=1024)
        off = regs.offsets(3)
        assert await t.read(off["CONFIG"]) == 3 | 16 << 8 | 10 << 16 | 1 << 24
        assert await t.read(off["BUDGET"]) == 1_000_000
        await t.write(off["CTRL"], 0b111)           # clear_counters is a pulse
        assert await t.read(off["CTRL"]) == 0b011
        await t.write(off["LAST_R0"], 5)            # read-only
        assert await t.read(off["LAST_R0"]) == 0
        await t.write(regs.IMEM_WINDOW.offset + 8, 0xAAAA)
        await t.write(regs.IMEM_WINDOW.offset + 12, 0xBBBB)
        assert t.imem[1] == 0xBBBB << 32 | 0xAAAA
        assert await t.read(regs.IMEM_WINDOW.offset + 8) == 0
        with pytest.raises(TransportError, match="port 3 is not one of the 3 RX ports"):
            await t.send(3, b"")
    asyncio.run(go())


def test_a_device_that_is_not_an_xdpnic_is_refused():
    class Blank(ModelTransport):
        async def read(self, offset):
            return 0
    with pytest.raises(NicError, match=r"ID reads 0x00000000, not 0x58445031"):
        asyncio.run(Nic(Blank()).identify())


def test_send_to_a_disabled_nic_without_drop_is_reported():
    async def go():
        nic = Nic(ModelTransport())
        await nic.send(bytes(60))
        with pytest.raises(NicError, match=r"1 frame\(s\) wait, but the NIC is disabled"):
            await nic.drain()
    asyncio.run(go())
