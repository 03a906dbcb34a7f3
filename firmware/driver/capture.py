"""A capture through the driver: load a program, run every frame, read the maps back.

:func:`run_capture` is what ``xdpnic run --target rtl`` does for a program with maps (the map
mailbox is reached only through the driver): on any transport, ``Nic.load`` (verify,
translate, create the maps, write, attach), then one :meth:`Nic.run` per frame, then every
map dumped through get-next-key and lookups, the counters and the trace.  The results are the
golden model's :class:`~firmware.ebpf.xdp.FrameResult` and ``ModelMap.dump()`` dictionaries,
so ``xdpnic run`` writes the same ``result.json`` and pcaps whatever the target.

What the registers cannot say: a frame passed to the host comes back as metadata and frame
joined (the host stream carries them as one frame; the verdict record that splits them is the
bench's, not the driver's), so ``FrameResult.frame`` holds both and ``metadata`` is empty;
``r0`` is ``LAST_R0``'s 32 bits.
"""

from dataclasses import dataclass, field

from ..ebpf.machine import TrapCause
from ..ebpf.maps import MapType
from ..ebpf.xdp import Disposition, FrameResult
from .nic import Nic

__all__ = ["CaptureRun", "run_capture", "dump_map", "frame_result"]

_DISPOSITION = {"drop": Disposition.DROP, "aborted": Disposition.ABORTED,
                "pass": Disposition.PASS, "tx": Disposition.TX,
                "redirect": Disposition.REDIRECT}
_DISCARD = {"runt": "runt", "oversize": "oversize", "mac_error": "mac-error",
            "buffer_full": "buffer-full"}


@dataclass
class CaptureRun:
    """What :func:`run_capture` saw."""
    results: list[FrameResult]
    maps: list[dict]                        # ModelMap.dump() format, in the object's order
    counters: dict[str, int]                # Counters.flat()
    trace: list[str] = field(default_factory=list)
    map_ids: list[int] = field(default_factory=list)


def frame_result(outcome) -> FrameResult:
    """A :class:`~firmware.driver.nic.FrameOutcome` as the golden model's FrameResult."""
    if outcome.counter in _DISCARD:
        return FrameResult(Disposition.DISCARD, None, b"", reason=_DISCARD[outcome.counter])
    disposition = _DISPOSITION[outcome.counter]
    last = outcome.last
    egress_port = int(outcome.egress[4:]) if outcome.egress and outcome.egress != "pass" \
        else None
    reason = ""
    if last.trap != TrapCause.NONE:
        reason = f"trap {last.trap.name} at pc {last.trap_pc}"
    elif disposition == Disposition.ABORTED:
        reason = "XDP_ABORTED" if last.r0 == 0 else (
            f"invalid XDP action {last.r0}" if last.r0 > 4 else "redirect failed")
    return FrameResult(disposition, egress_port, outcome.output or b"", r0=last.r0,
                       reason=reason, trap=last.trap, trap_pc=last.trap_pc,
                       insn_count=last.insns, cycles=last.cycles)


async def dump_map(m) -> dict:
    """One map of the loaded program read back through the device, as ``ModelMap.dump()``
    shows it (a per-CPU map's value as a list of one hex string per engine)."""
    engines = m.nic.info.features.engines
    per_cpu = m.spec.type in (MapType.PERCPU_ARRAY, MapType.PERCPU_HASH)
    entries = []
    for key, value in await m.items():
        if per_cpu:
            size = m.spec.value_size
            shown = [value[e * size:(e + 1) * size].hex() for e in range(engines)]
        else:
            shown = value.hex()
        entries.append({"key": key.hex(), "value": shown})
    return {"id": m.map_id, "name": m.spec.name, "type": MapType(m.spec.type).name,
            "key_size": m.spec.key_size, "value_size": m.spec.value_size,
            "max_entries": m.spec.max_entries, "entries": entries}


async def run_capture(nic: Nic, image, frames: list, *, ingress_port: int = 0,
                      budget: int | None = None, timeout: int = 1_000_000) -> CaptureRun:
    """Load ``image`` and run ``frames`` (bytes, or (bytes, MAC error flag)) one at a time
    into ``ingress_port``; the results, the maps, the counters and the trace."""
    loaded = await nic.load(image, budget=budget, clear_counters=True)
    results = []
    for item in frames:
        frame, error = item if isinstance(item, tuple) else (item, False)
        results.append(frame_result(await nic.run(bytes(frame), ingress_port, error,
                                                  timeout)))
    maps = [await dump_map(nic.maps[spec.name]) for spec in image.maps]
    counters = (await nic.counters()).flat()
    trace = await nic.trace() if nic.info.features.trace else []
    return CaptureRun(results, maps, counters, trace, loaded.map_ids)
