"""Every program in firmware/progs through the driver on the model, one test per program:
compiled with clang, loaded with ``Nic.load``, fed all of the firmware tests' scapy traffic;
each frame's outcome, bytes and LAST_* registers, the counters and every map's contents (read
back through ``nic.maps``) match ``xdp.run_frame`` with its own ``MapSet``.

(The ``firmware_programs`` scenario runs the same on every transport: on the XDP1 datapath a
program runs and matches, or is refused naming the first map type or helper it lacks.)
"""

import asyncio

import pytest

from firmware.driver.model_transport import MODEL_FEATURES, ModelTransport
from firmware.driver.nic import XDP1_FEATURES, Nic

from .scenarios import (FIRMWARE, expected_refusal, firmware_image, firmware_traffic,
                        run_and_compare)


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


def test_the_xdp1_refusals_name_what_is_missing(have_clang):
    refusals = {name: expected_refusal(firmware_image(name), XDP1_FEATURES) for name in FIRMWARE}
    assert refusals["xdp1"] == ("xdp1: map type PERCPU_ARRAY not supported by device "
                                "(map 'rxcnt', section .maps)")
    assert {name for name, r in refusals.items() if r is None} >= {"xdp_drop", "xdp_pass",
                                                                    "xdp_tx"}
