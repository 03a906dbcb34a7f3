"""The ``kernel`` target of ``xdpnic run``: every frame through ``BPF_PROG_TEST_RUN``.

``run_frames(image, frames, options)`` has the signature of the run command's targets
(``firmware/commands/run.py`` ``RUN_TARGETS``) and returns the same ``FrameResult``s as the
golden model, so the outputs (``result.json``, per-egress pcaps, map dumps) can be diffed
directly.  What the kernel cannot tell, it leaves empty rather than guess:

* instruction counts (``insn_count`` is None): the kernel runs JIT-compiled code;
* the target of ``XDP_REDIRECT``: a test run does not perform the redirect, so the verdict is
  ``redirect`` with ``egress_port`` None and a reason saying so;
* time: ``bpf_ktime_get_ns`` reads the kernel's clock, not the capture's timestamps.

The NIC's ingress checks (runt, oversize) are the NIC's, not the program's: such frames are
discarded before the kernel sees them, exactly as the model does.
"""

import struct

from ..ebpf.machine import port_ifindex
from ..ebpf.xdp import Disposition, FrameResult, ingress_discard_reason
from ..program import ProgramError
from .bpf import KernelError, bpf_unavailable_reason
from .xdp import KernelXdp, XdpAction

__all__ = ["run_frames", "KernelMapDump", "KernelMaps"]


class KernelMapDump:
    """One kernel map, dumped in the model's ``ModelMap.dump()`` format."""

    def __init__(self, map_id: int, spec, bpf_map):
        self.map_id = map_id
        self.spec = spec
        self.bpf_map = bpf_map

    def dump(self) -> dict:
        """Every entry in the kernel's iteration order, keys and values in hex (per-CPU maps:
        one value per possible CPU)."""
        entries = []
        for key, value in self.bpf_map.items():
            entries.append({"key": key.hex(),
                            "value": [v.hex() for v in value] if isinstance(value, list)
                            else value.hex()})
        map_type = self.spec.type
        return {"id": self.map_id, "name": getattr(self.spec, "name", ""),
                "type": getattr(map_type, "name", str(map_type)),
                "key_size": self.spec.key_size, "value_size": self.spec.value_size,
                "max_entries": self.spec.max_entries, "entries": entries}


class KernelMaps:
    """The maps as they were after the run, read back from the kernel before it freed them:
    ``.maps`` has one object per map whose ``dump()`` gives the model's format, the shape the
    run command reads from the model's ``MapSet``."""

    def __init__(self, dumps: list[dict]):
        self.maps = [_Dumped(d) for d in dumps]


class _Dumped:
    def __init__(self, data: dict):
        self._data = data

    def dump(self) -> dict:
        return self._data


def _result(action: int, frame_out: bytes, ingress_port: int) -> FrameResult:
    common = dict(r0=action, insn_count=None)
    if action == XdpAction.DROP:
        return FrameResult(Disposition.DROP, None, b"", **common)
    if action == XdpAction.PASS:
        return FrameResult(Disposition.PASS, None, frame_out, **common)
    if action == XdpAction.TX:
        return FrameResult(Disposition.TX, ingress_port, frame_out, **common)
    if action == XdpAction.REDIRECT:
        return FrameResult(Disposition.REDIRECT, None, frame_out,
                           reason="kernel test run: the redirect is not performed, its target"
                                  " is not reported", **common)
    if action == XdpAction.ABORTED:
        return FrameResult(Disposition.ABORTED, None, b"", reason="XDP_ABORTED", **common)
    return FrameResult(Disposition.ABORTED, None, b"", reason=f"invalid XDP action {action}",
                       **common)


def run_frames(image, frames: list[bytes], options: dict) -> list[FrameResult]:
    """Load ``image`` (its instructions and maps) into the kernel and run every frame once.

    ``options``: ``ingress_port`` (the ``xdp_md.ingress_ifindex`` the program sees is
    ``machine.port_ifindex`` of it, as on the NIC; the kernel looks that ifindex up, so it
    must name an existing device: port 0 is ifindex 1, the loopback).  After the run,
    ``options["maps"]`` holds the maps read back (``KernelMaps``).  A program the kernel
    refuses, or no usable BPF, is a ``ProgramError`` carrying the kernel's words.
    """
    unavailable = bpf_unavailable_reason()
    if unavailable is not None:
        raise ProgramError(f"target kernel is not available: {unavailable}")
    ingress_port = options.get("ingress_port", 0)
    ifindex = port_ifindex(ingress_port)
    tick = options.get("progress")
    results: list[FrameResult] = []
    try:
        with KernelXdp(image.insns, image.maps, name=image.name or "xdpnic") as xdp:
            for frame in frames:
                reason = ingress_discard_reason(frame)
                if reason:
                    results.append(FrameResult(Disposition.DISCARD, None, b"", reason=reason,
                                               insn_count=None))
                else:
                    # struct xdp_md: data, data_end, data_meta, ingress_ifindex,
                    # rx_queue_index, egress_ifindex (the kernel wants data = 0 and
                    # data_end = the frame's length here).
                    ctx = struct.pack("<6I", 0, len(frame), 0, ifindex, 0, 0)
                    run = xdp.run(frame, ctx=ctx)
                    results.append(_result(run.action, run.frame, ingress_port))
                if tick:
                    tick()
            dumps = [KernelMapDump(i, spec, m).dump()
                     for i, (spec, m) in enumerate(zip(image.maps, xdp.maps))]
    except KernelError as exc:
        source = getattr(image, "source", "") or image.name
        detail = f"\n{exc.log.rstrip()}" if exc.log else ""
        raise ProgramError(f"{source}: kernel: {exc}{detail}") from None
    options["maps"] = KernelMaps(dumps)
    return results
