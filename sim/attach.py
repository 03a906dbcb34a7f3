"""The simulated NIC behind real Linux interfaces: ``xdpnic attach``'s machinery.

Two network namespaces stand for the two sides of a NIC (one stack cannot be both: the kernel
would deliver a packet between two of its own addresses without any interface):

* ``NAME``, the network on the ports' cables: TAP ``wire<P>`` is the far end of port P's
  cable, address 169.254.<77+P>.1.  Every frame the kernel sends on ``wire<P>`` is received by
  the NIC on port P and goes through the XDP program (:class:`sim.live.LiveNic`).
* ``NAME-host``, the host the NIC is plugged into: TAP ``xdpnic<P>`` is port P as the host
  sees it, address 169.254.<77+P>.2.  ``XDP_PASS`` frames arrive here (the host's stack);
  what the host sends on ``xdpnic<P>`` leaves on port P's cable unprocessed (XDP is a receive
  hook), so replies reach ``wire<P>``.

``XDP_TX`` and ``XDP_REDIRECT`` frames leave on their port's cable: written into
``wire<Q>``, where the kernel of ``NAME`` receives them.  Neighbours are static (no ARP needed)
and IPv6 is off in both namespaces, so the only frames are the ones a user sends.  Only
link-local addresses (169.254/16, RFC 3927) and locally administered MACs are used.

:class:`Attachment` creates all that, runs the frame loop (frames, the control socket, the live
summary) and removes everything on the way out, whatever ends it.  The control socket
(``/run/xdpnic/NAME/control.sock``) takes one JSON request per connection, one line, and
answers one JSON line: ``{"op": "list"}``, ``{"op": "dump", "map": NAME}``, ``{"op": "update",
"map": NAME, "key": HEX, "value": HEX, "flags": N}``, ``{"op": "delete", "map": NAME, "key":
HEX}``, ``{"op": "status"}``; answers carry ``"error"`` (a message) or ``"errno"`` (the map's
refusal, negative) when they fail.
"""

import ctypes
import fcntl
import json
import os
import pathlib
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter

from firmware.ebpf.xdp import Disposition

from .live import LiveError, LiveNic, errno_name

__all__ = ["Attachment", "AttachError", "STATE_ROOT", "state_dir", "control_request",
           "port_addresses", "NAME_PATTERN"]

STATE_ROOT = pathlib.Path(os.environ.get("XDPNIC_RUN_DIR", "/run/xdpnic"))
NAME_PATTERN = "lower-case letters, digits and '-', 1 to 10 characters"
NETNS_DIR = pathlib.Path("/run/netns")

# Ref: include/uapi/linux/if_tun.h, include/uapi/linux/sched.h
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
MAX_FRAME = 65536


class AttachError(RuntimeError):
    """Attaching cannot start (or the control socket cannot be reached): the message says why."""


def state_dir(name: str) -> pathlib.Path:
    return STATE_ROOT / name


def port_addresses(port: int) -> dict:
    """Port ``port``'s addresses: the cable's far end (``wire``) and the host's side."""
    subnet = f"169.254.{77 + port}"
    return {"wire_ip": f"{subnet}.1", "host_ip": f"{subnet}.2", "prefix": 24,
            "wire_mac": f"02:00:00:00:{port:02x}:01", "host_mac": f"02:00:00:00:{port:02x}:02",
            "wire_if": f"wire{port}", "host_if": f"xdpnic{port}"}


def valid_name(name: str) -> bool:
    return (0 < len(name) <= 10 and name[0] != "-"
            and all(c.islower() or c.isdigit() or c == "-" for c in name))


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if proc.returncode:
        raise AttachError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


def _in_namespace(netns: str, work):
    """Run ``work()`` in a thread that has entered network namespace ``netns`` (sockets and
    TAPs opened there stay in it); the caller's namespace never changes."""
    libc = ctypes.CDLL(None, use_errno=True)
    outcome = {}

    def body():
        try:
            with open(NETNS_DIR / netns) as ns:
                if libc.setns(ns.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {netns}")
            outcome["value"] = work()
        except Exception as exc:         # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _open_tap(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


def _killed_attach(name: str) -> int | None:
    """The pid of the attach that left ``name``'s state behind, if that process is gone."""
    try:
        pid = json.loads((state_dir(name) / "attach.json").read_text())["pid"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return pid
    return pid if state == "Z" else None        # a zombie is gone too


def control_request(name: str, request: dict, timeout: float = 30.0) -> dict:
    """Send one request to the NIC attached as ``name``; its answer."""
    if not valid_name(name):
        raise AttachError(f"--name {name!r}: use {NAME_PATTERN}")
    path = state_dir(name) / "control.sock"
    if not path.exists():
        raise AttachError(f"no NIC attached as {name!r} ({path} does not exist; start one "
                          f"with 'xdpnic attach PROG --name {name}')")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(str(path))
            s.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except PermissionError:
            raise AttachError(f"control socket {path}: needs root, as the attach that made "
                              "it (run it with sudo)") from None
        except OSError as exc:
            raise AttachError(f"control socket {path}: {exc.strerror or exc}") from None
    if not data:
        raise AttachError(f"control socket {path}: no answer")
    return json.loads(data)


class Attachment:
    """A :class:`LiveNic` behind TAP interfaces in two namespaces, ``name`` and ``name-host``.

    Use as a context manager: ``__enter__`` builds the namespaces, interfaces and control
    socket (removing what it built if a step fails), ``run()`` moves frames until a signal or
    ``duration`` seconds, ``__exit__`` removes everything.
    """

    def __init__(self, nic: LiveNic, name: str, *, pcap_out: str | None = None,
                 summary=None, summary_interval: float = 1.0):
        self.nic = nic
        self.name = name
        self.host_ns = f"{name}-host"
        self.ports = nic.ports
        self.pcap_dir = pathlib.Path(pcap_out) if pcap_out else None
        self.summary = summary
        self.summary_interval = summary_interval
        self.state = state_dir(name)
        self.wire_fds: list[int] = []
        self.host_fds: list[int] = []
        self.namespaces: list[str] = []
        self.writers: dict[str, object] = {}
        self.counters: Counter = Counter()
        self.listener: socket.socket | None = None
        self._stop = False

    # --- set-up and tear-down ----------------------------------------------------------------
    @staticmethod
    def refusal(name: str) -> str | None:
        """Why ``name`` cannot be attached now, or None."""
        if not valid_name(name):
            return f"--name {name!r}: use {NAME_PATTERN}"
        if os.geteuid() != 0:
            return ("needs root: it creates network namespaces and TAP interfaces "
                    "(run it with sudo)")
        if shutil.which("ip") is None:
            return "the 'ip' command (iproute2) is not installed (scripts/setup.sh installs it)"
        if not os.path.exists("/dev/net/tun"):
            return "/dev/net/tun is missing: this kernel or container offers no TAP devices"
        for ns in (name, f"{name}-host"):
            if (NETNS_DIR / ns).exists():
                killed = _killed_attach(name)
                if killed:
                    return (f"network namespace {ns!r} exists already, left by an 'xdpnic "
                            f"attach' that was killed (pid {killed} is gone); remove it with "
                            f"'ip netns del {name}; ip netns del {name}-host; "
                            f"rm -r {state_dir(name)}'")
                return (f"network namespace {ns!r} exists already (another 'xdpnic attach "
                        f"--name {name}', or someone else's); pick another --name, or remove "
                        f"it with 'ip netns del {ns}' if it is yours and unused")
        return None

    def __enter__(self):
        try:
            self._setup()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def _setup(self) -> None:
        reason = self.refusal(self.name)
        if reason:
            raise AttachError(reason)
        self.state.mkdir(parents=True, exist_ok=True)
        for ns in (self.name, self.host_ns):
            _ip("netns", "add", ns)
            self.namespaces.append(ns)
            # no IPv6 (router solicitations, DAD): only the frames a user sends
            for conf in ("all", "default"):
                _ip("netns", "exec", ns, "sysctl", "-q", "-w",
                    f"net.ipv6.conf.{conf}.disable_ipv6=1")
            _ip("-n", ns, "link", "set", "lo", "up")
        for port in range(self.ports):
            a = port_addresses(port)
            self.wire_fds.append(_in_namespace(self.name, lambda: _open_tap(a["wire_if"])))
            self.host_fds.append(_in_namespace(self.host_ns, lambda: _open_tap(a["host_if"])))
            for ns, ifname, mac, ip, peer_ip, peer_mac in (
                    (self.name, a["wire_if"], a["wire_mac"], a["wire_ip"], a["host_ip"],
                     a["host_mac"]),
                    (self.host_ns, a["host_if"], a["host_mac"], a["host_ip"], a["wire_ip"],
                     a["wire_mac"])):
                _ip("-n", ns, "link", "set", "dev", ifname, "address", mac, "up")
                _ip("-n", ns, "addr", "add", f"{ip}/{a['prefix']}", "dev", ifname)
                _ip("-n", ns, "neigh", "replace", peer_ip, "lladdr", peer_mac, "dev", ifname,
                    "nud", "permanent")
        if self.pcap_dir is not None:
            self._open_captures()
        sock_path = self.state / "control.sock"
        if sock_path.exists():
            sock_path.unlink()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(sock_path))
        os.chmod(sock_path, 0o600)
        self.listener.listen(8)
        self.listener.setblocking(False)
        (self.state / "attach.json").write_text(json.dumps(self.describe(), indent=1) + "\n")

    def _open_captures(self) -> None:
        from .pcap import PcapError, PcapWriter
        try:
            self.pcap_dir.mkdir(parents=True, exist_ok=True)
            for port in range(self.ports):
                for what in ("rx", "tx", "pass"):
                    self.writers[f"port{port}-{what}"] = PcapWriter(
                        self.pcap_dir / f"port{port}-{what}.pcap")
        except (OSError, PcapError) as exc:
            raise AttachError(f"--pcap-out {self.pcap_dir}: {exc}") from None

    def describe(self) -> dict:
        """What is attached where (``attach.json``, the ready line, ``status``)."""
        return {"name": self.name, "pid": os.getpid(), "target": self.nic.target,
                "program": self.nic.image.source, "ports": self.ports,
                "namespaces": {"wire": self.name, "host": self.host_ns},
                "interfaces": [port_addresses(p) for p in range(self.ports)],
                "maps": [spec.name for spec in self.nic.specs],
                "pcap_out": str(self.pcap_dir) if self.pcap_dir else None}

    def close(self) -> None:
        """Remove everything :meth:`_setup` made (each step whatever the others do)."""
        for fd in self.wire_fds + self.host_fds:     # a TAP goes away with its last fd
            try:
                os.close(fd)
            except OSError:
                pass
        self.wire_fds, self.host_fds = [], []
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.namespaces = []
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        for writer in self.writers.values():
            writer.close()
        self.writers = {}
        shutil.rmtree(self.state, ignore_errors=True)

    # --- the frame loop ----------------------------------------------------------------------
    def stop(self, *_args) -> None:
        self._stop = True

    def run(self, duration: float | None = None) -> None:
        """Move frames until :meth:`stop` (SIGINT, SIGTERM) or ``duration`` seconds."""
        sel = selectors.DefaultSelector()
        for port, fd in enumerate(self.wire_fds):
            sel.register(fd, selectors.EVENT_READ, ("wire", port))
        for port, fd in enumerate(self.host_fds):
            sel.register(fd, selectors.EVENT_READ, ("host", port))
        sel.register(self.listener, selectors.EVENT_READ, ("control", None))
        end = time.monotonic() + duration if duration else None
        next_summary = time.monotonic() + self.summary_interval
        try:
            while not self._stop and (end is None or time.monotonic() < end):
                for key, _events in sel.select(timeout=0.2):
                    side, port = key.data
                    if side == "control":
                        self._serve_control()
                    else:
                        self._drain(side, port, key.fd)
                if self.summary is not None and time.monotonic() >= next_summary:
                    self.summary(self.counters)
                    next_summary = time.monotonic() + self.summary_interval
        finally:
            sel.close()

    def _drain(self, side: str, port: int, fd: int) -> None:
        while not self._stop:
            try:
                frame = os.read(fd, MAX_FRAME)
            except BlockingIOError:
                return
            except OSError as exc:
                raise AttachError(f"reading {side} interface of port {port}: {exc}") from None
            if side == "wire":
                self._receive(frame, port)
            else:       # the host transmits: straight onto the cable, XDP sees only receive
                self.counters["host_tx"] += 1
                self._capture(f"port{port}-tx", frame)
                self._write(self.wire_fds[port], frame)

    def _receive(self, frame: bytes, port: int) -> None:
        self.counters["received"] += 1
        self.counters[f"port{port}_rx"] += 1
        self._capture(f"port{port}-rx", frame)
        result = self.nic.process(frame, port)
        self.counters[result.disposition] += 1
        if result.disposition == Disposition.PASS:
            self._capture(f"port{port}-pass", result.frame)
            self._write(self.host_fds[port], result.frame)
        elif result.egress_port is not None:
            out = result.egress_port
            self.counters[f"port{out}_tx"] += 1
            self._capture(f"port{out}-tx", result.frame)
            self._write(self.wire_fds[out], result.frame)

    @staticmethod
    def _write(fd: int, frame: bytes) -> None:
        try:
            os.write(fd, frame)
        except OSError:
            pass        # the interface is down or its queue full: the frame is lost, as on a wire

    def _capture(self, name: str, frame: bytes) -> None:
        writer = self.writers.get(name)
        if writer is not None:
            writer.write(frame, time.time_ns() // 1000)
            writer.flush()

    # --- the control socket ------------------------------------------------------------------
    def _serve_control(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return
        with conn:
            conn.settimeout(2.0)
            data = b""
            try:
                while not data.endswith(b"\n") and len(data) < 1 << 20:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                answer = self._answer(data)
                conn.sendall(json.dumps(answer).encode() + b"\n")
            except OSError:
                pass        # the client went away; the NIC carries on

    def _answer(self, data: bytes) -> dict:
        try:
            request = json.loads(data)
            op = request["op"]
        except (ValueError, KeyError, TypeError):
            return {"error": "a request is one JSON object with an 'op'"}
        try:
            if op == "list":
                return {"maps": [self._map_info(i, spec) for i, spec in enumerate(self.nic.specs)]}
            if op == "status":
                return {"attach": self.describe(), "counters": dict(self.counters)}
            name = request.get("map")
            if name not in [s.name for s in self.nic.specs]:
                return {"error": f"no map named {name!r} (the program's maps: "
                                 f"{', '.join(s.name for s in self.nic.specs) or 'none'})"}
            if op == "dump":
                return {"map": self.nic.dump(name)}
            if op not in ("update", "delete", "lookup"):
                return {"error": f"unknown op {op!r}"}
            spec = next(s for s in self.nic.specs if s.name == name)
            key = bytes.fromhex(request["key"])
            if len(key) != spec.key_size:
                return {"error": f"map {name!r}: key is {spec.key_size} bytes, got {len(key)}"}
            if op == "update":
                value = bytes.fromhex(request["value"])
                if len(value) != spec.value_size:
                    return {"error": f"map {name!r}: value is {spec.value_size} bytes, got "
                                     f"{len(value)}"}
                result = self.nic.update(name, key, value, int(request.get("flags", 0)))
            elif op == "delete":
                result = self.nic.delete(name, key)
            else:
                value = self.nic.lookup(name, key)
                return {"value": value.hex() if value is not None else None}
        except (LiveError, KeyError, ValueError) as exc:
            return {"error": str(exc)}
        except Exception as exc:        # a request never stops the NIC: the client is told
            return {"error": f"{type(exc).__name__}: {exc}"}
        if result:
            return {"errno": result, "error": errno_name(result)}
        return {"ok": True}

    def _map_info(self, map_id: int, spec) -> dict:
        return {"id": map_id, "name": spec.name, "type": spec.type.name,
                "key_size": spec.key_size, "value_size": spec.value_size,
                "max_entries": spec.max_entries, "flags": spec.flags}


def install_signal_handlers(attachment: Attachment) -> None:
    """SIGINT and SIGTERM stop the loop; the context manager then removes everything."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, attachment.stop)


def print_summary_line(counters: Counter, stream=sys.stderr) -> None:
    """The live summary: one line rewritten in place on a terminal."""
    parts = [f"rx {counters['received']}"] + [f"{d} {counters[d]}" for d in Disposition.ALL
                                               if counters[d]] + [f"host-tx {counters['host_tx']}"]
    stream.write("\r" + "  ".join(parts) + "\033[K")
    stream.flush()
