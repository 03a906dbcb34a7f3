"""The host driver: the ``Nic`` API over an abstract ``Transport`` (model, Amaranth, cocotb),
maps through the map mailbox registers (``RegisterMapPort``).

See docs/driver.md.
"""

from .map_port import MapCommandError, RegisterMapPort
from .nic import (CounterMismatch, Counters, LastFrame, LoadedProgram, Map, MapLimitExceeded,
                  Nic, NicError, NicInfo, NotSupportedByDevice, ProgramTooLarge,
                  VerifierRejected, check_limits, features_from_caps, translate, verify_program)
from .transport import DeviceFeatures, MapPort, Transport, TransportError

__all__ = ["Nic", "NicInfo", "NicError", "VerifierRejected", "NotSupportedByDevice",
           "ProgramTooLarge", "MapLimitExceeded", "CounterMismatch", "Counters", "LastFrame",
           "LoadedProgram", "Map", "translate", "verify_program", "check_limits",
           "features_from_caps", "Transport", "TransportError", "MapPort", "DeviceFeatures",
           "RegisterMapPort", "MapCommandError"]
