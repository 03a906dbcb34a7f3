"""The whole NIC with several engines sharing the map unit, loaded and read by the driver: the
same scenario on the golden model's transport (told the engine count) and on hw.top.NIC in the
Amaranth simulator.  Per-CPU values land in the copy of the engine the dispatcher chose
(round robin or flow hash, ``machine.dispatch_engines``), each engine reports its own processor
id, and atomic adds from all engines to one shared value lose nothing."""

import asyncio
import dataclasses
import struct

import pytest

from firmware.driver.model_transport import MODEL_FEATURES, ModelTransport
from firmware.driver.nic import Nic
from firmware.ebpf import machine
from firmware.ebpf.asm import assemble
from firmware.ebpf.maps import MapSpec, MapType
from firmware.program import ProgramImage

from .nic_map_scenarios import atomics_while_the_host_updates

ENGINES = 4

# per_engine (per-CPU array, 16-byte values): [0] frames this engine ran, [8] its processor id;
# total (array): [0] frames, added atomically by every engine.
PER_ENGINE = """
    stw [%r10-4], 0
    mov %r2, %r10
    add %r2, -4
    lddw %r1, map_idx 0
    call 1
    jeq %r0, 0, out
    mov %r6, %r0
    ldxdw %r1, [%r6+0]
    add %r1, 1
    stxdw [%r6+0], %r1
    call 8
    stxdw [%r6+8], %r0
    stw [%r10-4], 0
    mov %r2, %r10
    add %r2, -4
    lddw %r1, map_idx 1
    call 1
    jeq %r0, 0, out
    mov %r1, 1
    lock add [%r0+0], %r1
out:
    mov %r0, 1
    exit
"""


def per_engine_image() -> ProgramImage:
    return ProgramImage("per_engine", assemble(PER_ENGINE),
                        [MapSpec("per_engine", MapType.PERCPU_ARRAY, 4, 16, 1),
                         MapSpec("total", MapType.ARRAY, 4, 8, 1)])


def flow_frames(count: int) -> list[bytes]:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    return [bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2")
                  / UDP(sport=3000 + (7 * i) % 11, dport=53) / bytes(22)) for i in range(count)]


def per_engine_scenario(flow_hash: bool):
    async def scenario(nic):
        await nic.load(per_engine_image(), clear_counters=True, flow_hash=flow_hash)
        frames = flow_frames(24)
        for frame in frames:
            await nic.send(frame, 0)
        await nic.drain()
        engines = machine.dispatch_engines(
            frames, ENGINES, machine.Dispatch.FLOW_HASH if flow_hash else
            machine.Dispatch.ROUND_ROBIN)
        want = b"".join(struct.pack("<QQ", engines.count(e), e if engines.count(e) else 0)
                        for e in range(ENGINES))
        key0 = struct.pack("<I", 0)
        assert await nic.maps["per_engine"].lookup(key0) == want
        assert await nic.maps["total"].lookup(key0) == struct.pack("<Q", len(frames))
        c = await nic.counters()
        assert c.ports[0]["DROP"] == len(frames)
        return engines
    return scenario


def model_nic() -> Nic:
    return Nic(ModelTransport(features=dataclasses.replace(MODEL_FEATURES, engines=ENGINES)))


@pytest.mark.parametrize("flow_hash", [False, True], ids=["round-robin", "flow-hash"])
def test_per_cpu_copies_and_shared_atomics_on_the_model(flow_hash):
    engines = asyncio.run(per_engine_scenario(flow_hash)(model_nic()))
    assert len(set(engines)) > 1


@pytest.mark.parametrize("flow_hash", [False, True], ids=["round-robin", "flow-hash"])
def test_per_cpu_copies_and_shared_atomics_on_the_rtl(flow_hash):
    from sim.transport_amaranth import AmaranthTransport
    AmaranthTransport(engines=ENGINES).run(
        lambda t: per_engine_scenario(flow_hash)(Nic(t)))


def test_atomics_from_every_engine_while_the_host_reads():
    from sim.transport_amaranth import AmaranthTransport
    AmaranthTransport(engines=ENGINES, seed=3, in_pause=0.1).run(
        lambda t: atomics_while_the_host_updates(Nic(t)))


def test_engine_count_is_reported_to_the_driver():
    from sim.transport_amaranth import AmaranthTransport

    async def read(t):
        nic = Nic(t)
        await nic.load(per_engine_image())
        return nic.info.features.engines, await nic.read("CONFIG") >> 24

    assert AmaranthTransport(engines=3).run(read) == (3, 3)
