"""The NIC's register map in Python, on the golden model: a transport with no simulator.

:class:`ModelTransport` answers the control bus as :mod:`hw.regs` declares it (and as
:class:`hw.bus.regbank.RegBank` decodes it): ``ID``/``CONFIG`` read-only, ``CTRL`` with its
self-clearing ``clear_counters`` bit, ``PROG_LEN``, ``BUDGET`` (reset 1,000,000), the
``LAST_*`` registers, the global and per-port counters (32 bits, wrapping), and the write-only
instruction window (low word latched, the high word writes the slot).  Unmapped addresses read
0 and ignore writes; writes to read-only registers are ignored.

Frames run through :func:`firmware.ebpf.xdp.run_frame` on the instruction memory's first
``PROG_LEN`` slots, with the maps the driver created through :meth:`map_port` (a
:class:`~firmware.ebpf.model_maps.MapSet`).  Time is coarse: every bus access is one step and
``wait(n)`` is ``n`` steps; while ``CTRL.enable`` is set, each step runs one queued frame to
completion (so ``STATUS.idle`` always reads 1 between accesses).  While it is clear, frames wait
in their queue -- or, with ``CTRL.drop_when_busy``, are swallowed and counted as buffer-full,
as the hardware does.  Differences from the RTL, all timing: ``LAST_CYCLES`` reads 0 (the model
has no clock), and an enabled model never finds its engine busy, so ``drop_when_busy`` drops
frames only while the NIC is disabled.

By default the model offers what the golden model offers: every helper of
``helpers.HelperId``, the map types of ``model_maps.MODEL_MAP_TYPES`` and ``bpf_trace_printk``
output -- the NIC as the maps issue will make it.  ``features=nic.XDP1_FEATURES`` makes it
claim only what the RTL offers today (no maps, no trace), so the driver refuses the same
programs it refuses on the RTL.
"""

import collections

from hw import regs

from ..ebpf import isa
from ..ebpf.helpers import HelperId
from ..ebpf.machine import TrapCause
from ..ebpf.model_helpers import EngineState
from ..ebpf.model_maps import MODEL_MAP_TYPES, MapError, MapSet
from ..ebpf.xdp import Disposition, run_frame
from .transport import DeviceFeatures, MapPort, Transport, TransportError, egress_names

__all__ = ["ModelTransport", "ModelMapPort", "MODEL_FEATURES"]

MODEL_FEATURES = DeviceFeatures(
    helpers=frozenset(int(h) for h in HelperId), map_types=frozenset(MODEL_MAP_TYPES),
    trace=True, notes=("golden model: every helper and map type of the maps issue",))

_COUNTER_NAMES = [name for name, _doc in regs.PORT_COUNTERS]
_MASK32 = 0xFFFFFFFF
# Where a disposition is counted, by per-port counter name.
_DISPOSITION_COUNTER = {Disposition.DROP: "DROP", Disposition.ABORTED: "ABORTED",
                        Disposition.PASS: "PASS", Disposition.TX: "TX",
                        Disposition.REDIRECT: "REDIRECT"}
_DISCARD_COUNTER = {"runt": "DISCARD_RUNT", "oversize": "DISCARD_OVERSIZE",
                    "mac-error": "DISCARD_MAC_ERROR"}


class ModelMapPort(MapPort):
    """The model's maps, as the host reaches them."""

    def __init__(self, transport: "ModelTransport"):
        self.transport = transport

    def _map(self, map_id: int):
        maps = self.transport.staged_maps
        if maps is None or not 0 <= map_id < len(maps.maps):
            raise TransportError(f"no map with id {map_id} on the device")
        return maps[map_id]

    async def create(self, specs: list) -> list[int]:
        try:
            self.transport.staged_maps = MapSet(list(specs)) if specs else None
        except MapError as exc:
            raise TransportError(str(exc)) from None
        return list(range(len(specs)))

    async def lookup(self, map_id: int, key: bytes) -> bytes | None:
        m = self._map(map_id)
        slot = m.find(bytes(key))
        if slot is None:
            return None
        return b"".join(m.value(slot, c) for c in range(m.copies))

    async def update(self, map_id: int, key: bytes, value: bytes, flags: int) -> int:
        m = self._map(map_id)
        size = m.spec.value_size
        if len(value) == size * m.copies and m.copies > 1:
            # per-CPU: one value per engine; update every copy, each with its own bytes
            first = m.update(key, value[:size], flags, 0)
            if first:
                return first
            for c in range(1, m.copies):
                m._set_slot(m.find(bytes(key)), value[c * size:(c + 1) * size], c)
            return 0
        return m.update(key, value, flags)

    async def delete(self, map_id: int, key: bytes) -> int:
        return self._map(map_id).delete(key)

    async def next_key(self, map_id: int, key: bytes | None) -> bytes | None:
        return self._map(map_id).next_key(key)


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
                             | (imem_depth - 1).bit_length() << 16)
        self.ro["STATUS"] = 1 << regs.STATUS.IDLE
        self.imem = [0] * imem_depth
        self._low = 0
        self.queue: collections.deque = collections.deque()     # (port, frame, error)
        self.outputs = {name: collections.deque() for name in egress_names(ports)}
        self.engine = EngineState()
        self.maps: MapSet | None = None          # the maps the running program sees
        self.staged_maps: MapSet | None = None   # created for the next program
        self._trace_seen = 0
        self.results: list = []                  # every FrameResult, for debugging

    # --- the control bus ---
    async def read(self, offset: int) -> int:
        self._step(1)
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
        name = self._names.get(offset)
        if name in self.rw:
            if name == "CTRL" and value >> regs.CTRL.CLEAR_COUNTERS & 1:
                self._clear_counters()
                value &= ~(1 << regs.CTRL.CLEAR_COUNTERS)
            if name == "CTRL" and value >> regs.CTRL.ENABLE & 1 \
                    and not self.rw["CTRL"] >> regs.CTRL.ENABLE & 1:
                # Enabling attaches the maps created for this program (frames were held
                # while disabled, so none sees the old maps with the new program).
                self.maps = self.staged_maps
            self.rw[name] = value
        self._step(1)

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
        result = run_frame(self._program(), frame, ports=self.ports, ingress_port=port,
                           error_flag=error, maps=self.maps, engine=self.engine,
                           budget=self.rw["BUDGET"])
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
    def map_port(self) -> MapPort | None:
        return ModelMapPort(self) if self._features.map_types else None

    def features(self) -> DeviceFeatures:
        return self._features

    def trace_output(self) -> list[str] | None:
        if not self._features.trace:
            return None
        lines = self.engine.trace[self._trace_seen:]
        self._trace_seen = len(self.engine.trace)
        return list(lines)

    def describe(self) -> str:
        return "model"
