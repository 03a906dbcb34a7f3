"""Every program in firmware/progs is accepted by the xdpnic verifier and by the kernel's."""

import pytest

from firmware.ebpf.verifier import verify
from firmware.progs.build import PROGRAMS


@pytest.mark.parametrize("name", PROGRAMS)
def test_xdpnic_verifier_accepts(name, load_image):
    image = load_image(name)
    result = verify(image.insns, "xdp", dict(enumerate(image.maps)))
    assert result.accepted, "\n".join(result.log)
