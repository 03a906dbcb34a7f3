"""Run a program under the suite's calling convention in the kernel and read back registers.

One call: create the memory and result maps, wrap the program (``wrap.wrap``), load it as XDP,
run it once with ``BPF_PROG_TEST_RUN``, read r0 (64 bits) and any other saved registers from
the result map and the final memory from the memory map, then close everything, whatever
happens.
"""

import struct
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field

from ..ebpf.isa import Insn
from .bpf import KernelError, MapType, ProgType, create_map, load_program
from .wrap import RESULT_SLOTS, WrapError, XDP_PASS, result_size, wrap

__all__ = ["KernelRun", "run_wrapped", "DUMMY_FRAME"]

_KEY0 = struct.pack("<I", 0)

# The XDP test run needs a frame of at least an Ethernet header; the wrapped program never
# looks at it.
DUMMY_FRAME = bytes(64)


@dataclass
class KernelRun:
    """The outcome of one wrapped run.

    ``rejected`` is set (to the verifier's first line of verdict, or the reason the program
    could not be wrapped) when the kernel did not run the program; then ``error`` holds the
    full ``KernelError`` or ``WrapError`` and the other members are empty.
    """
    r0: int | None = None
    regs: dict[int, int] = field(default_factory=dict)
    mem: bytes = b""
    verdict: int | None = None
    rejected: str | None = None
    error: Exception | None = None
    log: str = ""
    notes: list[str] = field(default_factory=list)
    wrapped_len: int = 0


def run_wrapped(insns: list[Insn], mem: bytes = b"", save_regs: Iterable[int] = (0,),
                name: str = "conf", unwind_helper: int | None = 5) -> KernelRun:
    """Run ``insns`` in the kernel with r1 = a copy of ``mem`` and r2 = ``len(mem)``.

    A verifier rejection or an unwrappable program gives ``KernelRun.rejected``; other kernel
    failures (no permission, no memory) raise ``KernelError``.
    """
    save = tuple(sorted(set(save_regs) | {0}))
    with ExitStack() as stack:
        mem_map = None
        if mem:
            mem_map = stack.enter_context(create_map(MapType.ARRAY, 4, len(mem), 1, "conf_mem"))
            mem_map.update(_KEY0, bytes(mem))
        result_map = stack.enter_context(
            create_map(MapType.ARRAY, 4, result_size(), 1, "conf_result"))
        try:
            wrapped = wrap(insns, mem_map.fd if mem_map is not None else None, len(mem),
                           result_map.fd, save_regs=save, unwind_helper=unwind_helper,
                           return_value=XDP_PASS)
        except WrapError as exc:
            return KernelRun(rejected=str(exc), error=exc)
        try:
            prog = stack.enter_context(load_program(wrapped.insns, ProgType.XDP, name))
        except KernelError as exc:
            if exc.log or exc.errno_name in ("EACCES", "EINVAL", "E2BIG", "ENOTSUPP"):
                return KernelRun(rejected=exc.reason, error=exc, log=exc.log,
                                 notes=wrapped.notes, wrapped_len=len(wrapped.insns))
            raise
        run = prog.test_run(DUMMY_FRAME)
        value = result_map.lookup(_KEY0)
        slots = struct.unpack(f"<{RESULT_SLOTS}Q", value)
        out_mem = mem_map.lookup(_KEY0) if mem_map is not None else b""
        return KernelRun(r0=slots[0], regs={r: slots[r] for r in save}, mem=out_mem,
                         verdict=run.retval, notes=wrapped.notes,
                         wrapped_len=len(wrapped.insns))
