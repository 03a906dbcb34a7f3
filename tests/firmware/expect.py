"""Expected results computed in Python from the input frames, independently of the C
programs: header walks over the bytes (for cut-short frames, where scapy's dissection would
guess) and a few small helpers."""

import struct

__all__ = ["VLAN_TYPES", "l3_offset", "ip_protocol", "array_entries", "u64"]

VLAN_TYPES = (0x8100, 0x88A8)


def l3_offset(frame: bytes, max_tags: int = 2) -> tuple[int, int] | None:
    """(EtherType after up to ``max_tags`` VLAN tags, its offset), or None when the Ethernet
    header or a tag is cut short."""
    if len(frame) < 14:
        return None
    ethertype, offset = struct.unpack_from(">H", frame, 12)[0], 14
    for _ in range(max_tags):
        if ethertype not in VLAN_TYPES:
            break
        if len(frame) < offset + 4:
            return None
        ethertype = struct.unpack_from(">H", frame, offset + 2)[0]
        offset += 4
    return ethertype, offset


def ip_protocol(frame: bytes) -> int | None:
    """The IPv4 protocol / IPv6 next header xdp1 counts under (0 for non-IP or a cut-short IP
    header), or None when the L2 headers are cut short."""
    l3 = l3_offset(frame)
    if l3 is None:
        return None
    ethertype, offset = l3
    if ethertype == 0x0800 and len(frame) >= offset + 20:
        return frame[offset + 9]
    if ethertype == 0x86DD and len(frame) >= offset + 40:
        return frame[offset + 6]
    return 0


def u64(*values: int) -> bytes:
    return struct.pack(f"<{len(values)}Q", *values)


def array_entries(max_entries: int, values: dict[int, bytes], value_size: int) -> dict:
    """Every slot of an array map as ``entries`` lists it: ``values`` where given, else 0."""
    return {struct.pack("<I", i): values.get(i, bytes(value_size)) for i in range(max_entries)}
