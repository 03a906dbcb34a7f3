"""libbpf's conventions: the program type a section name gives, and helper names in messages.

Expected types are read off libbpf 0.8's ``section_defs`` and ``sec_def_matches`` by hand
(non-strict mode: SEC_SLOPPY_PFX names match as plain prefixes); helper names off
include/uapi/linux/bpf.h's __BPF_FUNC_MAPPER.
"""

import pytest

from firmware.ebpf.elf import XDP_FLAG_HAS_FRAGS, ProgType, section_program_type
from firmware.ebpf.helpers import HELPER_NAMES, helper_name
from firmware.ebpf.verifier import XDPNIC, verify
from firmware.ebpf import asm
from firmware.program import ProgramError, ProgramImage, check_program_type


@pytest.mark.parametrize("section, expected", [
    # the legacy names of samples/bpf and xdp-tutorial: "xdp" is a sloppy prefix
    ("xdp", (ProgType.XDP, 0)),
    ("xdp1", (ProgType.XDP, 0)),
    ("xdp_icmp", (ProgType.XDP, 0)),
    ("xdp-test", (ProgType.XDP, 0)),
    ("xdp_redirect_map", (ProgType.XDP, 0)),
    ("xdp/anything", (ProgType.XDP, 0)),
    ("xdp.frags", (ProgType.XDP, XDP_FLAG_HAS_FRAGS)),
    ("xdp.frags/devmap", (ProgType.XDP, XDP_FLAG_HAS_FRAGS)),
    ("xdp_devmap/redirect", (ProgType.XDP, 0)),
    ("xdp/cpumap", (ProgType.XDP, 0)),
    # exact names stay exact; "+" names take "/extras" only
    ("tc", (ProgType.SCHED_CLS, 0)),
    ("tc_ingress", (ProgType.UNSPEC, 0)),
    ("classifier_x", (ProgType.SCHED_CLS, 0)),
    ("kprobe/sys_open", (ProgType.KPROBE, 0)),
    ("kprobex", (ProgType.UNSPEC, 0)),
    ("syscall", (ProgType.SYSCALL, 0)),
    ("syscall2", (ProgType.UNSPEC, 0)),
    ("socket1", (ProgType.SOCKET_FILTER, 0)),
    ("sk_reuseport/migrate", (ProgType.SK_REUSEPORT, 0)),
    ("prog", (ProgType.UNSPEC, 0)),
    ("my_section", (ProgType.UNSPEC, 0)),
])
def test_section_name_gives_libbpf_program_type(section, expected):
    assert section_program_type(section) == expected


def test_helper_names_follow_the_uapi_table():
    assert len(HELPER_NAMES) == 212
    assert (helper_name(1), helper_name(12), helper_name(51), helper_name(69)) == (
        "bpf_map_lookup_elem", "bpf_tail_call", "bpf_redirect_map", "bpf_fib_lookup")
    assert helper_name(18) == "bpf_skb_vlan_push"
    assert helper_name(212) == "unknown"


@pytest.mark.parametrize("helper, message", [
    (70, "invalid func bpf_sock_hash_update#70"),
    (18, "invalid func bpf_skb_vlan_push#18"),
    (999, "invalid func unknown#999"),
])
def test_verifier_names_a_helper_it_has_no_prototype_for(helper, message):
    insns = asm.assemble(f"call {helper}\nmov %r0, 2\nexit\n")
    result = verify(insns, "xdp", None, XDPNIC)
    assert not result.accepted and result.error == message


def _image(section_type):
    return ProgramImage("f", [], [], "obj.o", "sec", section_type)


def test_a_non_xdp_section_is_refused_unless_type_says_xdp():
    check_program_type(_image("XDP"))
    check_program_type(_image(None))          # assembly or bytecode: an XDP program
    with pytest.raises(ProgramError, match=r"section 'sec': program type SCHED_CLS is not "
                                           r"supported by device xdpnic .*--type xdp runs it"):
        check_program_type(_image("SCHED_CLS"))
    with pytest.raises(ProgramError, match=r"libbpf gives this name no program type"):
        check_program_type(_image("UNSPEC"))
    check_program_type(_image("UNSPEC"), "xdp")
    with pytest.raises(ProgramError, match=r"--type tc: xdpnic runs xdp programs"):
        check_program_type(_image("XDP"), "tc")


def test_prog_array_initial_values_name_their_programs(compile_prog):
    """__array(values, int (void *)) with [0] = &xdp_chain: the loader records the slot as
    libbpf's init_prog_array_slots fills it; sizes as libbpf opens the map."""
    from firmware.ebpf.elf import load_object
    from firmware.ebpf.maps import MapType
    from tests.loader.libbpf_view import libbpf_view
    path = compile_prog("tail_chain")
    jmp_table = load_object(path).maps[0]
    assert (jmp_table.name, jmp_table.type, jmp_table.init_slots) == (
        "jmp_table", MapType.PROG_ARRAY, ((0, "xdp_chain"),))
    theirs = libbpf_view(path)[0][0]
    assert (theirs["type"], theirs["key_size"], theirs["value_size"], theirs["max_entries"]) \
        == (jmp_table.type, jmp_table.key_size, jmp_table.value_size, jmp_table.max_entries)


@pytest.mark.parametrize("map_type", ["CPUMAP", "DEVMAP_HASH", "DEVMAP"])
def test_redirect_map_takes_the_map_types_the_kernel_takes(map_type):
    """bpf_redirect_map into a CPUMAP (map_type 16), a DEVMAP_HASH or a DEVMAP: accepted on
    --platform linux and xdpnic, as the kernel's verifier accepts it (checked when root)."""
    from firmware.ebpf.isa import Pseudo
    from firmware.ebpf.maps import MapSpec, MapType
    from firmware.ebpf.verifier import LINUX
    from dataclasses import replace
    insns = asm.assemble("lddw %r1, 0\nmov %r2, 0\nmov %r3, 2\ncall 51\nexit\n")
    insns[0] = replace(insns[0], src=Pseudo.MAP_IDX)
    maps = [MapSpec("m", MapType[map_type], 4, 8, 2)]
    for platform in (LINUX, XDPNIC):
        result = verify(insns, "xdp", dict(enumerate(maps)), platform)
        assert result.accepted, (platform.name, result.error)
    from firmware.kernel.bpf import bpf_unavailable_reason
    if bpf_unavailable_reason() is None:
        from firmware.kernel.xdp import kernel_verdict
        assert kernel_verdict(insns, maps).accepted
