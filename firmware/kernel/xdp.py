"""XDP programs in the kernel: load with maps, run frames with ``BPF_PROG_TEST_RUN``.

``KernelXdp`` is the kernel peer of the golden model's XDP hook: the same instructions and map
specifications, a frame in, a verdict and the output frame out, map contents readable and
writable between runs.  It never attaches to a network interface: frames exist only in
``BPF_PROG_TEST_RUN``.

Map references in the program follow the project's loader convention: an ``lddw`` with
``src`` = ``MAP_FD`` or ``MAP_IDX`` carries the map's index in ``maps`` (its id) in ``imm``,
and ``MAP_VALUE`` / ``MAP_IDX_VALUE`` carry the index in ``imm`` and the value offset in the
second slot.  ``KernelXdp`` creates the maps and rewrites those ``lddw``s to the kernel's
``MAP_FD`` / ``MAP_VALUE`` forms with the real fds.
"""

import struct
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Protocol

from ..ebpf.isa import Fmt, Insn, Pseudo
from ..ebpf.machine import XdpAction
from .bpf import BpfMap, BpfProgram, KernelError, ProgType, create_map, load_program

__all__ = ["XdpAction", "KernelXdp", "XdpRun", "MapLike", "relocate_maps", "KernelError",
           "KernelVerdict", "kernel_verdict"]


class MapLike(Protocol):
    """What ``KernelXdp`` needs of a map specification (``firmware.ebpf.maps.MapSpec`` has
    it): ``type``, ``key_size``, ``value_size``, ``max_entries``; optionally ``name``,
    ``flags`` and ``initial`` (the single value of a global-data map)."""
    type: int
    key_size: int
    value_size: int
    max_entries: int


@dataclass
class XdpRun:
    """One frame through the kernel: the verdict, the frame as the program left it, and the
    kernel's mean time per run over ``repeat`` runs (JIT-compiled when the JIT is on)."""
    action: int
    frame: bytes
    duration_ns: int
    repeat: int

    @property
    def action_name(self) -> str:
        try:
            return XdpAction(self.action).name
        except ValueError:
            return str(self.action)


def relocate_maps(insns: list[Insn], fds: Sequence[int]) -> list[Insn]:
    """A copy of ``insns`` with each map ``lddw`` (index in ``imm``) turned into the kernel's
    fd form.  An index with no map raises ``ValueError`` naming the instruction."""
    out = []
    for i, insn in enumerate(insns):
        new = Insn(insn.opcode, insn.dst, insn.src, insn.off, insn.imm, insn.imm64)
        new.spec = insn.spec
        if insn.spec is not None and insn.spec.fmt == Fmt.LDDW and insn.src in (
                Pseudo.MAP_FD, Pseudo.MAP_IDX, Pseudo.MAP_VALUE, Pseudo.MAP_IDX_VALUE):
            index = insn.imm
            if not 0 <= index < len(fds):
                raise ValueError(f"instruction {i}: lddw refers to map {index}, but the program"
                                 f" has {len(fds)} map(s)")
            is_value = insn.src in (Pseudo.MAP_VALUE, Pseudo.MAP_IDX_VALUE)
            new.src = Pseudo.MAP_VALUE if is_value else Pseudo.MAP_FD
            new.imm = fds[index]
            new.imm64 = (insn.imm64 & ~0xFFFF_FFFF) | fds[index]
        out.append(new)
    return out


class KernelXdp:
    """An XDP program and its maps, loaded into the kernel for test runs.

    Parameters
    ----------
    insns : list[Insn]
        The program, as ``isa.decode_program`` lists it.
    maps : sequence of map specifications
        Created in order; map ``i`` is the one ``lddw`` index ``i`` names.
    name : str
        Program name shown by ``bpftool prog`` while loaded (15 characters kept).
    programs : dict of str to list[Insn], optional
        The object's programs by name, which a ``PROG_ARRAY`` may hold: those its
        ``init_slots`` name are loaded (with the same maps) and put in their slots, as libbpf
        does after loading; ``set_program`` puts others in.

    Use as a context manager (or call ``close()``): the program and maps are released on
    exit, also on exceptions and KeyboardInterrupt.  Loading raises ``KernelError`` with the
    verifier's log when the kernel refuses the program.
    """

    def __init__(self, insns: list[Insn], maps: Sequence[MapLike] = (), name: str = "xdpnic",
                 programs: dict[str, list[Insn]] | None = None):
        self.name = name
        self.specs = list(maps)
        self.maps: list[BpfMap] = []
        self.program: BpfProgram | None = None
        self.programs = dict(programs or {})
        self._loaded: dict[str, BpfProgram] = {}        # tail-call targets, by name
        self._stack = ExitStack()
        try:
            for index, spec in enumerate(self.specs):
                map_name = getattr(spec, "name", "") or f"map{index}"
                inner = getattr(spec, "inner", None)
                with ExitStack() as template:       # a map of maps: one like its inner maps
                    inner_fd = template.enter_context(create_map(
                        int(inner.type), inner.key_size, inner.value_size, inner.max_entries,
                        "inner", int(inner.flags))).fd if inner is not None else 0
                    bpf_map = self._stack.enter_context(create_map(
                        int(spec.type), spec.key_size, spec.value_size, spec.max_entries,
                        map_name, int(getattr(spec, "flags", 0) or 0), inner_fd))
                self.maps.append(bpf_map)
                initial = getattr(spec, "initial", None)
                if initial is not None:
                    bpf_map.update(bytes(4), bytes(initial).ljust(spec.value_size, b"\0"))
            relocated = relocate_maps(insns, [m.fd for m in self.maps])
            self.program = self._stack.enter_context(load_program(relocated, ProgType.XDP, name))
            for index, spec in enumerate(self.specs):
                for slot, name in getattr(spec, "init_slots", ()):
                    if getattr(spec, "inner", None) is not None:
                        self.set_inner_map(index, struct.pack("<I", slot), name)
                    else:
                        self.set_program(index, slot, name)
        except BaseException:
            self._stack.close()
            raise

    def __enter__(self) -> "KernelXdp":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Unload the program and free the maps (idempotent)."""
        self.program = None
        self.maps = []
        self._stack.close()

    def _prog(self) -> BpfProgram:
        if self.program is None:
            raise ValueError(f"KernelXdp {self.name!r} is closed")
        return self.program

    def run(self, frame: bytes, repeat: int = 1, ctx: bytes | None = None) -> XdpRun:
        """Run the program on ``frame`` ``repeat`` times; the verdict and output frame are
        those of the last run.

        The kernel copies the frame in once: each repeated run sees the frame as the run
        before left it (a MAC swap run twice gives the frame back), and map side effects
        happen every time.  For a per-frame result use ``repeat=1``; use ``repeat`` for
        timing.
        """
        if len(frame) < 14:
            raise ValueError(f"frame of {len(frame)} bytes: the kernel's XDP test run needs at"
                             f" least an Ethernet header (14 bytes)")
        result = self._prog().test_run(frame, ctx_in=ctx, repeat=repeat)
        return XdpRun(result.retval, result.data_out, result.duration_ns, repeat)

    def time_per_packet(self, frame: bytes, repeat: int = 100_000) -> float:
        """The kernel's mean time per run of ``frame`` in nanoseconds, over ``repeat`` runs."""
        return float(self.run(frame, repeat=repeat).duration_ns)

    def map(self, which: int | str) -> BpfMap:
        """Map by index or by name."""
        if isinstance(which, int):
            return self.maps[which]
        for spec, bpf_map in zip(self.specs, self.maps):
            if getattr(spec, "name", None) == which:
                return bpf_map
        raise KeyError(f"no map named {which!r}")

    def set_program(self, which: int | str, slot: int, program: str) -> None:
        """Put the object's program ``program`` (loaded once, with this program's maps) in
        slot ``slot`` of the PROG_ARRAY ``which``."""
        if program not in self._loaded:
            if program not in self.programs:
                raise KeyError(f"no program named {program!r} (have: "
                               f"{', '.join(self.programs) or 'none'})")
            relocated = relocate_maps(self.programs[program], [m.fd for m in self.maps])
            self._loaded[program] = self._stack.enter_context(
                load_program(relocated, ProgType.XDP, program))
        self.map(which).update(struct.pack("<I", slot),
                               struct.pack("<I", self._loaded[program].fd))

    def set_inner_map(self, which: int | str, key: bytes, inner: str) -> None:
        """Put map ``inner`` (by name) under ``key`` of the map of maps ``which``."""
        self.map(which).update(key, struct.pack("<I", self.map(inner).fd))

    def lookup(self, which: int | str, key: bytes) -> bytes | None:
        return self.map(which).lookup(key)

    def update(self, which: int | str, key: bytes, value: bytes) -> None:
        self.map(which).update(key, value)

    def map_contents(self, which: int | str) -> dict[bytes, bytes]:
        """Every entry of a map, key -> value (array maps list all their slots)."""
        return dict(self.map(which).items())

    def info(self):
        return self._prog().info()



@dataclass
class KernelVerdict:
    """Whether the kernel's verifier accepts a program: ``accepted``, and when it does not,
    its first line of verdict (``reason``), the errno name and the whole log."""
    accepted: bool
    reason: str = ""
    errno_name: str = ""
    log: str = ""


def kernel_verdict(insns: list[Insn], maps: Sequence[MapLike] = (),
                   name: str = "verdict") -> KernelVerdict:
    """Load ``insns`` as XDP (with ``maps`` created and relocated as ``KernelXdp`` does) and
    unload it at once: the kernel verifier's judgement, for comparison with our verifier.

    Failures that are no judgement on the program (EPERM: not allowed to load; ENOMEM)
    raise ``KernelError``.
    """
    try:
        with KernelXdp(insns, maps, name):
            return KernelVerdict(True)
    except KernelError as exc:
        if exc.errno_name in ("EPERM", "ENOMEM") and not exc.log:
            raise
        return KernelVerdict(False, exc.reason, exc.errno_name, exc.log)
