"""``xdpnic load`` and ``xdpnic maps``: exact output, exit statuses and errors."""

import json
import struct

import pytest

from firmware.cli import main
from firmware.commands.maps import format_map
from firmware.ebpf import isa
from firmware.program import load_program

from .scenarios import DEMO

UNCHECKED = "ldxw %r2, [%r1+0]\nldxb %r0, [%r2+12]\nexit\n"


def run_cli(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_load_demo_on_model_writes_every_slot(capsys, tmp_path):
    image_file = tmp_path / "imem.bin"
    status, out, err = run_cli(capsys, "load", str(DEMO), "--json", "--image", str(image_file))
    assert status == 0, err
    report = json.loads(out)
    insns = load_program(DEMO).insns
    assert report["status"] == "loaded"
    assert report["registers"] == {"CTRL": 1, "STATUS": 1, "PROG_LEN": len(insns),
                                   "BUDGET": 1_000_000}
    assert report["bus_writes"] == 2 * len(insns) + 4
    assert [row["word"] for row in report["image"]] == [
        isa.encode_program(insns)[8 * i:8 * i + 8][::-1].hex() for i in range(len(insns))]
    assert report["image"][0]["text"] == "ldxw %r2, [%r1]"
    assert image_file.read_bytes() == isa.encode_program(insns)


def test_load_verify_only_on_amaranth_writes_nothing(capsys):
    status, out, _err = run_cli(capsys, "load", str(DEMO), "--target", "amaranth",
                                "--verify-only")
    assert status == 0
    assert out.splitlines()[0] == ("device 0x58445031 on amaranth: 2 ports, 64-bit streams, "
                                   "4096 instruction slots")
    assert out.splitlines()[-1] == "verified and translated; nothing written (--verify-only)"


def test_load_rejected_program_exits_1_with_the_log(capsys, tmp_path):
    prog = tmp_path / "unchecked.s"
    prog.write_text(UNCHECKED)
    status, out, err = run_cli(capsys, "load", str(prog))
    assert status == 1 and out == ""
    assert err.splitlines()[0] == ("xdpnic load: unchecked: verifier rejected the program at "
                                   "insn 1: invalid access to packet, off=12 size=1, "
                                   "R2(id=0,off=0,r=0)")
    assert "1: (71) r0 = *(u8 *)(r2 +12)" in err.splitlines()
    status, out, _err = run_cli(capsys, "load", str(prog), "--json")
    assert status == 1
    report = json.loads(out)
    assert (report["status"], report["kind"]) == ("refused", "VerifierRejected")


BIG_TABLE_C = """
#include "xdpnic.h"
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 4096);
} conntrack SEC(".maps");

SEC("xdp")
int big_table(struct xdp_md *ctx)
{
    __u32 key = 0;
    return bpf_map_lookup_elem(&conntrack, &key) ? XDP_PASS : XDP_DROP;
}
"""


def test_load_over_the_rtls_map_limits_exits_1(capsys, tmp_path):
    """The Amaranth NIC's capability registers give the limits; a 4096-entry map is refused
    naming it, before anything is written."""
    from firmware.build import compile_c, find_clang
    from firmware.progs.build import INCLUDE_DIR
    if find_clang() is None:
        pytest.skip("clang is not installed (scripts/setup.sh installs it)")
    source = tmp_path / "big_table.c"
    source.write_text(BIG_TABLE_C)
    obj = compile_c(source, tmp_path / "big_table.o", (f"-I{INCLUDE_DIR}",))
    status, _out, err = run_cli(capsys, "load", str(obj), "--target", "amaranth")
    assert status == 1
    assert err == ("xdpnic load: big_table: map 'conntrack': 4096 entries, device has 512 CAM "
                   "slots\n")
    status, out, _err = run_cli(capsys, "load", str(obj), "--json")
    assert status == 1
    assert json.loads(out)["kind"] == "MapLimitExceeded"


@pytest.mark.parametrize("argv, message", [
    (["load", "/nonexistent.s"], "xdpnic load: /nonexistent.s: cannot read program"),
    (["load", str(DEMO), "--budget", "0"], "xdpnic load: --budget must be 1..4294967295"),
])
def test_load_bad_input_exits_2(capsys, argv, message):
    status, _out, err = run_cli(capsys, *argv)
    assert status == 2 and err.startswith(message), err


def _result(tmp_path, maps):
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"program": "p", "target": "model", "frames": [],
                                "counters": {}, "maps": maps}))
    return path


ARRAY = {"id": 0, "name": "counts", "type": "ARRAY", "key_size": 4, "value_size": 8,
         "max_entries": 2, "entries": [{"key": "00000000", "value": "0100000000000000"},
                                       {"key": "01000000", "value": "0000000000000000"}]}
PERCPU = {"id": 1, "name": "rxcnt", "type": "PERCPU_ARRAY", "key_size": 4, "value_size": 8,
          "max_entries": 1, "entries": [{"key": "00000000", "value": "0200000000000000"}]}
HASH_LONG = {"id": 2, "name": "flows", "type": "HASH", "key_size": 4, "value_size": 20,
             "max_entries": 8, "entries": [{"key": "0a000001", "value": "11" * 20}]}


def test_maps_prints_as_bpftool(capsys, tmp_path):
    path = _result(tmp_path, [ARRAY, PERCPU, HASH_LONG])
    status, out, _err = run_cli(capsys, "maps", str(tmp_path))
    assert status == 0
    assert out.splitlines() == [
        "0: array  name counts", "\tkey 4B  value 8B  max_entries 2",
        "key: 00 00 00 00  value: 01 00 00 00 00 00 00 00",
        "key: 01 00 00 00  value: 00 00 00 00 00 00 00 00",
        "Found 2 elements", "",
        "1: percpu_array  name rxcnt", "\tkey 4B  value 8B  max_entries 1",
        "key:", "00 00 00 00", "value (CPU 00): 02 00 00 00 00 00 00 00", "Found 1 element", "",
        "2: hash  name flows", "\tkey 4B  value 20B  max_entries 8",
        "key:", "0a 00 00 01", "value:", " ".join(["11"] * 20), "Found 1 element"]
    status, out, _err = run_cli(capsys, "maps", str(path), "--name", "rxcnt", "--json")
    assert status == 0 and json.loads(out) == [PERCPU]
    assert format_map(ARRAY, show_only=True) == ["0: array  name counts",
                                                  "\tkey 4B  value 8B  max_entries 2"]


def test_maps_bad_input_exits_2(capsys, tmp_path):
    status, _out, err = run_cli(capsys, "maps", str(tmp_path))
    assert status == 2 and "result.json: no such file" in err
    (tmp_path / "result.json").write_text("{")
    status, _out, err = run_cli(capsys, "maps", str(tmp_path))
    assert status == 2 and "not JSON (line 1" in err
    (tmp_path / "result.json").write_text(json.dumps({"frames": [], "counters": {},
                                                      "target": "rtl"}))
    status, _out, err = run_cli(capsys, "maps", str(tmp_path))
    assert status == 2 and "no maps (the program has none, or target 'rtl'" in err
    _result(tmp_path, [ARRAY])
    status, _out, err = run_cli(capsys, "maps", str(tmp_path), "--name", "nope")
    assert status == 2 and err == "xdpnic maps: no map named 'nope' (have: counts)\n"


def test_run_then_maps_on_a_clang_object(capsys, tmp_path):
    """End to end: clang's xdp1 through ``xdpnic run`` on the model, then ``xdpnic maps``
    shows the per-protocol counters the frames produced."""
    from tests.conftest import require_tool
    require_tool("clang")
    from firmware.progs.build import build_program
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Ether
    from sim.pcap import PcapWriter
    obj = build_program("xdp1", tmp_path)
    writer = PcapWriter(tmp_path / "in.pcap")
    for frame in (Ether() / IP() / UDP(), Ether() / IP() / UDP(), Ether() / IP() / TCP()):
        writer.write(bytes(frame))
    writer.close()
    assert main(["run", str(obj), "--pcap", str(tmp_path / "in.pcap"),
                 "--out", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    status, out, _err = run_cli(capsys, "maps", str(tmp_path / "out"))
    assert status == 0
    lines = out.splitlines()
    assert lines[:2] == ["0: percpu_array  name rxcnt", "\tkey 4B  value 8B  max_entries 256"]
    udp, tcp = lines.index("11 00 00 00"), lines.index("06 00 00 00")
    assert lines[udp + 1] == "value (CPU 00): " + " ".join(f"{b:02x}" for b in
                                                           struct.pack("<Q", 2))
    assert lines[tcp + 1] == "value (CPU 00): " + " ".join(f"{b:02x}" for b in
                                                           struct.pack("<Q", 1))
    assert lines[-1] == "Found 256 elements"


def test_load_prints_the_map_unit_from_the_capability_registers(capsys):
    status, out, _err = run_cli(capsys, "load", str(DEMO), "--verify-only")
    assert status == 0
    assert out.splitlines()[3] == ("  map unit: 16 maps, 512 CAM slots of 24-byte keys, 65536 "
                                   "bytes of values, 1 engine(s); trace yes")
    status, out, _err = run_cli(capsys, "load", str(DEMO), "--verify-only", "--json")
    assert json.loads(out)["device"]["map_limits"] == {
        "max_maps": 16, "key_bytes": 24, "engines": 1, "cam_slots": 512, "value_bytes": 65536}
