"""Map entries from the command line (``--map`` as bpftool map update, ``--maps`` as bpftool
map dump -j) on every target, with the kernel as the judge; and truncated input captures."""

import json
import re
import struct
import subprocess

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Ether

from firmware.cli import main
from firmware.driver.map_entries import MapEntry, MapEntryError, parse_update
from firmware.ebpf.maps import MapSpec, MapType
from sim.pcap import PcapWriter
from tests.attach.conftest import require_kernel_bpf
from tests.conftest import require_tool, require_verilator

BLOCKED, ALLOWED = "169.254.77.1", "169.254.77.9"
SPECS = [MapSpec("blocklist", MapType.HASH, 4, 8, 64), MapSpec("stats", MapType.ARRAY, 4, 8, 2)]


def ping_frames():
    return [bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                  / IP(src=src, dst="169.254.77.2") / ICMP())
            for src in (BLOCKED, ALLOWED, BLOCKED)]


@pytest.fixture
def capture(tmp_path):
    path = tmp_path / "in.pcap"
    with PcapWriter(path) as w:
        for frame in ping_frames():
            w.write(frame)
    return path


def run(program, capture, out, target, *extra):
    status = main(["run", str(program), "--pcap", str(capture), "--out", str(out),
                   "--target", target, *extra])
    assert status == 0
    return json.loads((out / "result.json").read_text())


def outcome(report):
    """What the targets must agree on: verdicts, output bytes, the maps' contents."""
    return ([(f["action"], f["egress"], f["output_length"]) for f in report["frames"]],
            {m["name"]: sorted((e["key"], e["value"]) for e in m["entries"])
             for m in report["maps"]})


# --- bpftool's update syntax, by hand -------------------------------------------------------

@pytest.mark.parametrize("tokens, key, value, flags", [
    # decimal, 0x hex and 0 octal, as C's strtoul(s, 0) reads them
    ("blocklist key 169 254 0x4d 01 value 5 0 0 0 0 0 0 010", "a9fe4d01", "0500000000000008", 0),
    # with 'hex' every byte is base 16, 0x allowed
    ("blocklist key hex a9 fe 4d 1 value hex ff 0x10 0 0 0 0 0 0", "a9fe4d01",
     "ff10000000000000", 0),
    ("name stats key 1 0 0 0 value 1 2 3 4 5 6 7 8 exist", "01000000", "0102030405060708", 2),
    ("blocklist key 1 2 3 4 value 0 0 0 0 0 0 0 0 noexist", "01020304", "0000000000000000", 1),
])
def test_update_syntax_reads_bytes_as_bpftool_does(tokens, key, value, flags):
    entry = parse_update(tokens.split(), SPECS)
    assert entry == MapEntry(entry.map, bytes.fromhex(key), bytes.fromhex(value), flags)


@pytest.mark.parametrize("tokens, message", [
    ("nomap key 1 2 3 4 value 0 0 0 0 0 0 0 0",
     "no map named 'nomap' (the program's maps: blocklist, stats)"),
    ("blocklist key 1 2 3 value 0 0 0 0 0 0 0 0", "--map blocklist: key is 4 bytes, got 3"),
    ("blocklist key 1 2 3 4 5 value 0 0 0 0 0 0 0 0", "key is 4 bytes, got 5"),
    ("blocklist key 1 2 3 4 value hex zz 0 0 0 0 0 0 0", "value byte 'zz' is not a hex byte"),
    ("blocklist key 1 2 3 4 value 0x 0 0 0 0 0 0 0", "value byte '0x' is not a byte"),
    ("blocklist key 1 2 3 4 value 09 0 0 0 0 0 0 0", "value byte '09' is not a byte"),
    ("blocklist key 1 2 3 4 value 256 0 0 0 0 0 0 0", "value byte '256' is more than 255"),
    ("blocklist key 1 2 3 4", "expected 'value' after the key bytes"),
    ("blocklist 1 2 3 4", "expected 'key' after the map name"),
])
def test_update_syntax_refuses_bad_input_saying_what(tokens, message):
    with pytest.raises(MapEntryError, match=re.escape(message)):
        parse_update(tokens.split(), SPECS)


def test_run_refuses_bad_map_argument_with_status_2(live_programs, capture, tmp_path, capsys):
    status = main(["run", str(live_programs["xdp_blocklist"]), "--pcap", str(capture),
                   "--out", str(tmp_path / "o"), "--map", "blocklist", "key", "1", "2", "3",
                   "value", "0", "0", "0", "0", "0", "0", "0", "0"])
    assert status == 2
    assert "xdpnic run: --map blocklist: key is 4 bytes, got 3" in capsys.readouterr().err


def test_maps_file_refuses_a_bare_dump_without_a_name(live_programs, capture, tmp_path, capsys):
    dump = tmp_path / "dump.json"
    dump.write_text("[]")
    status = main(["run", str(live_programs["xdp_blocklist"]), "--pcap", str(capture),
                   "--out", str(tmp_path / "o"), "--maps", str(dump)])
    assert status == 2
    assert "a bare map dump names no map; give it as --maps NAME=" in capsys.readouterr().err


# --- the same entries on model, kernel and RTL ----------------------------------------------

MAP_ARGS = ["--map", "blocklist", "key", "169", "254", "77", "1", "value", "hex", "05", "00",
            "00", "00", "00", "00", "00", "00",
            "--map", "stats", "key", "1", "0", "0", "0", "value", "0x10", "0", "0", "0", "0",
            "0", "0", "0"]


def test_map_entries_reach_the_model_as_the_kernel_has_them(live_programs, capture, tmp_path):
    require_kernel_bpf()
    prog = live_programs["xdp_blocklist"]
    kernel = run(prog, capture, tmp_path / "kernel", "kernel", *MAP_ARGS)
    model = run(prog, capture, tmp_path / "model", "model", *MAP_ARGS)
    assert outcome(model) == outcome(kernel)
    # and the entries did act: the listed source dropped twice, counted on top of 5 and 16
    assert [f["action"] for f in kernel["frames"]] == ["drop", "pass", "drop"]


def test_map_entries_reach_the_rtl_as_the_kernel_has_them(live_programs, capture, tmp_path):
    require_kernel_bpf()
    require_verilator()
    prog = live_programs["xdp_blocklist"]
    kernel = run(prog, capture, tmp_path / "kernel", "kernel", *MAP_ARGS)
    rtl = run(prog, capture, tmp_path / "rtl", "rtl", *MAP_ARGS)
    assert outcome(rtl) == outcome(kernel)


def test_maps_file_from_bpftool_dump_sets_the_same_entries(live_programs, capture, tmp_path):
    """A real ``bpftool map dump -j`` of a kernel map feeds ``--maps NAME=FILE``."""
    require_kernel_bpf()
    bpftool = require_tool("bpftool")
    pin = f"/sys/fs/bpf/xdpnic_test_dump_{id(tmp_path)}"
    subprocess.run([bpftool, "map", "create", pin, "type", "hash", "key", "4", "value", "8",
                    "entries", "4", "name", "blocklist"], check=True)
    try:
        subprocess.run([bpftool, "map", "update", "pinned", pin, "key", "169", "254", "77",
                        "1", "value", "hex", "05", "00", "00", "00", "00", "00", "00", "00"],
                       check=True)
        dump = subprocess.run([bpftool, "map", "dump", "pinned", pin, "-j"], check=True,
                              capture_output=True, text=True).stdout
    finally:
        subprocess.run(["rm", "-f", pin], check=True)
    (tmp_path / "blocklist.json").write_text(dump)
    (tmp_path / "both.json").write_text(json.dumps({"blocklist": json.loads(dump)}))
    prog = live_programs["xdp_blocklist"]
    kernel = run(prog, capture, tmp_path / "kernel", "kernel",
                 "--maps", f"blocklist={tmp_path / 'blocklist.json'}")
    model = run(prog, capture, tmp_path / "model", "model", "--maps", str(tmp_path / "both.json"))
    assert outcome(model) == outcome(kernel)
    assert [f["action"] for f in kernel["frames"]] == ["drop", "pass", "drop"]


# --- truncated captures ---------------------------------------------------------------------

def test_frame_cut_by_snap_length_is_reported_with_the_bytes_cut(live_programs, tmp_path,
                                                                  capsys):
    frame = ping_frames()[1] + bytes(100)
    path = tmp_path / "snap.pcap"
    with open(path, "wb") as f:     # libpcap format by hand: snap length 64
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 64, 1))
        f.write(struct.pack("<4I", 0, 0, 64, len(frame)) + frame[:64])
    report = run(live_programs["xdp_blocklist"], path, tmp_path / "o", "model")
    assert report["frames"][0]["cut"] == len(frame) - 64
    assert report["frames"][0]["input_length"] == 64
    assert f"record 0: {len(frame) - 64} of {len(frame)} bytes" in capsys.readouterr().err


def test_maps_file_from_a_btf_map_dump_of_the_loaded_program(live_programs, capture, tmp_path):
    """The dump of the program's own maps in the kernel (with BTF: bpftool adds 'formatted'
    beside the bytes) copies them onto the model."""
    require_kernel_bpf()
    bpftool = require_tool("bpftool")
    prog = live_programs["xdp_blocklist"]
    pin = f"/sys/fs/bpf/xdpnic_test_btf_{id(tmp_path)}"
    subprocess.run([bpftool, "prog", "load", str(prog), pin, "type", "xdp", "pinmaps",
                    f"{pin}_maps"], check=True)
    try:
        subprocess.run([bpftool, "map", "update", "pinned", f"{pin}_maps/blocklist", "key",
                        "169", "254", "77", "1", "value", "7", *["0"] * 7], check=True)
        dumps = {name: json.loads(subprocess.run(
            [bpftool, "map", "dump", "pinned", f"{pin}_maps/{name}", "-j"], check=True,
            capture_output=True, text=True).stdout) for name in ("blocklist", "stats")}
    finally:
        subprocess.run(["rm", "-rf", pin, f"{pin}_maps"], check=True)
    assert "formatted" in dumps["blocklist"][0]
    (tmp_path / "maps.json").write_text(json.dumps(dumps))
    maps_file = str(tmp_path / "maps.json")
    kernel = run(prog, capture, tmp_path / "kernel", "kernel", "--maps", maps_file)
    model = run(prog, capture, tmp_path / "model", "model", "--maps", maps_file)
    assert outcome(model) == outcome(kernel)
    assert outcome(kernel)[1]["blocklist"] == [("a9fe4d01", "0900000000000000")]    # 7 + 2


def test_maps_file_refuses_per_cpu_values_for_a_map_that_is_not_per_cpu(tmp_path):
    from firmware.driver.map_entries import read_dump_file
    dump = [{"key": ["0xa9", "0xfe", "0x4d", "0x01"],
             "values": [{"cpu": 0, "value": ["0x01"] + ["0x00"] * 7}]}]
    path = tmp_path / "blocklist.json"
    path.write_text(json.dumps(dump))
    with pytest.raises(MapEntryError, match="'blocklist' is not per-CPU"):
        read_dump_file(f"blocklist={path}", SPECS)
    per_cpu = [MapSpec("blocklist", MapType.PERCPU_HASH, 4, 8, 64)]
    [entry] = read_dump_file(f"blocklist={path}", per_cpu)
    assert (entry.key, entry.value) == (bytes([169, 254, 77, 1]), bytes([1] + [0] * 7))
