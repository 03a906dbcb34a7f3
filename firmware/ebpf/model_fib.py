"""``bpf_fib_lookup`` on the golden model: IPv4 and IPv6 FIBs and neighbours, as the kernel's.

A ``Fib`` holds what the host's routing gives the NIC: its devices (ifindex, MAC, MTU,
IPv4 addresses, whether forwarding is on), the routes of the main table (unicast with or
without a gateway, blackhole, unreachable, prohibit; metric, MTU, preferred source) and the
neighbours (IPv4 address and device to MAC, with the NUD state).  It is read from a JSON file
(``Fib.from_file``) or from a network namespace's tables through iproute2's netlink dumps
(``Fib.from_netns``: ``ip -j link / addr / route / neigh``); the file holds those same dumps:

    {"links": [ip -j link], "addrs": [ip -j -4 addr], "routes": [ip -j -d -4 route],
     "neighbours": [ip -j -4 neigh], "forwarding": {"ifname": 0 or 1},
     "ip_forward_use_pmtu": 0 or 1, "addrs6": [ip -j -6 addr], "routes6": [ip -j -d -6 route],
     "neighbours6": [ip -j -6 neigh], "forwarding6": {"ifname": 0 or 1}}

(``ip -j`` leaves out whether a route's MTU is locked: ``dump_netns`` marks such routes
``"mtu_lock": true`` from the text dump.)

``Fib.lookup(params, flags)`` follows ``bpf_ipv4_fib_lookup`` (net/core/filter.c) with the
XDP hook's MTU check: the input device and its forwarding switch, the local table before the
main one (a local or broadcast destination is not forwarded), longest prefix then lowest
metric, the route type's return code, the MTU (the route's when it is locked or
``ip_forward_use_pmtu`` is on, else the output device's, as ``ip_mtu_from_fib_result``; a
``tot_len`` above it: FRAG_NEEDED with the MTU in ``mtu_result``), the output device and metric, ``BPF_FIB_LOOKUP_SRC``, the gateway as the
new destination, and the neighbour's MAC (NO_NEIGH without a valid one, unless
``BPF_FIB_LOOKUP_SKIP_NEIGH``).  IPv6 follows ``bpf_ipv6_fib_lookup`` likewise (link-local,
multicast and loopback addresses are never forwarded, the device's IPv6 forwarding switch, its
own and subnet-router anycast addresses are local, a locked route MTU else the device's, the
source address: the route's preferred one or the output device's first global one, else
NO_SRC_ADDR).  Not modelled: policy rules
and tables other than main (``BPF_FIB_LOOKUP_TBID`` with another table: NOT_FWDED), ECMP
routes, marks, lwt encapsulation, the output-interface restriction of
``BPF_FIB_LOOKUP_OUTPUT``.

Ref: Linux include/uapi/linux/bpf.h (struct bpf_fib_lookup, BPF_FIB_LKUP_RET_*,
BPF_FIB_LOOKUP_*), net/core/filter.c (bpf_xdp_fib_lookup, bpf_ipv4_fib_lookup,
bpf_fib_set_fwd_params), include/net/neighbour.h (NUD_VALID).
"""

import errno
import ipaddress
import json
import pathlib
import struct
import subprocess
from dataclasses import dataclass, field

__all__ = ["Fib", "FibError", "FIB_PARAMS_SIZE", "FibRet", "FibFlag"]

FIB_PARAMS_SIZE = 64                # sizeof(struct bpf_fib_lookup)
AF_INET, AF_INET6 = 2, 10


class FibRet:
    """``BPF_FIB_LKUP_RET_*``."""
    SUCCESS, BLACKHOLE, UNREACHABLE, PROHIBIT, NOT_FWDED, FWD_DISABLED, UNSUPP_LWT, \
        NO_NEIGH, FRAG_NEEDED, NO_SRC_ADDR = range(10)


class FibFlag:
    """``BPF_FIB_LOOKUP_*``."""
    DIRECT, OUTPUT, SKIP_NEIGH, TBID, SRC, MARK = (1 << i for i in range(6))
    ALL = 0x3F


RT_TABLE_MAIN = 254
# NUD_VALID: PERMANENT, NOARP, REACHABLE, PROBE, STALE, DELAY.
_NUD_VALID = {"PERMANENT", "NOARP", "REACHABLE", "PROBE", "STALE", "DELAY"}
_ROUTE_RET = {"blackhole": FibRet.BLACKHOLE, "unreachable": FibRet.UNREACHABLE,
              "prohibit": FibRet.PROHIBIT}


class FibError(Exception):
    """A FIB file or dump that cannot be read; the message says which and where."""


@dataclass
class Device:
    ifindex: int
    name: str
    mac: bytes
    mtu: int
    forwarding: bool
    addrs: list = field(default_factory=list)        # IPv4Interface
    forwarding6: bool = False
    addrs6: list = field(default_factory=list)       # IPv6Interface


@dataclass
class Route:
    net: ipaddress.IPv4Network | ipaddress.IPv6Network
    kind: str                       # unicast, blackhole, unreachable, prohibit, ...
    dev: int | None                 # output ifindex
    gateway: int | None
    metric: int
    mtu: int | None                 # the route's MTU where the lookup uses it (else None)
    prefsrc: int | None


def _ip(text: str) -> int:
    return int(ipaddress.ip_address(text))


class Fib:
    """An IPv4 FIB (main table), the local addresses and the neighbours of a host."""

    def __init__(self, devices: list[Device], routes: list[Route],
                 neighbours: dict[tuple[int, int], tuple[bytes, bool]]):
        self.devices = {d.ifindex: d for d in devices}
        self.routes = routes
        self.neighbours = neighbours        # (ifindex, family, address) -> (mac, valid)

    # --- reading ---
    @classmethod
    def from_dumps(cls, data: dict, where: str = "FIB") -> "Fib":
        """From ``ip -j`` dumps (the file format of the module docstring)."""
        try:
            forwarding = data.get("forwarding", {})
            forwarding6 = data.get("forwarding6", {})
            use_pmtu = bool(int(data.get("ip_forward_use_pmtu", 0)))
            devices = []
            by_name = {}
            addrs = {a["ifname"]: a.get("addr_info", []) for a in data.get("addrs", [])}
            addrs6 = {a["ifname"]: a.get("addr_info", []) for a in data.get("addrs6", [])}
            for link in data["links"]:
                mac = bytes.fromhex(link.get("address", "00:00:00:00:00:00").replace(":", ""))
                dev = Device(int(link["ifindex"]), link["ifname"], mac.ljust(6, b"\0")[:6],
                             int(link.get("mtu", 1500)),
                             bool(int(forwarding.get(link["ifname"], 0))))
                dev.addrs = [ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}")
                             for a in addrs.get(link["ifname"], []) if a.get("family") == "inet"]
                dev.addrs6 = [ipaddress.IPv6Interface(f"{a['local']}/{a['prefixlen']}")
                              for a in addrs6.get(link["ifname"], [])
                              if a.get("family") == "inet6"]
                dev.forwarding6 = bool(int(forwarding6.get(link["ifname"], 0)))
                devices.append(dev)
                by_name[dev.name] = dev.ifindex
            routes = []
            for family, r in [(4, r) for r in data.get("routes", [])] + \
                    [(6, r) for r in data.get("routes6", [])]:
                dst = r["dst"] if r["dst"] != "default" else ("0.0.0.0/0" if family == 4
                                                              else "::/0")
                mtu = next((m["mtu"] for m in r.get("metrics", []) if "mtu" in m), None)
                if not (use_pmtu or r.get("mtu_lock")):
                    mtu = None          # only a locked route MTU counts when forwarding
                routes.append(Route(ipaddress.ip_network(dst, strict=False),
                                    r.get("type", "unicast"), by_name.get(r.get("dev")),
                                    _ip(r["gateway"]) if "gateway" in r else None,
                                    int(r.get("metric", 0)), mtu,
                                    _ip(r["prefsrc"]) if "prefsrc" in r else None))
            neighbours = {}
            for family, n in [(AF_INET, n) for n in data.get("neighbours", [])] + \
                    [(AF_INET6, n) for n in data.get("neighbours6", [])]:
                if "lladdr" not in n or n.get("dev") not in by_name:
                    continue
                valid = bool(_NUD_VALID & set(n.get("state", [])))
                neighbours[(by_name[n["dev"]], family, _ip(n["dst"]))] = (
                    bytes.fromhex(n["lladdr"].replace(":", "")), valid)
        except (KeyError, TypeError, ValueError) as exc:
            raise FibError(f"{where}: not a FIB dump ({type(exc).__name__}: {exc})") from None
        return cls(devices, routes, neighbours)

    @classmethod
    def from_file(cls, path: str | pathlib.Path) -> "Fib":
        path = pathlib.Path(path)
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            raise FibError(f"{path}: cannot read the FIB ({exc.strerror})") from None
        except json.JSONDecodeError as exc:
            raise FibError(f"{path}: not JSON (line {exc.lineno}: {exc.msg})") from None
        if not isinstance(data, dict):
            raise FibError(f"{path}: not a FIB dump (a JSON object with 'links', ...)")
        return cls.from_dumps(data, str(path))

    @staticmethod
    def dump_netns(netns: str | None = None) -> dict:
        """A namespace's tables (None: this process's) in the file format, by iproute2."""
        prefix = ["ip"] + (["-n", netns] if netns else [])

        def ip(*args):
            try:
                out = subprocess.run(prefix + ["-j", *args], check=True, capture_output=True,
                                     text=True).stdout
            except (OSError, subprocess.CalledProcessError) as exc:
                raise FibError(f"ip {' '.join(args)}: {exc}") from None
            return json.loads(out or "[]")
        links = ip("link")
        def read_proc(path):
            cmd = (["ip", "netns", "exec", netns] if netns else []) + ["cat", path]
            result = subprocess.run(cmd, capture_output=True, text=True)
            return int(result.stdout.strip() or 0)
        def routes(family):
            found = ip("-d", family, "route", "show", "table", "main")
            text = subprocess.run(prefix + [family, "route", "show", "table", "main"],
                                  capture_output=True, text=True).stdout
            locked = {line.split()[0] for line in text.splitlines() if " mtu lock " in line}
            for route in found:
                if route.get("dst") in locked:
                    route["mtu_lock"] = True
            return found
        forwarding = {link["ifname"]: read_proc(f"/proc/sys/net/ipv4/conf/{link['ifname']}"
                                                "/forwarding") for link in links}
        forwarding6 = {link["ifname"]: read_proc(f"/proc/sys/net/ipv6/conf/{link['ifname']}"
                                                 "/forwarding") for link in links}
        return {"links": links, "addrs": ip("-4", "addr"), "routes": routes("-4"),
                "neighbours": ip("-4", "neigh"), "forwarding": forwarding,
                "ip_forward_use_pmtu": read_proc("/proc/sys/net/ipv4/ip_forward_use_pmtu"),
                "addrs6": ip("-6", "addr"), "routes6": routes("-6"),
                "neighbours6": ip("-6", "neigh"), "forwarding6": forwarding6}

    @classmethod
    def from_netns(cls, netns: str | None = None) -> "Fib":
        return cls.from_dumps(cls.dump_netns(netns), f"netns {netns or '(own)'}")

    # --- the lookup ---
    def _is_local(self, dst: int) -> bool:
        """A destination of the local table: an address of ours, a subnet's broadcast."""
        for dev in self.devices.values():
            for a in dev.addrs:
                if dst == int(a.ip) or (a.network.prefixlen < 31
                                        and dst == int(a.network.broadcast_address)):
                    return True
        return (dst >> 24) == 127

    def _route(self, dst: int, version: int = 4) -> Route | None:
        best = None
        for r in self.routes:
            if r.net.version != version or dst & int(r.net.netmask) != int(r.net.network_address):
                continue
            if best is None or r.net.prefixlen > best.net.prefixlen or (
                    r.net.prefixlen == best.net.prefixlen and r.metric < best.metric):
                best = r
        return best

    def _source(self, dev: Device, toward: int) -> int:
        for a in dev.addrs:
            if toward in a.network:
                return int(a.ip)
        return int(dev.addrs[0].ip) if dev.addrs else 0

    def lookup(self, params: bytearray, flags: int) -> int:
        """``bpf_xdp_fib_lookup`` on ``params`` (a ``struct bpf_fib_lookup``, updated in
        place); the return value as the helper gives it (a BPF_FIB_LKUP_RET_* or -errno)."""
        if flags & ~FibFlag.ALL:
            return -errno.EINVAL
        family = params[0]
        if family == AF_INET6:
            return self._lookup6(params, flags)
        if family != AF_INET:
            return -errno.EAFNOSUPPORT
        tot_len, ifindex = struct.unpack_from("<HI", params, 6)
        dst = struct.unpack_from(">I", params, 32)[0]
        dev = self.devices.get(ifindex)
        if dev is None:
            return -errno.ENODEV
        if not dev.forwarding:
            return FibRet.FWD_DISABLED
        if flags & FibFlag.TBID and flags & FibFlag.DIRECT and \
                struct.unpack_from("<I", params, 48)[0] != RT_TABLE_MAIN:
            return FibRet.NOT_FWDED
        if self._is_local(dst):
            return FibRet.NOT_FWDED         # RTN_LOCAL / RTN_BROADCAST
        route = self._route(dst)
        if route is None:
            return FibRet.NOT_FWDED         # -ENETUNREACH
        if route.kind in _ROUTE_RET:
            return _ROUTE_RET[route.kind]
        if route.kind != "unicast" or route.dev not in self.devices:
            return FibRet.NOT_FWDED
        out = self.devices[route.dev]
        mtu = route.mtu or out.mtu
        if tot_len > mtu:
            struct.pack_into("<H", params, 6, mtu)
            return FibRet.FRAG_NEEDED
        struct.pack_into("<I", params, 12, route.metric)        # rt_metric
        struct.pack_into("<I", params, 8, out.ifindex)
        if flags & FibFlag.SRC:          # (NO_SRC_ADDR is IPv6's only)
            struct.pack_into(">I", params, 16,
                             route.prefsrc or self._source(out, route.gateway or dst))
        if route.gateway is not None:
            dst = route.gateway
            struct.pack_into(">I", params, 32, dst)
        if not flags & FibFlag.SKIP_NEIGH:
            mac, valid = self.neighbours.get((out.ifindex, AF_INET, dst), (None, False))
            if not valid:
                return FibRet.NO_NEIGH
            params[58:64] = mac
            params[52:58] = out.mac
        struct.pack_into("<I", params, 48, 0)       # h_vlan_proto, h_vlan_TCI
        struct.pack_into("<H", params, 6, mtu)      # mtu_result
        return FibRet.SUCCESS

    def _lookup6(self, params: bytearray, flags: int) -> int:
        """Ref: net/core/filter.c bpf_ipv6_fib_lookup."""
        tot_len, ifindex = struct.unpack_from("<HI", params, 6)
        src = int.from_bytes(params[16:32], "big")
        dst = int.from_bytes(params[32:48], "big")
        if any(_strict6(a) for a in (src, dst)):
            return FibRet.NOT_FWDED         # link-local, multicast, loopback: never forwarded
        dev = self.devices.get(ifindex)
        if dev is None:
            return -errno.ENODEV
        if not dev.forwarding6:
            return FibRet.FWD_DISABLED
        if flags & FibFlag.TBID and flags & FibFlag.DIRECT and \
                struct.unpack_from("<I", params, 48)[0] != RT_TABLE_MAIN:
            return FibRet.NOT_FWDED
        for d in self.devices.values():     # RTN_LOCAL, RTN_ANYCAST (subnet-router)
            for a in d.addrs6:
                if dst == int(a.ip) or (a.network.prefixlen < 127
                                        and dst == int(a.network.network_address)):
                    return FibRet.NOT_FWDED
        route = self._route(dst, 6)
        if route is None:
            return FibRet.NOT_FWDED
        if route.kind in _ROUTE_RET:
            return _ROUTE_RET[route.kind]
        if route.kind != "unicast" or route.dev not in self.devices:
            return FibRet.NOT_FWDED
        out = self.devices[route.dev]
        mtu = route.mtu or max(out.mtu, IPV6_MIN_MTU)
        if tot_len > mtu:
            struct.pack_into("<H", params, 6, mtu)
            return FibRet.FRAG_NEEDED
        if route.gateway is not None:
            dst = route.gateway
            params[32:48] = dst.to_bytes(16, "big")
        struct.pack_into("<I", params, 12, route.metric)
        struct.pack_into("<I", params, 8, out.ifindex)
        if flags & FibFlag.SRC:
            src = route.prefsrc or next((int(a.ip) for a in out.addrs6
                                         if not _strict6(int(a.ip))), 0)
            if not src:
                return FibRet.NO_SRC_ADDR
            params[16:32] = src.to_bytes(16, "big")
        if not flags & FibFlag.SKIP_NEIGH:
            mac, valid = self.neighbours.get((out.ifindex, AF_INET6, dst), (None, False))
            if not valid:
                return FibRet.NO_NEIGH
            params[58:64] = mac
            params[52:58] = out.mac
        struct.pack_into("<I", params, 48, 0)
        struct.pack_into("<H", params, 6, mtu)
        return FibRet.SUCCESS


IPV6_MIN_MTU = 1280


def _strict6(address: int) -> bool:
    """rt6_need_strict: multicast, link-local unicast or loopback."""
    a = ipaddress.IPv6Address(address)
    return a.is_multicast or a.is_link_local or a.is_loopback


def main(argv=None) -> int:
    import argparse
    import sys
    parser = argparse.ArgumentParser(
        prog="python -m firmware.ebpf.model_fib",
        description="Dump a network namespace's FIB, addresses and neighbours (iproute2's "
                    "netlink dumps) as the JSON file xdpnic run --fib reads.")
    parser.add_argument("--netns", help="namespace (default: this process's)")
    args = parser.parse_args(argv)
    try:
        print(json.dumps(Fib.dump_netns(args.netns), indent=1))
    except FibError as exc:
        print(f"model_fib: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
