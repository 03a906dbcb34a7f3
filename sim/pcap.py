"""pcap files in and out (Ethernet link type), with errors that name the file and record.

Ref: the libpcap file format (draft-ietf-opsawg-pcap): a 24-byte file header, then records of
a 16-byte header (seconds, micro- or nanoseconds, captured length, original length) and data.
"""

import pathlib
import struct
from typing import NamedTuple

__all__ = ["read_frames", "read_records", "read_capture", "PcapRecord", "PcapWriter",
           "PcapError", "LINKTYPE_ETHERNET"]

LINKTYPE_ETHERNET = 1
_MAGICS = {0xA1B2C3D4: "us", 0xA1B23C4D: "ns"}
_MAX_SNAPLEN = 262144


class PcapError(Exception):
    """A capture file that cannot be read or written."""


def read_frames(path: str | pathlib.Path) -> list[bytes]:
    """Every frame of an Ethernet pcap file, in order."""
    return [frame for _timestamp, frame in read_records(path)]


class PcapRecord(NamedTuple):
    """One record: its timestamp, the bytes captured, and the frame's length on the wire
    (more than ``len(frame)`` when the capture's snap length cut the frame)."""
    timestamp_ns: int
    frame: bytes
    original_length: int

    @property
    def cut(self) -> int:
        """Bytes of the frame the capture did not keep."""
        return max(0, self.original_length - len(self.frame))


def read_records(path: str | pathlib.Path) -> list[tuple[int, bytes]]:
    """Every (timestamp in ns, frame) of an Ethernet pcap file, in order."""
    return [(r.timestamp_ns, r.frame) for r in read_capture(path)]


def read_capture(path: str | pathlib.Path) -> list[PcapRecord]:
    """Every record of an Ethernet pcap file, in order, with the frames' original lengths."""
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PcapError(f"{path}: cannot read capture ({exc.strerror})") from None
    if len(data) < 24:
        raise PcapError(f"{path}: not a pcap capture (only {len(data)} bytes)")
    for endian in "<>":
        magic = struct.unpack_from(endian + "I", data)[0]
        if magic in _MAGICS:
            frac_ns = 1000 if _MAGICS[magic] == "us" else 1
            break
    else:
        if data[:4] == b"\x0a\x0d\x0d\x0a":
            raise PcapError(f"{path}: pcapng is not supported; convert it with "
                            f"'editcap -F pcap IN OUT' (Wireshark) or tcpdump -r IN -w OUT")
        raise PcapError(f"{path}: not a pcap capture (magic {data[:4].hex()})")
    linktype = struct.unpack_from(endian + "I", data, 20)[0] & 0x0FFFFFFF
    if linktype != LINKTYPE_ETHERNET:
        raise PcapError(f"{path}: link type {linktype} is not Ethernet (1)")
    frames = []
    offset = 24
    while offset < len(data):
        if offset + 16 > len(data):
            raise PcapError(f"{path}: record {len(frames)} header truncated at byte {offset}")
        seconds, fraction, captured, original = struct.unpack_from(endian + "4I", data, offset)
        if captured > _MAX_SNAPLEN:
            raise PcapError(f"{path}: record {len(frames)} claims {captured} bytes (corrupt)")
        offset += 16
        if offset + captured > len(data):
            raise PcapError(f"{path}: record {len(frames)} truncated: {captured} bytes "
                            f"announced, {len(data) - offset} present")
        frames.append(PcapRecord(seconds * 1_000_000_000 + fraction * frac_ns,
                                 data[offset:offset + captured], original))
        offset += captured
    return frames


class PcapWriter:
    """Write Ethernet frames to a pcap file (microsecond timestamps, one per frame index)."""

    def __init__(self, path: str | pathlib.Path):
        self.path = pathlib.Path(path)
        self.count = 0
        try:
            self._file = open(self.path, "wb")
        except OSError as exc:
            raise PcapError(f"{self.path}: cannot write capture ({exc.strerror})") from None
        self._file.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, _MAX_SNAPLEN,
                                     LINKTYPE_ETHERNET))

    def write(self, frame: bytes, timestamp_us: int | None = None) -> None:
        ts = self.count if timestamp_us is None else timestamp_us
        self._file.write(struct.pack("<4I", ts // 1_000_000, ts % 1_000_000, len(frame),
                                     len(frame)))
        self._file.write(frame)
        self.count += 1

    def flush(self) -> None:
        """Push what is written to the file (so tcpdump -r reads it while we write on)."""
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
