"""AXI-Stream in Amaranth's simulator: send and collect frames beat by beat, with seeded
random pauses (the conventions are hw/xdp/axis.py's: little-endian tdata, tkeep per byte)."""

__all__ = ["beats_of", "send_frame", "collect_frames"]


def beats_of(frame: bytes, width: int) -> list[bytes]:
    """The beats of one frame (a zero-length frame is one empty beat)."""
    return [frame[i:i + width] for i in range(0, len(frame), width)] or [b""]


async def send_frame(ctx, port, frame: bytes, user: bool, width: int, rng, pause: float = 0.0):
    """Drive one frame on ``port``, idling before a beat with probability ``pause``."""
    beats = beats_of(frame, width)
    for i, beat in enumerate(beats):
        while pause and rng.random() < pause:
            ctx.set(port.tvalid, 0)
            await ctx.tick()
        ctx.set(port.tdata, int.from_bytes(beat, "little"))
        ctx.set(port.tkeep, (1 << len(beat)) - 1)
        ctx.set(port.tlast, i == len(beats) - 1)
        ctx.set(port.tuser, user)
        ctx.set(port.tvalid, 1)
        while True:
            *_, ready = await ctx.tick().sample(port.tready)
            if ready:
                break
    ctx.set(port.tvalid, 0)


async def collect_frames(ctx, port, sink, width: int, rng, pause: float = 0.0):
    """Receive frames forever, appending each to ``sink``; ``tready`` drops with probability
    ``pause`` each cycle."""
    current = bytearray()
    while True:
        ctx.set(port.tready, not (pause and rng.random() < pause))
        *_, valid, ready, data, keep, last = await ctx.tick().sample(
            port.tvalid, port.tready, port.tdata, port.tkeep, port.tlast)
        if valid and ready:
            raw = data.to_bytes(width, "little")
            current += bytes(raw[i] for i in range(width) if keep >> i & 1)
            if last:
                sink.append(bytes(current))
                current = bytearray()
