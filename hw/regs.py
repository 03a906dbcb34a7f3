"""The host-visible registers of the NIC: declared once, here.

Everything else is derived from this module: the register bank's address decode
(:mod:`hw.bus.regbank`), the driver's offsets (:func:`offsets`), and ``docs/registers.md``
(``python -m hw.regs --markdown``).  Pure Python, no Amaranth import, so host code can use it.

The control bus is AXI4-Lite with 32-bit data and 16-bit byte addresses.  Every register is one
32-bit word.  Per-port counters repeat in one block per port; the instruction memory is a window
of 64-bit slots (two words each).
"""

import argparse
import sys
from dataclasses import dataclass

__all__ = ["Register", "Field", "Window", "ADDR_WIDTH", "DATA_WIDTH", "ID_MAGIC", "REGISTERS",
           "CTRL", "STATUS", "MapOp", "MAP_CMD", "PORT_COUNTERS", "TRAP_COUNTERS", "PORT_BLOCK_BASE",
           "PORT_BLOCK_STRIDE", "MAX_PORTS", "IMEM_WINDOW", "MAP_KEY_WINDOW", "MAP_VALUE_WINDOW", "WINDOWS", "port_counter_offset",
           "register", "offsets", "markdown"]

ADDR_WIDTH = 16
DATA_WIDTH = 32
ID_MAGIC = 0x58445031            # "XDP1"


@dataclass(frozen=True)
class Field:
    """A bit field of a register."""
    name: str
    bit: int
    width: int
    doc: str
    pulse: bool = False   # a write of 1 strobes for one cycle; reads back 0


@dataclass(frozen=True)
class Register:
    """One 32-bit register.

    ``access`` is ``ro`` (hardware drives it; writes ignored), ``rw`` (host sets it, reads back)
    or ``wo`` (a write strobes an action; reads 0).  ``reset`` is the value after reset.
    ``pops``: a read takes the value out of a FIFO (the register bank strobes ``<name>_rd``
    for the hardware to advance it).
    """
    name: str
    offset: int
    access: str
    doc: str
    fields: tuple[Field, ...] = ()
    reset: int = 0
    pops: bool = False


@dataclass(frozen=True)
class Window:
    """A range of addresses mapped to a memory."""
    name: str
    offset: int
    size: int
    doc: str


# Control-register bits.
class CTRL:
    ENABLE = 0            # 1: accept frames and run the program on them
    DROP_WHEN_BUSY = 1    # 1: never backpressure RX; frames that find the engine busy are
    #                       discarded and counted (buffer-full); 0: hold tready low instead
    CLEAR_COUNTERS = 2    # write 1: zero every counter (self-clearing)
    FLOW_HASH = 3         # 1: frames go to engines by flow hash; 0: round robin


class STATUS:
    IDLE = 0              # no frame in flight (safe to replace the program)
    CORE_BUSY = 1         # the eBPF core is running


class MapOp:
    """MAP_CMD.op: what the map unit does with the mailbox (``MAP_KEY``/``MAP_VALUE`` windows,
    ``MAP_CREATE_*`` registers); the result lands in MAP_RESULT when MAP_STATUS.busy falls."""
    RESET = 1             # destroy every map (before a new program's maps are created)
    CREATE = 2            # a map from MAP_CREATE_*; result: its id, or -EINVAL/-E2BIG/-ENOMEM
    LOOKUP = 3            # MAP_KEY -> MAP_VALUE (per-CPU: every engine's copy); -ENOENT
    UPDATE = 4            # MAP_KEY, MAP_VALUE, flags (BPF_ANY/NOEXIST/EXIST) -> 0 or -errno
    DELETE = 5            # MAP_KEY -> 0 or -errno
    NEXT_KEY = 6          # MAP_KEY := the key after it (flags bit 0: the first); -ENOENT at end


class MAP_CMD:
    OP = 0                # 4 bits, a MapOp
    MAP_ID = 8            # 8 bits
    FLAGS = 16            # 8 bits: update flags; NEXT_KEY: bit 0 = from the start


REGISTERS: tuple[Register, ...] = (
    Register("ID", 0x000, "ro", "Identification: 0x58445031 (\"XDP1\").", reset=ID_MAGIC),
    Register("CONFIG", 0x004, "ro", "Build parameters.", (
        Field("ports", 0, 8, "number of Ethernet ports"),
        Field("data_bytes", 8, 8, "AXI-Stream data width in bytes"),
        Field("imem_log2", 16, 8, "log2 of the instruction-memory slots"),
        Field("engines", 24, 8, "eBPF engines"),
    )),
    Register("CTRL", 0x008, "rw", "Control.", (
        Field("enable", CTRL.ENABLE, 1, "accept frames and run the program on them"),
        Field("drop_when_busy", CTRL.DROP_WHEN_BUSY, 1,
              "never backpressure RX: a frame that finds the engine busy is discarded and "
              "counted as buffer-full (0: hold tready low until the engine is free)"),
        Field("clear_counters", CTRL.CLEAR_COUNTERS, 1, "write 1: zero every counter",
              pulse=True),
        Field("flow_hash", CTRL.FLOW_HASH, 1,
              "dispatch frames to engines by flow hash (0: round robin); see "
              "machine.dispatch_engines"),
    )),
    Register("STATUS", 0x00C, "ro", "Status.", (
        Field("idle", STATUS.IDLE, 1, "no frame in flight: the program may be replaced"),
        Field("core_busy", STATUS.CORE_BUSY, 1, "the eBPF core is running a program"),
    )),
    Register("PROG_LEN", 0x010, "rw", "Program length in instruction slots (lddw takes two)."),
    Register("BUDGET", 0x014, "rw", "Instruction budget per frame (trap BUDGET beyond it).",
             reset=1_000_000),
    Register("LAST_CYCLES", 0x018, "ro", "Cycles from first beat in to verdict, last frame."),
    Register("LAST_INSNS", 0x01C, "ro", "Instructions executed, last frame."),
    Register("LAST_R0", 0x020, "ro", "Low 32 bits of r0 (the verdict), last frame."),
    Register("LAST_TRAP", 0x024, "ro", "Trap of the last frame.", (
        Field("cause", 0, 3, "machine.TrapCause code (0: none)"),
    )),
    Register("LAST_TRAP_PC", 0x028, "ro", "Instruction index of the last trap."),
    Register("HOST_FRAMES", 0x040, "ro", "Frames delivered to the host stream (XDP_PASS)."),
    Register("TRAP_ILLEGAL_INSTRUCTION", 0x044, "ro", "Frames aborted by an illegal instruction."),
    Register("TRAP_OUT_OF_BOUNDS", 0x048, "ro", "Frames aborted by an out-of-bounds access."),
    Register("TRAP_UNKNOWN_HELPER", 0x04C, "ro", "Frames aborted by a call to an unknown helper."),
    Register("TRAP_CALL_DEPTH", 0x050, "ro", "Frames aborted by too deep bpf-to-bpf calls."),
    Register("TRAP_BUDGET", 0x054, "ro", "Frames aborted by the instruction budget."),
    Register("TRAP_PC_OUT_OF_RANGE", 0x058, "ro", "Frames aborted by a jump out of the program."),
    Register("CAP_HELPERS_LO", 0x05C, "ro",
             "Helpers the device implements: bit i set = helper id i (ids 0..31)."),
    Register("CAP_HELPERS_HI", 0x060, "ro", "Helpers the device implements, ids 32..63."),
    Register("CAP_HELPERS_EXT", 0x09C, "ro",
             "Helpers the device implements, ids 64..95 (bpf_xdp_adjust_tail is 65)."),
    Register("CAP_MAP_TYPES", 0x064, "ro",
             "Map types the device implements: bit t set = BPF_MAP_TYPE number t."),
    Register("CAP_MAPS", 0x068, "ro", "Map unit limits.", (
        Field("max_maps", 0, 8, "maps that can exist at once"),
        Field("key_bytes", 8, 8, "largest hash key (LPM: data bytes after the 4-byte prefix)"),
        Field("engines", 16, 8, "engines (copies of a per-CPU value)"),
        Field("trace", 24, 1, "bpf_trace_printk output is readable through TRACE_DATA"),
    )),
    Register("CAP_MAP_SLOTS", 0x06C, "ro", "CAM slots shared by the hash, LRU and LPM maps."),
    Register("CAP_MAP_BYTES", 0x070, "ro", "Bytes of map-value memory shared by all maps."),
    Register("TRACE_STATUS", 0x074, "ro", "bpf_trace_printk FIFO.", (
        Field("words", 0, 16, "32-bit words waiting in the FIFO"),
        Field("overflow", 16, 1, "records were lost since the last CTRL.clear_counters"),
    )),
    Register("TRACE_DATA", 0x078, "ro", "Next 32-bit word of the trace FIFO (0 when empty).",
             pops=True),
    Register("KTIME_NS_PER_CYCLE", 0x07C, "rw",
             "bpf_ktime_get_ns: nanoseconds per clock cycle, unsigned 16.16 fixed point "
             "(reset 4.0: 250 MHz).", reset=4 << 16),
    Register("MAP_CMD", 0x080, "wo", "Map mailbox command; the write starts it.", (
        Field("op", MAP_CMD.OP, 4, "1 reset, 2 create, 3 lookup, 4 update, 5 delete, "
              "6 next key (hw.regs.MapOp)"),
        Field("map_id", MAP_CMD.MAP_ID, 8, "the map (a CREATE result)"),
        Field("flags", MAP_CMD.FLAGS, 8, "update: BPF_ANY 0, BPF_NOEXIST 1, BPF_EXIST 2; "
              "next key: 1 = from the first key"),
    )),
    Register("MAP_STATUS", 0x084, "ro", "Map mailbox status.", (
        Field("busy", 0, 1, "a command is running (MAP_RESULT and the windows are not ready)"),
    )),
    Register("MAP_RESULT", 0x088, "ro",
             "Result of the last command: 0 or a negative errno (two's complement); CREATE: "
             "the new map's id."),
    Register("MAP_CREATE_TYPE", 0x08C, "rw", "CREATE: BPF_MAP_TYPE number."),
    Register("MAP_CREATE_KEY_SIZE", 0x090, "rw", "CREATE: key size in bytes."),
    Register("MAP_CREATE_VALUE_SIZE", 0x094, "rw", "CREATE: value size in bytes."),
    Register("MAP_CREATE_MAX_ENTRIES", 0x098, "rw", "CREATE: entries."),
)

# Trap counters in machine.TrapCause order (cause 1 first).
TRAP_COUNTERS = tuple(r.name for r in REGISTERS if r.name.startswith("TRAP_"))

# Per-port counters: one block per port at PORT_BLOCK_BASE + port * PORT_BLOCK_STRIDE.
# For every port: RX_FRAMES = DROP + ABORTED + PASS + TX + REDIRECT + DISCARD_* (counted by
# ingress port); EGRESS_FRAMES counts frames sent out of the port (TX and REDIRECT from any port).
PORT_COUNTERS: tuple[tuple[str, str], ...] = (
    ("RX_FRAMES", "frames received (every frame lands in exactly one of the next nine)"),
    ("DROP", "XDP_DROP verdicts"),
    ("ABORTED", "XDP_ABORTED: traps, action 0, invalid actions, failed redirects"),
    ("PASS", "XDP_PASS verdicts (frame to the host stream)"),
    ("TX", "XDP_TX verdicts (frame back out of this port)"),
    ("REDIRECT", "XDP_REDIRECT verdicts that reached a port"),
    ("DISCARD_RUNT", "discarded at ingress: shorter than an Ethernet header (14 bytes)"),
    ("DISCARD_OVERSIZE", "discarded at ingress: longer than the packet buffer's frame room"),
    ("DISCARD_MAC_ERROR", "discarded at ingress: tuser set on a beat (MAC error)"),
    ("DISCARD_BUFFER_FULL", "discarded at ingress: engine busy with drop_when_busy set"),
    ("EGRESS_FRAMES", "frames sent out of this port (XDP_TX and XDP_REDIRECT)"),
)
PORT_BLOCK_BASE = 0x100
PORT_BLOCK_STRIDE = 0x40
MAX_PORTS = 16
PORT_BITS = (MAX_PORTS - 1).bit_length()         # a port number in hardware

IMEM_WINDOW = Window(
    "IMEM", 0x8000, 0x8000,
    "Instruction memory: slot i at 0x8000 + 8*i; write the low word (+0) first, then the high "
    "word (+4), which writes the 64-bit slot.  Write-only (reads return 0).")


MAP_KEY_WINDOW = Window(
    "MAP_KEY", 0x0600, 0x40,
    "Map mailbox key: byte k of the key at 0x600 + k (little-endian words).  Read and write.")

MAP_VALUE_WINDOW = Window(
    "MAP_VALUE", 0x1000, 0x400,
    "Map mailbox value: byte k at 0x1000 + k; per-CPU maps: engine e's copy at "
    "e * value_size.  Read and write.")

WINDOWS = (MAP_KEY_WINDOW, MAP_VALUE_WINDOW, IMEM_WINDOW)


def port_counter_offset(port: int, name: str) -> int:
    """Byte offset of a per-port counter."""
    names = [n for n, _doc in PORT_COUNTERS]
    if not 0 <= port < MAX_PORTS:
        raise ValueError(f"port {port} outside 0..{MAX_PORTS - 1}")
    if name not in names:
        raise KeyError(f"no per-port counter {name!r}: one of {', '.join(names)}")
    return PORT_BLOCK_BASE + port * PORT_BLOCK_STRIDE + 4 * names.index(name)


def register(name: str) -> Register:
    """The declaration of a global register by name."""
    for r in REGISTERS:
        if r.name == name:
            return r
    raise KeyError(f"no register {name!r}")


def offsets(ports: int) -> dict[str, int]:
    """Every register's offset by name for a NIC with ``ports`` ports (per-port counters as
    ``PORT<n>_<COUNTER>``): what the driver uses."""
    out = {r.name: r.offset for r in REGISTERS}
    for port in range(ports):
        for name, _doc in PORT_COUNTERS:
            out[f"PORT{port}_{name}"] = port_counter_offset(port, name)
    return out


def _check() -> None:
    """The declaration is consistent: no overlaps, all inside the address space."""
    seen: dict[int, str] = {}
    for r in REGISTERS:
        assert r.offset % 4 == 0 and r.offset < PORT_BLOCK_BASE, r
        assert r.offset not in seen, (r.name, seen.get(r.offset))
        seen[r.offset] = r.name
        assert r.access in ("ro", "rw", "wo") and (not r.pops or r.access == "ro"), r
    assert 4 * len(PORT_COUNTERS) <= PORT_BLOCK_STRIDE
    end = PORT_BLOCK_BASE + MAX_PORTS * PORT_BLOCK_STRIDE
    for w in WINDOWS:           # in address order, after the port blocks, inside the space
        assert w.offset >= end and w.offset % w.size == 0, w
        end = w.offset + w.size
    assert end <= 1 << ADDR_WIDTH


_check()


def markdown() -> str:
    """``docs/registers.md``: the register map as a table, generated from this module."""
    lines = [
        "# Host registers",
        "",
        "Generated by `python -m hw.regs --markdown > docs/registers.md` from `hw/regs.py`; do not",
        "edit by hand (a test checks that this file is up to date).",
        "",
        f"AXI4-Lite slave, {DATA_WIDTH}-bit data, {ADDR_WIDTH}-bit byte addresses. Unmapped "
        "addresses read 0 and ignore writes (response OKAY).",
        "",
        "## Global registers",
        "",
        "| offset | name | access | reset | description |",
        "|---|---|---|---|---|",
    ]
    for r in REGISTERS:
        lines.append(f"| `{r.offset:#06x}` | {r.name} | {r.access} | `{r.reset:#x}` | {r.doc} |")
    lines += ["", "### Fields", ""]
    for r in REGISTERS:
        for f in r.fields:
            bits = f"{f.bit}" if f.width == 1 else f"{f.bit + f.width - 1}:{f.bit}"
            lines.append(f"- {r.name}[{bits}] `{f.name}`: {f.doc}")
    lines += [
        "",
        "## Per-port counters",
        "",
        f"Port *n*'s block starts at `{PORT_BLOCK_BASE:#x} + n * {PORT_BLOCK_STRIDE:#x}` "
        f"(up to {MAX_PORTS} ports). All counters are 32 bits, read-only, and wrap.",
        "",
        "| offset in block | name | description |",
        "|---|---|---|",
    ]
    for index, (name, doc) in enumerate(PORT_COUNTERS):
        lines.append(f"| `{4 * index:#04x}` | {name} | {doc} |")
    lines += [
        "",
        "## Windows",
        "",
        "| offset | size | name | description |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{w.offset:#06x}` | `{w.size:#x}` | {w.name} | {w.doc} |" for w in WINDOWS]
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hw.regs", description="Print the NIC's register map.")
    parser.add_argument("--markdown", action="store_true",
                        help="print docs/registers.md (the default)")
    parser.add_argument("--json", action="store_true",
                        help="print {name: offset} for --ports ports as JSON")
    parser.add_argument("--ports", type=int, default=2, help="ports for --json (default 2)")
    args = parser.parse_args(argv)
    if args.json:
        import json
        print(json.dumps(offsets(args.ports), indent=2))
    else:
        sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
