"""Map behaviours where the golden model was corrected to match the kernel: each is checked
on the kernel itself (skipped without BPF) and on the model, with the same expectations."""

import struct

import pytest

from firmware.ebpf.maps import MapSpec, MapType
from firmware.ebpf.model_maps import MapSet

DEVMAP = MapSpec("tx_port", MapType.DEVMAP, 4, 4, 4)


def u32(n):
    return struct.pack("<I", n)


class ModelDevmap:
    def __init__(self):
        self.m = MapSet([DEVMAP])[0]

    def update(self, key, value):
        assert self.m.update(key, value, 0) == 0

    def delete(self, key):
        return self.m.delete(key)

    def lookup(self, key):
        slot = self.m.lookup(key)
        return None if slot is None else self.m.value(slot)


class KernelDevmap:
    def __init__(self):
        import errno

        from firmware.kernel.bpf import KernelError, create_map
        self.errno, self.KernelError = errno, KernelError
        self.m = create_map(MapType.DEVMAP, 4, 4, 4, "tx_port")

    def update(self, key, value):
        self.m.update(key, value)

    def delete(self, key):
        try:
            return 0 if self.m.delete(key) else -self.errno.ENOENT
        except self.KernelError as exc:
            return -exc.errno

    def lookup(self, key):
        return self.m.lookup(key)


@pytest.fixture(params=["model", "kernel"])
def devmap(request):
    if request.param == "kernel":
        from firmware.kernel.bpf import bpf_unavailable_reason
        reason = bpf_unavailable_reason()
        if reason is not None:
            pytest.skip(f"kernel BPF not usable here: {reason}")
        return KernelDevmap()
    return ModelDevmap()


def test_devmap_delete_empties_the_slot_and_succeeds_even_when_empty(devmap):
    import errno
    devmap.update(u32(1), u32(1))           # ifindex 1: lo in the kernel, port 0 on the NIC
    assert devmap.lookup(u32(1)) == u32(1)
    assert devmap.delete(u32(1)) == 0
    assert devmap.lookup(u32(1)) is None
    assert devmap.delete(u32(1)) == 0       # already empty: still 0
    assert devmap.delete(u32(4)) == -errno.EINVAL   # beyond max_entries
