"""The kernel as a performance peer: its own time per packet for a program and its traffic.

``kernel_timing`` loads the program once and times each distinct frame of the traffic with
``BPF_PROG_TEST_RUN`` ``repeat`` times; the figure per packet is the traffic-weighted mean of
the kernel's per-run means.  It is labelled with what it measures: one core of this machine,
with or without the JIT.

Caveats, stated with the numbers: a test run has no NIC, no DMA and no driver (it measures the
program and the kernel's XDP test harness around it), and repeated runs of one frame see the
frame as the previous run left it.
"""

import platform
import struct
from collections import Counter
from dataclasses import dataclass, field

from ..ebpf.machine import port_ifindex
from ..ebpf.xdp import ingress_discard_reason
from .xdp import KernelXdp

__all__ = ["KernelTiming", "kernel_timing", "machine_label", "jit_enabled"]


def jit_enabled() -> bool | None:
    """``/proc/sys/net/core/bpf_jit_enable`` != 0 (None when it cannot be read)."""
    try:
        with open("/proc/sys/net/core/bpf_jit_enable") as f:
            return f.read().strip() != "0"
    except OSError:
        return None


def machine_label() -> str:
    """``one x86_64 core (CPU model), Linux <release>, JIT on``."""
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    jit = {True: "JIT on", False: "JIT off (interpreter)", None: "JIT unknown"}[jit_enabled()]
    what = f"one {platform.machine()} core" + (f" ({cpu})" if cpu else "")
    return f"{what}, Linux {platform.release()}, {jit}"


@dataclass
class KernelTiming:
    """The kernel's time per packet for a program over some traffic."""
    ns_per_packet: float            # traffic-weighted mean over the frames the program sees
    packets: int                    # frames in the traffic that reach the program
    distinct_frames: int            # frames timed (each ``repeat`` times)
    repeat: int
    label: str                      # machine_label()
    per_frame_ns: list[int] = field(default_factory=list)   # per distinct frame, in order

    def to_json(self) -> dict:
        return {"ns_per_packet": round(self.ns_per_packet, 2), "packets": self.packets,
                "distinct_frames": self.distinct_frames, "repeat": self.repeat,
                "label": self.label, "per_frame_ns": self.per_frame_ns}


def kernel_timing(image, frames: list[bytes], repeat: int = 10_000,
                  ingress_port: int = 0) -> KernelTiming:
    """Time ``image`` (instructions and maps) on ``frames`` in the kernel.

    Frames the NIC discards at ingress (runt, oversize) are left out, as they never reach a
    program.  Raises ``KernelError`` when the kernel refuses the program, ``ValueError`` when
    no frame reaches it.
    """
    counts = Counter(f for f in frames if ingress_discard_reason(f) is None)
    if not counts:
        raise ValueError("no frame of the traffic reaches the program (all are runts or"
                         " oversize)")
    ifindex = port_ifindex(ingress_port)
    per_frame = []
    total = 0.0
    with KernelXdp(image.insns, image.maps, name=image.name or "xdpnic_bench") as xdp:
        for frame, count in counts.items():
            ctx = struct.pack("<6I", 0, len(frame), 0, ifindex, 0, 0)
            ns = xdp.run(frame, repeat=repeat, ctx=ctx).duration_ns
            per_frame.append(ns)
            total += ns * count
    packets = sum(counts.values())
    return KernelTiming(total / packets, packets, len(counts), repeat, machine_label(),
                        per_frame)
