"""xdp2: per-protocol counts as xdp1; UDP reflected with MACs swapped, the rest dropped."""

from firmware.ebpf.machine import XdpAction

from .expect import array_entries, ip_protocol, u64
from .packets import mixed_traffic, swap_macs
from .test_xdp1 import run_and_count


def expected(frame, proto):
    if proto == 17:
        return XdpAction.TX, swap_macs(frame)
    return XdpAction.DROP, None


def test_udp_is_reflected_and_everything_is_counted(make_target):
    target = make_target("xdp2")
    frames = mixed_traffic()
    counts = run_and_count(target, frames, expected)
    assert counts[17] >= 3          # IPv4, IPv6 and VLAN-tagged UDP were all reflected
    assert target.entries("rxcnt") == array_entries(
        256, {p: u64(n) for p, n in counts.items()}, 8)


def test_xdpnic_run_over_a_capture(prog_objects, tmp_path):
    """The object through ``xdpnic run`` on the model: the reflected frames land in the
    port's capture and the counters in result.json."""
    import json

    from firmware.cli import main
    from sim.pcap import PcapWriter, read_records

    frames = mixed_traffic()
    capture = tmp_path / "in.pcap"
    writer = PcapWriter(capture)
    for frame in frames:
        writer.write(frame)
    writer.close()
    out = tmp_path / "out"
    assert main(["run", str(prog_objects("xdp2")), "--pcap", str(capture), "--out", str(out)]) == 0
    udp = [f for f in frames if ip_protocol(f) == 17]
    assert [frame for _t, frame in read_records(out / "tx-port0.pcap")] == \
        [swap_macs(f) for f in udp]
    report = json.loads((out / "result.json").read_text())
    assert report["counters"]["tx"] == len(udp)
    assert report["counters"]["drop"] == len(frames) - len(udp)
    (rxcnt,) = [m for m in report["maps"] if m["name"] == "rxcnt"]
    counted = {int.from_bytes(bytes.fromhex(e["key"]), "little"):
               sum(int.from_bytes(bytes.fromhex(v), "little") for v in e["value"])
               for e in rxcnt["entries"] if int("".join(e["value"]), 16)}    # one per CPU
    expected = {}
    for f in frames:
        if ip_protocol(f) is not None:
            expected[ip_protocol(f)] = expected.get(ip_protocol(f), 0) + 1
    assert counted == expected
