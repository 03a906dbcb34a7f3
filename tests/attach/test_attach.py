"""``xdpnic attach`` and ``xdpnic map`` with real tools: ping, TCP, map updates while frames
flow, Ctrl-C.  Each test runs its own attachment in namespaces named after the test process,
so parallel workers never meet; every step has a timeout."""

import json
import os
import pathlib
import socket
import subprocess
import threading

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Ether

from firmware.cli import main
from sim.attach import _in_namespace, control_request, state_dir
from sim.pcap import read_frames
from tests.attach.attached import Attached, in_ns, netns_exists
from tests.attach.conftest import require_namespaces
from tests.conftest import require_tool, require_verilator

HOST_IP, WIRE_IP = "169.254.77.2", "169.254.77.1"


def unique(tag: str) -> str:
    return f"t{os.getpid() % 100000}{tag}"


def map_command(capsys, name, *words) -> tuple[int, str]:
    capsys.readouterr()
    status = main(["map", "--name", name, *words])
    return status, capsys.readouterr().out


def echo_reply(request: bytes) -> bytes:
    """The echo reply for ``request``, built from scratch by scapy (checksums computed anew),
    to hold the program's in-place rewrite (RFC 1624 update) against."""
    e = Ether(request)
    ip, icmp = e[IP], e[ICMP]
    return bytes(Ether(src=e.dst, dst=e.src)
                 / IP(src=ip.dst, dst=ip.src, id=ip.id, ttl=ip.ttl, tos=ip.tos, flags=ip.flags)
                 / ICMP(type=0, id=icmp.id, seq=icmp.seq) / bytes(icmp.payload))


def test_ping_through_the_rtl_nic_is_answered_by_xdp_tx(live_programs, tmp_path):
    require_namespaces()
    require_verilator()
    name = unique("p")
    nic = Attached(live_programs["xdp_ping_reply"], name, "--pcap-out", str(tmp_path))
    try:
        ping = in_ns(name, "ping", "-c", "3", "-i", "0.2", "-W", "5", HOST_IP)
        counters = nic.interrupt()
    finally:
        nic.kill()
    # ping's status 0: Linux took every reply as valid (addresses, type, ICMP checksum)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert "3 packets transmitted, 3 received" in ping.stdout
    assert (counters["received"], counters["tx"], counters.get("pass", 0)) == (3, 3, 0)
    requests = read_frames(tmp_path / "port0-rx.pcap")
    replies = read_frames(tmp_path / "port0-tx.pcap")
    assert len(requests) == 3 and len(replies) == 3
    assert replies == [echo_reply(r) for r in requests]
    assert read_frames(tmp_path / "port0-pass.pcap") == []


def test_tcp_passes_to_a_server_in_the_host_namespace_and_back(live_programs, tmp_path):
    require_namespaces()
    require_verilator()
    from firmware.progs.build import build_program
    name = unique("t")
    nic = Attached(build_program("xdp_pass", tmp_path), name)
    payload = os.urandom(6000)          # several segments each way
    echoed = []
    try:
        server = _in_namespace(f"{name}-host", lambda: socket.create_server((HOST_IP, 7007)))
        server.settimeout(30)

        def echo():
            conn, _ = server.accept()
            with conn:
                conn.settimeout(30)
                while data := conn.recv(65536):
                    conn.sendall(data)

        thread = threading.Thread(target=echo)
        thread.start()
        client = _in_namespace(name, lambda: socket.create_connection((HOST_IP, 7007), 30))
        with client:
            client.settimeout(30)
            client.sendall(payload)
            client.shutdown(socket.SHUT_WR)
            while data := client.recv(65536):
                echoed.append(data)
        thread.join(30)
        server.close()
        counters = nic.interrupt()
    finally:
        nic.kill()
    assert b"".join(echoed) == payload
    # every frame from the cable passed to the host; the host's answers left unprocessed
    assert counters["pass"] == counters["received"] == counters["port0_rx"] > 0
    assert counters["host_tx"] > 0


def test_map_update_while_pinging_changes_the_next_verdicts(live_programs, capsys):
    require_namespaces()
    require_verilator()
    name = unique("m")
    nic = Attached(live_programs["xdp_blocklist"], name)
    blocked = ["169", "254", "77", "1"]
    try:
        before = in_ns(name, "ping", "-c", "3", "-i", "0.2", "-W", "5", HOST_IP)
        status, _ = map_command(capsys, name, "update", "blocklist", "key", *blocked,
                                "value", *["0"] * 8)
        assert status == 0
        during = in_ns(name, "ping", "-c", "2", "-i", "0.2", "-W", "1", HOST_IP)
        _, blocklist = map_command(capsys, name, "dump", "blocklist", "-j")
        status, _ = map_command(capsys, name, "delete", "blocklist", "key", *blocked)
        assert status == 0
        after = in_ns(name, "ping", "-c", "1", "-W", "5", HOST_IP)
        _, stats = map_command(capsys, name, "dump", "stats")
        counters = nic.interrupt()
    finally:
        nic.kill()
    assert "3 received" in before.stdout
    assert during.returncode == 1 and "0 received" in during.stdout
    assert "1 received" in after.stdout
    # by hand: the two requests sent while blocked were dropped and counted under the address
    assert json.loads(blocklist) == [{"key": ["0xa9", "0xfe", "0x4d", "0x01"],
                                      "value": ["0x02"] + ["0x00"] * 7}]
    # stats: slot 0 passed 3 + 1 requests, slot 1 dropped 2 (bpftool's plain dump format)
    assert stats.splitlines() == ["key: 00 00 00 00  value: 04 00 00 00 00 00 00 00",
                                  "key: 01 00 00 00  value: 02 00 00 00 00 00 00 00",
                                  "Found 2 elements"]
    assert (counters["pass"], counters["drop"]) == (4, 2)


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM"])
def test_interrupted_attach_leaves_no_namespace_interface_or_process(live_programs, how):
    require_namespaces()
    require_verilator()
    import signal
    name = unique("i" + how[3].lower())
    nic = Attached(live_programs["xdp_blocklist"], name)
    try:
        children = nic.children()
        assert children, "the rtl target runs the simulator as a child process"
        assert netns_exists(name) and netns_exists(f"{name}-host")
        nic.proc.send_signal(getattr(signal, how))
        assert nic.proc.wait(30) == 0, nic.proc.stderr.read()
    finally:
        nic.kill()
    assert not netns_exists(name) and not netns_exists(f"{name}-host")
    assert not state_dir(name).exists()
    assert not [pid for pid in children if pathlib.Path(f"/proc/{pid}").exists()]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert "wire0" not in links and "xdpnic0" not in links


def test_map_on_no_attached_nic_says_so(capsys):
    status = main(["map", "--name", "nosuchnic", "list"])
    assert status == 2
    assert "no NIC attached as 'nosuchnic'" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["../x", "", "UPPER"])
def test_map_refuses_a_name_attach_would_refuse(name, capsys):
    status = main(["map", "--name", name, "list"])
    assert status == 2
    assert f"--name {name!r}: use" in capsys.readouterr().err


def test_map_refuses_unknown_map_and_wrong_key_on_a_running_nic(live_programs, capsys):
    require_namespaces()
    name = unique("b")
    nic = Attached(live_programs["xdp_blocklist"], name, "--target", "model")
    try:
        unknown = main(["map", "dump", "nomap", "--name", name])     # options after, too
        unknown_err = capsys.readouterr().err
        short = main(["map", "--name", name, "update", "blocklist", "key", "1", "2", "value",
                      *["0"] * 8])
        short_err = capsys.readouterr().err
        nonhex = main(["map", "--name", name, "update", "blocklist", "key", "hex", "a9", "fe",
                       "4d", "01", "value", "hex", "zz", *["0"] * 7])
        nonhex_err = capsys.readouterr().err
        exists = main(["map", "--name", name, "delete", "blocklist", "key", "1", "2", "3", "4"])
        exists_err = capsys.readouterr().err
        extra = main(["map", "--name", name, "dump", "blocklist", "stats"])
        extra_err = capsys.readouterr().err
        # the socket checks sizes itself, whatever client speaks to it
        raw = control_request(name, {"op": "update", "map": "blocklist", "key": "01",
                                     "value": "00" * 8})
        nic.interrupt()
    finally:
        nic.kill()
    assert unknown == 2 and "no map named 'nomap' (the program's maps: blocklist, stats)" \
        in unknown_err
    assert short == 2 and "update blocklist: key is 4 bytes, got 2" in short_err
    assert nonhex == 2 and "value byte 'zz' is not a hex byte" in nonhex_err
    assert exists == 1 and "delete failed: ENOENT" in exists_err
    assert extra == 2 and "'dump blocklist' takes nothing more, not 'stats'" in extra_err
    assert raw == {"error": "map 'blocklist': key is 4 bytes, got 1"}


def test_attach_refuses_an_existing_namespace_and_leaves_it(live_programs, capsys):
    require_namespaces()
    name = unique("e")
    subprocess.run(["ip", "netns", "add", f"{name}-host"], check=True)
    try:
        status = main(["attach", str(live_programs["xdp_blocklist"]), "--name", name,
                       "--target", "model"])
        assert netns_exists(f"{name}-host") and not netns_exists(name)
    finally:
        subprocess.run(["ip", "netns", "del", f"{name}-host"], capture_output=True)
    assert status == 2
    assert f"network namespace '{name}-host' exists already" in capsys.readouterr().err


def test_attach_refuses_without_root(live_programs, capsys, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    status = main(["attach", str(live_programs["xdp_blocklist"]), "--target", "model"])
    assert status == 2
    assert "needs root" in capsys.readouterr().err


def test_attach_refuses_a_bad_name(live_programs, capsys):
    status = main(["attach", str(live_programs["xdp_blocklist"]), "--name", "Bad_Name"])
    assert status == 2
    assert "--name 'Bad_Name': use lower-case letters" in capsys.readouterr().err


def test_live_demo_blocks_the_pings_and_writes_captures(tmp_path, capsys):
    require_namespaces()
    require_tool("clang")
    status = main(["demo", "--live", "--target", "model", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0, out
    report = json.loads((tmp_path / "result.json").read_text())
    # 3 pings answered, the 3 sent while blocked dropped, the 2 after unblocking answered
    assert report["steps"] == {"before": 3, "blocked": 0, "after": 2}
    assert (report["counters"]["pass"], report["counters"]["drop"]) == (5, 3)
    assert "key: a9 fe 4d 01  value: 03 00 00 00 00 00 00 00" in out
    assert len(read_frames(tmp_path / "captures" / "port0-rx.pcap")) == 8
    assert len(read_frames(tmp_path / "captures" / "port0-tx.pcap")) == 5


def test_redirect_leaves_on_the_other_ports_cable(tmp_path):
    require_namespaces()
    program = tmp_path / "redirect_to_port1.s"
    # bpf_redirect(ifindex 2, 0): port 1 (ifindex = port + 1); its return is the verdict
    program.write_text("    mov %r1, 2\n    mov %r2, 0\n    call 23\n    exit\n")
    name = unique("r")
    nic = Attached(program, name, "--target", "model", "--pcap-out", str(tmp_path / "caps"))
    try:
        ping = in_ns(name, "ping", "-c", "2", "-i", "0.2", "-W", "1", HOST_IP)
        counters = nic.interrupt()
    finally:
        nic.kill()
    assert "0 received" in ping.stdout      # the requests left on port 1, not to the host
    assert (counters["redirect"], counters["port1_tx"], counters.get("pass", 0)) == (2, 2, 0)
    sent = read_frames(tmp_path / "caps" / "port0-rx.pcap")
    assert len(sent) == 2
    assert read_frames(tmp_path / "caps" / "port1-tx.pcap") == sent
    assert read_frames(tmp_path / "caps" / "port0-tx.pcap") == []


def test_namespaces_left_by_a_killed_attach_are_named_with_the_way_out(live_programs, capsys):
    require_namespaces()
    import shutil
    name = unique("k")
    nic = Attached(live_programs["xdp_blocklist"], name, "--target", "model")
    try:
        nic.proc.kill()         # SIGKILL: no clean-up can run
        nic.proc.wait(30)
        status = main(["attach", str(live_programs["xdp_blocklist"]), "--name", name,
                       "--target", "model"])
        err = capsys.readouterr().err
    finally:
        nic.kill()
        shutil.rmtree(state_dir(name), ignore_errors=True)
    assert status == 2
    assert f"left by an 'xdpnic attach' that was killed (pid {nic.proc.pid} is gone)" in err
    assert f"ip netns del {name}; ip netns del {name}-host" in err


def test_attach_json_counters_name_every_counter_even_at_zero(live_programs):
    require_namespaces()
    import sys
    name = unique("z")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "firmware.cli", "attach", str(live_programs["xdp_blocklist"]),
             "--json", "--name", name, "--target", "model", "--ports", "3", "--duration", "0.5"],
            cwd=pathlib.Path(__file__).resolve().parents[2], capture_output=True, text=True,
            timeout=60)
    finally:
        for ns in (name, f"{name}-host"):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    assert done.returncode == 0, done.stderr
    counters = json.loads(done.stdout.splitlines()[-1])["counters"]
    # no frame was sent: every counter a script may read is there, at 0
    expected = {"received", "drop", "aborted", "pass", "tx", "redirect", "discard", "host_tx"}
    expected |= {f"port{p}_{d}" for p in range(3) for d in ("rx", "tx")}
    assert counters == dict.fromkeys(expected, 0)


def test_map_lookup_on_a_per_cpu_map_prints_each_cpus_value_as_bpftool(monkeypatch, capsys):
    import sim.attach
    listing = [{"id": 1, "name": "pkts", "type": "PERCPU_ARRAY", "flags": 0, "key_size": 4,
                "value_size": 2, "max_entries": 1}]

    def answer(name, request):
        if request["op"] == "list":
            return {"maps": listing}
        return {"value": "0100" "0200"}             # engine 0's copy, then engine 1's
    monkeypatch.setattr(sim.attach, "control_request", answer)
    assert main(["map", "lookup", "pkts", "key", "0", "0", "0", "0"]) == 0
    assert capsys.readouterr().out == ("key:\n00 00 00 00\n"
                                       "value (CPU 00): 01 00\nvalue (CPU 01): 02 00\n")
    assert main(["map", "lookup", "pkts", "key", "0", "0", "0", "0", "-j"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "key": ["0x00"] * 4, "values": [{"cpu": 0, "value": ["0x01", "0x00"]},
                                         {"cpu": 1, "value": ["0x02", "0x00"]}]}
