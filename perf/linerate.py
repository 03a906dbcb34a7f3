"""Wire time and line rates.

Frame sizes on the wire count the 4-byte FCS the MAC adds (frames here are without it); a
shorter frame is padded to 64 bytes; each frame also takes 20 bytes of preamble, start
delimiter and inter-frame gap.  Mpps = Gbit/s * 1000 / ((size + 20) * 8).
"""

__all__ = ["FCS", "WIRE_OVERHEAD", "MIN_SIZE", "MAX_SIZE", "LINE_RATES_GBPS", "wire_bytes",
           "line_rate_mpps", "line_rate_mixed"]

FCS = 4                 # the frame check sequence the MAC adds; our frames are without it
WIRE_OVERHEAD = 20      # preamble + start delimiter (8) and inter-frame gap (12), bytes
MIN_SIZE = 64           # shorter frames are padded to 64 bytes (with FCS) on the wire
MAX_SIZE = 1518
LINE_RATES_GBPS = (10, 25, 100)


def wire_bytes(frame_length: int) -> int:
    """Bytes of wire time a frame of ``frame_length`` bytes (no FCS) takes."""
    return max(frame_length + FCS, MIN_SIZE) + WIRE_OVERHEAD


def line_rate_mpps(size: int, gbps: float) -> float:
    """Frames per microsecond (Mpps) a ``gbps`` link carries for ``size``-byte frames
    (``size`` counts the FCS)."""
    return gbps * 1e3 / ((max(size, MIN_SIZE) + WIRE_OVERHEAD) * 8)


def line_rate_mixed(frames: list[bytes], gbps: float) -> float:
    """Mpps a link carries for this mix of frames (mean wire time)."""
    wire = sum(wire_bytes(len(f)) for f in frames) / len(frames)
    return gbps * 1e3 / (wire * 8)
