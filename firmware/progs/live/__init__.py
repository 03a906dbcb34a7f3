"""The programs of ``xdpnic attach``'s demo and tests, compiled on demand.

``xdp_blocklist`` (drop IPv4 sources listed in a hash map) and ``xdp_ping_reply`` (answer ICMP
echo requests with XDP_TX) are built like the firmware programs (``clang -O2 -g -target bpf``,
``firmware/progs/include`` on the path); they are not in ``firmware.progs.build.PROGRAMS``
because they exist for the live path, not for the offload literature's comparisons.
"""

import os
import pathlib

from ...build import compile_c
from ..build import INCLUDE_DIR

__all__ = ["LIVE_PROGRAMS", "build_live_program"]

LIVE_DIR = pathlib.Path(__file__).resolve().parent
LIVE_PROGRAMS = ("xdp_blocklist", "xdp_ping_reply")


def build_live_program(name: str, out_dir: str | os.PathLike) -> pathlib.Path:
    """Compile ``name`` into ``out_dir/<name>.o`` (``firmware.build.BuildError`` on failure)."""
    if name not in LIVE_PROGRAMS:
        raise ValueError(f"no live program {name!r} (have: {', '.join(LIVE_PROGRAMS)})")
    out = pathlib.Path(out_dir) / f"{name}.o"
    out.parent.mkdir(parents=True, exist_ok=True)
    compile_c(LIVE_DIR / f"{name}.c", out, (f"-I{INCLUDE_DIR}",))
    return out
