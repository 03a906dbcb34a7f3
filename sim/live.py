"""A NIC that takes frames one at a time, as they arrive, and whose maps change while it runs.

:class:`LiveNic` is what ``xdpnic attach`` drives (and ``xdpnic run --target rtl`` when map
entries are given on the command line): :meth:`LiveNic.process` runs one received frame and
returns its :class:`~firmware.ebpf.xdp.FrameResult`; the map methods read and change the maps
between frames.  Two implementations:

* :class:`RtlLiveNic`: the NIC's Verilog in Verilator's C++ harness driven op by op
  (:class:`sim.fast.Session`); the host driver (:class:`firmware.driver.nic.Nic`) loads the
  program and reaches the maps through the registers and the map mailbox, exactly as it does
  for the firmware tests' ``rtl`` target; each frame is one ``exchange`` (the frame in, run
  until the NIC is quiet, its verdict and output back).
* :class:`ModelLiveNic`: the golden model (``xdp.run_frame`` over a ``MapSet``).

Map operations return the kernel's answer (0 or a negative errno) so that the control socket
can print what bpftool prints for the same failure.
"""

import abc
import asyncio
import errno
import time

from firmware.driver.map_entries import PER_CPU_TYPES, MapEntry
from firmware.ebpf.machine import DEFAULT_INSN_BUDGET
from firmware.ebpf.xdp import FrameResult

__all__ = ["LiveNic", "RtlLiveNic", "ModelLiveNic", "LiveError", "open_live_nic",
           "run_frames", "LIVE_TARGETS"]

LIVE_TARGETS = ("rtl", "model")


class LiveError(RuntimeError):
    """The NIC could not be started, or a map operation failed (the message says which)."""


class LiveNic(abc.ABC):
    """One loaded program on a NIC with ``ports`` ports.  ``specs``: its maps (``MapSpec``)."""

    target = ""

    def __init__(self, image, ports: int):
        self.image = image
        self.ports = ports
        self.specs = list(image.maps)

    @abc.abstractmethod
    def process(self, frame: bytes, port: int) -> FrameResult:
        """Run one frame received on ``port``; its verdict and the frame as it leaves."""

    @abc.abstractmethod
    def update(self, name: str, key: bytes, value: bytes, flags: int = 0) -> int:
        """0 or a negative errno."""

    @abc.abstractmethod
    def delete(self, name: str, key: bytes) -> int:
        """0 or a negative errno."""

    @abc.abstractmethod
    def lookup(self, name: str, key: bytes) -> bytes | None:
        """The value (per-CPU maps: every engine's copy, joined), or None."""

    @abc.abstractmethod
    def dump(self, name: str) -> dict:
        """Map ``name`` in ``ModelMap.dump()``'s format (id, name, type, sizes, entries)."""

    def close(self) -> None:
        """Stop the simulation (the model has nothing to stop)."""

    def apply(self, entries: list[MapEntry]) -> None:
        """Set command-line entries; LiveError names the first the map refuses."""
        for e in entries:
            result = self.update(e.map, e.key, e.value, e.flags)
            if result:
                raise LiveError(f"map {e.map!r}: update of key {e.key.hex()} refused: "
                                f"{errno_name(result)}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def errno_name(result: int) -> str:
    """``-2`` -> ``ENOENT (No such file or directory)``."""
    import os
    code = -result
    return f"{errno.errorcode.get(code, str(code))} ({os.strerror(code)})"


class ModelLiveNic(LiveNic):
    """The golden model; ``bpf_ktime_get_ns`` reads the host's monotonic clock."""

    target = "model"

    def __init__(self, image, ports: int = 2, budget: int = DEFAULT_INSN_BUDGET):
        from firmware.ebpf.model_helpers import EngineState
        from firmware.ebpf.model_maps import MapError, MapSet
        super().__init__(image, ports)
        try:
            self.maps = MapSet(self.specs)
        except MapError as exc:
            raise LiveError(f"{image.source}: {exc}") from None
        self.engine = EngineState()
        self.budget = budget

    def process(self, frame: bytes, port: int) -> FrameResult:
        from firmware.ebpf.xdp import run_frame
        self.engine.now_ns = time.monotonic_ns()
        return run_frame(self.image.insns, frame, ports=self.ports, ingress_port=port,
                         maps=self.maps, engine=self.engine, budget=self.budget)

    def update(self, name, key, value, flags=0):
        return self.maps.by_name(name).update(key, value, flags)

    def delete(self, name, key):
        return self.maps.by_name(name).delete(key)

    def lookup(self, name, key):
        m = self.maps.by_name(name)
        slot = m.lookup(key)
        if slot is None:
            return None
        return b"".join(m.value(slot, c) for c in range(m.copies))

    def dump(self, name):
        return self.maps.by_name(name).dump()


class RtlLiveNic(LiveNic):
    """The Verilated NIC (one engine), loaded and reached through the host driver."""

    target = "rtl"

    def __init__(self, image, ports: int = 2, budget: int = DEFAULT_INSN_BUDGET):
        from firmware.driver.nic import Nic, NicError
        from sim import fast
        super().__init__(image, ports)
        try:
            self.session = fast.Session(ports=ports)
        except fast.FastError as exc:
            raise LiveError(f"rtl: {exc}") from None
        try:
            self.session.reset()
            self.nic = Nic(fast.driver_transport(self.session))
            self._run(self.nic.load(image, budget=budget, clear_counters=True))
        except (NicError, fast.FastError) as exc:
            self.session.close()
            raise LiveError(f"rtl: {exc}") from None

    @staticmethod
    def _run(coroutine):
        return asyncio.run(coroutine)

    def process(self, frame: bytes, port: int) -> FrameResult:
        from sim import fast
        try:
            (result,) = self.session.exchange([(frame, port)]).results()
        except fast.FastError as exc:
            raise LiveError(f"rtl: the simulation stopped: {exc}") from None
        return result

    def _map(self, name: str):
        try:
            return self.nic.maps[name]
        except KeyError:
            raise LiveError(f"no map named {name!r}") from None

    def update(self, name, key, value, flags=0):
        m = self._map(name)
        return self._run(m.nic.map_port.update(m.map_id, bytes(key), self._value(m, value),
                                               flags))

    def delete(self, name, key):
        m = self._map(name)
        return self._run(m.nic.map_port.delete(m.map_id, bytes(key)))

    def _value(self, m, value: bytes) -> bytes:
        # per-CPU: one value for every engine, as the driver's Map.update stores it
        if m.spec.type in PER_CPU_TYPES and len(value) == m.spec.value_size:
            return bytes(value) * self.nic.info.features.engines
        return bytes(value)

    def lookup(self, name, key):
        m = self._map(name)
        return self._run(m.nic.map_port.lookup(m.map_id, bytes(key)))

    def dump(self, name):
        from firmware.driver.capture import dump_map
        return self._run(dump_map(self._map(name)))

    def counters(self) -> dict:
        """The NIC's own counters (``Counters.flat()``)."""
        return self._run(self.nic.counters(check=False)).flat()

    def close(self) -> None:
        self.session.close()


def open_live_nic(image, target: str = "rtl", ports: int = 2,
                  budget: int = DEFAULT_INSN_BUDGET) -> LiveNic:
    """A :class:`LiveNic` for ``target`` (``rtl`` or ``model``) with ``image`` loaded."""
    if target == "rtl":
        return RtlLiveNic(image, ports, budget)
    if target == "model":
        return ModelLiveNic(image, ports, budget)
    raise LiveError(f"target {target!r} cannot run live (have: {', '.join(LIVE_TARGETS)})")


def run_frames(image, frames: list[bytes], options: dict) -> list[FrameResult]:
    """``xdpnic run --target rtl`` with map entries from the command line: the program loaded
    by the driver on the Verilated NIC, ``options["map_entries"]`` set through the map mailbox,
    every frame into ``options["ingress_port"]``, the maps read back into
    ``options["map_dumps"]``."""
    from firmware.program import ProgramError
    began = time.perf_counter()
    try:
        with RtlLiveNic(image, options["ports"], options["budget"]) as nic:
            nic.apply(options.get("map_entries") or [])
            results = [nic.process(frame, options["ingress_port"]) for frame in frames]
            options["map_dumps"] = [nic.dump(spec.name) for spec in nic.specs]
            counters = nic.counters()
    except LiveError as exc:
        raise ProgramError(f"rtl target: {exc}") from None
    options["rtl"] = {"counters": counters, "wall_seconds": time.perf_counter() - began,
                      "driver": True, "harness": "fast"}
    return results
