"""The Linux ``bpf()`` system call through ctypes: maps, program loading, test runs.

Every kernel object is an fd owned by a Python object with ``close()`` and a context manager,
so nothing is left behind when a run fails or is interrupted (the kernel frees a map or a
program when its last fd closes; nothing here pins).  Errors from the kernel become a
``KernelError`` carrying the errno name and, for a rejected program, the verifier's log.

Ref: Linux include/uapi/linux/bpf.h (``union bpf_attr``, ``enum bpf_cmd``,
``enum bpf_prog_type``, ``enum bpf_map_type``, ``struct bpf_prog_info``); the struct layouts
below mirror the anonymous structs of ``union bpf_attr`` field for field.  The kernel accepts
an attr shorter than its own union and zero-fills the rest, so each command passes only its
own struct.
"""

import ctypes
import enum
import errno
import os
import platform
import re
from dataclasses import dataclass

from ..ebpf.isa import Insn, encode_program

from ..ebpf.maps import MapType

__all__ = [
    "Cmd", "ProgType", "MapType", "KernelError", "BpfMap", "BpfProgram", "TestRunResult",
    "ProgInfo", "create_map", "load_program", "bpf_unavailable_reason", "verifier_reason",
    "BPF_ANY", "BPF_NOEXIST", "BPF_EXIST", "PERCPU_MAP_TYPES", "possible_cpus",
]


class Cmd(enum.IntEnum):
    """``enum bpf_cmd`` (only the commands used here)."""
    MAP_CREATE = 0
    MAP_LOOKUP_ELEM = 1
    MAP_UPDATE_ELEM = 2
    MAP_DELETE_ELEM = 3
    MAP_GET_NEXT_KEY = 4
    PROG_LOAD = 5
    PROG_TEST_RUN = 10
    OBJ_GET_INFO_BY_FD = 15


class ProgType(enum.IntEnum):
    """``enum bpf_prog_type`` (the ones this project loads)."""
    SOCKET_FILTER = 1
    SCHED_CLS = 3
    XDP = 6
    SYSCALL = 31


# Map types whose values exist once per possible CPU.
PERCPU_MAP_TYPES = frozenset({MapType.PERCPU_HASH, MapType.PERCPU_ARRAY,
                              MapType.LRU_PERCPU_HASH,
                              MapType.PERCPU_CGROUP_STORAGE})

_POSSIBLE_CPUS: int | None = None


def possible_cpus() -> int:
    """The number of possible CPUs, which sizes per-CPU map values in the syscall
    (``/sys/devices/system/cpu/possible``, e.g. ``0-1``; libbpf reads the same file)."""
    global _POSSIBLE_CPUS
    if _POSSIBLE_CPUS is None:
        with open("/sys/devices/system/cpu/possible") as f:
            text = f.read().strip()
        count = 0
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            count += int(hi or lo) - int(lo) + 1
        _POSSIBLE_CPUS = count
    return _POSSIBLE_CPUS


# Ref: include/uapi/linux/bpf.h, flags of BPF_MAP_UPDATE_ELEM.
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2
# Ref: include/uapi/linux/bpf.h, BPF_F_NO_PREALLOC; the kernel requires it for LPM tries.
BPF_F_NO_PREALLOC = 1

BPF_OBJ_NAME_LEN = 16

# Ref: arch/*/include/uapi/asm/unistd*.h, __NR_bpf.
_NR_BPF = {"x86_64": 321, "aarch64": 280, "arm64": 280, "riscv64": 280, "i686": 357,
           "i386": 357, "armv7l": 386, "ppc64le": 361, "s390x": 351}


class _MapCreateAttr(ctypes.Structure):
    _fields_ = [("map_type", ctypes.c_uint32), ("key_size", ctypes.c_uint32),
                ("value_size", ctypes.c_uint32), ("max_entries", ctypes.c_uint32),
                ("map_flags", ctypes.c_uint32), ("inner_map_fd", ctypes.c_uint32),
                ("numa_node", ctypes.c_uint32), ("map_name", ctypes.c_char * BPF_OBJ_NAME_LEN)]


class _MapElemAttr(ctypes.Structure):
    # ``value`` doubles as ``next_key`` (a union in the uapi header).
    _fields_ = [("map_fd", ctypes.c_uint32), ("key", ctypes.c_uint64),
                ("value", ctypes.c_uint64), ("flags", ctypes.c_uint64)]


class _ProgLoadAttr(ctypes.Structure):
    _fields_ = [("prog_type", ctypes.c_uint32), ("insn_cnt", ctypes.c_uint32),
                ("insns", ctypes.c_uint64), ("license", ctypes.c_uint64),
                ("log_level", ctypes.c_uint32), ("log_size", ctypes.c_uint32),
                ("log_buf", ctypes.c_uint64), ("kern_version", ctypes.c_uint32),
                ("prog_flags", ctypes.c_uint32),
                ("prog_name", ctypes.c_char * BPF_OBJ_NAME_LEN),
                ("prog_ifindex", ctypes.c_uint32), ("expected_attach_type", ctypes.c_uint32)]


class _TestRunAttr(ctypes.Structure):
    _fields_ = [("prog_fd", ctypes.c_uint32), ("retval", ctypes.c_uint32),
                ("data_size_in", ctypes.c_uint32), ("data_size_out", ctypes.c_uint32),
                ("data_in", ctypes.c_uint64), ("data_out", ctypes.c_uint64),
                ("repeat", ctypes.c_uint32), ("duration", ctypes.c_uint32),
                ("ctx_size_in", ctypes.c_uint32), ("ctx_size_out", ctypes.c_uint32),
                ("ctx_in", ctypes.c_uint64), ("ctx_out", ctypes.c_uint64),
                ("flags", ctypes.c_uint32), ("cpu", ctypes.c_uint32),
                ("batch_size", ctypes.c_uint32)]


class _InfoAttr(ctypes.Structure):
    _fields_ = [("bpf_fd", ctypes.c_uint32), ("info_len", ctypes.c_uint32),
                ("info", ctypes.c_uint64)]


class _ProgInfo(ctypes.Structure):
    # The leading fields of ``struct bpf_prog_info``; the kernel fills min(len, its size).
    _fields_ = [("type", ctypes.c_uint32), ("id", ctypes.c_uint32),
                ("tag", ctypes.c_uint8 * 8), ("jited_prog_len", ctypes.c_uint32),
                ("xlated_prog_len", ctypes.c_uint32), ("jited_prog_insns", ctypes.c_uint64),
                ("xlated_prog_insns", ctypes.c_uint64), ("load_time", ctypes.c_uint64),
                ("created_by_uid", ctypes.c_uint32), ("nr_map_ids", ctypes.c_uint32),
                ("map_ids", ctypes.c_uint64), ("name", ctypes.c_char * BPF_OBJ_NAME_LEN)]


class KernelError(OSError):
    """The kernel refused a ``bpf()`` command.

    Members
    -------
    errno_name : str
        ``EACCES``, ``EPERM``, ``EINVAL``, ``ENOTSUPP`` ... (``errno`` holds the number).
    what : str
        The command and object, e.g. ``"BPF_PROG_LOAD of 'conf_add'"``.
    log : str
        The verifier's log for a rejected program ("" otherwise).
    """

    def __init__(self, err: int, what: str, log: str = ""):
        self.errno_name = _errno_name(err)
        self.what = what
        self.log = log
        # errnos from 512 up are kernel-internal (ENOTSUPP is 524): strerror knows none.
        text = os.strerror(err) if err < 512 else "operation not supported by the kernel"
        message = f"{what}: {self.errno_name} ({text})"
        reason = verifier_reason(log)
        if reason:
            message += f": {reason}"
        super().__init__(err, message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    @property
    def reason(self) -> str:
        """The verifier's own words for the rejection (its first line), or the errno text."""
        return verifier_reason(self.log) or self.message


def _errno_name(err: int) -> str:
    if err == 524:          # kernel-internal ENOTSUPP, which reaches user space for BPF
        return "ENOTSUPP"
    return errno.errorcode.get(err, f"errno {err}")


# Lines of a level-1 verifier log that trace the walk rather than state a verdict:
# "12: (bf) r1 = r6", "12: R1=ctx() R10=fp0", "; source line", "from 3 to 7: ...",
# "func#0 @0", and the bookkeeping lines the kernel prints around calls and precision marks.
_TRACE = re.compile(r"\d+: |; |from \d+ to \d+|func#\d+|mark_precise|last_idx |regs=|"
                    r"parent |caller:|callee:|returning from callee|to caller at|"
                    r"Live regs|verification time|stack depth")
_STATS = re.compile(r"processed \d+ insns")


def verifier_reason(log: str) -> str:
    """The first line of the verifier's verdict in a level-1 log ("" when there is none):
    the first line after the last instruction-trace line that is not bookkeeping, before the
    "processed N insns" statistics."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if _STATS.match(line):
            lines = lines[:i]
            break
    verdict = [(i, line.strip()) for i, line in enumerate(lines)
               if line.strip() and not _TRACE.match(line)]
    last_trace = max((i for i, line in enumerate(lines) if re.match(r"\d+: |from \d+ to ", line)),
                     default=-1)
    after = [line for i, line in verdict if i > last_trace]
    if after:
        return after[0]
    return verdict[0][1] if verdict else ""


_libc = None


def _syscall(cmd: Cmd, attr: ctypes.Structure) -> int:
    """``bpf(cmd, &attr, sizeof attr)``; returns the result or raises OSError(errno)."""
    global _libc
    if _libc is None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        libc.syscall.argtypes = (ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint)
        _libc = libc
    machine = platform.machine()
    if machine not in _NR_BPF:
        raise OSError(errno.ENOSYS, f"bpf(): no system call number known for {machine}")
    while True:
        ret = _libc.syscall(_NR_BPF[machine], int(cmd), ctypes.addressof(attr),
                            ctypes.sizeof(attr))
        if ret >= 0:
            return ret
        err = ctypes.get_errno()
        if err != errno.EINTR:
            raise OSError(err, os.strerror(err))


def _call(cmd: Cmd, attr: ctypes.Structure, what: str) -> int:
    try:
        return _syscall(cmd, attr)
    except OSError as exc:
        raise KernelError(exc.errno, what) from None


def _name(name: str) -> bytes:
    # Object names: up to 15 characters of [A-Za-z0-9_.], as the kernel's bpf_obj_name_cpy
    # demands; anything else is replaced rather than refused.
    cleaned = re.sub(r"[^A-Za-z0-9_.]", "_", name)[:BPF_OBJ_NAME_LEN - 1]
    return cleaned.encode()


class _Fd:
    """An owned fd: closed once, by ``close()``, the context manager or garbage collection."""

    fd: int = -1

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    @property
    def closed(self) -> bool:
        return self.fd < 0

    def _check_open(self) -> int:
        if self.fd < 0:
            raise ValueError(f"{self!r} is closed")
        return self.fd

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class BpfMap(_Fd):
    """A kernel map, owned through its fd.  Keys and values are ``bytes`` of the map's sizes.

    Parameters
    ----------
    map_type : MapType
    key_size, value_size, max_entries : int
    name : str
        Shown by ``bpftool map``; at most 15 characters are kept.
    flags : int
        ``map_flags`` (LPM tries need ``BPF_F_NO_PREALLOC``, added automatically).
    """

    def __init__(self, map_type: int, key_size: int, value_size: int, max_entries: int,
                 name: str = "", flags: int = 0, inner_map_fd: int = 0):
        self.map_type = int(map_type)
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.name = name
        if self.map_type == MapType.LPM_TRIE:
            flags |= BPF_F_NO_PREALLOC
        attr = _MapCreateAttr(map_type=self.map_type, key_size=key_size,
                              value_size=value_size, max_entries=max_entries,
                              map_flags=flags, inner_map_fd=inner_map_fd,
                              map_name=_name(name))
        self.fd = _call(Cmd.MAP_CREATE, attr,
                        f"BPF_MAP_CREATE of {name or 'map'!r} (type {self.map_type}, key"
                        f" {key_size} B, value {value_size} B, {max_entries} entries)")

    def __repr__(self) -> str:
        return f"<BpfMap {self.name!r} fd={self.fd}>"

    def _key(self, key: bytes) -> ctypes.Array:
        if len(key) != self.key_size:
            raise ValueError(f"map {self.name!r}: key is {len(key)} bytes, not {self.key_size}")
        return ctypes.create_string_buffer(bytes(key), self.key_size)

    @property
    def percpu(self) -> bool:
        """Whether each CPU has its own copy of every value (``PERCPU_*`` map types)."""
        return self.map_type in PERCPU_MAP_TYPES

    def _stride(self) -> int:
        # Per-CPU values cross the syscall as round_up(value_size, 8) bytes per possible CPU.
        return (self.value_size + 7) & ~7

    def _value_buffer_size(self) -> int:
        return self._stride() * possible_cpus() if self.percpu else self.value_size

    def lookup(self, key: bytes) -> bytes | list[bytes] | None:
        """The value stored under ``key``, or None when there is none.

        For a per-CPU map, the list of the values of every possible CPU (CPU 0 first).
        """
        k = self._key(key)
        v = ctypes.create_string_buffer(self._value_buffer_size())
        attr = _MapElemAttr(map_fd=self._check_open(), key=ctypes.addressof(k),
                            value=ctypes.addressof(v))
        try:
            _syscall(Cmd.MAP_LOOKUP_ELEM, attr)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise KernelError(exc.errno, f"BPF_MAP_LOOKUP_ELEM in {self.name!r}") from None
        if not self.percpu:
            return v.raw
        stride = self._stride()
        return [v.raw[i * stride:i * stride + self.value_size] for i in range(possible_cpus())]

    def update(self, key: bytes, value: bytes | list[bytes], flags: int = BPF_ANY) -> None:
        """Store ``value`` under ``key`` (``flags``: BPF_ANY, BPF_NOEXIST or BPF_EXIST).

        For a per-CPU map, ``value`` is either one value (stored for every CPU) or a list of
        one value per possible CPU.
        """
        values = value if isinstance(value, list) else [value]
        for one in values:
            if len(one) != self.value_size:
                raise ValueError(f"map {self.name!r}: value is {len(one)} bytes,"
                                 f" not {self.value_size}")
        if self.percpu:
            cpus = possible_cpus()
            if len(values) == 1:
                values = values * cpus
            if len(values) != cpus:
                raise ValueError(f"map {self.name!r}: {len(values)} per-CPU values for"
                                 f" {cpus} possible CPUs")
            data = b"".join(bytes(one).ljust(self._stride(), b"\0") for one in values)
        elif len(values) != 1:
            raise ValueError(f"map {self.name!r} is not per-CPU: give one value, not a list")
        else:
            data = bytes(values[0])
        k = self._key(key)
        v = ctypes.create_string_buffer(data, len(data))
        attr = _MapElemAttr(map_fd=self._check_open(), key=ctypes.addressof(k),
                            value=ctypes.addressof(v), flags=flags)
        _call(Cmd.MAP_UPDATE_ELEM, attr, f"BPF_MAP_UPDATE_ELEM in {self.name!r}")

    def delete(self, key: bytes) -> bool:
        """Remove ``key``; False when it was absent.  (Array maps refuse with EINVAL.)"""
        k = self._key(key)
        attr = _MapElemAttr(map_fd=self._check_open(), key=ctypes.addressof(k))
        try:
            _syscall(Cmd.MAP_DELETE_ELEM, attr)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return False
            raise KernelError(exc.errno, f"BPF_MAP_DELETE_ELEM in {self.name!r}") from None
        return True

    def next_key(self, key: bytes | None) -> bytes | None:
        """The key after ``key`` (the first key for None), or None at the end."""
        nk = ctypes.create_string_buffer(self.key_size)
        k = self._key(key) if key is not None else None
        attr = _MapElemAttr(map_fd=self._check_open(),
                            key=ctypes.addressof(k) if k is not None else 0,
                            value=ctypes.addressof(nk))
        try:
            _syscall(Cmd.MAP_GET_NEXT_KEY, attr)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise KernelError(exc.errno, f"BPF_MAP_GET_NEXT_KEY in {self.name!r}") from None
        return nk.raw

    def keys(self) -> list[bytes]:
        """Every key, in the kernel's iteration order."""
        out = []
        key = self.next_key(None)
        while key is not None:
            out.append(key)
            key = self.next_key(key)
        return out

    def items(self) -> list[tuple[bytes, bytes | list[bytes]]]:
        """Every (key, value) pair; entries deleted during the walk are left out."""
        out = []
        for key in self.keys():
            value = self.lookup(key)
            if value is not None:
                out.append((key, value))
        return out


@dataclass
class TestRunResult:
    """What ``BPF_PROG_TEST_RUN`` returned.

    ``retval`` is the program's r0 truncated to 32 bits (the kernel's ``u32 retval``);
    ``duration_ns`` the kernel's mean time per run over ``repeat`` runs.
    """
    retval: int
    data_out: bytes
    ctx_out: bytes
    duration_ns: int
    repeat: int

    __test__ = False   # not a pytest test class, despite the name


@dataclass
class ProgInfo:
    """The leading fields of ``struct bpf_prog_info``."""
    type: int
    id: int
    tag: str
    jited_prog_len: int
    xlated_prog_len: int
    name: str


class BpfProgram(_Fd):
    """A loaded program, owned through its fd.  Create with ``load_program``."""

    def __init__(self, fd: int, prog_type: int, name: str, insn_count: int):
        self.fd = fd
        self.prog_type = prog_type
        self.name = name
        self.insn_count = insn_count

    def __repr__(self) -> str:
        return f"<BpfProgram {self.name!r} fd={self.fd}>"

    def test_run(self, data_in: bytes = b"", ctx_in: bytes | None = None, repeat: int = 1,
                 data_out_size: int | None = None, ctx_out_size: int | None = None,
                 flags: int = 0) -> TestRunResult:
        """Run the program ``repeat`` times on ``data_in`` with ``BPF_PROG_TEST_RUN``.

        ``data_out_size`` defaults to room for the packet to grow by 4 KiB (XDP tail
        adjustments); the kernel returns ENOSPC when the output does not fit.
        """
        if repeat < 1:
            raise ValueError(f"repeat must be >= 1, not {repeat}")
        din = ctypes.create_string_buffer(bytes(data_in), max(len(data_in), 1))
        out_size = data_out_size if data_out_size is not None else len(data_in) + 4096
        dout = ctypes.create_string_buffer(max(out_size, 1))
        cin = ctypes.create_string_buffer(bytes(ctx_in), len(ctx_in)) if ctx_in else None
        cout_size = ctx_out_size if ctx_out_size is not None else (len(ctx_in) if ctx_in else 0)
        cout = ctypes.create_string_buffer(cout_size) if cout_size else None
        attr = _TestRunAttr(
            prog_fd=self._check_open(), data_size_in=len(data_in),
            data_size_out=out_size if data_in else 0,
            data_in=ctypes.addressof(din) if data_in else 0,
            data_out=ctypes.addressof(dout) if data_in else 0,
            repeat=repeat,
            ctx_size_in=len(ctx_in) if ctx_in else 0,
            ctx_in=ctypes.addressof(cin) if cin is not None else 0,
            ctx_size_out=cout_size,
            ctx_out=ctypes.addressof(cout) if cout is not None else 0,
            flags=flags)
        _call(Cmd.PROG_TEST_RUN, attr, f"BPF_PROG_TEST_RUN of {self.name!r}")
        return TestRunResult(
            retval=attr.retval,
            data_out=dout.raw[:attr.data_size_out] if data_in else b"",
            ctx_out=cout.raw[:attr.ctx_size_out] if cout is not None else b"",
            duration_ns=attr.duration, repeat=repeat)

    def info(self) -> ProgInfo:
        """``BPF_OBJ_GET_INFO_BY_FD``: id, tag and the translated / JIT-compiled sizes."""
        info = _ProgInfo()
        attr = _InfoAttr(bpf_fd=self._check_open(), info_len=ctypes.sizeof(info),
                         info=ctypes.addressof(info))
        _call(Cmd.OBJ_GET_INFO_BY_FD, attr, f"BPF_OBJ_GET_INFO_BY_FD of {self.name!r}")
        return ProgInfo(type=info.type, id=info.id, tag=bytes(info.tag).hex(),
                        jited_prog_len=info.jited_prog_len,
                        xlated_prog_len=info.xlated_prog_len,
                        name=info.name.decode(errors="replace"))


def create_map(map_type: int, key_size: int, value_size: int, max_entries: int,
               name: str = "", flags: int = 0, inner_map_fd: int = 0) -> BpfMap:
    """Create a map (see ``BpfMap``); a map of maps names a map like its inner ones by
    ``inner_map_fd``."""
    return BpfMap(map_type, key_size, value_size, max_entries, name, flags, inner_map_fd)


LOG_SIZE = 4 << 20


def load_program(insns: list[Insn] | bytes, prog_type: int = ProgType.XDP, name: str = "prog",
                 license: str = "GPL", prog_flags: int = 0,
                 expected_attach_type: int = 0) -> BpfProgram:
    """Verify and load a program; ``KernelError`` (with the verifier's log) if refused.

    ``insns`` is a list as ``isa.decode_program`` returns it, or raw bytecode.  The first
    attempt asks for no log (a log that overflows its buffer fails the load with ENOSPC even
    for a good program); a rejected program is loaded again with a level-1 log to explain why.
    """
    code = insns if isinstance(insns, bytes) else encode_program(insns)
    if not code or len(code) % 8:
        raise ValueError(f"program {name!r}: bytecode length {len(code)} is not a positive"
                         f" multiple of 8")
    buf = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(license.encode())

    def attempt(log_level: int, log: ctypes.Array | None) -> int:
        attr = _ProgLoadAttr(prog_type=int(prog_type), insn_cnt=len(code) // 8,
                             insns=ctypes.addressof(buf), license=ctypes.addressof(lic),
                             log_level=log_level, log_size=len(log) if log is not None else 0,
                             log_buf=ctypes.addressof(log) if log is not None else 0,
                             prog_flags=prog_flags, prog_name=_name(name),
                             expected_attach_type=expected_attach_type)
        return _syscall(Cmd.PROG_LOAD, attr)

    what = f"BPF_PROG_LOAD of {name!r}"
    err = 0
    for _ in range(5):   # EAGAIN: the kernel asks to retry (libbpf does the same)
        try:
            fd = attempt(0, None)
        except OSError as exc:
            err = exc.errno
            if err == errno.EAGAIN:
                continue
            break
        return BpfProgram(fd, int(prog_type), name, len(code) // 8)
    log = ctypes.create_string_buffer(LOG_SIZE)
    try:
        fd = attempt(1, log)
    except OSError:
        raise KernelError(err, what, log.value.decode(errors="replace")) from None
    # Accepted the second time (a transient failure): keep it rather than fail.
    return BpfProgram(fd, int(prog_type), name, len(code) // 8)


_PROBE: str | None | bool = False


def bpf_unavailable_reason() -> str | None:
    """None when this process can use ``bpf()`` for this project; otherwise why not.

    Probed once: create (and close) a one-entry array map, then load (and unload) a
    two-instruction XDP program, since some systems let unprivileged users create maps but
    not load XDP programs.
    """
    global _PROBE
    if _PROBE is False:
        try:
            with create_map(MapType.ARRAY, 4, 4, 1, "xdpnic_probe"):
                pass
            # mov r0, XDP_PASS; exit  (bytes, so the probe depends on nothing else)
            with load_program(bytes.fromhex("b700000002000000" "9500000000000000"),
                              ProgType.XDP, "xdpnic_probe"):
                pass
            _PROBE = None
        except KernelError as exc:
            hint = " (not root / no CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN?)" \
                if exc.errno in (errno.EPERM, errno.EACCES) else ""
            _PROBE = f"{exc}{hint}"
        except OSError as exc:
            _PROBE = f"bpf() is not available: {exc}"
    return _PROBE
