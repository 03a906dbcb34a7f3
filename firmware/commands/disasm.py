"""``xdpnic disasm``: bytecode to assembler text; ``xdpnic asm``: assembler text to bytecode.

Bytecode is read and written in three forms: ``bin`` (raw little-endian bytes), ``words`` (one
64-bit word per line, as a ``.data`` file's ``-- raw`` section) and ``hex`` (hex bytes, as the
conformance plugin protocol).  ``disasm`` also reads a ``.data`` file (its program).
"""

import json
import pathlib
import sys

from ..conformance import DataFileError, SkipCase, parse_data_file
from ..ebpf import isa
from ..ebpf.asm import AsmError, assemble, parse_hex_bytes, parse_raw_words
from ..ebpf.disasm import disassemble, format_insn

__all__ = ["register", "read_bytecode"]

_FORMATS = ("auto", "bin", "words", "hex", "data")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "disasm", help="disassemble eBPF bytecode into the assembler's syntax",
        description="Disassemble bytecode (raw bytes, -- raw words, hex bytes, or a .data "
                    "file's program) into text that 'xdpnic asm' reads back. An unknown opcode "
                    "is an error naming the instruction index, unless --lenient.")
    p.add_argument("file", metavar="FILE", help="input file ('-' for stdin)")
    p.add_argument("--format", choices=_FORMATS, default="auto",
                   help="input form (default auto: .data by name, else text with one token "
                        "per line = words, other text = hex bytes, non-text = bin)")
    p.add_argument("--no-labels", action="store_true", help="write targets as +N/-N")
    p.add_argument("--pc", action="store_true", help="prefix each instruction with its index")
    p.add_argument("--lenient", action="store_true",
                   help="list unknown or malformed slots as '.insn' lines instead of failing")
    p.add_argument("--json", action="store_true",
                   help="one JSON document: per-slot index, bytes and text")
    p.add_argument("--section", metavar="NAME",
                   help="for a clang object: only the program with this function or section "
                        "name (default: every program, with its maps)")
    p.set_defaults(func=_run_disasm)

    a = subparsers.add_parser(
        "asm", help="assemble bpf_conformance-syntax text into bytecode",
        description="Assemble a source file (the bpf_conformance syntax; see "
                    "firmware/ebpf/asm.py) into bytecode. Errors are FILE:LINE: expected ..., "
                    "found ....")
    a.add_argument("file", metavar="FILE", help="assembly source ('-' for stdin)")
    a.add_argument("-o", "--output", metavar="OUT",
                   help="write here (default stdout; bin needs -o)")
    a.add_argument("--format", choices=("hex", "words", "bin"), default="hex",
                   help="output form (default hex: space-separated bytes on one line)")
    a.set_defaults(func=_run_asm)


def _fail(command: str, message: str) -> int:
    print(f"xdpnic {command}: error: {message}", file=sys.stderr)
    return 2


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    return pathlib.Path(path).read_bytes()


def read_bytecode(data: bytes, form: str, name: str) -> bytes:
    """Bytecode from ``data`` in ``form`` (``bin``, ``words``, ``hex`` or ``auto``)."""
    if form == "auto":
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            form = "bin"
        else:
            lines = [ln.split("#", 1)[0].split() for ln in text.splitlines()]
            lines = [ln for ln in lines if ln]
            if not lines or not all(c.isprintable() or c.isspace() for c in text):
                form = "bin"
            elif all(len(ln) == 1 and len(ln[0].lower().removeprefix("0x")) > 2 for ln in lines):
                form = "words"
            else:
                form = "hex"
    if form == "bin":
        return data
    text = data.decode("utf-8", errors="replace")
    if form == "words":
        return parse_raw_words(text, name)
    return parse_hex_bytes(text, what=name)


def _run_disasm_object(args, name: str) -> int:
    """Disassemble the programs of a clang object as the loader relocates them."""
    from ..ebpf import elf
    try:
        obj = elf.load_object(args.file)
        programs = [obj.program(args.section)] if args.section else list(obj.programs.values())
    except (elf.LoaderError, KeyError) as exc:
        return _fail("disasm", str(exc))
    listings = [{"name": p.name, "section": p.section,
                 "listing": disassemble(p.insns, labels=not args.no_labels)} for p in programs]
    maps = [{"index": i, "name": m.name, "type": m.type.name, "key_size": m.key_size,
             "value_size": m.value_size, "max_entries": m.max_entries}
            for i, m in enumerate(obj.maps)]
    if args.json:
        print(json.dumps({"file": name, "programs": listings, "maps": maps}, indent=2))
        return 0
    for m in maps:
        print(f"; map {m['index']}: {m['name']} {m['type']} key {m['key_size']} value "
              f"{m['value_size']} entries {m['max_entries']}")
    for p, listing in zip(programs, listings):
        print(f"; program {p.name} (section {p.section}), {len(p.insns)} instructions")
        print("\n".join(_with_pcs(listing["listing"], p.insns) if args.pc else listing["listing"]))
    return 0


def _run_disasm(args) -> int:
    name = "<stdin>" if args.file == "-" else args.file
    if args.file != "-" and pathlib.Path(args.file).is_file() \
            and pathlib.Path(args.file).read_bytes()[:4] == b"\x7fELF":
        return _run_disasm_object(args, name)
    try:
        form = args.format
        if form == "data" or (form == "auto" and name.endswith(".data")):
            insns = parse_data_file(args.file).insns
            if not args.lenient:
                isa.decode_program(isa.encode_program(insns))   # same checks as bytecode
        else:
            code = read_bytecode(_read(args.file), form, name)
            insns = isa.decode_program(code, strict=not args.lenient)
    except (OSError, ValueError, DataFileError, SkipCase) as exc:
        return _fail("disasm", f"{name}: {exc}")
    if args.json:
        slots = []
        for pc, insn in enumerate(insns):
            filler = pc > 0 and insns[pc - 1].imm64 is not None
            raw = isa.Insn(insn.opcode, insn.dst, insn.src, insn.off, insn.imm).encode()
            slots.append({"pc": pc, "bytes": raw.hex(" "),
                          "text": None if filler else format_insn(insn, pc)})
        print(json.dumps({"file": name, "insns": slots,
                          "listing": disassemble(insns, labels=not args.no_labels)}, indent=2))
        return 0
    lines = disassemble(insns, labels=not args.no_labels)
    if args.pc:
        lines = _with_pcs(lines, insns)
    print("\n".join(lines))
    return 0


def _with_pcs(lines: list[str], insns: list[isa.Insn]) -> list[str]:
    """Prefix instruction lines with their index (label lines stay flush left)."""
    out, pc = [], 0
    for line in lines:
        if line.endswith(":"):
            out.append(line)
            continue
        out.append(f"{pc:5d}:  {line}")
        pc += insns[pc].slots if pc < len(insns) else 1
    return out


def _run_asm(args) -> int:
    name = "<stdin>" if args.file == "-" else args.file
    try:
        source = _read(args.file).decode("utf-8")
        insns = assemble(source, name)
    except AsmError as exc:
        print(f"xdpnic asm: error: {exc}", file=sys.stderr)
        return 1
    except UnicodeDecodeError:
        return _fail("asm", f"{name}: binary file, expected assembly text")
    except OSError as exc:
        return _fail("asm", f"{name}: {exc.strerror}")
    code = isa.encode_program(insns)
    if args.format == "bin":
        if not args.output:
            return _fail("asm", "--format bin writes binary: give -o OUT")
        data = code
    elif args.format == "words":
        data = ("\n".join(f"{int.from_bytes(code[i:i + 8], 'little'):#018x}"
                          for i in range(0, len(code), 8)) + "\n").encode()
    else:
        data = (code.hex(" ") + "\n").encode()
    if not args.output:
        sys.stdout.write(data.decode())
        return 0
    try:
        pathlib.Path(args.output).write_bytes(data)
    except OSError as exc:
        return _fail("asm", f"cannot write {args.output}: {exc.strerror}")
    return 0
