"""Every program in firmware/progs through the driver: compiled with clang, loaded with
``Nic.load`` (verify, translate, write, attach), fed the firmware tests' scapy traffic.

On the model transport each frame's outcome, bytes and LAST_* registers, the counters and
every map's contents (read back through ``nic.maps``) match ``xdp.run_frame`` with its own
``MapSet``.  On the Amaranth NIC (the XDP1 datapath) a program either runs and matches the
model the same way, or is refused naming exactly the first map type or helper the device
lacks.
"""

import asyncio

import pytest

from firmware.driver.model_transport import ModelTransport
from firmware.driver.nic import XDP1_FEATURES, Nic, NotSupportedByDevice, _helper_name
from firmware.ebpf.isa import CallKind, Cls, JmpOp
from firmware.ebpf.maps import MapType
from firmware.ebpf.model_helpers import EngineState
from firmware.ebpf.model_maps import MapSet
from firmware.ebpf.xdp import Disposition, run_frame
from firmware.program import load_program

from .scenarios import PROJECT_ROOT, assert_counters, expected_output, tally

PROGRAMS = sorted(p.stem for p in (PROJECT_ROOT / "firmware" / "progs").glob("*.c"))
_CALL = Cls.JMP | JmpOp.CALL
_COUNTER_OF = {"drop": Disposition.DROP, "aborted": Disposition.ABORTED,
               "pass": Disposition.PASS, "tx": Disposition.TX, "redirect": Disposition.REDIRECT}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    from firmware.build import BuildError, find_clang
    from firmware.progs.build import build_program
    if find_clang() is None:
        pytest.skip("clang is not installed (scripts/setup.sh installs it)")
    out = tmp_path_factory.mktemp("driver-progs")
    cache = {}

    def image(name):
        if name not in cache:
            try:
                cache[name] = load_program(build_program(name, out))
            except BuildError as exc:
                pytest.fail(str(exc))
        return cache[name]
    return image


def traffic(limit=None) -> list[bytes]:
    from tests.firmware.packets import mixed_traffic
    frames = mixed_traffic()
    return frames[:limit] if limit else frames


def expected_refusal(image) -> str | None:
    """What the XDP1 device must say about ``image``, from the program itself."""
    for spec in image.maps:
        if spec.type not in XDP1_FEATURES.map_types:
            kind = "global data" if spec.is_global_data else f"section {spec.section}"
            return (f"{image.name}: map type {MapType(spec.type).name} not supported by "
                    f"device (map '{spec.name}', {kind})")
    for pc, insn in enumerate(image.insns):
        if insn.opcode == _CALL and insn.src == CallKind.HELPER \
                and insn.imm not in XDP1_FEATURES.helpers:
            return (f"{image.name}: insn {pc}: helper {_helper_name(insn.imm)} (id "
                    f"{insn.imm}) not supported by device")
    return None


async def run_and_compare(nic, image, frames) -> None:
    await nic.load(image, clear_counters=True)
    maps = MapSet(image.maps) if image.maps else None
    engine = EngineState()
    results = []
    for index, frame in enumerate(frames):
        want = run_frame(image.insns, frame, maps=maps, engine=engine)
        results.append(want)
        got = await nic.run(frame)
        if want.disposition == Disposition.DISCARD:
            assert got.counter == want.reason.replace("-", "_"), index
            continue
        assert _COUNTER_OF[got.counter] == want.disposition, (index, got.counter, want.reason)
        assert (got.egress, got.output) == expected_output(want), index
        assert (got.last.r0, got.last.insns, got.last.trap) == \
            (want.r0 & 0xFFFFFFFF, want.insn_count, want.trap), index
    await assert_counters(nic, tally(results))
    for spec in image.maps:
        m = maps.by_name(spec.name)
        want = [(bytes.fromhex(e["key"]), bytes.fromhex(e["value"])) for e in m.dump()["entries"]]
        assert await nic.maps[spec.name].items() == want, spec.name


@pytest.mark.parametrize("name", PROGRAMS)
def test_on_model(name, images):
    image = images(name)
    asyncio.run(run_and_compare(Nic(ModelTransport()), image, traffic()))


@pytest.mark.parametrize("name", PROGRAMS)
def test_on_amaranth(name, images, request):
    from sim.transport_amaranth import AmaranthTransport
    image = images(name)
    refusal = expected_refusal(image)
    frames = traffic(None if request.config.getoption("--runslow") else 6)

    async def go(transport):
        nic = Nic(transport)
        if refusal is None:
            await run_and_compare(nic, image, frames)
            return
        with pytest.raises(NotSupportedByDevice) as info:
            await nic.load(image)
        assert str(info.value) == refusal
    AmaranthTransport().run(go)


def test_some_programs_run_on_the_rtl(images):
    """The XDP1 datapath is not refusing everything: the map-free programs load there."""
    runnable = [name for name in PROGRAMS if expected_refusal(images(name)) is None]
    assert {"xdp_drop", "xdp_pass", "xdp_tx"} <= set(runnable), runnable

