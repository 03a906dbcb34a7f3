"""``xdpnic synth``: LUTs, flip-flops, block RAMs, DSPs and Fmax of the NIC or the core.

The flow (Amaranth -> yosys -> nextpnr) and what each figure means are in :mod:`hw.synth` and
docs/synthesis.md; this module only registers the command.
"""

from hw import synth

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "synth", help="synthesize the NIC or the core for an FPGA: resources and Fmax",
        description="Emit Verilog from Amaranth, synthesize it with yosys and, for ECP5 and "
                    "iCE40, place and route it with nextpnr for Fmax. Prints and saves "
                    "(<out>/synth.json) LUTs, flip-flops, block RAMs, DSPs, Fmax, tool versions "
                    "and wall time. Exit status 0; 1 when a tool is missing, a step fails or "
                    "the design does not fit the device.")
    synth.add_arguments(p)
    p.set_defaults(func=synth.run_from_args)
