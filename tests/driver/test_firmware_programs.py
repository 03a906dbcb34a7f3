"""Every program in firmware/progs through the driver on the model and on the NIC's Verilog
(cocotb + Verilator, all programs in one simulator session), one test per program:
compiled with clang, loaded with ``Nic.load``, fed all of the firmware tests' scapy traffic;
each frame's outcome, bytes and LAST_* registers, the counters and every map's contents (read
back through ``nic.maps``) match ``xdp.run_frame`` with its own ``MapSet``.

(The ``firmware_programs`` scenario runs the same on every transport: on the XDP1 datapath a
program runs and matches, or is refused naming the first map type or helper it lacks.)
"""

import asyncio
import dataclasses

import pytest

from firmware.driver.model_transport import MODEL_FEATURES, ModelTransport
from firmware.driver.nic import XDP1_FEATURES, MapLimitExceeded, Nic

from .scenarios import (FIRMWARE, expected_refusal, firmware_image, firmware_traffic,
                        host_view, run_and_compare)


@pytest.fixture(scope="module")
def have_clang():
    from firmware.build import find_clang
    if find_clang() is None:
        pytest.skip("clang is not installed (scripts/setup.sh installs it)")


@pytest.mark.parametrize("name", FIRMWARE)
def test_on_model(name, have_clang):
    image = firmware_image(name)
    assert expected_refusal(image, MODEL_FEATURES) is None
    asyncio.run(run_and_compare(Nic(ModelTransport()), image, firmware_traffic()))


def test_the_ip_tunnel_needs_20_byte_keys(have_clang):
    """xdp_tx_iptunnel's VIP key (IPv6 address, port, protocol, family) is 20 bytes: the
    default map unit (24-byte keys) takes it; one built with 16-byte keys refuses it."""
    narrow = dataclasses.replace(MODEL_FEATURES, key_bytes=16)
    image = firmware_image("xdp_tx_iptunnel")
    want = "xdp_tx_iptunnel: map 'vip2tnl': keys are 20 bytes, device's CAM holds 16-byte keys"
    assert expected_refusal(image, narrow) == want

    async def refused():
        with pytest.raises(MapLimitExceeded) as info:
            await Nic(ModelTransport(features=narrow)).load(image)
        return str(info.value)
    assert asyncio.run(refused()) == want


def test_the_xdp1_refusals_name_what_is_missing(have_clang):
    refusals = {name: expected_refusal(firmware_image(name), XDP1_FEATURES) for name in FIRMWARE}
    assert refusals["xdp1"] == ("xdp1: map type PERCPU_ARRAY not supported by device "
                                "(map 'rxcnt', section .maps)")
    assert {name for name, r in refusals.items() if r is None} >= {"xdp_drop", "xdp_pass",
                                                                    "xdp_tx"}


def compare_capture(run, image, frames, ports=2):
    """A CaptureRun (through the driver) against ``xdpnic run --target model``'s results."""
    from firmware.commands.run import run_on_model
    options = {"ports": ports, "ingress_port": 0, "budget": 1_000_000, "trace": False}
    want = run_on_model(image, frames, options)
    assert len(run.results) == len(want)
    for index, (got, w) in enumerate(zip(run.results, want)):
        assert (got.disposition, got.egress_port, got.frame, got.trap, got.trap_pc) == \
            (w.disposition, w.egress_port, w.metadata + w.frame, w.trap, w.trap_pc), index
        if w.disposition != "discard":
            assert (got.r0, got.insn_count, got.reason) == \
                (w.r0 & 0xFFFFFFFF, w.insn_count, w.reason), index
        else:
            assert got.reason == w.reason, index
    assert run.maps == [host_view(m.dump()) for m in options["maps"].maps]


@pytest.mark.parametrize("name", ["xdp1", "xdp_fw", "xdp_router_ipv4", "xdp_adjust_tail",
                                  "xdp_redirect_map"])
def test_a_capture_through_the_driver_matches_the_model_run(name, have_clang):
    """``xdpnic run --target rtl``'s path for programs with maps (run_capture), on the model
    transport: the same records and map dumps as ``--target model``."""
    from firmware.driver.capture import run_capture
    image = firmware_image(name)
    frames = firmware_traffic(40)
    run = asyncio.run(run_capture(Nic(ModelTransport()), image, frames))
    compare_capture(run, image, frames)
    assert run.map_ids == list(range(len(image.maps)))
    assert sum(v for k, v in run.counters.items() if k.endswith("_RX_FRAMES")) == len(frames)


@pytest.fixture(scope="module")
def rtl_outcomes(have_clang):
    from tests.conftest import require_verilator
    require_verilator()
    from sim.transport_cocotb import run_scenarios
    return run_scenarios("tests.driver.scenarios", ["firmware_all_traffic"])[
        "firmware_all_traffic"]


@pytest.mark.rtl
@pytest.mark.parametrize("name", FIRMWARE)
def test_on_rtl(name, rtl_outcomes):
    """The program on the Verilog NIC through the driver (maps created through the mailbox,
    every frame's outcome, bytes, LAST_* registers, the counters and every map read back)
    matches the golden model."""
    assert rtl_outcomes["ok"], rtl_outcomes.get("error")
    assert rtl_outcomes["value"][name] == "ok", rtl_outcomes["value"][name]
