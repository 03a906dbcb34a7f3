"""The same driver scenarios (tests/driver/scenarios.py) on the three transports.

* ``model``: ``ModelTransport`` (the register map on the golden model), plain asyncio; and
  ``model_as_xdp1``, the model claiming only what the RTL offers (no maps, no trace);
* ``amaranth``: ``hw.top.NIC`` in Amaranth's simulator, a fresh simulation per scenario;
* ``cocotb``: the NIC's Verilog under Verilator, every scenario in ONE simulator session
  (the Verilog build is the one ``sim.nic_run.build`` caches for every cocotb test), each on a
  freshly reset NIC.
"""

import asyncio

import pytest

from firmware.driver.model_transport import ModelTransport
from firmware.driver.nic import Nic
from tests.conftest import require_verilator

from . import scenarios

SCENARIOS = scenarios.SCENARIOS


def _run_model(name, **options):
    asyncio.run(getattr(scenarios, name)(Nic(ModelTransport(**options))))


def _run_amaranth(name, **pauses):
    from sim.transport_amaranth import AmaranthTransport
    AmaranthTransport(**pauses).run(lambda t: getattr(scenarios, name)(Nic(t)))


@pytest.mark.parametrize("name", SCENARIOS)
def test_model(name):
    _run_model(name)


@pytest.mark.parametrize("name", SCENARIOS)
def test_model_as_xdp1(name):
    """The model claiming only the RTL's features: the same refusals as on the RTL."""
    from firmware.driver.nic import XDP1_FEATURES
    _run_model(name, features=XDP1_FEATURES)


# Amaranth simulates ~1k cycles per second: reading back every map of every firmware program
# (xdp_lb's 1024-entry ring alone is ~45k cycles of mailbox traffic), or the 21 frames and
# host map traffic of maps_from_the_host (66 s), are slow tests there; the cocotb run
# (Verilator) does both by default.
AMARANTH_SLOW = {"firmware_programs", "maps_from_the_host"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow)
                                  if n in AMARANTH_SLOW else n for n in SCENARIOS])
def test_amaranth(name):
    _run_amaranth(name)




@pytest.fixture(scope="module")
def cocotb_outcomes():
    require_verilator()
    from sim.transport_cocotb import run_scenarios
    return run_scenarios("tests.driver.scenarios", SCENARIOS)


@pytest.mark.rtl
@pytest.mark.parametrize("name", SCENARIOS)
def test_cocotb(name, cocotb_outcomes):
    outcome = cocotb_outcomes[name]
    assert outcome["ok"], f"{name} on the Verilog:\n{outcome.get('error')}"


def test_counter_mismatch_is_reported():
    asyncio.run(scenarios.counters_mismatch_detected(None))


# --- slow: more traffic, and random idle cycles in and backpressure out ---
PAUSES = {"in_pause": 0.2, "out_pause": 0.3}


@pytest.mark.slow
@pytest.mark.parametrize("name", scenarios.SLOW_SCENARIOS)
def test_model_slow(name):
    _run_model(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", scenarios.SLOW_SCENARIOS)
def test_amaranth_slow_with_pauses(name):
    _run_amaranth(name, **PAUSES)


@pytest.fixture(scope="module")
def cocotb_slow_outcomes():
    require_verilator()
    from sim.transport_cocotb import run_scenarios
    return run_scenarios("tests.driver.scenarios", scenarios.SLOW_SCENARIOS, **PAUSES)


@pytest.mark.slow
@pytest.mark.rtl
@pytest.mark.parametrize("name", scenarios.SLOW_SCENARIOS)
def test_cocotb_slow_with_pauses(name, cocotb_slow_outcomes):
    outcome = cocotb_slow_outcomes[name]
    assert outcome["ok"], f"{name} on the Verilog:\n{outcome.get('error')}"
