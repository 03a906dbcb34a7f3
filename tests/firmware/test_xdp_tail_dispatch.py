"""xdp_tail_dispatch: a root program chaining to a program per EtherType through a
PROG_ARRAY the loader fills from __array(values, ...); an empty slot makes the tail call fail
and the root go on.  And the kernel's limit of 33 tail calls per frame (MAX_TAIL_CALL_CNT),
on a program that tail-calls itself (firmware/progs/tests/tail_chain.c).  Expected values are
derived from the programs' source and the kernel's documented rule; the RTL has no tail calls
and refuses both programs, naming the helper."""

import struct

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1Q

from firmware.build import compile_c
from firmware.ebpf.machine import XdpAction
from firmware.program import load_program
from tests.conftest import PROJECT_ROOT

from .expect import u64
from .packets import eth, swap_macs


def u32(value):
    return struct.pack("<I", value)


@pytest.fixture
def dispatcher(make_target, prog_objects):
    return make_target("xdp_tail_dispatch",
                       load_program(prog_objects("xdp_tail_dispatch"), "xdp_dispatch"))


def test_each_ethertype_runs_its_stage(dispatcher):
    v4 = bytes(eth() / IP() / UDP() / b"four")
    v4_tagged = bytes(eth(0x8100) / Dot1Q(vlan=5) / IP() / UDP())
    v6 = bytes(eth() / IPv6() / UDP())
    arp = bytes(eth() / ARP())
    for frame in (v4, v4_tagged):
        out = dispatcher.run(frame)
        assert (out.action, out.frame) == (XdpAction.TX, swap_macs(frame))
    assert dispatcher.run(v6).action == XdpAction.DROP
    out = dispatcher.run(arp)                    # slot 2 is empty: the root passes it
    assert (out.action, out.frame) == (XdpAction.PASS, arp)
    assert dispatcher.entries("stats") == {u32(0): u64(2), u32(1): u64(1), u32(2): u64(1)}


def test_the_host_fills_and_empties_a_slot(dispatcher):
    arp = bytes(eth() / ARP())
    dispatcher.set_program("stages", 2, "xdp_ipv6")       # other EtherTypes: dropped now
    assert dispatcher.run(arp).action == XdpAction.DROP
    assert dispatcher.delete("stages", u32(2))
    assert dispatcher.run(arp).action == XdpAction.PASS
    assert dispatcher.delete("stages", u32(0))            # IPv4 falls through to the root
    v4 = bytes(eth() / IP() / UDP())
    assert (dispatcher.run(v4).action, dispatcher.run(v4).frame) == (XdpAction.PASS, v4)
    assert dispatcher.entries("stats") == {u32(0): u64(0), u32(1): u64(1), u32(2): u64(3)}


@pytest.fixture
def chain(make_target, tmp_path_factory):
    from firmware.build import find_clang
    if find_clang() is None:
        pytest.skip("clang is not installed (scripts/setup.sh installs it)")
    obj = compile_c(PROJECT_ROOT / "firmware" / "progs" / "tests" / "tail_chain.c",
                    tmp_path_factory.mktemp("chain") / "tail_chain.o")
    return make_target("tail_chain", load_program(obj))


def test_at_most_33_tail_calls_per_frame(chain):
    """The program counts a run and tail-calls itself: the first run and 33 tail calls (the
    34th fails, as does the call into the empty slot 1), then XDP_PASS; per frame."""
    frame = bytes(eth() / IP() / UDP())
    assert chain.run(frame).action == XdpAction.PASS
    assert chain.entries("runs") == {u32(0): u64(34)}
    assert chain.run(frame).action == XdpAction.PASS
    assert chain.entries("runs") == {u32(0): u64(68)}
