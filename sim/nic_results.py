"""Verdict records and output frames of the NIC, turned into the golden model's terms.

Shared by every back end that runs the whole datapath (the Amaranth simulator in the unit
tests, cocotb under Verilator or Icarus in :mod:`sim.nic_run`): the k-th frame on an egress
belongs to the k-th verdict that chose that egress, because the datapath handles one frame at
a time and in order.
"""

from firmware.ebpf.machine import TrapCause
from firmware.ebpf.xdp import Disposition, FrameResult

__all__ = ["match_outputs", "to_frame_result", "egress_name"]


def egress_name(verdict: dict) -> str | None:
    """``"pass"``, ``"port<N>"`` or None (the frame does not leave)."""
    d = verdict["disposition"]
    if d == Disposition.PASS:
        return "pass"
    if d in (Disposition.TX, Disposition.REDIRECT):
        return f"port{verdict['egress']}"
    return None


def _reason(v: dict) -> str:
    reason = v["reason"]
    if reason == "trap":
        return f"trap {TrapCause(v['trap']).name} at pc {v['trap_pc']}"
    if reason == "action-aborted":
        return "XDP_ABORTED"
    if reason == "invalid-action":
        return f"invalid XDP action {v['r0'] & 0xFFFFFFFF}"
    if reason == "redirect-failed":
        target = v["redirect_ifindex"] if v["redirect_ifindex"] else None
        return f"redirect to ifindex {target} failed: no such port"
    return "" if reason == "none" else reason


def to_frame_result(v: dict, output: bytes | None) -> FrameResult:
    """One verdict record (``hw.xdp.verdict.decode_verdict``) and the bytes that left for it
    (metadata first on the host stream), as the golden model's :class:`FrameResult`."""
    d = v["disposition"]
    if d == Disposition.DISCARD:
        return FrameResult(d, None, b"", reason=_reason(v), cycles=v["cycles"])
    trap = TrapCause(v["trap"])
    output = output or b""
    meta = output[:v["meta_length"]] if d == Disposition.PASS else b""
    frame = output[len(meta):]
    return FrameResult(
        d, v["egress"] if d in (Disposition.TX, Disposition.REDIRECT) else None, frame, meta,
        r0=v["r0"], reason=_reason(v), trap=trap,
        trap_pc=v["trap_pc"] if trap != TrapCause.NONE else None, insn_count=v["insns"],
        cycles=v["cycles"])


def match_outputs(verdicts: list[dict], outputs: dict[str, list[bytes]]) -> list[FrameResult]:
    """Pair each verdict with its output frame (``outputs``: egress name -> frames in order)."""
    taken = {name: 0 for name in outputs}
    results = []
    for v in verdicts:
        name = egress_name(v)
        frame = None
        if name is not None:
            frames = outputs.get(name, [])
            index = taken.get(name, 0)
            if index >= len(frames):
                raise RuntimeError(f"verdict {v['disposition']} to {name} but only "
                                   f"{len(frames)} frames left there")
            frame = frames[index]
            taken[name] = index + 1
        results.append(to_frame_result(v, frame))
    return results
