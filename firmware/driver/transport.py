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

Host access to maps (:class:`MapPort`) and trace output are optional: a transport offers them
when its device has them (today only the model: the RTL has no map unit and no trace path yet).
"""

import abc
from dataclasses import dataclass, field

__all__ = ["Transport", "TransportError", "MapPort", "DeviceFeatures", "egress_names"]


class TransportError(RuntimeError):
    """The transport could not do what was asked (timeout, simulator failure, bad port)."""


def egress_names(ports: int) -> list[str]:
    """Every egress of a NIC with ``ports`` ports: ``port0`` .. ``port<ports-1>``, ``pass``."""
    return [f"port{p}" for p in range(ports)] + ["pass"]


@dataclass(frozen=True)
class DeviceFeatures:
    """What a device offers beyond the register map: helper ids, map types, trace output.

    The register map has no capability registers yet, so the driver takes these from the
    transport (the model says what it emulates) or from its table for the device's ID.
    """
    helpers: frozenset = frozenset()        # helper ids (firmware.ebpf.helpers.HelperId)
    map_types: frozenset = frozenset()      # firmware.ebpf.maps.MapType values
    trace: bool = False                     # bpf_trace_printk output readable by the host
    notes: tuple[str, ...] = field(default=())


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

    def map_port(self) -> MapPort | None:
        """Host access to the device's maps, or None when the device has none."""
        return None

    def features(self) -> DeviceFeatures | None:
        """What the device offers, when the transport knows better than the driver's table
        for the device's ID (the model does); None otherwise."""
        return None

    def trace_output(self) -> list[str] | None:
        """bpf_trace_printk lines written since the last call, or None without a trace path."""
        return None

    def describe(self) -> str:
        """A short name for messages (``model``, ``amaranth``, ``cocotb/verilator``)."""
        return type(self).__name__
