"""The NIC's register map in Python, on the golden model: a transport with no simulator.

:class:`ModelTransport` answers the control bus as :mod:`hw.regs` declares it (and as
:class:`hw.bus.regbank.RegBank` decodes it): ``ID``/``CONFIG`` read-only, ``CTRL`` with its
self-clearing ``clear_counters`` bit, ``PROG_LEN``, ``BUDGET`` (reset 1,000,000), the
``LAST_*`` registers, the global and per-port counters (32 bits, wrapping), and the write-only
instruction window (low word latched, the high word writes the slot).  Unmapped addresses read
0 and ignore writes; writes to read-only registers are ignored.

Frames run through :func:`firmware.ebpf.xdp.run_frame` on the instruction memory's first
``PROG_LEN`` slots, with the maps the driver created through the map mailbox: ``MAP_CMD``
runs the command at once on a :class:`~firmware.ebpf.model_maps.MapSet` (so ``MAP_STATUS.busy``
always reads 0), with the ``MAP_KEY``/``MAP_VALUE`` windows and ``MAP_CREATE_*`` as operands
and ``MAP_RESULT`` as in :class:`hw.regs.MapOp`: RESET destroys every map, CREATE gives ids
0, 1, 2, ... in order and refuses what the device's limits (the capability registers) do not
allow, per-CPU values are ``engines`` copies joined in ``MAP_VALUE``, NEXT_KEY with flags
bit 0 starts from the first key.  Time is coarse: every bus access is one step and
``wait(n)`` is ``n`` steps; while ``CTRL.enable`` is set, each step runs one queued frame to
completion (so ``STATUS.idle`` always reads 1 between accesses).  While it is clear, frames wait
in their queue -- or, with ``CTRL.drop_when_busy``, are swallowed and counted as buffer-full,
as the hardware does.  Differences from the RTL, all timing: ``LAST_CYCLES`` reads 0 (the model
has no clock), and an enabled model never finds its engine busy, so ``drop_when_busy`` drops
frames only while the NIC is disabled.

The capability registers say what the model offers (``features``): by default every helper
of ``helpers.HelperId``, the map types of ``model_maps.MODEL_MAP_TYPES`` and
``bpf_trace_printk`` output, with the map unit's default limits (:data:`MODEL_FEATURES`: 16
maps, 24-byte CAM keys, 512 CAM slots, 64 KiB of values, 1 engine).  With more engines
(``features.engines``) each keeps its own helper state and frames go to them as the NIC's
dispatcher sends them (``machine.dispatch_engines``: round robin, or by flow hash with
``CTRL.flow_hash``).
``features=nic.XDP1_FEATURES`` makes them read 0, as on a device built before them, so the
driver falls back to its XDP1 table (no maps, no trace) and refuses what it refuses there.

The one thing the model does not emulate is the trace FIFO's words: it formats its
``bpf_trace_printk`` lines itself (:meth:`ModelTransport.trace_output` returns them), since
the golden model keeps text, not the hardware's records.
"""

import collections
import errno

from hw import regs

from ..ebpf import isa
from ..ebpf.helpers import HelperId
from ..ebpf.machine import Dispatch, DispatchRule, TrapCause
from ..ebpf.model_helpers import EngineState
from ..ebpf.maps import MapType
from ..ebpf.model_maps import MODEL_MAP_TYPES, MapError, MapSet, ModelMap
from ..ebpf.xdp import Disposition, run_frame
from .nic import CAM_MAP_TYPES, map_value_bytes
from .transport import DeviceFeatures, Transport, TransportError, egress_names

__all__ = ["ModelTransport", "MODEL_FEATURES", "DEFAULT_MAP_LIMITS"]

# The map unit's default build (Ref: hw/top.py NIC, hw/maps/unit.py MapUnit): 16 maps,
# 24-byte CAM keys, 512 CAM slots, 64 KiB of map-value memory, one engine.
DEFAULT_MAP_LIMITS = {"max_maps": 16, "key_bytes": 24, "engines": 1, "map_slots": 512,
                      "map_bytes": 64 * 1024}

# The driver loads one program into the instruction memory (no tail calls through it yet),
# wires no inner maps and gives the device no FIB.
MODEL_FEATURES = DeviceFeatures(
    helpers=frozenset(int(h) for h in HelperId
                      if h not in (HelperId.TAIL_CALL, HelperId.FIB_LOOKUP)),
    map_types=frozenset(MODEL_MAP_TYPES - {MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS,
                                           MapType.HASH_OF_MAPS}),
    trace=True, notes=("golden model: every helper and map type of the maps issue",),
    **DEFAULT_MAP_LIMITS)

_COUNTER_NAMES = [name for name, _doc in regs.PORT_COUNTERS]
_MASK32 = 0xFFFFFFFF
# Where a disposition is counted, by per-port counter name.
_DISPOSITION_COUNTER = {Disposition.DROP: "DROP", Disposition.ABORTED: "ABORTED",
                        Disposition.PASS: "PASS", Disposition.TX: "TX",
                        Disposition.REDIRECT: "REDIRECT"}
_DISCARD_COUNTER = {"runt": "DISCARD_RUNT", "oversize": "DISCARD_OVERSIZE",
                    "mac-error": "DISCARD_MAC_ERROR"}


class ModelTransport(Transport):
    """A NIC with ``ports`` ports, ``data_width``-bit streams and ``imem_depth`` slots,
    on the golden model (see the module docstring for its register and timing semantics)."""

    def __init__(self, ports: int = 2, data_width: int = 64, imem_depth: int = 4096,
                 features: DeviceFeatures = MODEL_FEATURES):
        if not 1 <= ports <= regs.MAX_PORTS:
            raise ValueError(f"ports must be 1..{regs.MAX_PORTS}, not {ports!r}")
        self.ports = ports
        self.data_width = data_width
        self.imem_depth = imem_depth
        self._features = features
        self.offsets = regs.offsets(ports)
        self._names = {offset: name for name, offset in self.offsets.items()}
        self.rw = {r.name: r.reset for r in regs.REGISTERS if r.access == "rw"}
        self.ro = {r.name: r.reset for r in regs.REGISTERS if r.access == "ro"}
        self.ro["ID"] = regs.ID_MAGIC
        self.ro["CONFIG"] = (ports | (data_width // 8) << 8
                             | (imem_depth - 1).bit_length() << 16 | features.engines << 24)
        self.ro["STATUS"] = 1 << regs.STATUS.IDLE
        self.ro.update(_capability_registers(features))
        self.imem = [0] * imem_depth
        self._low = 0
        self.queue: collections.deque = collections.deque()     # (port, frame, error)
        self.outputs = {name: collections.deque() for name in egress_names(ports)}
        # One helper state per engine; frames go to engines as the NIC's dispatcher sends them.
        self.engines = [EngineState(engine=e) for e in range(features.engines)]
        self._dispatch = DispatchRule(features.engines)
        self._trace_lines: list[str] = []
        self.maps = MapSet([], features.engines)  # the map unit's maps, by id
        self.windows = {regs.MAP_KEY_WINDOW.name: bytearray(regs.MAP_KEY_WINDOW.size),
                        regs.MAP_VALUE_WINDOW.name: bytearray(regs.MAP_VALUE_WINDOW.size)}
        self.results: list = []                  # every FrameResult, for debugging

    # --- the control bus ---
    async def read(self, offset: int) -> int:
        self._step(1)
        window = self._window(offset)
        if window is not None:
            data, at = window
            return int.from_bytes(data[at:at + 4], "little")
        name = self._names.get(offset)
        if name is None:
            return 0
        if name in self.rw:
            pulses = sum(1 << f.bit for f in regs.register(name).fields if f.pulse)
            return self.rw[name] & ~pulses
        return self.ro.get(name, 0)

    async def write(self, offset: int, value: int) -> None:
        value &= _MASK32
        win = regs.IMEM_WINDOW
        if win.offset <= offset < win.offset + win.size:
            slot = (offset - win.offset) >> 3
            if offset & 4 == 0:
                self._low = value
            elif slot < self.imem_depth:
                self.imem[slot] = value << 32 | self._low
            self._step(1)
            return
        window = self._window(offset)
        if window is not None:
            data, at = window
            data[at:at + 4] = value.to_bytes(4, "little")
            self._step(1)
            return
        name = self._names.get(offset)
        if name == "MAP_CMD":
            self.ro["MAP_RESULT"] = self._map_command(value) & _MASK32
        if name in self.rw:
            if name == "CTRL" and value >> regs.CTRL.CLEAR_COUNTERS & 1:
                self._clear_counters()
                value &= ~(1 << regs.CTRL.CLEAR_COUNTERS)
            self.rw[name] = value
        self._step(1)

    def _window(self, offset: int):
        """(the window's bytes, the word's byte offset) when ``offset`` is in MAP_KEY or
        MAP_VALUE, else None."""
        for w in (regs.MAP_KEY_WINDOW, regs.MAP_VALUE_WINDOW):
            if w.offset <= offset < w.offset + w.size:
                return self.windows[w.name], (offset - w.offset) & ~3
        return None

    # --- the map unit, one command per MAP_CMD write ---
    def _map_command(self, command: int) -> int:
        op = command >> regs.MAP_CMD.OP & 0xF
        map_id = command >> regs.MAP_CMD.MAP_ID & 0xFF
        flags = command >> regs.MAP_CMD.FLAGS & 0xFF
        if op == regs.MapOp.RESET:
            self.maps = MapSet([], self._features.engines)
            return 0
        if op == regs.MapOp.CREATE:
            return self._create()
        if not self._features.map_types or map_id >= len(self.maps.maps):
            return -errno.EBADF         # no such map (or no map unit), as the hardware says
        m = self.maps[map_id]
        key = bytes(self.windows["MAP_KEY"][:m.spec.key_size])
        value = self.windows["MAP_VALUE"]
        size = m.spec.value_size
        if op == regs.MapOp.LOOKUP:
            slot = m.find(key)          # a host lookup is no use (LRU order unchanged)
            if slot is None or (m.spec.type in (MapType.DEVMAP, MapType.CPUMAP)
                                and not m._devmap_ifindex(slot)):
                return -errno.ENOENT    # an empty devmap slot has no device (as the kernel)
            value[:size * m.copies] = b"".join(m.value(slot, c) for c in range(m.copies))
            return 0
        if op == regs.MapOp.UPDATE:
            first = m.update(key, bytes(value[:size]), flags, 0 if m.copies > 1 else None)
            if first or m.copies == 1:
                return first
            slot = m.find(key)
            for c in range(1, m.copies):
                m._set_slot(slot, bytes(value[c * size:(c + 1) * size]), c)
            return 0
        if op == regs.MapOp.DELETE:
            return m.delete(key)
        if op == regs.MapOp.NEXT_KEY:
            following = m.next_key(None if flags & 1 else key)
            if following is None:
                return -errno.ENOENT
            self.windows["MAP_KEY"][:len(following)] = following
            return 0
        return -errno.EINVAL

    def _create(self) -> int:
        """CREATE from MAP_CREATE_*: the next id, or the refusal hw.maps.unit gives, in its
        order: -EINVAL for a type or sizes the device does not take, -E2BIG for a key or value
        beyond its widths, -ENOMEM when maps, CAM slots or value memory run out."""
        from ..ebpf.maps import MapSpec
        f = self._features
        kind_number = self.rw["MAP_CREATE_TYPE"]
        key_size = self.rw["MAP_CREATE_KEY_SIZE"]
        value_size = self.rw["MAP_CREATE_VALUE_SIZE"]
        entries = self.rw["MAP_CREATE_MAX_ENTRIES"]
        if kind_number not in {int(t) for t in f.map_types}:
            return -errno.EINVAL
        spec = MapSpec(f"map{len(self.maps.maps)}", MapType(kind_number), key_size, value_size,
                       entries)
        try:
            m = ModelMap(spec, len(self.maps.maps), f.engines)
        except MapError as exc:
            # Sizes the map type refuses are -EINVAL; the window a map has in the address map
            # overflowing is -E2BIG (checked below, after the key width).
            if "exceed" not in str(exc):
                return -errno.EINVAL
            m = None
        cam = spec.type in CAM_MAP_TYPES
        key = key_size - (4 if spec.type == MapType.LPM_TRIE else 0)
        copies = f.engines if spec.type in (MapType.PERCPU_ARRAY, MapType.PERCPU_HASH) else 1
        if (cam and key > f.key_bytes) or value_size * copies > regs.MAP_VALUE_WINDOW.size \
                or entries >= 1 << 20 or m is None:
            return -errno.E2BIG
        slots = sum(x.spec.max_entries for x in self.maps.maps if x.spec.type in CAM_MAP_TYPES)
        used = sum(map_value_bytes(x.spec, f.engines) for x in self.maps.maps)
        if len(self.maps.maps) >= f.max_maps or (cam and slots + entries > f.map_slots) \
                or used + map_value_bytes(spec, f.engines) > f.map_bytes:
            return -errno.ENOMEM
        self.maps.maps.append(m)
        return m.map_id

    def _clear_counters(self) -> None:
        for name in self.ro:
            if name.startswith("PORT") or name.startswith("TRAP_") or name == "HOST_FRAMES":
                self.ro[name] = 0
        for p in range(self.ports):
            for c in _COUNTER_NAMES:
                self.ro[f"PORT{p}_{c}"] = 0

    def _count(self, name: str) -> None:
        self.ro[name] = (self.ro.get(name, 0) + 1) & _MASK32

    # --- frames ---
    async def send(self, port: int, frame: bytes, error: bool = False) -> None:
        if not 0 <= port < self.ports:
            raise TransportError(f"port {port} is not one of the {self.ports} RX ports")
        self.queue.append((port, bytes(frame), bool(error)))

    def pending(self) -> int:
        return len(self.queue)

    async def receive(self, egress: str, timeout: int = 10_000) -> bytes | None:
        if egress not in self.outputs:
            raise TransportError(f"no egress {egress!r}: one of {', '.join(self.outputs)}")
        for _ in range(max(timeout, 1)):
            if self.outputs[egress]:
                return self.outputs[egress].popleft()
            if not self.queue:
                break
            self._step(1)
        return self.outputs[egress].popleft() if self.outputs[egress] else None

    def received(self, egress: str) -> int:
        return len(self.outputs[egress])

    async def wait(self, cycles: int = 1) -> None:
        self._step(cycles)

    def _step(self, steps: int) -> None:
        ctrl = self.rw["CTRL"]
        enabled = ctrl >> regs.CTRL.ENABLE & 1
        if not enabled:
            if ctrl >> regs.CTRL.DROP_WHEN_BUSY & 1:
                while self.queue:
                    port, _frame, _error = self.queue.popleft()
                    self._count(f"PORT{port}_RX_FRAMES")
                    self._count(f"PORT{port}_DISCARD_BUFFER_FULL")
            return
        for _ in range(min(steps, len(self.queue))):
            self._run_one(*self.queue.popleft())

    def _program(self) -> list[isa.Insn]:
        length = min(self.rw["PROG_LEN"], self.imem_depth)
        code = b"".join(w.to_bytes(8, "little") for w in self.imem[:length])
        # The hardware executes whatever is in the memory; illegal words trap where they run.
        return isa.decode_program(code, strict=False)

    def _run_one(self, port: int, frame: bytes, error: bool) -> None:
        mode = Dispatch(self.rw["CTRL"] >> regs.CTRL.FLOW_HASH & 1)
        engine = self.engines[self._dispatch.engine(frame, mode)]
        seen = len(engine.trace)
        result = run_frame(self._program(), frame, ports=self.ports, ingress_port=port,
                           error_flag=error, maps=self.maps if self.maps.maps else None,
                           engine=engine, budget=self.rw["BUDGET"])
        self._trace_lines += engine.trace[seen:]
        self.results.append(result)
        self._count(f"PORT{port}_RX_FRAMES")
        if result.disposition == Disposition.DISCARD:
            self._count(f"PORT{port}_{_DISCARD_COUNTER[result.reason]}")
            return
        self._count(f"PORT{port}_{_DISPOSITION_COUNTER[result.disposition]}")
        if result.trap != TrapCause.NONE:
            self._count(regs.TRAP_COUNTERS[int(result.trap) - 1])
        self.ro["LAST_CYCLES"] = 0
        self.ro["LAST_INSNS"] = result.insn_count & _MASK32
        self.ro["LAST_R0"] = (result.r0 or 0) & _MASK32
        self.ro["LAST_TRAP"] = int(result.trap)
        self.ro["LAST_TRAP_PC"] = (result.trap_pc or 0) & _MASK32
        if result.disposition == Disposition.PASS:
            self.outputs["pass"].append(result.metadata + result.frame)
            self._count("HOST_FRAMES")
        elif result.disposition in (Disposition.TX, Disposition.REDIRECT):
            self.outputs[f"port{result.egress_port}"].append(result.frame)
            self._count(f"PORT{result.egress_port}_EGRESS_FRAMES")

    # --- what only the model has ---
    async def trace_output(self) -> list[str]:
        """The golden model's trace lines since the last call (the model keeps text, not the
        trace FIFO's words)."""
        lines, self._trace_lines = self._trace_lines, []
        return lines

    def describe(self) -> str:
        return "model"


def _capability_registers(features: DeviceFeatures) -> dict[str, int]:
    """CAP_* as a device offering ``features`` reads them (all 0 without map types and
    helpers: the XDP1 table's device)."""
    if features == _xdp1():
        return {}
    helpers = sum(1 << h for h in features.helpers if h < 96)
    fields = {"max_maps": features.max_maps, "key_bytes": features.key_bytes,
              "engines": features.engines, "trace": int(features.trace)}
    caps_maps = sum(value << f.bit for f in regs.register("CAP_MAPS").fields
                    for name, value in fields.items() if f.name == name)
    return {"CAP_HELPERS_LO": helpers & _MASK32, "CAP_HELPERS_HI": helpers >> 32 & _MASK32,
            "CAP_HELPERS_EXT": helpers >> 64,
            "CAP_MAP_TYPES": sum(1 << int(t) for t in features.map_types),
            "CAP_MAPS": caps_maps, "CAP_MAP_SLOTS": features.map_slots,
            "CAP_MAP_BYTES": features.map_bytes}


def _xdp1() -> DeviceFeatures:
    from .nic import XDP1_FEATURES
    return XDP1_FEATURES
