"""The bpf() syscall layer: maps, program loading with the verifier's log, test runs, fds."""

import os
import struct

import pytest

from firmware.kernel.bpf import (BPF_EXIST, BPF_NOEXIST, KernelError, MapType, ProgType,
                                 create_map, load_program, verifier_reason)
from firmware.kernel.build import lddw, make

pytestmark = pytest.mark.usefixtures("bpf")


def _open_fds() -> set[int]:
    return set(int(x) for x in os.listdir("/proc/self/fd"))


def test_hash_map_update_lookup_delete_and_iterate():
    with create_map(MapType.HASH, 4, 8, 16, "t_hash") as m:
        m.update(struct.pack("<I", 7), struct.pack("<Q", 0x1122334455667788))
        m.update(struct.pack("<I", 9), struct.pack("<Q", 1), BPF_NOEXIST)
        assert m.lookup(struct.pack("<I", 7)) == struct.pack("<Q", 0x1122334455667788)
        assert m.lookup(struct.pack("<I", 8)) is None
        assert sorted(m.keys()) == [struct.pack("<I", 7), struct.pack("<I", 9)]
        with pytest.raises(KernelError) as info:
            m.update(struct.pack("<I", 9), bytes(8), BPF_NOEXIST)
        assert info.value.errno_name == "EEXIST"
        assert m.delete(struct.pack("<I", 7)) is True
        assert m.delete(struct.pack("<I", 7)) is False
        assert m.items() == [(struct.pack("<I", 9), struct.pack("<Q", 1))]
        with pytest.raises(KernelError) as info:
            m.update(struct.pack("<I", 100), bytes(8), BPF_EXIST)
        assert info.value.errno_name == "ENOENT"


def test_array_map_holds_every_index_and_refuses_delete():
    with create_map(MapType.ARRAY, 4, 4, 3, "t_array") as m:
        assert m.items() == [(struct.pack("<I", i), bytes(4)) for i in range(3)]
        m.update(struct.pack("<I", 2), b"\x01\x02\x03\x04")
        assert m.lookup(struct.pack("<I", 2)) == b"\x01\x02\x03\x04"
        assert m.lookup(struct.pack("<I", 3)) is None
        with pytest.raises(KernelError) as info:
            m.delete(struct.pack("<I", 0))
        assert info.value.errno_name == "EINVAL"


def test_map_checks_key_and_value_sizes_before_the_kernel():
    with create_map(MapType.ARRAY, 4, 8, 1, "t_sizes") as m:
        with pytest.raises(ValueError, match="key is 2 bytes, not 4"):
            m.lookup(b"\0\0")
        with pytest.raises(ValueError, match="value is 4 bytes, not 8"):
            m.update(bytes(4), bytes(4))


def test_bad_map_is_a_kernel_error_naming_the_map():
    with pytest.raises(KernelError) as info:
        create_map(MapType.ARRAY, 4, 0, 1, "t_zero")
    assert info.value.errno_name == "EINVAL"
    assert "BPF_MAP_CREATE of 't_zero'" in str(info.value)


def test_program_runs_and_returns_its_verdict_and_the_frame():
    # r0 = 3 (XDP_TX); exit
    prog = [make("mov", 0, imm=3), make("exit")]
    with load_program(prog, ProgType.XDP, "t_tx") as p:
        frame = bytes(range(60))
        run = p.test_run(frame, repeat=10)
        assert run.retval == 3
        assert run.data_out == frame
        assert run.repeat == 10
        info = p.info()
        assert info.type == ProgType.XDP
        assert info.name == "t_tx"
        assert info.xlated_prog_len == 16


def test_rejected_program_carries_the_verifier_log_and_reason():
    with pytest.raises(KernelError) as info:
        load_program([make("exit")], ProgType.XDP, "t_noinit")
    err = info.value
    assert err.errno_name == "EACCES"
    assert err.reason == "R0 !read_ok"
    assert "0: (95) exit" in err.log
    assert "BPF_PROG_LOAD of 't_noinit': EACCES" in str(err)


def test_rejected_out_of_bounds_map_value_access_names_the_access():
    with create_map(MapType.ARRAY, 4, 8, 1, "t_oob") as m:
        prog = lddw(1, m.fd, 2) + [make("ldxdw", 0, 1, off=8), make("exit")]
        with pytest.raises(KernelError) as info:
            load_program(prog, ProgType.XDP, "t_oob")
    assert info.value.reason.startswith("invalid access to map value, value_size=8 off=8 size=8")


def test_verifier_reason_picks_the_verdict_after_the_trace():
    log = ("func#0 @0\n0: R1=ctx() R10=fp0\n0: (b7) r0 = 1\n1: (85) call unknown#999\n"
           "invalid func unknown#999\n"
           "processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0\n")
    assert verifier_reason(log) == "invalid func unknown#999"
    assert verifier_reason("unknown opcode 8d\nprocessed 0 insns (limit 1000000)\n") \
        == "unknown opcode 8d"
    assert verifier_reason("") == ""


def test_every_fd_is_closed_after_use_and_after_an_interrupt():
    before = _open_fds()
    with create_map(MapType.ARRAY, 4, 4, 1, "t_fd") as m:
        with load_program([make("mov", 0, imm=2), make("exit")], ProgType.XDP, "t_fd") as p:
            assert {m.fd, p.fd} <= _open_fds()
    assert _open_fds() == before
    with pytest.raises(KeyboardInterrupt):
        with create_map(MapType.ARRAY, 4, 4, 1, "t_fd"):
            raise KeyboardInterrupt
    assert _open_fds() == before
    with pytest.raises(KernelError):
        load_program([make("exit")], ProgType.XDP, "t_fd")
    assert _open_fds() == before


def test_closed_objects_refuse_use():
    m = create_map(MapType.ARRAY, 4, 4, 1, "t_closed")
    m.close()
    m.close()
    with pytest.raises(ValueError, match="is closed"):
        m.lookup(bytes(4))


def test_percpu_map_values_come_one_per_possible_cpu():
    from firmware.kernel.bpf import possible_cpus
    cpus = possible_cpus()
    with create_map(MapType.PERCPU_ARRAY, 4, 4, 2, "t_percpu") as m:
        assert m.percpu
        assert m.lookup(struct.pack("<I", 1)) == [bytes(4)] * cpus
        m.update(struct.pack("<I", 1), b"\x07\0\0\0")                 # every CPU
        assert m.lookup(struct.pack("<I", 1)) == [b"\x07\0\0\0"] * cpus
        values = [struct.pack("<I", 10 + c) for c in range(cpus)]
        m.update(struct.pack("<I", 0), values)
        assert m.lookup(struct.pack("<I", 0)) == values
        with pytest.raises(ValueError, match=f"{cpus + 1} per-CPU values for {cpus} possible"):
            m.update(struct.pack("<I", 0), [values[0]] * (cpus + 1))
    with create_map(MapType.ARRAY, 4, 4, 1, "t_plain") as m:
        with pytest.raises(ValueError, match="is not per-CPU: give one value"):
            m.update(bytes(4), [bytes(4), bytes(4)])
