"""xdp_fib_router: bpf_fib_lookup on the model (a FIB read from a network namespace's
tables) and in the kernel (the same namespace's real FIB), against verdicts and frames derived
here from the routes and neighbours the test sets up and the kernel's documented return codes
(include/uapi/linux/bpf.h BPF_FIB_LKUP_RET_*).  Root and iproute2 are needed (the namespace);
the RTL has no FIB and refuses the helper by name."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from firmware.ebpf.machine import XdpAction, ifindex_port
from firmware.ebpf.model_fib import Fib, FibError, FibRet
from firmware.ebpf.model_helpers import EngineState
from firmware.ebpf.model_maps import MapSet
from firmware.ebpf.xdp import Disposition, run_frame
from firmware.program import load_program
from tests.conftest import PROJECT_ROOT

NS = f"xdpnic-fib-{os.getpid()}"
GW_MAC = "02:00:00:00:02:02"
HOST_MAC = "02:00:00:00:01:05"
SETUP = [
    "link add veth0 type veth peer name veth1",
    "addr add 10.0.1.1/24 dev veth0", "addr add 10.0.2.1/24 dev veth1",
    "link set lo up", "link set veth0 up", "link set veth1 up",
    "route add 10.10.0.0/16 via 10.0.2.2 dev veth1 mtu 1400",  # not locked: veth1's 1500
    "route add 10.12.0.0/16 via 10.0.2.2 dev veth1 mtu lock 1400",
    "route add 10.11.0.0/16 via 10.0.2.3 dev veth1",          # no neighbour for 10.0.2.3
    "route add blackhole 10.20.0.0/16", "route add unreachable 10.30.0.0/16",
    "route add prohibit 10.40.0.0/16",
    f"neigh add 10.0.2.2 lladdr {GW_MAC} dev veth1 nud permanent",
    f"neigh add 10.0.1.5 lladdr {HOST_MAC} dev veth0 nud permanent",
    "addr add 2001:db8:1::1/64 dev veth0 nodad", "addr add 2001:db8:2::1/64 dev veth1 nodad",
    "route add 2001:db8:10::/48 via 2001:db8:2::2 dev veth1",
    "route add 2001:db8:11::/48 via 2001:db8:2::3 dev veth1",    # no neighbour
    "route add 2001:db8:12::/48 via 2001:db8:2::2 dev veth1 mtu lock 1300",
    "route add blackhole 2001:db8:20::/48", "route add unreachable 2001:db8:30::/48",
    "route add prohibit 2001:db8:40::/48",
    f"-6 neigh add 2001:db8:2::2 lladdr {GW_MAC} dev veth1 nud permanent",
]


def _ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def netns():
    from firmware.kernel.bpf import bpf_unavailable_reason
    if shutil.which("ip") is None or os.geteuid() != 0:
        pytest.skip("network namespaces need root and iproute2")
    reason = bpf_unavailable_reason()
    if reason is not None:
        pytest.skip(f"kernel BPF not usable here: {reason}")
    _ip("netns", "add", NS)
    try:
        for line in SETUP:
            _ip("-n", NS, *line.split())
        _ip("netns", "exec", NS, "sysctl", "-qw", "net.ipv4.conf.all.forwarding=1",
            "net.ipv6.conf.all.forwarding=1")
        links = json.loads(subprocess.run(["ip", "-n", NS, "-j", "link"], check=True,
                                          capture_output=True, text=True).stdout)
        yield {link["ifname"]: (link["ifindex"], link["address"]) for link in links}
    finally:
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)


def frame_to(dst, ttl=64, payload=18):
    return bytes(Ether(src="02:00:00:00:00:aa", dst="02:00:00:00:00:bb")
                 / IP(src="10.0.1.5", dst=dst, ttl=ttl) / UDP(sport=1, dport=2)
                 / bytes(payload))


def frame6_to(dst, hlim=64, payload=18, src="2001:db8:1::5"):
    return bytes(Ether(src="02:00:00:00:00:aa", dst="02:00:00:00:00:bb")
                 / IPv6(src=src, dst=dst, hlim=hlim) / UDP(sport=1, dport=2) / bytes(payload))


def forwarded(frame, dmac, smac):
    """The frame as a router sends it on: next hop's and own MAC, TTL (hop limit) - 1, the
    IPv4 checksum anew."""
    pkt = Ether(frame)
    pkt[Ether].dst, pkt[Ether].src = dmac, smac
    if IP in pkt:
        pkt[IP].ttl -= 1
        del pkt[IP].chksum
    else:
        pkt[IPv6].hlim -= 1
    return bytes(pkt)


def cases(links):
    veth0, veth0_mac = links["veth0"]
    veth1, veth1_mac = links["veth1"]
    big = frame_to("10.12.3.4", payload=1450 - 28)
    big_unlocked = frame_to("10.10.3.4", payload=1450 - 28)
    return [   # frame, verdict, frame out, redirect ifindex, lookup return code
        (frame_to("10.10.3.4"), XdpAction.REDIRECT,
         forwarded(frame_to("10.10.3.4"), GW_MAC, veth1_mac), veth1, FibRet.SUCCESS),
        (frame_to("10.0.1.5"), XdpAction.REDIRECT,
         forwarded(frame_to("10.0.1.5"), HOST_MAC, veth0_mac), veth0, FibRet.SUCCESS),
        (frame_to("10.11.0.1"), XdpAction.PASS, frame_to("10.11.0.1"), None, FibRet.NO_NEIGH),
        (frame_to("10.20.0.1"), XdpAction.DROP, None, None, FibRet.BLACKHOLE),
        (frame_to("10.30.0.1"), XdpAction.DROP, None, None, FibRet.UNREACHABLE),
        (frame_to("10.40.0.1"), XdpAction.DROP, None, None, FibRet.PROHIBIT),
        (frame_to("10.0.2.1"), XdpAction.PASS, frame_to("10.0.2.1"), None, FibRet.NOT_FWDED),
        (frame_to("8.8.8.8"), XdpAction.PASS, frame_to("8.8.8.8"), None, FibRet.NOT_FWDED),
        (big, XdpAction.DROP, None, None, FibRet.FRAG_NEEDED),
        (big_unlocked, XdpAction.REDIRECT, forwarded(big_unlocked, GW_MAC, veth1_mac), veth1,
         FibRet.SUCCESS),
        (frame_to("10.10.3.4", ttl=1), XdpAction.PASS, frame_to("10.10.3.4", ttl=1), None,
         None),
        (frame6_to("2001:db8:10::5"), XdpAction.REDIRECT,
         forwarded(frame6_to("2001:db8:10::5"), GW_MAC, veth1_mac), veth1, FibRet.SUCCESS),
        (frame6_to("2001:db8:11::5"), XdpAction.PASS, frame6_to("2001:db8:11::5"), None,
         FibRet.NO_NEIGH),
        (frame6_to("2001:db8:12::5", payload=1300), XdpAction.DROP, None, None,
         FibRet.FRAG_NEEDED),
        (frame6_to("2001:db8:20::5"), XdpAction.DROP, None, None, FibRet.BLACKHOLE),
        (frame6_to("2001:db8:30::5"), XdpAction.DROP, None, None, FibRet.UNREACHABLE),
        (frame6_to("2001:db8:40::5"), XdpAction.DROP, None, None, FibRet.PROHIBIT),
        (frame6_to("2001:db8:2::1"), XdpAction.PASS, frame6_to("2001:db8:2::1"), None,
         FibRet.NOT_FWDED),                                      # our own address
        (frame6_to("2001:db8:99::1"), XdpAction.PASS, frame6_to("2001:db8:99::1"), None,
         FibRet.NOT_FWDED),                                      # no route
        (frame6_to("fe80::1"), XdpAction.PASS, frame6_to("fe80::1"), None,
         FibRet.NOT_FWDED),                                      # link-local
        (frame6_to("2001:db8:10::5", hlim=1), XdpAction.PASS,
         frame6_to("2001:db8:10::5", hlim=1), None, None),
    ]


def expected_lookups(rows):
    counts = [0] * 10
    for *_rest, code in rows:
        if code is not None:
            counts[code] += 1
    return counts


@pytest.fixture(scope="module")
def router(prog_objects):
    return prog_objects("xdp_fib_router")


_KERNEL_RUN = """
import json, struct, sys
from firmware.program import load_program
from firmware.kernel.xdp import KernelXdp
obj, ifindex, frames = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
image = load_program(obj)
out = []
with KernelXdp(image.insns, image.maps, "fib_router") as xdp:
    for frame in frames:
        frame = bytes.fromhex(frame)
        run = xdp.run(frame, ctx=struct.pack("<6I", 0, len(frame), 0, ifindex, 0, 0))
        out.append([run.action, run.frame.hex()])
    counts = xdp.map_contents("lookups")
print(json.dumps({"runs": out, "lookups": [int.from_bytes(counts[struct.pack("<I", i)],
                                                          "little") for i in range(10)]}))
"""


def test_model_routes_as_the_namespace_says(netns, router):
    image = load_program(router)
    rows = cases(netns)
    veth0 = netns["veth0"][0]
    maps = MapSet(image.maps)
    engine = EngineState(fib=Fib.from_netns(NS))
    for frame, action, out, ifindex, _code in rows:
        r = run_frame(image.insns, frame, ports=8, ingress_port=ifindex_port(veth0),
                      maps=maps, engine=engine)
        want = {XdpAction.REDIRECT: Disposition.REDIRECT, XdpAction.PASS: Disposition.PASS,
                XdpAction.DROP: Disposition.DROP}[action]
        assert r.disposition == want, (frame.hex(), r.reason)
        if out is not None:
            assert r.frame == out
        if ifindex is not None:
            assert r.egress_port == ifindex_port(ifindex)
    counts = [int.from_bytes(maps.by_name("lookups").value(i), "little") for i in range(10)]
    assert counts == expected_lookups(rows)


def test_kernel_routes_as_the_namespace_says(netns, router):
    rows = cases(netns)
    result = subprocess.run(
        ["ip", "netns", "exec", NS, sys.executable, "-c", _KERNEL_RUN, str(router),
         str(netns["veth0"][0]), json.dumps([frame.hex() for frame, *_ in rows])],
        capture_output=True, text=True, cwd=PROJECT_ROOT, check=True)
    kernel = json.loads(result.stdout)
    for (frame, action, out, _ifindex, _code), (got, got_frame) in zip(rows, kernel["runs"]):
        assert got == action, frame.hex()
        if out is not None:
            assert bytes.fromhex(got_frame) == out
    assert kernel["lookups"] == expected_lookups(rows)


def test_forwarding_off_on_the_input_device(netns):
    fib = Fib.from_netns(NS)
    fib.devices[netns["veth0"][0]].forwarding = False
    params = bytearray(64)
    params[0] = 2
    params[8:12] = netns["veth0"][0].to_bytes(4, "little")
    params[32:36] = bytes([10, 10, 3, 4])
    assert fib.lookup(params, 0) == FibRet.FWD_DISABLED
    params[8:12] = (999).to_bytes(4, "little")
    assert fib.lookup(params, 0) == -19          # -ENODEV: no such device
    assert fib.lookup(params, 1 << 7) == -22     # -EINVAL: an unknown flag


def test_a_fib_file_that_is_not_a_dump_is_refused(tmp_path):
    bad = tmp_path / "fib.json"
    bad.write_text("[1, 2]")
    with pytest.raises(FibError, match=r"fib.json: not a FIB dump"):
        Fib.from_file(bad)
    bad.write_text("{")
    with pytest.raises(FibError, match=r"fib.json: not JSON \(line 1"):
        Fib.from_file(bad)


def test_xdpnic_run_with_a_fib_file(netns, router, tmp_path, capsys):
    """The namespace's tables dumped to a file (python -m firmware.ebpf.model_fib), then
    ``xdpnic run --fib`` on the model: the same verdicts as above, counted."""
    from firmware.cli import main
    from firmware.ebpf.model_fib import main as dump_fib
    from sim.pcap import PcapWriter
    rows = cases(netns)
    assert dump_fib(["--netns", NS]) == 0
    fib_file = tmp_path / "fib.json"
    fib_file.write_text(capsys.readouterr().out)
    capture = tmp_path / "in.pcap"
    writer = PcapWriter(capture)
    for frame, *_ in rows:
        writer.write(frame)
    writer.close()
    out = tmp_path / "out"
    port = ifindex_port(netns["veth0"][0])
    assert main(["run", str(router), "--pcap", str(capture), "--out", str(out), "--ports", "8",
                 "--ingress-port", str(port), "--fib", str(fib_file)]) == 0
    counters = json.loads((out / "result.json").read_text())["counters"]
    wanted = [action for _frame, action, *_ in rows]
    assert (counters["redirect"], counters["drop"], counters["pass"]) == (
        wanted.count(XdpAction.REDIRECT), wanted.count(XdpAction.DROP),
        wanted.count(XdpAction.PASS))
    fib_file.write_text("{")
    assert main(["run", str(router), "--pcap", str(capture), "--out", str(out),
                 "--fib", str(fib_file)]) == 2
    assert "fib.json: not JSON (line 1" in capsys.readouterr().err
