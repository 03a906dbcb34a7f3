"""Read a program from a file, whatever its form: assembly text, raw bytecode or a clang object.

Every command that takes a PROG argument goes through ``load_program``, so they all accept the
same forms and fail with the same messages.
"""

import pathlib
from dataclasses import dataclass, field

from .ebpf import isa

__all__ = ["ProgramImage", "ProgramError", "load_program", "check_program_type",
           "verify_for_run", "PROGRAM_TYPES"]

# The program types xdpnic runs (``--type``): the NIC sits at the XDP hook.
PROGRAM_TYPES = ("xdp",)

ELF_MAGIC = b"\x7fELF"


class ProgramError(Exception):
    """A program file that cannot be read; the message names the file (and line/section)."""


@dataclass
class ProgramImage:
    """A program ready to verify and run: its slots, and the maps it refers to (by index)."""
    name: str
    insns: list[isa.Insn]
    maps: list = field(default_factory=list)      # firmware.ebpf.maps.MapSpec, by map index
    source: str = ""
    section: str | None = None        # an object's program: its ELF section
    section_type: str | None = None   # the program type libbpf gives that section (ProgType)
    programs: dict = field(default_factory=dict)  # every program of the object, by name:
                                                  # what a PROG_ARRAY names (tail calls)


def load_program(path: str | pathlib.Path, section: str | None = None) -> ProgramImage:
    """Load PROG: a clang ``-target bpf`` object (ELF), raw bytecode (``.bin``), or assembly.

    ``section`` picks a program (by section or function name) out of an object that has more
    than one.
    """
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProgramError(f"{path}: cannot read program ({exc.strerror})") from None
    if data.startswith(ELF_MAGIC):
        from .ebpf import elf
        try:
            obj = elf.load_object(path)
            program = obj.program(section)
        except elf.LoaderError as exc:
            raise ProgramError(str(exc)) from None
        return ProgramImage(program.name, program.insns, list(obj.maps), str(path),
                            program.section, program.type.name,
                            {p.name: p.insns for p in obj.programs.values()})
    if section is not None:
        raise ProgramError(f"{path}: --section applies to ELF objects only")
    if path.suffix == ".bin":
        try:
            return ProgramImage(path.stem, isa.decode_program(data), [], str(path))
        except isa.IsaError as exc:
            raise ProgramError(f"{path}: {exc}") from None
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise ProgramError(f"{path}: neither an ELF object, raw bytecode (.bin) nor "
                           "assembly text") from None
    from .ebpf import asm
    try:
        insns = asm.assemble(text, filename=str(path))
    except asm.AsmError as exc:
        raise ProgramError(str(exc)) from None
    return ProgramImage(path.stem, insns, [], str(path))



def check_program_type(image: ProgramImage, program_type: str | None = None,
                       verb: str = "runs") -> None:
    """Refuse an object's program whose section is not an XDP one (libbpf's section table
    decides, as it would tell the kernel), unless ``program_type`` (``--type``) says which
    type to treat it as.  Assembly and bytecode carry no type: they are XDP programs.
    ``verb`` says what ``--type xdp`` would do instead (runs, verifies, loads)."""
    if program_type is not None:
        if program_type not in PROGRAM_TYPES:
            raise ProgramError(f"--type {program_type}: xdpnic runs "
                               f"{', '.join(PROGRAM_TYPES)} programs")
        return
    if image.section_type in (None, "XDP"):
        return
    if image.section_type == "UNSPEC":
        what = "libbpf gives this name no program type (UNSPEC), and device xdpnic runs " \
               "XDP programs"
    else:
        what = (f"program type {image.section_type} is not supported by device xdpnic "
                "(it runs XDP programs")
    raise ProgramError(f"section '{image.section}': {what}; --type xdp {verb} it as one "
                       f"anyway{')' if image.section_type != 'UNSPEC' else ''}")


def verify_for_run(image: ProgramImage) -> None:
    """The xdpnic verifier's verdict on the program at the XDP hook, before any target runs
    it (as the NIC's driver and the kernel refuse to load what fails); a refusal is a
    ``ProgramError`` naming the instruction and the reason."""
    from .ebpf.verifier import XDPNIC, verify
    maps = dict(enumerate(image.maps)) if image.maps else None
    result = verify(image.insns, "xdp", maps, XDPNIC)
    if not result.accepted:
        raise ProgramError(f"{image.source or image.name}: the verifier rejects {image.name} "
                           f"at insn {result.error_pc}: {result.error} (xdpnic verify shows "
                           f"the log; --no-verify runs it unverified)")
