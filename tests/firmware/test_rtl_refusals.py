"""The NIC's driver refuses, naming what is missing, the programs on features its RTL lacks:
a device with the map unit's map types (``hw.maps.unit.MAP_TYPES``) and the helpers of the
Verilog build (the capability registers' view, as ``DeviceFeatures``)."""

import dataclasses

import pytest

from firmware.driver.model_transport import MODEL_FEATURES
from firmware.driver.nic import NotSupportedByDevice, check_maps, translate
from firmware.ebpf.helpers import HelperId
from firmware.program import load_program
from hw.maps.unit import MAP_TYPES

RTL_LIKE = dataclasses.replace(
    MODEL_FEATURES, map_types=frozenset(MAP_TYPES),
    helpers=frozenset(int(h) for h in HelperId
                      if h not in (HelperId.TAIL_CALL, HelperId.FIB_LOOKUP)))


@pytest.mark.parametrize("name, section, message", [
    ("xdp_cpu_steer", None, "map type DEVMAP_HASH not supported by device (map 'port_fwd'"),
    ("xdp_tail_dispatch", "xdp_dispatch",
     "map type PROG_ARRAY not supported by device (map 'stages'"),
    ("xdp_vip_lb", None, "map type ARRAY_OF_MAPS not supported by device (map 'fallback'"),
])
def test_a_missing_map_type_is_named(name, section, message, prog_objects):
    image = load_program(prog_objects(name), section)
    with pytest.raises(NotSupportedByDevice) as refused:
        check_maps(image, RTL_LIKE)
    assert str(refused.value).startswith(f"{image.name}: {message}")


def test_a_missing_helper_is_named(prog_objects):
    image = load_program(prog_objects("xdp_fib_router"))
    with pytest.raises(NotSupportedByDevice, match=r"xdp_fib_router: insn \d+: helper "
                                                   r"bpf_fib_lookup \(id 69\) not supported"):
        translate(image, RTL_LIKE, 4096)
