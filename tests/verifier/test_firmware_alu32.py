"""Every program in firmware/progs, compiled with clang's 32-bit ALU (-mcpu=v3, as
libbpf-based projects build), is accepted too: narrow spills, JMP32 bounds and the 32-bit
``data_end - data`` that code of that kind uses are all tracked."""

import pytest

from firmware.build import compile_c
from firmware.program import load_program
from firmware.progs.build import INCLUDE_DIR, PROGRAMS, source_path
from firmware.ebpf.verifier import verify
from tests.conftest import require_tool


@pytest.mark.parametrize("name", PROGRAMS)
def test_accepted_at_mcpu_v3(name, tmp_path):
    require_tool("clang")
    obj = compile_c(source_path(name), tmp_path / f"{name}.o",
                    extra_flags=("-mcpu=v3", f"-I{INCLUDE_DIR}"))
    image = load_program(obj)
    result = verify(image.insns, "xdp", dict(enumerate(image.maps)))
    assert result.accepted, "\n".join(result.log)
