"""The driver's view of a NIC: a control bus and packet pipes, nothing more.

A :class:`Transport` is what the :class:`~firmware.driver.nic.Nic` driver talks to.  It knows
nothing about programs, counters or maps; it moves 32-bit words on the control bus (at the byte
offsets of :mod:`hw.regs`) and frames in and out of the NIC's AXI-Stream ports.  Three
implementations run the same driver code:

* :class:`firmware.driver.model_transport.ModelTransport` -- the register map in Python on top
  of the golden model (``xdp.run_frame`` and ``MapSet``);
* :class:`sim.transport_amaranth.AmaranthTransport` -- :class:`hw.top.NIC` in Amaranth's
  simulator, driven from an async testbench;
* :class:`sim.transport_cocotb.CocotbTransport` -- the NIC's Verilog under cocotb, through
  cocotbext-axi (AXI4-Lite master, AXI-Stream sources and sinks).

Egress names are those of the verdict record (:mod:`sim.nic_results`): ``"port<N>"`` for frames
leaving port N (XDP_TX, XDP_REDIRECT) and ``"pass"`` for the host stream (XDP_PASS; the
metadata the program left comes first, then the frame).

Host access to maps is the driver's, not the transport's: maps are reached through the map
mailbox registers (:class:`firmware.driver.map_port.RegisterMapPort`) on every transport whose
device has them.  ``bpf_trace_printk`` output is read from ``TRACE_STATUS``/``TRACE_DATA``
(:meth:`Transport.trace_output`); the model, which formats its trace lines itself, overrides it.
"""

import abc
from dataclasses import dataclass, field

__all__ = ["Transport", "TransportError", "MapPort", "DeviceFeatures", "egress_names",
           "decode_trace_words"]


class TransportError(RuntimeError):
    """The transport could not do what was asked (timeout, simulator failure, bad port)."""


def egress_names(ports: int) -> list[str]:
    """Every egress of a NIC with ``ports`` ports: ``port0`` .. ``port<ports-1>``, ``pass``."""
    return [f"port{p}" for p in range(ports)] + ["pass"]


@dataclass(frozen=True)
class DeviceFeatures:
    """What a device offers beyond the register map: helper ids, map types, trace output, and
    the map unit's limits.

    The driver reads these from the capability registers (``CAP_HELPERS_LO/HI``,
    ``CAP_MAP_TYPES``, ``CAP_MAPS``, ``CAP_MAP_SLOTS``, ``CAP_MAP_BYTES``); a device whose
    capability registers read 0 (the XDP1 datapath) gets the driver's table for its ID.
    """
    helpers: frozenset = frozenset()        # helper ids (firmware.ebpf.helpers.HelperId)
    map_types: frozenset = frozenset()      # firmware.ebpf.maps.MapType values
    trace: bool = False                     # bpf_trace_printk output readable by the host
    notes: tuple[str, ...] = field(default=())
    max_maps: int = 0                       # maps that can exist at once
    key_bytes: int = 0                      # largest hash key (LPM: data after the prefix)
    engines: int = 1                        # copies of a per-CPU value
    map_slots: int = 0                      # CAM slots shared by hash, LRU and LPM maps
    map_bytes: int = 0                      # map-value memory shared by all maps


class MapPort(abc.ABC):
    """Host access to the device's maps (the maps issue's control-bus map interface).

    Keys and values are bytes; per-CPU values are one ``value_size`` slice per engine, joined.
    Every call returns the kernel's result: 0 or a negative errno, or the bytes asked for.
    """

    @abc.abstractmethod
    async def create(self, specs: list) -> list[int]:
        """Create the maps of a program about to be loaded (``maps.MapSpec`` list, the
        object's order), replacing those of the previous program; their hardware ids."""

    @abc.abstractmethod
    async def lookup(self, map_id: int, key: bytes) -> bytes | None:
        """The value stored under ``key`` (all engines' copies for per-CPU maps), or None."""

    @abc.abstractmethod
    async def update(self, map_id: int, key: bytes, value: bytes, flags: int) -> int:
        """Store ``value`` under ``key`` (``BPF_ANY``/``BPF_NOEXIST``/``BPF_EXIST``)."""

    @abc.abstractmethod
    async def delete(self, map_id: int, key: bytes) -> int:
        """Remove ``key``."""

    @abc.abstractmethod
    async def next_key(self, map_id: int, key: bytes | None) -> bytes | None:
        """The key after ``key`` (the first when None), or None after the last."""


def decode_trace_words(words: list[int]) -> tuple[list[str], list[int]]:
    """Trace FIFO words -> (the lines of the whole records, the words of an unfinished one),
    through :mod:`firmware.driver.trace` (the record format's owner)."""
    try:
        from . import trace
    except ImportError:
        raise TransportError("the device has a trace FIFO but this driver has no decoder for "
                             "its records (firmware/driver/trace.py is missing)") from None
    try:
        return trace.decode_words(words)
    except trace.TraceDecodeError as exc:
        raise TransportError(f"trace FIFO: {exc}") from None


class Transport(abc.ABC):
    """Registers on the control bus, frames on the ports, and the passing of time."""

    @abc.abstractmethod
    async def read(self, offset: int) -> int:
        """Read the 32-bit word at byte ``offset`` of the control bus."""

    @abc.abstractmethod
    async def write(self, offset: int, value: int) -> None:
        """Write the 32-bit word ``value`` at byte ``offset`` of the control bus."""

    @abc.abstractmethod
    async def send(self, port: int, frame: bytes, error: bool = False) -> None:
        """Queue ``frame`` for RX port ``port`` (``error``: the MAC's tuser flag on every
        beat).  Returns at once; the frame enters when the NIC takes it."""

    @abc.abstractmethod
    def pending(self) -> int:
        """Frames queued by :meth:`send` that the NIC has not taken in completely yet."""

    @abc.abstractmethod
    async def receive(self, egress: str, timeout: int = 10_000) -> bytes | None:
        """The next frame that left on ``egress`` (``"port<N>"`` or ``"pass"``), waiting up
        to ``timeout`` cycles for one; None if none came."""

    @abc.abstractmethod
    def received(self, egress: str) -> int:
        """How many frames wait on ``egress`` for :meth:`receive`."""

    @abc.abstractmethod
    async def wait(self, cycles: int = 1) -> None:
        """Let ``cycles`` clock cycles pass."""

    async def trace_output(self) -> list[str]:
        """``bpf_trace_printk`` lines written since the last call: every word waiting in the
        trace FIFO (``TRACE_STATUS.words``) popped from ``TRACE_DATA`` and decoded by
        :mod:`firmware.driver.trace`; the words of a record still being written wait here for
        the next call.  Only for a device whose ``CAP_MAPS.trace`` is set."""
        from hw import regs
        offsets = regs.offsets(0)
        words = list(getattr(self, "_trace_pending", []))
        count = await self.read(offsets["TRACE_STATUS"]) & 0xFFFF
        for _ in range(count):
            words.append(await self.read(offsets["TRACE_DATA"]))
        lines, rest = decode_trace_words(words)
        self._trace_pending = rest
        return lines

    def describe(self) -> str:
        """A short name for messages (``model``, ``amaranth``, ``cocotb/verilator``)."""
        return type(self).__name__
