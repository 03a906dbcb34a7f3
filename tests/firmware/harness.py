"""One interface over every target a firmware test runs on, so a test is written once.

A ``Target`` holds one loaded program with its maps and offers what the NIC's host driver
does: run a frame (arriving on an ifindex and receive queue), and read, write and delete map
entries between frames.  ``TARGETS`` maps a target name to its factory; the tests are
parametrized over its keys, so a new back end (the RTL under cocotb) is one more entry.

Ports and ifindexes: the NIC numbers its ports from 0 and shows port ``p`` to programs as
ifindex ``p + 1`` (``machine.port_ifindex``).  The kernel target runs in the host's network
namespace, where ifindex 1 is ``lo``; tests use ifindexes that exist there (see
``kernel_ifindexes``).

Per-CPU maps: ``entries`` and ``lookup`` give the sum over CPUs (engines), lane by lane in
u64 (every per-CPU value in these programs is made of u64 counters), since which CPU the
kernel runs a test frame on is not ours to choose.
"""

import os
import struct
from dataclasses import dataclass

from firmware.ebpf.machine import XdpAction, ifindex_port, port_ifindex
from firmware.ebpf.maps import MapType
from firmware.ebpf.model_helpers import EngineState
from firmware.ebpf.model_maps import MapSet
from firmware.ebpf.xdp import Disposition, run_frame

__all__ = ["Outcome", "Target", "ModelTarget", "KernelTarget", "RtlTarget",
           "TARGETS", "PERCPU_TYPES", "sum_u64_lanes"]

PERCPU_TYPES = (MapType.PERCPU_ARRAY, MapType.PERCPU_HASH)
MODEL_PORTS = 8                 # enough for every ifindex the tests redirect to


@dataclass
class Outcome:
    """What happened to one frame: the verdict, the frame as it leaves (None for drop and
    aborted), and the redirect target's ifindex where the target can observe it."""
    action: int
    frame: bytes | None
    redirect_ifindex: int | None = None
    insn_count: int | None = None
    host_queue: int | None = None       # a CPUMAP redirect: the host queue (model)

    @property
    def action_name(self) -> str:
        try:
            return XdpAction(self.action).name
        except ValueError:
            return str(self.action)


def outcome_of(result) -> Outcome:
    """The :class:`Outcome` of an ``xdp.FrameResult`` (the model's, or the RTL's records)."""
    action = {Disposition.DROP: XdpAction.DROP, Disposition.PASS: XdpAction.PASS,
              Disposition.TX: XdpAction.TX, Disposition.REDIRECT: XdpAction.REDIRECT,
              Disposition.ABORTED: XdpAction.ABORTED}[result.disposition]
    leaves = action in (XdpAction.PASS, XdpAction.TX, XdpAction.REDIRECT)
    redirect = port_ifindex(result.egress_port) if action == XdpAction.REDIRECT \
        and result.egress_port is not None else None
    return Outcome(int(action), result.frame if leaves else None, redirect, result.insn_count,
                   getattr(result, "host_queue", None))


def sum_u64_lanes(values: list[bytes]) -> bytes:
    """Per-CPU values summed lane by lane as little-endian u64 (wrapping)."""
    size = len(values[0])
    if size % 8:
        raise ValueError(f"per-CPU value of {size} bytes is not made of u64 lanes")
    lanes = [0] * (size // 8)
    for value in values:
        for i, lane in enumerate(struct.unpack(f"<{size // 8}Q", value)):
            lanes[i] = (lanes[i] + lane) & (2**64 - 1)
    return struct.pack(f"<{len(lanes)}Q", *lanes)


class Target:
    """A loaded program on one target.  Subclasses implement the methods below."""
    name = "?"
    observes_redirect = False

    def run(self, frame: bytes, ingress_ifindex: int = 1, rx_queue: int = 0) -> Outcome:
        raise NotImplementedError

    def update(self, map_name: str, key: bytes, value: bytes) -> None:
        raise NotImplementedError

    def delete(self, map_name: str, key: bytes) -> bool:
        raise NotImplementedError

    def set_program(self, map_name: str, slot: int, program: str) -> None:
        """Put the object's program ``program`` in slot ``slot`` of a PROG_ARRAY."""
        raise NotImplementedError

    def set_inner_map(self, map_name: str, key: bytes, inner: str) -> None:
        """Put the object's map ``inner`` under ``key`` of a map of maps."""
        raise NotImplementedError

    def lookup(self, map_name: str, key: bytes) -> bytes | None:
        raise NotImplementedError

    def keys(self, map_name: str) -> list[bytes]:
        """The map's keys in the target's iteration order."""
        raise NotImplementedError

    def entries(self, map_name: str) -> dict[bytes, bytes]:
        """Every key with its value (as ``lookup`` gives it); keys whose lookup finds
        nothing (an empty devmap slot) are left out."""
        out = {}
        for key in self.keys(map_name):
            value = self.lookup(map_name, key)
            if value is not None:
                out[key] = value
        return out

    def close(self) -> None:
        pass


class ModelTarget(Target):
    """The golden model's XDP hook (``xdp.run_frame``) with a ``MapSet`` kept across frames."""
    name = "model"
    observes_redirect = True

    def __init__(self, image):
        self.image = image
        self.maps = MapSet(image.maps, programs=getattr(image, "programs", None))
        self.engine = EngineState()

    def run(self, frame, ingress_ifindex=1, rx_queue=0):
        result = run_frame(self.image.insns, frame, ports=MODEL_PORTS,
                           ingress_port=ifindex_port(ingress_ifindex), rx_queue=rx_queue,
                           maps=self.maps, engine=self.engine)
        return outcome_of(result)

    def _map(self, map_name):
        return self.maps.by_name(map_name)

    def update(self, map_name, key, value):
        m = self._map(map_name)
        err = m.update(key, value, 0)
        if err:
            raise OSError(-err, f"model map {map_name!r}: update failed ({os.strerror(-err)})")

    def delete(self, map_name, key):
        return self._map(map_name).delete(key) == 0

    def set_program(self, map_name, slot, program):
        self.update(map_name, struct.pack("<I", slot),
                    struct.pack("<I", self.maps.program_id(program)))

    def set_inner_map(self, map_name, key, inner):
        self.update(map_name, key, struct.pack("<I", self.maps.by_name(inner).map_id + 1))

    def lookup(self, map_name, key):
        m = self._map(map_name)
        # find() leaves the LRU order alone, as the kernel's syscall lookup does; a devmap
        # slot without a device reads as absent there (lookup() knows that).
        slot = m.lookup(key) if m.spec.type in (MapType.DEVMAP, MapType.CPUMAP) else m.find(key)
        if slot is None:
            return None
        values = [m.value(slot, c) for c in range(m.copies)]
        return sum_u64_lanes(values) if m.spec.type in PERCPU_TYPES else values[0]

    def keys(self, map_name):
        m = self._map(map_name)
        out = []
        key = m.next_key(None)
        while key is not None:
            out.append(bytes(key))
            key = m.next_key(key)
        return out


class KernelTarget(Target):
    """The Linux kernel (``KernelXdp``: ``BPF_PROG_TEST_RUN``).  A test run does not perform
    a redirect, so the kernel shows the ``XDP_REDIRECT`` verdict but not the target device."""
    name = "kernel"

    def __init__(self, image):
        from firmware.kernel.xdp import KernelXdp
        self.image = image
        self.xdp = KernelXdp(image.insns, image.maps, name=image.name,
                             programs=getattr(image, "programs", None))
        self.specs = {spec.name: spec for spec in image.maps}

    def run(self, frame, ingress_ifindex=1, rx_queue=0):
        # struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress.
        ctx = struct.pack("<6I", 0, len(frame), 0, ingress_ifindex, rx_queue, 0)
        run = self.xdp.run(frame, ctx=ctx)
        leaves = run.action in (XdpAction.PASS, XdpAction.TX, XdpAction.REDIRECT)
        return Outcome(run.action, run.frame if leaves else None)

    def _percpu(self, map_name) -> bool:
        return self.specs[map_name].type in PERCPU_TYPES

    def update(self, map_name, key, value):
        # BpfMap stores one value for every possible CPU of a per-CPU map.
        self.xdp.update(map_name, key, value)

    def delete(self, map_name, key):
        return self.xdp.map(map_name).delete(key)

    def set_program(self, map_name, slot, program):
        self.xdp.set_program(map_name, slot, program)

    def set_inner_map(self, map_name, key, inner):
        self.xdp.set_inner_map(map_name, key, inner)

    def lookup(self, map_name, key):
        value = self.xdp.lookup(map_name, key)
        if self._percpu(map_name) and value is not None:
            return sum_u64_lanes(value)
        return value

    def keys(self, map_name):
        return self.xdp.map(map_name).keys()

    def close(self):
        self.xdp.close()


class RtlTarget(Target):
    """The NIC's Verilog (Verilator, the C++ harness of ``sim.fast`` driven op by op) with the
    program and its maps loaded by the host driver through the registers and the map mailbox,
    frame by frame.  One engine and one receive queue per port: a test step that sends on
    another queue, or to a port the NIC does not have, is an expected failure (xfail)."""
    name = "rtl"
    observes_redirect = True

    def __init__(self, image):
        import asyncio
        import pytest
        from firmware.driver.nic import Nic, NotSupportedByDevice
        from hw.maps.unit import MAP_TYPES
        from sim import fast
        lacking = next((s for s in image.maps if s.type not in MAP_TYPES), None)
        if lacking is not None:         # known before a simulator starts (test_rtl_refusals)
            pytest.xfail(f"the RTL's map unit has no {lacking.type.name} (map '{lacking.name}')")
        self.asyncio = asyncio
        self.session = fast.Session(ports=RTL_PORTS)
        self.session.reset()
        self.nic = Nic(fast.driver_transport(self.session))
        try:
            self._await(self.nic.load(image, clear_counters=True))
        except NotSupportedByDevice as exc:     # the driver's refusal names what is missing
            self.session.close()
            pytest.xfail(f"the RTL refuses it: {exc}")
        self.specs = {spec.name: spec for spec in image.maps}

    def _await(self, coroutine):
        return self.asyncio.run(coroutine)

    def run(self, frame, ingress_ifindex=1, rx_queue=0):
        import pytest
        if rx_queue:
            pytest.xfail(f"receive queue {rx_queue}: the NIC has one queue per port")
        port = ifindex_port(ingress_ifindex)
        if not 0 <= port < RTL_PORTS:
            pytest.xfail(f"ifindex {ingress_ifindex}: the NIC has ports 0..{RTL_PORTS - 1}")
        records = self.session.exchange([(frame, port)])
        (verdict,) = records.decoded()
        if verdict["reason"] == "redirect-failed" and verdict["redirect_ifindex"] > RTL_PORTS:
            pytest.xfail(f"redirect to ifindex {verdict['redirect_ifindex']}: the NIC has "
                         f"{RTL_PORTS} ports")
        (result,) = records.results()
        return outcome_of(result)

    def update(self, map_name, key, value):
        self._await(self.nic.maps[map_name].update(key, value))

    def delete(self, map_name, key):
        from firmware.driver.nic import NicError
        try:
            self._await(self.nic.maps[map_name].delete(key))
        except NicError as exc:
            if "-ENOENT" not in str(exc):      # only "no such key" is a normal miss
                raise
            return False
        return True

    def lookup(self, map_name, key):
        value = self._await(self.nic.maps[map_name].lookup(key))
        if value is not None and self.specs[map_name].type in PERCPU_TYPES:
            size = self.specs[map_name].value_size
            return sum_u64_lanes([value[i:i + size] for i in range(0, len(value), size)])
        return value

    def keys(self, map_name):
        return self._await(self.nic.maps[map_name].keys())

    def close(self):
        self.session.close()


RTL_PORTS = 4            # ifindexes 1..4: every port the firmware tests send to or redirect to

TARGETS = {"model": ModelTarget, "kernel": KernelTarget, "rtl": RtlTarget}
