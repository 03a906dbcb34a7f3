"""The ``xdpnic`` command: one sub-command per module under ``firmware.commands``.

Each command module defines ``register(subparsers)``, which adds its parser and sets
``func(args) -> int`` (the exit status) as the parser's default.
"""

import argparse
import importlib
import sys

# Sub-command modules, in the order ``xdpnic --help`` lists them.
COMMAND_MODULES = [
    "firmware.commands.conformance",
    "firmware.commands.disasm",
    "firmware.commands.run",
    "firmware.commands.attach",
    "firmware.commands.map",
    "firmware.commands.demo",
    "firmware.commands.verify",
    "firmware.commands.load",
    "firmware.commands.maps",
    "firmware.commands.bench",
    "firmware.commands.synth",
    "firmware.commands.report",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xdpnic",
        description="xdpnic: an XDP-offload SmartNIC in Amaranth HDL, its eBPF toolchain "
                    "and simulation.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Ctrl-C can land while the command modules are still importing (a second or so).
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return args.func(args)
    except KeyboardInterrupt:
        print("xdpnic: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
