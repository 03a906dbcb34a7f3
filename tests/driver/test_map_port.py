"""The map mailbox protocol (RegisterMapPort), the capability registers and the map limits,
on the model transport's emulation of the registers (pure Python, no simulator)."""

import asyncio
import dataclasses
import errno
import struct

import pytest

from firmware.driver.map_port import RegisterMapPort
from firmware.driver.model_transport import MODEL_FEATURES, ModelTransport
from firmware.driver.transport import Transport
from firmware.driver.nic import (XDP1_FEATURES, MapLimitExceeded, Nic, NicError,
                                 check_limits, features_from_caps)
from firmware.ebpf.asm import assemble
from firmware.ebpf.helpers import HelperId
from firmware.ebpf.maps import MapSpec, MapType
from firmware.program import ProgramImage
from hw import regs

OFF = regs.offsets(2)
EXIT = assemble("mov %r0, 2\nexit")


def run(coroutine):
    return asyncio.run(coroutine)


class Recording(ModelTransport):
    """A model transport that logs every bus access as (op, register or window+offset, value)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.log = []
        self._by_offset = {v: k for k, v in regs.offsets(self.ports).items()}

    def _name(self, offset):
        for w in regs.WINDOWS:
            if w.offset <= offset < w.offset + w.size:
                return f"{w.name}+{offset - w.offset}"
        return self._by_offset.get(offset, hex(offset))

    async def read(self, offset):
        value = await super().read(offset)
        self.log.append(("r", self._name(offset), value))
        return value

    async def write(self, offset, value):
        self.log.append(("w", self._name(offset), value))
        await super().write(offset, value)


def test_the_model_announces_its_features_in_the_capability_registers():
    async def go():
        t = ModelTransport()
        caps = {name: await t.read(OFF[name]) for name in
                ("CAP_HELPERS_LO", "CAP_HELPERS_HI", "CAP_HELPERS_EXT", "CAP_MAP_TYPES",
                 "CAP_MAPS", "CAP_MAP_SLOTS", "CAP_MAP_BYTES")}
        return caps
    caps = run(go())
    # The device's driver loads neither tail-call programs nor a FIB yet (docs/driver.md).
    offered = [h for h in HelperId if h not in (HelperId.TAIL_CALL, HelperId.FIB_LOOKUP)]
    low_helpers = [h for h in offered if h < 32]
    high_helpers = [h for h in offered if 32 <= h < 64]
    ext_helpers = [h for h in offered if 64 <= h < 96]
    assert ext_helpers == [HelperId.XDP_ADJUST_TAIL]
    assert caps["CAP_HELPERS_LO"] == sum(1 << h for h in low_helpers)
    assert caps["CAP_HELPERS_HI"] == sum(1 << (h - 32) for h in high_helpers)
    assert caps["CAP_HELPERS_EXT"] == 1 << (HelperId.XDP_ADJUST_TAIL - 64)
    # ARRAY 2, PERCPU_ARRAY 6, HASH 1, PERCPU_HASH 5, LRU_HASH 9, LPM_TRIE 11, DEVMAP 14,
    # CPUMAP 16, DEVMAP_HASH 25 (uapi enum bpf_map_type)
    assert caps["CAP_MAP_TYPES"] == sum(1 << t for t in (1, 2, 5, 6, 9, 11, 14, 16, 25))
    assert caps["CAP_MAPS"] == 16 | 24 << 8 | 1 << 16 | 1 << 24
    assert (caps["CAP_MAP_SLOTS"], caps["CAP_MAP_BYTES"]) == (512, 65536)
    features = features_from_caps(caps)
    assert features.helpers == MODEL_FEATURES.helpers
    assert features.map_types == MODEL_FEATURES.map_types
    assert (features.trace, features.max_maps, features.key_bytes, features.engines,
            features.map_slots, features.map_bytes) == (True, 16, 24, 1, 512, 65536)


def test_capability_registers_reading_0_mean_the_xdp1_table():
    async def go():
        nic = Nic(ModelTransport(features=XDP1_FEATURES))
        info = await nic.identify()
        caps = [await nic.read(name) for name in ("CAP_HELPERS_LO", "CAP_HELPERS_HI",
                                                  "CAP_MAP_TYPES", "CAP_MAPS")]
        return info, caps, nic.map_port
    info, caps, port = run(go())
    assert caps == [0, 0, 0, 0]
    assert info.features is XDP1_FEATURES and port is None


def test_identify_reads_the_capabilities_and_makes_a_map_port():
    async def go():
        nic = Nic(ModelTransport())
        info = await nic.identify()
        return info, nic.map_port
    info, port = run(go())
    assert isinstance(port, RegisterMapPort) and port.engines == 1
    assert info.as_dict()["map_limits"] == {"max_maps": 16, "key_bytes": 24, "engines": 1,
                                            "cam_slots": 512, "value_bytes": 65536}


def test_a_lookup_is_key_words_command_poll_result_value_words():
    async def go():
        t = Recording()
        port = RegisterMapPort(t)
        ids = await port.create([MapSpec("h", MapType.HASH, 6, 5, 4)])
        assert await port.update(ids[0], b"abcdef", b"VWXYZ", 0) == 0
        t.log.clear()
        value = await port.lookup(ids[0], b"abcdef")
        return value, t.log
    value, log = run(go())
    assert value == b"VWXYZ"
    assert log == [
        ("w", "MAP_KEY+0", int.from_bytes(b"abcd", "little")),
        ("w", "MAP_KEY+4", int.from_bytes(b"ef\0\0", "little")),
        ("w", "MAP_CMD", regs.MapOp.LOOKUP),
        ("r", "MAP_STATUS", 0),
        ("r", "MAP_RESULT", 0),
        ("r", "MAP_VALUE+0", int.from_bytes(b"VWXY", "little")),
        ("r", "MAP_VALUE+4", ord("Z")),
    ]


def test_create_resets_then_creates_in_order_and_writes_global_data():
    async def go():
        t = Recording()
        port = RegisterMapPort(t)
        specs = [MapSpec("a", MapType.ARRAY, 4, 8, 2),
                 MapSpec(".rodata", MapType.ARRAY, 4, 6, 1, initial=b"\x01\x02\x03",
                         section=".rodata")]
        ids = await port.create(specs)
        return ids, t.log, t.maps
    ids, log, maps = run(go())
    assert ids == [0, 1]
    writes = [(name, value) for op, name, value in log if op == "w"]
    assert writes == [
        ("MAP_CMD", regs.MapOp.RESET),
        ("MAP_CREATE_TYPE", 2), ("MAP_CREATE_KEY_SIZE", 4), ("MAP_CREATE_VALUE_SIZE", 8),
        ("MAP_CREATE_MAX_ENTRIES", 2), ("MAP_CMD", regs.MapOp.CREATE),
        ("MAP_CREATE_TYPE", 2), ("MAP_CREATE_KEY_SIZE", 4), ("MAP_CREATE_VALUE_SIZE", 6),
        ("MAP_CREATE_MAX_ENTRIES", 1), ("MAP_CMD", regs.MapOp.CREATE),
        ("MAP_KEY+0", 0), ("MAP_VALUE+0", 0x030201), ("MAP_VALUE+4", 0),
        ("MAP_CMD", regs.MapOp.UPDATE | 1 << regs.MAP_CMD.MAP_ID)]
    assert maps[1].value(0) == b"\x01\x02\x03\x00\x00\x00"


def test_next_key_walks_the_slots_in_order_then_enoent():
    async def go():
        port = RegisterMapPort(ModelTransport())
        [h] = await port.create([MapSpec("h", MapType.HASH, 4, 4, 8)])
        for k in (7, 3, 9):
            assert await port.update(h, struct.pack("<I", k), b"\1\0\0\0", 0) == 0
        assert await port.delete(h, struct.pack("<I", 3)) == 0
        assert await port.update(h, struct.pack("<I", 5), b"\2\0\0\0", 0) == 0   # slot 1
        keys, key = [], await port.next_key(h, None)
        while key is not None:
            keys.append(struct.unpack("<I", key)[0])
            key = await port.next_key(h, key)
        return keys
    assert run(go()) == [7, 5, 9]


def test_mailbox_errors_are_the_kernels():
    async def go():
        port = RegisterMapPort(ModelTransport())
        h, a = await port.create([MapSpec("h", MapType.HASH, 4, 4, 1),
                                  MapSpec("a", MapType.ARRAY, 4, 4, 2)])
        k1, k2 = struct.pack("<I", 1), struct.pack("<I", 2)
        return [await port.update(h, k1, bytes(4), 2),          # BPF_EXIST, absent
                await port.update(h, k1, bytes(4), 1),          # BPF_NOEXIST: inserted
                await port.update(h, k1, bytes(4), 1),          # again: exists
                await port.update(h, k2, bytes(4), 0),          # full
                await port.delete(h, k2),
                await port.delete(a, k1),                       # arrays cannot delete
                await port.update(a, k2, bytes(4), 0),          # index 2 of 2
                await port.lookup(h, k2)]
    assert run(go()) == [-errno.ENOENT, 0, -errno.EEXIST, -errno.E2BIG, -errno.ENOENT,
                         -errno.EINVAL, -errno.E2BIG, None]


def test_create_refusals_by_register():
    """What the model's map unit answers to CREATE beyond its limits, as hw/maps/unit.py."""
    async def create(t, kind, key, value, entries):
        for name, v in (("MAP_CREATE_TYPE", kind), ("MAP_CREATE_KEY_SIZE", key),
                        ("MAP_CREATE_VALUE_SIZE", value), ("MAP_CREATE_MAX_ENTRIES", entries)):
            await t.write(OFF[name], v)
        await t.write(OFF["MAP_CMD"], regs.MapOp.CREATE)
        result = await t.read(OFF["MAP_RESULT"])
        return result - (1 << 32) if result >> 31 else result

    async def go():
        t = ModelTransport()
        out = [await create(t, MapType.PROG_ARRAY, 4, 4, 1),     # type not offered
               await create(t, MapType.ARRAY, 8, 4, 1),          # array key must be 4
               await create(t, MapType.HASH, 25, 4, 1),          # key wider than the CAM
               await create(t, MapType.LPM_TRIE, 29, 4, 1),      # 25 data bytes
               await create(t, MapType.ARRAY, 4, 1025, 1),       # value beyond MAP_VALUE
               await create(t, MapType.HASH, 4, 4, 512),         # id 0: every CAM slot
               await create(t, MapType.LRU_HASH, 4, 4, 1),       # no slot left
               await create(t, MapType.ARRAY, 4, 8, 7935),       # id 1: 2048 + 63480 bytes
               await create(t, MapType.ARRAY, 4, 8, 1),          # the last 8 bytes: id 2
               await create(t, MapType.ARRAY, 4, 1, 1)]          # none left (rounds to 8)
        await t.write(OFF["MAP_CMD"], regs.MapOp.LOOKUP | 9 << regs.MAP_CMD.MAP_ID)
        out.append((await t.read(OFF["MAP_RESULT"])) - (1 << 32))   # no map 9
        await t.write(OFF["MAP_CMD"], regs.MapOp.RESET)
        out.append(await create(t, MapType.LRU_HASH, 24, 4, 512))   # all free again: id 0
        return out
    assert run(go()) == [-errno.EINVAL, -errno.EINVAL, -errno.E2BIG, -errno.E2BIG,
                         -errno.E2BIG, 0, -errno.ENOMEM, 1, 2, -errno.ENOMEM, -errno.EBADF, 0]


def test_per_cpu_values_are_every_engines_copy_joined():
    async def go():
        features = dataclasses.replace(MODEL_FEATURES, engines=2)
        nic = Nic(ModelTransport(features=features))
        image = ProgramImage("pc", EXIT, [MapSpec("pc", MapType.PERCPU_ARRAY, 4, 4, 2),
                                          MapSpec("ph", MapType.PERCPU_HASH, 4, 2, 2)])
        await nic.load(image)
        pc, ph = nic.maps["pc"], nic.maps["ph"]
        k = struct.pack("<I", 1)
        await pc.update(k, b"AAAABBBB")
        await ph.update(k, b"xy")                     # one value: every engine's copy
        try:
            await pc.update(k, b"AAAABB")
        except NicError as exc:
            error = str(exc)
        return await pc.lookup(k), await ph.lookup(k), await pc.lookup(bytes(4)), error
    assert run(go()) == (b"AAAABBBB", b"xyxy", bytes(8),
                         "map 'pc': value (2 engines x 4) is 6 bytes; the map's value "
                         "(2 engines x 4) size is 8")


def image_with(*specs):
    return ProgramImage("prog", EXIT, list(specs))


@pytest.mark.parametrize("specs, message", [
    ([MapSpec(f"m{i}", MapType.ARRAY, 4, 4, 1) for i in range(17)],
     "prog: 17 maps, device has room for 16"),
    ([MapSpec("conntrack", MapType.LRU_HASH, 16, 16, 4096)],
     "prog: map 'conntrack': 4096 entries, device has 512 CAM slots"),
    ([MapSpec("rules", MapType.HASH, 8, 8, 300), MapSpec("conntrack", MapType.LRU_HASH, 16, 16, 256)],
     "prog: map 'conntrack': 256 entries, but the maps before it took 300 of the device's "
     "512 CAM slots"),
    ([MapSpec("flows6", MapType.HASH, 37, 8, 256)],
     "prog: map 'flows6': keys are 37 bytes, device's CAM holds 24-byte keys"),
    ([MapSpec("routes6", MapType.LPM_TRIE, 4 + 25, 8, 16)],
     "prog: map 'routes6': LPM keys hold 25 bytes after the 4-byte prefix length, device's "
     "CAM holds 24-byte keys"),
    ([MapSpec("big", MapType.ARRAY, 4, 64, 1025)],
     "prog: map 'big': 65600 bytes of values, device has 65536 bytes of map memory"),
    ([MapSpec("a", MapType.ARRAY, 4, 8, 8000), MapSpec("b", MapType.ARRAY, 4, 3, 600)],
     "prog: map 'b': 1800 bytes of values, but the maps before it took 64000 of the device's "
     "65536 bytes of map memory"),
    ([MapSpec("wide", MapType.ARRAY, 4, 2048, 1)],
     "prog: map 'wide': values of 2048 bytes, device's MAP_VALUE window holds 1024"),
])
def test_limits_are_refused_naming_the_map_and_the_limit(specs, message):
    with pytest.raises(MapLimitExceeded) as info:
        check_limits(image_with(*specs), MODEL_FEATURES)
    assert str(info.value) == message


def test_maps_that_just_fit_are_accepted():
    # 512 CAM slots, 24-byte keys, 256*8 + 256*16 + 7424*8 = 65536 bytes, 1024-byte values
    check_limits(image_with(MapSpec("rules", MapType.HASH, 24, 8, 256),
                            MapSpec("conntrack", MapType.LPM_TRIE, 28, 16, 256),
                            MapSpec("values", MapType.ARRAY, 4, 8, 7424),
                            *[MapSpec(f"m{i}", MapType.ARRAY, 4, 1024, 0) for i in range(13)]),
                 MODEL_FEATURES)


def test_a_refused_program_touches_nothing():
    """Limits are checked before the NIC is disabled: the running program keeps running."""
    async def go():
        nic = Nic(ModelTransport())
        await nic.load(ProgramImage("first", EXIT, [MapSpec("a", MapType.ARRAY, 4, 4, 1)]))
        await nic.maps["a"].update(bytes(4), b"keep")
        with pytest.raises(MapLimitExceeded):
            await nic.load(image_with(MapSpec("conntrack", MapType.LRU_HASH, 16, 16, 4096)))
        return await nic.enabled(), await nic.maps["a"].lookup(bytes(4)), nic.program.name
    assert run(go()) == (True, b"keep", "first")


def test_loading_replaces_the_maps():
    async def go():
        nic = Nic(ModelTransport())
        await nic.load(ProgramImage("one", EXIT, [MapSpec("a", MapType.HASH, 4, 4, 4)]))
        await nic.maps["a"].update(bytes(4), b"old!")
        await nic.load(ProgramImage("two", EXIT, [MapSpec("b", MapType.HASH, 4, 4, 4)]))
        return list(nic.maps), await nic.maps["b"].keys(), len(nic.transport.maps.maps)
    assert run(go()) == (["b"], [], 1)


class TraceWords(ModelTransport):
    """The model with a trace FIFO of given words behind TRACE_STATUS/TRACE_DATA, read through
    the base Transport.trace_output (as on the RTL)."""

    def __init__(self, words):
        super().__init__()
        self.fifo = list(words)
        self.visible = 0            # words of whole records (what TRACE_STATUS.words counts)

    async def read(self, offset):
        if offset == OFF["TRACE_STATUS"]:
            return self.visible
        if offset == OFF["TRACE_DATA"]:
            self.visible -= 1
            return self.fifo.pop(0)
        return await super().read(offset)

    trace_output = Transport.trace_output


def record(fmt: bytes, args=(0, 0, 0)):
    from hw.xdp import trace as rec
    words = rec.record_words(len(fmt), [])
    padded = fmt + bytes(-len(fmt) % 4)
    out = [rec.record_header(len(fmt), words)]
    out += [int.from_bytes(padded[i:i + 4], "little") for i in range(0, len(padded), 4)]
    for a in args:
        out += [a & 0xFFFFFFFF, a >> 32]
    return out


def test_trace_lines_come_from_trace_data_words():
    first, second = record(b"hi %d\n", (42, 0, 0)), record(b"%x-%u", (0xAB, 7, 0))

    async def go():
        t = TraceWords(first + second)
        nic = Nic(t)
        t.visible = len(first) + 3        # the second record's first words arrived early
        lines = [await nic.trace()]
        t.visible = len(second) - 3
        lines.append(await nic.trace())
        lines.append(await nic.trace())
        return lines
    assert run(go()) == [["hi 42\n"], ["ab-7"], []]


def test_words_that_are_not_a_record_are_reported():
    async def go():
        t = TraceWords([0x12345678])
        t.visible = 1
        with pytest.raises(NicError, match=r"trace FIFO: word 0: 0x12345678 is not a trace "
                                           r"record header"):
            await Nic(t).trace()
    run(go())
