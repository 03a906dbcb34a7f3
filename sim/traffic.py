"""Traffic for tests, demos and experiments: frames built with scapy, seeded and repeatable."""

import random

__all__ = ["demo_frames", "random_frames"]

ETH_SRC = "02:00:00:00:00:01"
ETH_DST = "02:00:00:00:00:02"
MIN_FRAME = 60      # without the FCS


def demo_frames() -> list[bytes]:
    """One frame of each kind the demo program tells apart, plus frames the NIC must discard."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Dot1Q, Ether
    eth = Ether(src=ETH_SRC, dst=ETH_DST)
    frames = [
        eth / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(type=8, id=1, seq=1) / b"ping",
        eth / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=4000, dport=9) / b"discard me",
        eth / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=4000, dport=53) / b"dns?",
        eth / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=4000, dport=80, flags="S"),
        eth / IPv6(src="fd00::1", dst="fd00::2") / UDP(sport=4000, dport=9) / b"v6",
        eth / Dot1Q(vlan=7) / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP() / b"tagged",
        eth / IP(src="10.0.0.1", dst="10.0.0.2", options=b"\x01\x01\x01\x00") / ICMP(),
    ]
    out = [bytes(f).ljust(MIN_FRAME, b"\0") for f in frames]    # padded as a MAC pads
    out.append(bytes(eth)[:10])                                    # runt: discarded
    out.append(bytes(eth / IP() / UDP(dport=9) / bytes(4000)))     # oversize: discarded
    return out


def random_frames(count: int, seed: int, min_len: int = 60, max_len: int = 1518) -> list[bytes]:
    """``count`` frames of mixed protocols and random lengths, the same for the same seed."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Dot1Q, Ether
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        eth = Ether(src=ETH_SRC, dst=ETH_DST)
        kind = rng.randrange(6)
        ip = IP(src=f"10.0.{rng.randrange(256)}.{rng.randrange(256)}", dst="10.1.0.1",
                ttl=rng.randrange(1, 256))
        if kind == 0:
            pkt = eth / ip / UDP(sport=rng.randrange(65536), dport=rng.choice([9, 53, 4789]))
        elif kind == 1:
            pkt = eth / ip / TCP(sport=rng.randrange(65536), dport=rng.choice([22, 80, 443]))
        elif kind == 2:
            pkt = eth / ip / ICMP(type=rng.choice([0, 8]))
        elif kind == 3:
            pkt = eth / IPv6(src="fd00::1", dst="fd00::2") / UDP(dport=rng.randrange(65536))
        elif kind == 4:
            pkt = eth / Dot1Q(vlan=rng.randrange(1, 4095)) / ip / UDP(dport=9)
        else:
            pkt = eth / bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        frame = bytes(pkt)
        length = rng.randrange(min_len, max_len + 1)
        if len(frame) < length:
            frame += bytes(rng.randrange(256) for _ in range(length - len(frame)))
        out.append(frame)
    return out
