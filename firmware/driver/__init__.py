"""The host driver: the ``Nic`` API over an abstract ``Transport`` (model, Amaranth, cocotb).

See docs/driver.md.
"""

from .nic import (CounterMismatch, Counters, LastFrame, LoadedProgram, Map, Nic, NicError,
                  NicInfo, NotSupportedByDevice, ProgramTooLarge, VerifierRejected, translate,
                  verify_program)
from .transport import DeviceFeatures, MapPort, Transport, TransportError

__all__ = ["Nic", "NicInfo", "NicError", "VerifierRejected", "NotSupportedByDevice",
           "ProgramTooLarge", "CounterMismatch", "Counters", "LastFrame", "LoadedProgram", "Map",
           "translate", "verify_program", "Transport", "TransportError", "MapPort",
           "DeviceFeatures"]
