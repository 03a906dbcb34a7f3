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

import platform
import re
import struct

from ..ebpf.helpers import helper_name
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


# The kernel's words for a helper it does not give this program type (Linux 6.x; older
# kernels said "unknown func").  Ref: kernel/bpf/verifier.c check_helper_call.
_REFUSED_HELPER = re.compile(r"(?:program of this type cannot use helper|unknown func) "
                             r"(\w+)#(\d+)")

# What a test run cannot show: said in result.json's notes whenever a frame is redirected.
REDIRECT_NOTE = ("kernel: a test run does not perform XDP_REDIRECT, so its target is not known "
                 "here: a redirect to a port the NIC lacks counts as redirect on this target and "
                 "as aborted on the model and the RTL")


def refused_helper_message(reason: str) -> str | None:
    """A sentence naming the helper this kernel refuses to the program, when that is the
    reason it refused it: the kernel target then cannot judge the program on this machine."""
    match = _REFUSED_HELPER.search(reason or "")
    if not match:
        return None
    from ..ebpf.verifier import LINUX
    helper_id = int(match.group(2))
    upstream = (" (upstream Linux and xdpnic offer it to XDP programs)"
                if LINUX.helper(helper_id) else "")
    return (f"this kernel (Linux {platform.release()}) refuses helper "
            f"{helper_name(helper_id)}#{helper_id} in XDP programs{upstream}, so the kernel "
            "target cannot judge this program here")


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
        with KernelXdp(image.insns, image.maps, name=image.name or "xdpnic",
                       programs=getattr(image, "programs", None)) as xdp:
            for e in options.get("map_entries") or []:      # xdpnic run --map / --maps
                xdp.map(e.map).update(e.key, e.value, e.flags)
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
        refused = refused_helper_message(getattr(exc, "reason", "") or "")
        if refused:
            raise ProgramError(f"{source}: kernel: {refused}") from None
        detail = f"\n{exc.log.rstrip()}" if exc.log else ""
        raise ProgramError(f"{source}: kernel: {exc}{detail}") from None
    options["maps"] = KernelMaps(dumps)
    if any(r.disposition == Disposition.REDIRECT for r in results):
        options.setdefault("notes", []).append(REDIRECT_NOTE)
    return results
