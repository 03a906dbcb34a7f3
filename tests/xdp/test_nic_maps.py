"""The program and the host on the same maps at once, and a clang program's global data: on the
model transport and on the NIC's Verilog (cocotb, Verilator) -- tests/xdp/nic_map_scenarios.py."""

import asyncio

import pytest

from firmware.driver.model_transport import ModelTransport
from firmware.driver.nic import Nic
from tests.conftest import require_tool, require_verilator

from . import nic_map_scenarios as scenarios


@pytest.mark.parametrize("name", scenarios.SCENARIOS)
def test_model(name):
    if name == "global_data":
        require_tool("clang")
    asyncio.run(getattr(scenarios, name)(Nic(ModelTransport())))


@pytest.fixture(scope="module")
def cocotb_outcomes():
    require_tool("clang")
    require_verilator()
    from sim.transport_cocotb import run_scenarios
    return run_scenarios("tests.xdp.nic_map_scenarios", scenarios.SCENARIOS)


@pytest.mark.rtl
@pytest.mark.parametrize("name", scenarios.SCENARIOS)
def test_cocotb(name, cocotb_outcomes):
    outcome = cocotb_outcomes[name]
    assert outcome["ok"], f"{name} on the Verilog:\n{outcome.get('error')}"
