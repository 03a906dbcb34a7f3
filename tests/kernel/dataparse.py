"""A small reader of bpf_conformance ``.data`` files for the kernel tests.

The project's conformance runner (firmware/conformance.py) has the full parser; this one
reads only what the kernel tests need (program, memory, expected r0) so that the kernel tier
does not depend on the runner's internals.
"""

import pathlib

from firmware.ebpf import asm, isa


def parse_data_file(path: pathlib.Path) -> tuple[list[isa.Insn], bytes, int]:
    """(instructions, memory, expected r0) of one ``.data`` file."""
    sections: dict[str, tuple[int, list[str]]] = {}
    current = None
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("--"):
            words = stripped[2:].split()
            current = words[0] if words else ""
            sections[current] = (lineno + 1, [])
        elif current is not None:
            sections[current][1].append(line)

    def text(name: str) -> str:
        return "\n".join(sections[name][1])

    if "raw" in sections:
        code = asm.parse_raw_words(text("raw"), str(path), sections["raw"][0])
        insns = isa.decode_program(code)
    else:
        insns = asm.assemble(text("asm"), str(path), sections["asm"][0])
    mem = b""
    if "mem" in sections:
        mem = asm.parse_hex_bytes(" ".join(l.split("#")[0] for l in sections["mem"][1]))
    result = " ".join(l.split("#")[0] for l in sections["result"][1]).strip()
    return insns, mem, int(result, 0) & isa.MASK64
