"""The host driver: a program from the loader to the NIC, counters, last-frame info, maps.

:class:`Nic` drives any :class:`~firmware.driver.transport.Transport` with the registers of
:mod:`hw.regs` (offsets from ``regs.offsets``, never written by hand).  Loading follows the
kernel's offload path::

    verify -> translate -> write the instruction memory -> attach

1. **verify** (:func:`verify_program`): the xdpnic verifier (``firmware.ebpf.verifier``, Linux
   semantics); a rejection raises :class:`VerifierRejected` with the kernel-like log.
2. **translate** (:func:`translate`): check the program against what the device offers and
   resolve map references to hardware map ids -- lddw ``map_fd``/``map_idx`` become
   ``map_idx <hardware id>``, ``map_value``/``map_idx_value`` become ``map_idx_value <id> +
   offset``.  A map type or helper the device lacks raises :class:`NotSupportedByDevice` with
   the kernel's offload wording ("map type X not supported by device"); a program larger than
   the instruction memory raises :class:`ProgramTooLarge`.  Nothing touches the device before
   both steps pass, so a refused program never disturbs the running one.
3. **write and attach** (:meth:`Nic.load`): clear ``CTRL.enable``, wait for ``STATUS.idle``,
   replace the maps through the map mailbox (:class:`~firmware.driver.map_port.RegisterMapPort`:
   RESET, one CREATE per map, global data's initial bytes), write the slots and
   ``PROG_LEN``/``BUDGET``, set ``CTRL.enable``.  With enable clear the
   NIC grants no new frame and the one in flight finishes first, so no frame runs on a
   half-written memory: replacing a running program is atomic (frames wait, or are dropped and
   counted with ``drop_when_busy``).  A zero-downtime swap needs hardware help (two program
   banks and a bank-select register that takes effect between frames; see docs/driver.md).

What the device offers (helpers, map types, trace, the map unit's limits) comes from its
capability registers (:func:`features_from_caps`); :func:`check_limits` refuses maps beyond
them before anything is written, naming the map and the limit.

Counters come back as a :class:`Counters` snapshot whose :meth:`Counters.check` asserts the
NIC's accounting (per port, RX_FRAMES is the sum of the nine dispositions and discards).
"""

import asyncio
from dataclasses import dataclass, field

from hw import regs

from ..ebpf import isa
from ..ebpf.helpers import HelperId, helper_name
from ..ebpf.isa import CallKind, Cls, Insn, JmpOp, Pseudo
from ..ebpf.machine import TrapCause
from ..ebpf.maps import MapType
from .map_port import RegisterMapPort
from .program_load import load_writes
from .transport import DeviceFeatures, Transport, TransportError, egress_names

__all__ = ["Nic", "NicInfo", "NicError", "VerifierRejected", "NotSupportedByDevice",
           "ProgramTooLarge", "CounterMismatch", "Counters", "LastFrame", "LoadedProgram",
           "Translation", "Map", "verify_program", "translate", "device_features",
           "XDP1_FEATURES", "DISPOSITION_COUNTERS", "DISCARD_COUNTERS", "FrameOutcome",
           "run_sync", "check_maps", "check_size", "check_limits", "features_from_caps",
           "CAM_MAP_TYPES", "MapLimitExceeded"]

# The helpers the XDP1 datapath implements (Ref: docs/datapath.md "Packet helpers" and
# hw/xdp/misc.py); it has no map unit and no trace path.  Only for a device whose capability
# registers read 0 (built before them); every other device says what it offers itself.
XDP1_FEATURES = DeviceFeatures(
    helpers=frozenset({HelperId.XDP_ADJUST_HEAD, HelperId.XDP_ADJUST_TAIL,
                       HelperId.XDP_ADJUST_META, HelperId.REDIRECT,
                       HelperId.GET_SMP_PROCESSOR_ID, HelperId.GET_PRANDOM_U32}),
    map_types=frozenset(), trace=False,
    notes=("XDP1 datapath: packet helpers, prandom and processor id; no map unit",))

_DEVICE_TABLE = {regs.ID_MAGIC: XDP1_FEATURES}
# Helper ids the capability registers can announce: CAP_HELPERS_LO, _HI, _EXT.
CAP_HELPER_IDS = 96
# Map types whose entries live in the CAM (key compared in parallel), sharing CAP_MAP_SLOTS.
CAM_MAP_TYPES = frozenset({MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH,
                           MapType.LPM_TRIE})
_PER_CPU = frozenset({MapType.PERCPU_ARRAY, MapType.PERCPU_HASH})
_LPM_PREFIX_BYTES = 4

# Per-port counters that a received frame ends in (exactly one of these per frame).
DISPOSITION_COUNTERS = ("DROP", "ABORTED", "PASS", "TX", "REDIRECT")
DISCARD_COUNTERS = ("DISCARD_RUNT", "DISCARD_OVERSIZE", "DISCARD_MAC_ERROR",
                    "DISCARD_BUFFER_FULL")
_PORT_COUNTERS = [name for name, _doc in regs.PORT_COUNTERS]
_LDDW = Cls.LD | isa.Size.DW | isa.Mode.IMM
_CALL = Cls.JMP | JmpOp.CALL
_MASK32 = 0xFFFFFFFF


class NicError(Exception):
    """The driver cannot do what was asked; the message says what and where."""


class VerifierRejected(NicError):
    """The verifier refused the program; ``log`` is its kernel-like log."""

    def __init__(self, name: str, result):
        self.result = result
        self.log = list(result.log)
        where = f" at insn {result.error_pc}" if result.error_pc is not None else ""
        super().__init__(f"{name}: verifier rejected the program{where}: {result.error}\n"
                         + "\n".join(self.log))


class NotSupportedByDevice(NicError):
    """The program needs a map type or helper the device does not offer."""


class ProgramTooLarge(NicError):
    """The program has more slots than the instruction memory."""


class MapLimitExceeded(NotSupportedByDevice):
    """A map (or the program's maps together) needs more than the device's map unit has."""


class CounterMismatch(NicError):
    """The counters do not add up (a hardware accounting bug)."""


@dataclass(frozen=True)
class NicInfo:
    """What ``ID`` and ``CONFIG`` say, and what the device offers."""
    id: int
    ports: int
    data_bytes: int
    imem_slots: int
    features: DeviceFeatures

    def as_dict(self) -> dict:
        f = self.features
        return {"id": f"{self.id:#010x}", "ports": self.ports, "data_bytes": self.data_bytes,
                "imem_slots": self.imem_slots,
                "helpers": sorted(helper_name(h) for h in f.helpers),
                "map_types": sorted(MapType(t).name for t in f.map_types),
                "trace": f.trace,
                "map_limits": {"max_maps": f.max_maps, "key_bytes": f.key_bytes,
                               "engines": f.engines, "cam_slots": f.map_slots,
                               "value_bytes": f.map_bytes} if f.map_types else None}


@dataclass
class Translation:
    """A program ready for the instruction memory."""
    name: str
    insns: list[Insn]                       # translated, one per slot
    words: list[int]                        # the 64-bit slots
    map_ids: list[int]                      # hardware id of the object's map k
    maps: list                              # the object's MapSpecs


@dataclass(frozen=True)
class LastFrame:
    """The ``LAST_*`` registers: the last frame that reached the program."""
    cycles: int
    insns: int
    r0: int
    trap: TrapCause
    trap_pc: int | None       # None when the frame did not trap


@dataclass
class Counters:
    """A snapshot of every counter: ``ports[p][NAME]``, ``host_frames``, ``traps[CAUSE]``."""
    ports: list[dict[str, int]]
    host_frames: int
    traps: dict[str, int]
    idle: bool = True         # STATUS.idle before and after the read

    def as_dict(self) -> dict:
        out = {"host_frames": self.host_frames, "traps": dict(self.traps)}
        for p, block in enumerate(self.ports):
            out[f"port{p}"] = dict(block)
        return out

    def flat(self) -> dict[str, int]:
        """Register names as in ``hw.regs.offsets`` (``PORT0_DROP``, ``TRAP_BUDGET``...)."""
        out = {"HOST_FRAMES": self.host_frames}
        out.update({f"TRAP_{k}": v for k, v in self.traps.items()})
        for p, block in enumerate(self.ports):
            out.update({f"PORT{p}_{k}": v for k, v in block.items()})
        return out

    def received(self, port: int) -> int:
        return self.ports[port]["RX_FRAMES"]

    def accounted(self, port: int) -> int:
        """Frames of ``port`` that ended in a disposition or a discard."""
        block = self.ports[port]
        return sum(block[n] for n in DISPOSITION_COUNTERS + DISCARD_COUNTERS) & _MASK32

    def check(self) -> None:
        """Raise :class:`CounterMismatch` unless every port's frames are accounted for.

        Read while idle, RX_FRAMES equals the sum exactly; read under traffic (dispositions
        are read before RX_FRAMES) it may lead by the one frame the engine holds.
        """
        for p in range(len(self.ports)):
            lead = (self.received(p) - self.accounted(p)) & _MASK32
            if lead > (0 if self.idle else 1):
                block = self.ports[p]
                parts = " + ".join(f"{n} {block[n]}" for n in DISPOSITION_COUNTERS
                                   + DISCARD_COUNTERS)
                raise CounterMismatch(f"port {p}: RX_FRAMES {block['RX_FRAMES']} != "
                                      f"{parts} (= {self.accounted(p)})")


@dataclass
class LoadedProgram:
    """What :meth:`Nic.load` did."""
    name: str
    slots: int
    map_ids: list[int]
    verifier_log: list[str] = field(default_factory=list)
    replaced: bool = False            # a program was running and was replaced
    bus_writes: int = 0               # control-bus writes of the load (while disabled)


def features_from_caps(caps: dict[str, int]) -> DeviceFeatures | None:
    """The device's features from its capability registers (``{name: value}`` of
    ``CAP_HELPERS_LO``, ``_HI``, ``_EXT``, ``CAP_MAP_TYPES``, ``CAP_MAPS``,
    ``CAP_MAP_SLOTS``, ``CAP_MAP_BYTES``); None when they all read 0 (a device built before
    them, described by the driver's table for its ID)."""
    helper_bits = (caps["CAP_HELPERS_LO"] | caps["CAP_HELPERS_HI"] << 32
                   | caps["CAP_HELPERS_EXT"] << 64)
    if not helper_bits and not caps["CAP_MAP_TYPES"]:
        return None
    fields = {f.name: caps["CAP_MAPS"] >> f.bit & ((1 << f.width) - 1)
              for f in regs.register("CAP_MAPS").fields}
    types = set()
    for t in range(32):
        if caps["CAP_MAP_TYPES"] >> t & 1:
            try:
                types.add(MapType(t))
            except ValueError:      # a type number this driver does not know: not usable
                pass
    helpers = {h for h in range(CAP_HELPER_IDS) if helper_bits >> h & 1}
    return DeviceFeatures(
        helpers=frozenset(helpers), map_types=frozenset(types), trace=bool(fields["trace"]),
        notes=("from the capability registers",), max_maps=fields["max_maps"],
        key_bytes=fields["key_bytes"], engines=max(fields["engines"], 1),
        map_slots=caps["CAP_MAP_SLOTS"], map_bytes=caps["CAP_MAP_BYTES"])


def device_features(info_id: int, caps: dict[str, int]) -> DeviceFeatures:
    """What the device offers: its capability registers, or (when they read 0) the driver's
    table for its ID."""
    features = features_from_caps(caps)
    if features is not None:
        return features
    try:
        return _DEVICE_TABLE[info_id]
    except KeyError:
        raise NicError(f"unknown device ID {info_id:#010x} (this driver knows "
                       f"{', '.join(f'{k:#010x}' for k in _DEVICE_TABLE)})") from None


CAP_REGISTERS = ("CAP_HELPERS_LO", "CAP_HELPERS_HI", "CAP_HELPERS_EXT", "CAP_MAP_TYPES",
                 "CAP_MAPS", "CAP_MAP_SLOTS", "CAP_MAP_BYTES")


def verify_program(image, *, log_level: int = 1):
    """Run the verifier on a ``ProgramImage`` for the XDP hook; the result, or
    :class:`VerifierRejected`.  The driver's only way to the verifier."""
    from ..ebpf.verifier import XDPNIC, verify
    maps = dict(enumerate(image.maps)) if image.maps else None
    result = verify(image.insns, "xdp", maps, XDPNIC, log_level=log_level)
    if not result.accepted:
        raise VerifierRejected(image.name, result)
    return result


def _map_label(spec) -> str:
    kind = "global data" if spec.is_global_data else f"section {spec.section}"
    return f"map '{spec.name}', {kind}"


def check_size(image, imem_slots: int) -> None:
    """Refuse an empty program or one with more slots than the instruction memory."""
    slots = len(image.insns)
    if slots > imem_slots:
        raise ProgramTooLarge(f"{image.name}: program needs {slots} instruction slots; the "
                              f"device's instruction memory holds {imem_slots}")
    if slots == 0:
        raise NicError(f"{image.name}: empty program")


def check_maps(image, features: DeviceFeatures) -> None:
    """Refuse map types the device does not offer, as the kernel does for offload."""
    for spec in image.maps:
        if spec.type not in features.map_types:
            raise NotSupportedByDevice(
                f"{image.name}: map type {MapType(spec.type).name} not supported by device "
                f"({_map_label(spec)})")


def map_value_bytes(spec, engines: int) -> int:
    """Bytes of map-value memory ``spec`` takes on a device with ``engines`` engines: every
    map owns a contiguous 8-byte-aligned part (Ref: hw/maps/unit.py, "Value memory")."""
    copies = engines if spec.type in _PER_CPU else 1
    return -(-spec.max_entries * spec.value_size * copies // 8) * 8


def check_limits(image, features: DeviceFeatures) -> None:
    """Refuse maps the device's map unit cannot hold, before anything is written: more maps
    than ``max_maps``, a CAM key longer than ``key_bytes``, more CAM entries than
    ``CAP_MAP_SLOTS`` (shared by the hash, LRU and LPM maps), more value bytes than
    ``CAP_MAP_BYTES`` (shared by all maps), a value larger than the ``MAP_VALUE`` window.
    Each refusal names the map and the limit."""
    if not image.maps or not features.map_types:
        return
    name = image.name
    if len(image.maps) > features.max_maps:
        raise MapLimitExceeded(f"{name}: {len(image.maps)} maps, device has room for "
                               f"{features.max_maps}")
    slots_used = bytes_used = 0
    for spec in image.maps:
        label = f"{name}: map '{spec.name}'"
        if spec.type in CAM_MAP_TYPES:
            key = spec.key_size - (_LPM_PREFIX_BYTES if spec.type == MapType.LPM_TRIE else 0)
            what = "LPM keys hold" if spec.type == MapType.LPM_TRIE else "keys are"
            if key > features.key_bytes:
                raise MapLimitExceeded(
                    f"{label}: {what} {key} bytes" + (" after the 4-byte prefix length"
                                                      if spec.type == MapType.LPM_TRIE else "")
                    + f", device's CAM holds {features.key_bytes}-byte keys")
            if spec.max_entries > features.map_slots:
                raise MapLimitExceeded(f"{label}: {spec.max_entries} entries, device has "
                                       f"{features.map_slots} CAM slots")
            if slots_used + spec.max_entries > features.map_slots:
                raise MapLimitExceeded(
                    f"{label}: {spec.max_entries} entries, but the maps before it took "
                    f"{slots_used} of the device's {features.map_slots} CAM slots")
            slots_used += spec.max_entries
        window = spec.value_size * (features.engines if spec.type in _PER_CPU else 1)
        if window > regs.MAP_VALUE_WINDOW.size:
            raise MapLimitExceeded(f"{label}: values of {window} bytes, device's MAP_VALUE "
                                   f"window holds {regs.MAP_VALUE_WINDOW.size}")
        size = map_value_bytes(spec, features.engines)
        if size > features.map_bytes:
            raise MapLimitExceeded(f"{label}: {size} bytes of values, device has "
                                   f"{features.map_bytes} bytes of map memory")
        if bytes_used + size > features.map_bytes:
            raise MapLimitExceeded(
                f"{label}: {size} bytes of values, but the maps before it took {bytes_used} "
                f"of the device's {features.map_bytes} bytes of map memory")
        bytes_used += size


def translate(image, features: DeviceFeatures, imem_slots: int,
              map_ids: list[int] | None = None) -> Translation:
    """Check ``image`` against the device and resolve its map references.

    ``map_ids[k]`` is the hardware id of the object's map k (default: k, the order the
    device creates them in).  Raises :class:`ProgramTooLarge` or :class:`NotSupportedByDevice`
    naming the instruction index.
    """
    check_size(image, imem_slots)
    check_maps(image, features)
    map_ids = list(range(len(image.maps))) if map_ids is None else list(map_ids)
    out: list[Insn] = []
    for pc, insn in enumerate(image.insns):
        spec = insn.spec or isa.lookup(insn.opcode, insn.src, insn.off, insn.imm)
        if insn.opcode == _CALL and spec is not None:
            if insn.src == CallKind.HELPER and insn.imm not in features.helpers:
                raise NotSupportedByDevice(
                    f"{image.name}: insn {pc}: helper {helper_name(insn.imm)} (id {insn.imm})"
                    " not supported by device")
            if insn.src == CallKind.KFUNC:
                raise NotSupportedByDevice(f"{image.name}: insn {pc}: kfunc calls not "
                                           "supported by device")
        if insn.opcode == _LDDW and insn.imm64 is not None and insn.src != Pseudo.IMM64:
            out.append(_translate_lddw(image, pc, insn, map_ids))
            continue
        out.append(insn)
    code = isa.encode_program(out)
    words = [int.from_bytes(code[i:i + 8], "little") for i in range(0, len(code), 8)]
    return Translation(image.name, out, words, map_ids, list(image.maps))


def _translate_lddw(image, pc: int, insn: Insn, map_ids: list[int]) -> Insn:
    index = insn.imm64 & _MASK32
    offset = insn.imm64 >> 32
    if insn.src in (Pseudo.BTF_ID, Pseudo.FUNC):
        raise NotSupportedByDevice(f"{image.name}: insn {pc}: lddw {Pseudo(insn.src).name.lower()}"
                                   " not supported by device")
    if index >= len(image.maps):
        raise NicError(f"{image.name}: insn {pc}: lddw refers to map {index}, but the "
                       f"program has {len(image.maps)} map(s)")
    hw_id = map_ids[index]
    if insn.src in (Pseudo.MAP_FD, Pseudo.MAP_IDX):
        src, imm64 = Pseudo.MAP_IDX, hw_id
    else:
        src, imm64 = Pseudo.MAP_IDX_VALUE, hw_id | offset << 32
    return Insn(insn.opcode, insn.dst, int(src), insn.off, imm64 & _MASK32, imm64,
                isa.lookup(insn.opcode, int(src), insn.off, imm64 & _MASK32))


class Map:
    """One map of the loaded program, reached through the device (async methods).

    ``lookup``/``update``/``delete``/``next_key`` take and return bytes; ``keys`` and
    ``items`` walk the map with get-next-key, as ``bpftool map dump`` does.
    """

    def __init__(self, nic: "Nic", spec, map_id: int):
        self.nic = nic
        self.spec = spec
        self.map_id = map_id

    @property
    def name(self) -> str:
        return self.spec.name

    def _port(self):
        port = self.nic.map_port
        if port is None:
            raise NicError(f"{self.nic.transport.describe()}: no host access to maps on "
                           "this device (its CAP_MAP_TYPES reads 0)")
        return port

    def _check(self, what: str, data: bytes, size: int) -> bytes:
        data = bytes(data)
        if len(data) != size:
            raise NicError(f"map '{self.name}': {what} is {len(data)} bytes; the map's "
                           f"{what} size is {size}")
        return data

    async def lookup(self, key: bytes) -> bytes | None:
        """The value under ``key``, or None."""
        key = self._check("key", key, self.spec.key_size)
        return await self._port().lookup(self.map_id, key)

    async def update(self, key: bytes, value: bytes, flags: int = 0) -> None:
        """Store ``value`` under ``key``; NicError with the errno name when the map refuses."""
        key = self._check("key", key, self.spec.key_size)
        value = bytes(value)
        if self.spec.type in _PER_CPU and len(value) != self.spec.value_size:
            # per-CPU: one value for every engine, or each engine's value, joined
            engines = self.nic.info.features.engines
            value = self._check(f"value ({engines} engines x {self.spec.value_size})", value,
                                engines * self.spec.value_size)
        else:
            value = self._check("value", value, self.spec.value_size)
        result = await self._port().update(self.map_id, key, value, flags)
        if result:
            raise NicError(f"map '{self.name}': update of key {key.hex()} failed: "
                           f"{_errno_name(result)}")

    async def delete(self, key: bytes) -> None:
        key = self._check("key", key, self.spec.key_size)
        result = await self._port().delete(self.map_id, key)
        if result:
            raise NicError(f"map '{self.name}': delete of key {key.hex()} failed: "
                           f"{_errno_name(result)}")

    async def next_key(self, key: bytes | None) -> bytes | None:
        return await self._port().next_key(self.map_id, key)

    async def keys(self) -> list[bytes]:
        out = []
        key = await self.next_key(None)
        while key is not None and len(out) <= self.spec.max_entries:
            out.append(key)
            key = await self.next_key(key)
        return out

    async def items(self) -> list[tuple[bytes, bytes]]:
        out = []
        for key in await self.keys():
            value = await self.lookup(key)
            if value is not None:
                out.append((key, value))
        return out


def _errno_name(result: int) -> str:
    import errno
    import os
    code = -result
    return f"-{errno.errorcode.get(code, str(code))} ({os.strerror(code)})"


class Nic:
    """The driver for one NIC behind ``transport``."""

    def __init__(self, transport: Transport):
        self.transport = transport
        self.info: NicInfo | None = None
        self.offsets: dict[str, int] = {}
        self.program: LoadedProgram | None = None
        self.maps: dict[str, Map] = {}
        self.map_port: RegisterMapPort | None = None    # when the device has maps
        self.drop_when_busy = False
        self.flow_hash = False

    # --- registers by name ---
    async def read(self, name: str) -> int:
        return await self.transport.read(self._offset(name))

    async def write(self, name: str, value: int) -> None:
        await self.transport.write(self._offset(name), value)

    def _offset(self, name: str) -> int:
        if not self.offsets:
            self.offsets = regs.offsets(regs.MAX_PORTS)
        try:
            return self.offsets[name]
        except KeyError:
            raise NicError(f"no register {name!r}") from None

    # --- identify ---
    async def identify(self) -> NicInfo:
        """Read ``ID`` and ``CONFIG``; refuse a device that is not an xdpnic."""
        self.offsets = regs.offsets(regs.MAX_PORTS)
        ident = await self.read("ID")
        if ident != regs.ID_MAGIC:
            raise NicError(f"{self.transport.describe()}: ID reads {ident:#010x}, not "
                           f"{regs.ID_MAGIC:#010x} (\"XDP1\"): no xdpnic there")
        config = await self.read("CONFIG")
        fields = {f.name: (config >> f.bit) & ((1 << f.width) - 1)
                  for f in regs.register("CONFIG").fields}
        caps = {name: await self.read(name) for name in CAP_REGISTERS}
        features = device_features(ident, caps)
        self.info = NicInfo(ident, fields["ports"], fields["data_bytes"],
                            1 << fields["imem_log2"], features)
        self.offsets = regs.offsets(self.info.ports)
        self.map_port = (RegisterMapPort(self.transport, features.engines)
                         if features.map_types else None)
        return self.info

    async def _info(self) -> NicInfo:
        return self.info or await self.identify()

    # --- load ---
    async def prepare(self, image, *, verify: bool = True) -> tuple[Translation, list[str]]:
        """Verify and translate without touching the device (what ``load`` writes)."""
        info = await self._info()
        # The kernel's order: size (BPF_MAXINSNS) and map creation fail before the verifier
        # runs; helpers are the offload verifier's concern, checked in translate.
        check_size(image, info.imem_slots)
        check_maps(image, info.features)
        check_limits(image, info.features)
        log = verify_program(image).log if verify else []
        return translate(image, info.features, info.imem_slots), log

    async def load(self, image, *, budget: int | None = None, drop_when_busy: bool = False,
                   clear_counters: bool = False, verify: bool = True, flow_hash: bool = False,
                   idle_timeout: int = 1_000_000) -> LoadedProgram:
        """Verify, translate, write and attach ``image`` (a ``ProgramImage``), replacing the
        running program atomically.  ``budget``: instructions per frame (default: the
        register's reset value); ``flow_hash``: spread frames over the engines by flow hash
        instead of round robin (``CTRL.flow_hash``)."""
        if budget is not None and not 1 <= budget <= _MASK32:
            raise NicError(f"budget {budget} outside 1..{_MASK32}")
        info = await self._info()
        translation, log = await self.prepare(image, verify=verify)
        port = self.map_port
        if translation.maps and port is None:
            raise NotSupportedByDevice(f"{image.name}: maps not supported by device")
        replaced = self.program is not None
        ctrl_off = self._ctrl_off(drop_when_busy, flow_hash)
        await self.write("CTRL", ctrl_off)
        await self.wait_status_idle(idle_timeout)
        # The old program has stopped: its maps go (RESET) and the new ones are created; a
        # map may not vanish under a running program.
        map_ids = list(range(len(translation.maps)))
        self.maps = {}
        self.program = None
        if port is not None:
            try:
                map_ids = await port.create(translation.maps)
            except TransportError as exc:
                raise NicError(f"{image.name}: {exc} (the NIC stays disabled)") from None
            if map_ids != translation.map_ids:
                translation = translate(image, info.features, info.imem_slots, map_ids)
        ctrl = ctrl_off
        if clear_counters:
            ctrl |= 1 << regs.CTRL.CLEAR_COUNTERS
        program = load_writes(translation.words, budget if budget is not None
                              else regs.register("BUDGET").reset, ctrl)
        for offset, value in program:
            await self.transport.write(offset, value)
        writes = 1 + len(program)       # CTRL (stop), then the slots, PROG_LEN, BUDGET, CTRL
        self.drop_when_busy = drop_when_busy
        self.flow_hash = flow_hash
        self.maps = {spec.name: Map(self, spec, map_id)
                     for spec, map_id in zip(translation.maps, map_ids)}
        self.program = LoadedProgram(image.name, len(translation.words), map_ids, log,
                                     replaced, writes)
        return self.program

    async def detach(self) -> None:
        """Stop running programs (frames wait, or are dropped with ``drop_when_busy``)."""
        await self.write("CTRL", self._ctrl_off(self.drop_when_busy, self.flow_hash))
        self.program = None

    @staticmethod
    def _ctrl_off(drop_when_busy: bool, flow_hash: bool) -> int:
        """CTRL with enable clear and the chosen ingress behaviour."""
        return ((1 << regs.CTRL.DROP_WHEN_BUSY if drop_when_busy else 0)
                | (1 << regs.CTRL.FLOW_HASH if flow_hash else 0))

    async def enabled(self) -> bool:
        return bool(await self.read("CTRL") >> regs.CTRL.ENABLE & 1)

    # --- time and traffic ---
    async def status_idle(self) -> bool:
        return bool(await self.read("STATUS") >> regs.STATUS.IDLE & 1)

    async def wait_status_idle(self, timeout: int = 1_000_000) -> None:
        """Poll ``STATUS.idle`` (the frame in flight has left) for up to ``timeout`` reads."""
        for _ in range(timeout):
            if await self.status_idle():
                return
        raise NicError(f"{self.transport.describe()}: STATUS.idle stayed 0 for {timeout} "
                       "reads: the NIC is stuck on a frame")

    async def send(self, frame: bytes, port: int = 0, error: bool = False) -> None:
        """Queue a frame into RX port ``port`` (``error``: the MAC's tuser flag)."""
        info = await self._info()
        if not 0 <= port < info.ports:
            raise NicError(f"port {port} is not one of the NIC's {info.ports} ports")
        await self.transport.send(port, bytes(frame), error)

    async def receive(self, egress: str, timeout: int = 10_000) -> bytes | None:
        """The next frame out of ``egress`` (``port<N>`` or ``pass``), or None."""
        info = await self._info()
        if egress not in egress_names(info.ports):
            raise NicError(f"no egress {egress!r}: one of "
                           f"{', '.join(egress_names(info.ports))}")
        return await self.transport.receive(egress, timeout)

    async def drain(self, timeout: int = 1_000_000) -> None:
        """Wait until every queued frame has entered the NIC and the NIC is idle again."""
        waited = 0
        while self.transport.pending():
            if not await self.enabled() and not self.drop_when_busy:
                raise NicError(f"{self.transport.pending()} frame(s) wait, but the NIC is "
                               "disabled (load a program first)")
            await self.transport.wait(16)
            waited += 16
            if waited > timeout:
                raise NicError(f"{self.transport.pending()} frame(s) not taken in "
                               f"{timeout} cycles")
        await self.wait_status_idle(timeout)
        # The verdict settles a few cycles after idle rises for the frames that never left.
        await self.transport.wait(4)

    # --- counters, last frame, trace ---
    async def counters(self, check: bool = True) -> Counters:
        """Every counter; with ``check``, :meth:`Counters.check` too."""
        info = await self._info()
        idle_before = await self.status_idle()
        ports = []
        for p in range(info.ports):
            block = {}
            # Dispositions before RX_FRAMES: a frame is received before it is decided, so
            # under traffic the sum can only trail RX_FRAMES, never lead it.
            for name in _PORT_COUNTERS[1:]:
                block[name] = await self.read(f"PORT{p}_{name}")
            block = {"RX_FRAMES": await self.read(f"PORT{p}_RX_FRAMES"), **block}
            ports.append(block)
        host = await self.read("HOST_FRAMES")
        traps = {name[len("TRAP_"):]: await self.read(name) for name in regs.TRAP_COUNTERS}
        idle_after = await self.status_idle()
        snapshot = Counters(ports, host, traps, idle_before and idle_after)
        if check:
            snapshot.check()
        return snapshot

    async def clear_counters(self) -> None:
        ctrl = await self.read("CTRL")
        await self.write("CTRL", ctrl | 1 << regs.CTRL.CLEAR_COUNTERS)

    async def last_frame(self) -> LastFrame:
        trap = TrapCause(await self.read("LAST_TRAP") & 0x7)
        pc = await self.read("LAST_TRAP_PC")
        return LastFrame(await self.read("LAST_CYCLES"), await self.read("LAST_INSNS"),
                         await self.read("LAST_R0"), trap,
                         pc if trap != TrapCause.NONE else None)

    async def trace(self) -> list[str]:
        """``bpf_trace_printk`` lines since the last call."""
        info = await self._info()
        if not info.features.trace:
            raise NicError(f"{self.transport.describe()}: the device has no trace output")
        try:
            return await self.transport.trace_output()
        except TransportError as exc:
            raise NicError(f"{self.transport.describe()}: {exc}") from None

    async def run(self, frame: bytes, port: int = 0, error: bool = False,
                  timeout: int = 100_000) -> "FrameOutcome":
        """Send one frame, wait for it, and say what became of it (from the counters'
        change and the egress it left on) -- one frame at a time, for tests and tools."""
        info = await self._info()
        before = await self.counters(check=False)
        await self.send(frame, port, error)
        await self.drain(timeout)
        after = await self.counters(check=False)
        delta = {k: (after.flat()[k] - v) & _MASK32 for k, v in before.flat().items()}
        ended = [n for n in DISPOSITION_COUNTERS + DISCARD_COUNTERS
                 if delta[f"PORT{port}_{n}"]]
        if delta[f"PORT{port}_RX_FRAMES"] != 1 or len(ended) != 1:
            raise CounterMismatch(f"one frame into port {port} changed the counters by "
                                  f"{ {k: v for k, v in delta.items() if v} }")
        counter = ended[0]
        egress = None
        if counter == "PASS":
            egress = "pass"
        elif counter in ("TX", "REDIRECT"):
            moved = [p for p in range(info.ports) if delta[f"PORT{p}_EGRESS_FRAMES"]]
            egress = f"port{moved[0]}" if moved else None
        output = await self.receive(egress, timeout) if egress else None
        last = await self.last_frame() if counter in DISPOSITION_COUNTERS else None
        return FrameOutcome(counter.lower().removeprefix("discard_"), egress, output, last)


@dataclass
class FrameOutcome:
    """What :meth:`Nic.run` saw: the counter the frame ended in (``drop``, ``aborted``,
    ``pass``, ``tx``, ``redirect``, or a discard reason ``runt``/``oversize``/``mac_error``/
    ``buffer_full``), its egress, the bytes that left (metadata first on ``pass``) and the
    LAST_* registers (None for discards)."""
    counter: str
    egress: str | None
    output: bytes | None
    last: LastFrame | None


def run_sync(coroutine):
    """Run a driver coroutine on a transport that needs no simulator (the model)."""
    return asyncio.run(coroutine)
