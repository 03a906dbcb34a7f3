"""The XDP hook on the golden model: one frame in, a verdict and the frame as it leaves out.

This is the reference for the NIC datapath.  A frame is placed in a packet buffer laid out as
the kernel lays out an XDP frame (``machine.XDP_HEADROOM`` of headroom, the frame, tailroom),
the program runs with r1 pointing at an ``xdp_md`` context, and the verdict is applied as a
driver applies it.  Packet helpers follow ``net/core/filter.c`` (limits and error returns).
"""

import errno
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import model
from .helpers import HelperId
from .isa import Insn, MASK32, MASK64, sign_extend
from .model_helpers import EngineState, misc_helpers
from .model_maps import MapSet
from .machine import (DEFAULT_INSN_BUDGET, ETH_HLEN, PACKET_BUFFER_SIZE, XDP_FRAME_STRUCT_SIZE,
                      XDP_HEADROOM, XDP_MAX_FRAME, XDP_METADATA_MAX, XDP_TAILROOM, Region,
                      TrapCause, XdpAction, ifindex_port, port_ifindex, region_base)

__all__ = ["XdpBuffer", "FrameResult", "Disposition", "run_frame", "ingress_discard_reason",
           "xdp_helpers"]

# The kernel's internal ENOTSUPP (not errno's EOPNOTSUPP). Ref: include/linux/errno.h.
ENOTSUPP = 524


class Disposition:
    """Where the NIC sends a frame after its verdict (the names used in results and counters)."""
    DROP = "drop"
    ABORTED = "aborted"
    PASS = "pass"
    TX = "tx"
    REDIRECT = "redirect"
    DISCARD = "discard"          # never reached the program (ingress checks)
    ALL = (DROP, ABORTED, PASS, TX, REDIRECT, DISCARD)


@dataclass
class XdpBuffer:
    """One frame in the packet buffer; offsets count from the buffer start (data_hard_start)."""
    buffer: bytearray
    data: int
    data_end: int
    data_meta: int
    ingress_port: int = 0
    rx_queue: int = 0
    redirect_ifindex: int | None = None
    redirect_queue: int | None = None        # a CPUMAP redirect: the host queue

    @classmethod
    def from_frame(cls, frame: bytes, ingress_port: int = 0, rx_queue: int = 0) -> "XdpBuffer":
        buffer = bytearray(PACKET_BUFFER_SIZE)
        buffer[XDP_HEADROOM:XDP_HEADROOM + len(frame)] = frame
        return cls(buffer, XDP_HEADROOM, XDP_HEADROOM + len(frame), XDP_HEADROOM,
                   ingress_port, rx_queue)

    def context(self) -> bytes:
        """The ``xdp_md`` the program reads."""
        base = region_base(Region.PACKET)
        return struct.pack("<6I", base + self.data, base + self.data_end, base + self.data_meta,
                           port_ifindex(self.ingress_port), self.rx_queue, 0)

    @property
    def frame(self) -> bytes:
        return bytes(self.buffer[self.data:self.data_end])

    @property
    def metadata(self) -> bytes:
        return bytes(self.buffer[self.data_meta:self.data])

    # Each adjust returns the helper's return value (0 or a negative errno).
    def adjust_head(self, delta: int) -> int:
        data = self.data + delta
        metalen = self.data - self.data_meta
        # The metadata moves with data and must stay above the xdp_frame struct too.
        if data < XDP_FRAME_STRUCT_SIZE + metalen or data > self.data_end - ETH_HLEN:
            return -errno.EINVAL
        if metalen:
            self.buffer[self.data_meta + delta:data] = self.buffer[self.data_meta:self.data]
        self.data_meta += delta
        self.data = data
        return 0

    def adjust_meta(self, delta: int) -> int:
        meta = self.data_meta + delta
        if meta < XDP_FRAME_STRUCT_SIZE or meta > self.data:
            return -errno.EINVAL
        metalen = self.data - meta
        if metalen % 4 or metalen > XDP_METADATA_MAX:
            return -errno.EACCES
        self.data_meta = meta
        return 0

    def adjust_tail(self, delta: int) -> int:
        data_end = self.data_end + delta
        if data_end > PACKET_BUFFER_SIZE - XDP_TAILROOM or data_end < self.data + ETH_HLEN:
            return -errno.EINVAL
        if delta > 0:   # the kernel clears what a grow exposes
            self.buffer[self.data_end:data_end] = bytes(delta)
        self.data_end = data_end
        return 0


def xdp_helpers(xdp: XdpBuffer, fib=None) -> dict[int, model.HelperFn]:
    """The packet helpers, bound to one frame's buffer (and ``bpf_fib_lookup`` to ``fib``, a
    ``model_fib.Fib``; without one no device exists: ``-ENODEV``).

    The context and packet regions of the model's memory are refreshed after each adjust, so
    the program sees the kernel's view: new ``data``/``data_end``/``data_meta`` values.
    """
    def refresh(memory: model.Memory) -> None:
        memory.context[:] = xdp.context()

    def adjust(method):
        def helper(memory, _ctx, delta, *_rest):
            result = method(sign_extend(delta, 32))
            refresh(memory)
            return result & MASK64
        return helper

    def redirect(memory, ifindex, flags, *_rest):
        if flags:
            return XdpAction.ABORTED
        xdp.redirect_ifindex, xdp.redirect_queue = ifindex & MASK32, None
        return XdpAction.REDIRECT

    def fib_lookup(memory, _ctx, params_ptr, plen, flags, *_rest):
        from .model_fib import FIB_PARAMS_SIZE, Fib
        if plen & MASK32 < FIB_PARAMS_SIZE:
            return -errno.EINVAL & MASK64
        params = bytearray(memory.load(params_ptr + i, 1) for i in range(FIB_PARAMS_SIZE))
        result = (fib or Fib([], [], {})).lookup(params, flags & MASK32)
        for i, byte in enumerate(params):
            memory.store(params_ptr + i, 1, byte)
        return result & MASK64

    return {
        HelperId.FIB_LOOKUP: fib_lookup,
        HelperId.XDP_ADJUST_HEAD: adjust(xdp.adjust_head),
        HelperId.XDP_ADJUST_TAIL: adjust(xdp.adjust_tail),
        HelperId.XDP_ADJUST_META: adjust(xdp.adjust_meta),
        HelperId.REDIRECT: redirect,
    }


@dataclass
class FrameResult:
    """What happened to one frame."""
    disposition: str                 # a Disposition value
    egress_port: int | None          # for tx and redirect
    frame: bytes                     # the frame as it leaves (empty when it does not)
    metadata: bytes = b""
    r0: int | None = None            # the program's raw return value
    reason: str = ""                 # why aborted or discarded
    trap: TrapCause = TrapCause.NONE
    trap_pc: int | None = None
    insn_count: int = 0
    trace: list[str] | None = field(default=None, repr=False)
    cycles: int | None = None        # on hardware: first beat in to verdict
    host_queue: int | None = None    # redirected through a CPUMAP: the host queue it goes to


def ingress_discard_reason(frame: bytes, error_flag: bool = False) -> str | None:
    """Why the NIC drops a frame before the program sees it, or None."""
    if error_flag:
        return "mac-error"
    if len(frame) < ETH_HLEN:
        return "runt"
    if len(frame) > XDP_MAX_FRAME:
        return "oversize"
    return None


def run_frame(insns: list[Insn], frame: bytes, *, ports: int = 2, ingress_port: int = 0,
              rx_queue: int = 0, error_flag: bool = False, maps: MapSet | None = None,
              engine: EngineState | None = None,
              helpers: Mapping[int, model.HelperFn] | None = None,
              budget: int = DEFAULT_INSN_BUDGET, trace: bool = False) -> FrameResult:
    """Run the program on one received frame and apply its verdict as a driver does.

    ``maps`` and ``engine`` carry state from frame to frame (map contents; time, random state,
    trace output).  ``helpers`` adds to (and may override) the helpers the NIC offers.
    """
    reason = ingress_discard_reason(frame, error_flag)
    if reason:
        return FrameResult(Disposition.DISCARD, None, b"", reason=reason)
    xdp = XdpBuffer.from_frame(frame, ingress_port, rx_queue)
    engine = engine or EngineState()
    memory = model.Memory(xdp.context(), map_values=maps.value_regions() if maps else None,
                          context_writable=False)
    memory.packet = xdp.buffer      # the program and the helpers share one buffer
    all_helpers = xdp_helpers(xdp, engine.fib)
    all_helpers.update(misc_helpers(engine))
    if maps:
        def redirect_target(ifindex: int) -> None:
            xdp.redirect_ifindex, xdp.redirect_queue = ifindex, None

        def redirect_queue(queue: int) -> None:
            xdp.redirect_ifindex, xdp.redirect_queue = None, queue

        def tail_call(target: list[Insn]) -> None:
            pending.append(target)
            raise model.StopProgram(0)
        all_helpers.update(maps.helpers(engine.engine, redirect_target, redirect_queue,
                                        tail_call))
    all_helpers.update(helpers or {})
    pending: list[list[Insn]] = []      # the program a bpf_tail_call started
    executed, lines = 0, []
    while True:
        result = model.run(insns, memory=memory, helpers=all_helpers, budget=budget - executed,
                           trace=trace)
        executed += result.insn_count
        lines += result.trace or []
        if not pending or result.trap != TrapCause.NONE:
            break
        insns = pending.pop()       # the same context, packet and stack; r1 = ctx again
    common = dict(r0=result.r0, trap=result.trap, trap_pc=result.trap_pc,
                  insn_count=executed, trace=lines if trace else None)
    if result.trap != TrapCause.NONE:
        return FrameResult(Disposition.ABORTED, None, b"",
                           reason=f"trap {result.trap.name} at pc {result.trap_pc}: "
                                  f"{result.trap_message}", **common)
    action = result.r0 & MASK32     # the kernel reads the verdict as u32
    if action == XdpAction.DROP:
        return FrameResult(Disposition.DROP, None, b"", **common)
    if action == XdpAction.PASS:
        return FrameResult(Disposition.PASS, None, xdp.frame, xdp.metadata, **common)
    if action == XdpAction.TX:
        return FrameResult(Disposition.TX, ingress_port, xdp.frame, **common)
    if action == XdpAction.REDIRECT and xdp.redirect_queue is not None:
        return FrameResult(Disposition.REDIRECT, None, xdp.frame, host_queue=xdp.redirect_queue,
                           **common)
    if action == XdpAction.REDIRECT:
        port = ifindex_port(xdp.redirect_ifindex) if xdp.redirect_ifindex is not None else None
        if port is None or port >= ports:
            return FrameResult(Disposition.ABORTED, None, b"",
                               reason=f"redirect to ifindex {xdp.redirect_ifindex} failed: "
                                      "no such port", **common)
        return FrameResult(Disposition.REDIRECT, port, xdp.frame, **common)
    if action == XdpAction.ABORTED:
        return FrameResult(Disposition.ABORTED, None, b"", reason="XDP_ABORTED", **common)
    return FrameResult(Disposition.ABORTED, None, b"",
                       reason=f"invalid XDP action {action}", **common)
