"""The published figures xdpnic is compared with: one table, :data:`ANCHORS`, read by the
report's text, its targets and its plots."""

from dataclasses import dataclass

__all__ = ["Anchor", "ANCHORS", "HXDP_RESOURCES", "HXDP_SOURCE", "WORKLOADS", "ECP5_TARGET_MHZ"]

# Issue #10's Fmax target on ECP5.
ECP5_TARGET_MHZ = 125.0

HXDP_SOURCE = ("Brunella et al., \"hXDP: Efficient Software Packet Processing on FPGA NICs\", "
               "OSDI 2020")
NFP_SOURCE = "Netronome NFP4000 as compared in the hXDP paper (Brunella et al., OSDI 2020)"
X86_SOURCE = ("Høiland-Jørgensen et al., \"The eXpress Data Path\", CoNEXT 2018 (one x86 "
              "core running XDP)")


@dataclass(frozen=True)
class Anchor:
    """A published throughput figure: ``mpps`` (``mpps_high`` for a range; ``at_least`` for
    "over N"), for ``workload`` (``drop``, ``tx``, ``redirect``, ``firewall``)."""
    system: str
    platform: str
    workload: str
    mpps: float
    source: str
    clock_mhz: float | None = None
    mpps_high: float | None = None
    at_least: bool = False

    def text(self) -> str:
        """The figure as the paper states it."""
        if self.mpps_high is not None:
            return f"{self.mpps:g} to {self.mpps_high:g}"
        return f"over {self.mpps:g}" if self.at_least else f"{self.mpps:g}"


# Ref: issue #10 ("The report"), quoting the three papers named in each entry.  The one table
# of published figures: the text, the targets and the comparisons all read it.
ANCHORS = (
    Anchor("hXDP", "Virtex-7 XC7VX690T FPGA", "drop", 52.0, HXDP_SOURCE, 156.25),
    Anchor("hXDP", "Virtex-7 XC7VX690T FPGA", "tx", 22.5, HXDP_SOURCE, 156.25),
    Anchor("hXDP", "Virtex-7 XC7VX690T FPGA", "redirect", 15.0, HXDP_SOURCE, 156.25),
    Anchor("hXDP", "Virtex-7 XC7VX690T FPGA", "firewall", 6.53, HXDP_SOURCE, 156.25),
    Anchor("NFP4000", "Netronome SmartNIC", "drop", 32.0, NFP_SOURCE),
    Anchor("NFP4000", "Netronome SmartNIC", "tx", 28.0, NFP_SOURCE, at_least=True),
    Anchor("x86", "one CPU core, XDP in the kernel", "drop", 24.0, X86_SOURCE, mpps_high=38.0),
)
# Ref: hXDP (OSDI 2020): the IP core's resources on the Virtex-7.
HXDP_RESOURCES = {"logic_cells": 42_000, "registers": 18_000, "bram36": 50, "clock_mhz": 156.25,
                  "source": HXDP_SOURCE}
WORKLOADS = {"drop": "XDP_DROP", "tx": "XDP_TX", "redirect": "redirect",
             "firewall": "firewall"}

