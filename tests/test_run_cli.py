"""``xdpnic run`` and ``xdpnic demo`` on the model target, and the pcap reader/writer."""

import json
import re

import pytest

from firmware.cli import main
from sim.pcap import PcapError, PcapWriter, read_frames
from sim.traffic import demo_frames


def write_pcap(path, frames):
    with PcapWriter(path) as w:
        for f in frames:
            w.write(f)
    return path


def test_pcap_round_trip_and_scapy_reads_it(tmp_path):
    frames = [bytes(range(60)), b"\xff" * 1518, b""]
    path = write_pcap(tmp_path / "a.pcap", frames)
    assert read_frames(path) == frames
    from scapy.utils import RawPcapReader
    with RawPcapReader(str(path)) as r:
        assert [bytes(p) for p, _ in r] == frames


@pytest.mark.parametrize("content, message", [
    (b"", "not a pcap capture (only 0 bytes)"),
    (b"hello world, this is not a capture", "not a pcap capture (magic 68656c6c)"),
])
def test_pcap_garbage_is_refused(tmp_path, content, message):
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    with pytest.raises(PcapError, match=re.escape(message)):
        read_frames(path)


def test_truncated_pcap_names_the_record(tmp_path):
    path = write_pcap(tmp_path / "t.pcap", [bytes(60), bytes(60)])
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(PcapError, match="record 1 truncated: 60 bytes announced, 59 present"):
        read_frames(path)


def test_demo_on_the_model(tmp_path, capsys):
    assert main(["demo", "--target", "model", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "result.json").read_text())
    actions = [f["action"] for f in report["frames"]]
    # ICMP reflected; UDP to port 9 dropped; UDP 53, TCP, IPv6, VLAN-tagged and IPv4 with
    # options passed; a runt and an oversize frame discarded before the program.
    assert actions == ["tx", "drop", "pass", "pass", "pass", "pass", "pass", "discard",
                       "discard"]
    counters = report["counters"]
    assert counters["received"] == 9
    assert sum(counters[k] for k in ("drop", "aborted", "pass", "tx", "redirect",
                                     "discard")) == 9
    assert counters["discard_reasons"] == {"runt": 1, "oversize": 1}
    inputs = demo_frames()
    tx = read_frames(tmp_path / "tx-port0.pcap")
    assert tx == [inputs[0][6:12] + inputs[0][0:6] + inputs[0][12:]]
    assert read_frames(tmp_path / "pass.pcap") == inputs[2:7]
    assert read_frames(tmp_path / "tx-port1.pcap") == []
    out = capsys.readouterr().out
    assert "9 frames through" in out and "discarded: runt 1, oversize 1" in out


def test_run_with_trace_and_json(tmp_path, capsys):
    prog = tmp_path / "p.s"
    prog.write_text("mov %r0, 2\nexit\n")
    pcap = write_pcap(tmp_path / "in.pcap", [bytes(60)])
    assert main(["run", str(prog), "--pcap", str(pcap), "--out", str(tmp_path / "o"),
                 "--trace", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"][0] == {
        "index": 0, "action": "pass", "egress": "pass", "input_length": 60, "cut": 0,
        "output_length": 60, "r0": 2, "reason": "", "trap": "NONE", "trap_pc": None,
        "instructions": 2, "cycles": None}
    assert (tmp_path / "o" / "trace.txt").read_text() == (
        "# frame 0: pass\n    0: mov %r0, 2  ; r0 = 0x2\n    1: exit\n")


@pytest.mark.parametrize("setup, message", [
    ("missing-prog", "cannot read program"),
    ("bad-asm", "p.s:2:"),
    ("missing-pcap", "cannot read capture"),
])
def test_run_bad_input_exits_2_with_a_message(tmp_path, capsys, setup, message):
    prog = tmp_path / "p.s"
    prog.write_text("mov %r0, 2\nfrobnicate %r1\nexit\n" if setup == "bad-asm"
                    else "mov %r0, 2\nexit\n")
    pcap = tmp_path / "in.pcap"
    if setup != "missing-pcap":
        write_pcap(pcap, [bytes(60)])
    if setup == "missing-prog":
        prog = tmp_path / "nope.s"
    status = main(["run", str(prog), "--pcap", str(pcap), "--out", str(tmp_path / "o")])
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("xdpnic run: ") and message in err


def test_run_rejects_a_bad_ingress_port(tmp_path, capsys):
    prog = tmp_path / "p.s"
    prog.write_text("mov %r0, 2\nexit\n")
    pcap = write_pcap(tmp_path / "in.pcap", [bytes(60)])
    assert main(["run", str(prog), "--pcap", str(pcap), "--out", str(tmp_path),
                 "--ingress-port", "2"]) == 2
    assert "--ingress-port 2 is not one of the 2 ports" in capsys.readouterr().err


def test_demo_json_is_one_document_on_stdout(tmp_path, capsys):
    assert main(["demo", "--target", "model", "--out", str(tmp_path), "--json"]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)["frames"]) == 9
    assert "demo-in.pcap written" in captured.err


def test_demo_into_a_file_path_exits_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["demo", "--target", "model", "--out", str(blocker)]) == 2
    assert capsys.readouterr().err.startswith("xdpnic demo: cannot write")


def test_asm_to_an_unwritable_path_exits_2(tmp_path, capsys):
    source = tmp_path / "p.s"
    source.write_text("exit\n")
    assert main(["asm", str(source), "-o", str(tmp_path / "no" / "such" / "x")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_pcapng_is_named(tmp_path):
    path = tmp_path / "x.pcapng"
    path.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(28))
    with pytest.raises(PcapError, match="pcapng is not supported"):
        read_frames(path)


def test_run_rejects_a_budget_below_one(tmp_path, capsys):
    prog = tmp_path / "p.s"
    prog.write_text("mov %r0, 2\nexit\n")
    pcap = write_pcap(tmp_path / "in.pcap", [bytes(60)])
    assert main(["run", str(prog), "--pcap", str(pcap), "--out", str(tmp_path),
                 "--budget", "0"]) == 2
    assert "--budget must be at least 1, not 0" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--ports", "1"], "--ports must be 2..16 (the NIC's range), not 1"),
    (["--ports", "17"], "--ports must be 2..16 (the NIC's range), not 17"),
    (["--target", "rtl", "--trace"], "--trace traces the golden model only"),
])
def test_run_refuses_what_the_nic_cannot_do(tmp_path, capsys, extra, message):
    prog = tmp_path / "p.s"
    prog.write_text("mov %r0, 2\nexit\n")
    pcap = write_pcap(tmp_path / "in.pcap", [bytes(60)])
    assert main(["run", str(prog), "--pcap", str(pcap), "--out", str(tmp_path)] + extra) == 2
    assert message in capsys.readouterr().err


def test_asm_of_a_binary_file_says_so(tmp_path, capsys):
    blob = tmp_path / "x.o"
    blob.write_bytes(b"\x7fELF\xf7\xff\x00")
    assert main(["asm", str(blob)]) == 2
    assert "binary file, expected assembly text" in capsys.readouterr().err
