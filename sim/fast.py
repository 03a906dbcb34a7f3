"""The NIC at full Verilator speed: a C++ harness, a job file in, a record file out.

No Python runs per simulated cycle.  :func:`build` compiles :class:`hw.top.NIC`'s Verilog
(:func:`sim.nic_build.verilog_text`, the generator the cocotb path uses) behind a thin top
(:func:`wrapper_text`) with ``sim/fast_harness.cpp`` and a header generated here for the
configuration (ports, data width, verdict width from :data:`hw.xdp.verdict.VerdictLayout`), at
-O3, into the build cache (:mod:`sim.build_cache`) as ``fast-p<P>-w<W>-e<E>-<key>``; the key
hashes the gateware sources and the flags, the stamp the harness and this generator, so the
binary is reused until one of them changes (a new harness only recompiles the harness).
:class:`Job` writes the job file, :func:`run_job` runs it and parses the records into a
:class:`FastRun`.

Job file (text, one op per line, ``#`` starts a comment; numbers decimal or 0x hex)::

    xdpnic-fast-job 1             first line
    config PORTS WIDTH            the configuration the job is for (checked against the binary)
    limit CYCLES                  stop with an error past this many cycles in all
    bytes on|off                  record egress frame bytes (off: lengths only, for long runs)
    reset CYCLES                  rst high for CYCLES cycles, then one cycle low
    write OFFSET VALUE            AXI4-Lite write of a 32-bit register
    read OFFSET                   AXI4-Lite read; recorded as an R record
    poll OFFSET MASK VALUE CYCLES read until (value & MASK) == VALUE; error after CYCLES
    wait CYCLES                   idle clock cycles
    data ID HEX|-                 a frame payload (ids count up from 0; - is empty)
    frame PORT START ID TUSER     a frame on rx<PORT>, first beat no earlier than START cycles
                                  after the traffic op begins (0: back to back)
    traffic CYCLES                send every frame; error if not all sent within CYCLES
    quiet N CYCLES                run until N cycles pass with no beat and no verdict

Ops run in order; ``data``/``frame`` lines only declare.  Frames on one port go in the order
listed, the next one's first beat right after the previous one's last when its START allows.
Egress streams are always ready.  Map set-up will be register writes like program loading.

Records (one per line, cycles counted from the first cycle of the run)::

    T CYCLE                            the traffic op began
    F INDEX PORT OFFERED FIRST LAST    frame INDEX (job order): its first beat was offered at
                                       OFFERED, accepted at FIRST, its last beat at LAST
    V CYCLE HEX                        a verdict record (raw bits; VerdictLayout decodes it)
    E PORT|host FIRST LAST LENGTH HEX|-  an egress frame, first and last beat cycles
    R LINE OFFSET VALUE                a read (LINE: the job line)
    P LINE OFFSET VALUE CYCLES         a poll that succeeded after CYCLES cycles
    END CYCLES WALL_NS CPU_NS          cycles in all, wall and CPU time spent simulating

Errors: the harness exits 2 for a bad job file and 3 for a run that hit a limit, with
``JOB:LINE: message`` on stderr; :func:`run_job` raises :class:`FastError` with that text.
"""

import hashlib
import os
import pathlib
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from firmware.driver.program_load import load_writes
from firmware.ebpf.machine import DEFAULT_INSN_BUDGET
from hw import regs

from . import build_cache, nic_build, rtl
from .driver import program_words

__all__ = ["FastError", "Job", "FastRun", "FrameTiming", "Egress", "build", "run_job",
           "program_ops", "frames_job", "finish_job", "run_frames",
           "verdict_field", "io_header", "Session", "driver_transport",
           "COUNTER_READS"]

HARNESS = pathlib.Path(__file__).resolve().parent / "fast_harness.cpp"
TOPLEVEL = "xdpnic_fast"
# Bump when the generated header, the wrapper or the build flags change meaning.
GENERATOR_VERSION = 3
VERILATOR_FLAGS = ["-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert",
                   "-Wno-fatal", "-Wno-WIDTH"]
CXX_FLAGS = "-O3"
RESET_CYCLES = 3
# Registers read at the end of a job: every read-only register whose read has no side effect,
# and every per-port counter.
COUNTER_READS = tuple(r.name for r in regs.REGISTERS if r.access == "ro" and not r.pops)


class FastError(RuntimeError):
    """The harness could not be built, the job is wrong, or a run hit a limit."""


def _hardware_key(ports: int, data_width: int, engines: int) -> str:
    """Hash of everything the Verilated model depends on (the NIC's sources, the flags)."""
    return build_cache.sources_key(ports, data_width, engines, VERILATOR_FLAGS, CXX_FLAGS,
                                   GENERATOR_VERSION)


def _harness_key() -> str:
    """Hash of the harness and of this generator: a change recompiles only the harness (make
    keeps the Verilated model's objects)."""
    h = hashlib.sha256(f"{GENERATOR_VERSION}".encode())
    h.update(HARNESS.read_bytes())
    h.update(pathlib.Path(__file__).read_bytes())
    return h.hexdigest()[:12]


def _cname(name: str) -> str:
    """Verilator's C++ name for a port: it escapes the second underscore of ``__``."""
    return name.replace("__", "___05F")


_PORT = re.compile(r"^\s*(input|output)\s+(?:(?:reg|wire|signed)\s+)*(\[[^\]]+\])?\s*(\S+)\s*;",
                   re.M)


def wrapper_text(nic_verilog: str, module: str = nic_build.TOPLEVEL) -> str:
    """The fast build's top: ``module`` with its reset registered and its egress streams
    always ready.

    Verilator evaluates every block that reads a top-level input on each ``eval`` call (its
    "ico" region), and Amaranth's next-state logic reads ``rst``: an input ``rst`` would make
    the harness's two evals per cycle re-evaluate most of the design.  Behind a register
    (initially 1, so the first cycle of a run is a reset edge) that logic runs once per
    cycle, after the edge; the harness lowers ``rst`` one cycle early (see ``OP_RESET``).
    The harness never stalls an egress stream, so their ``tready`` are constants Verilator
    folds away."""
    start = nic_verilog.index(f"module {module}(")
    ports = _PORT.findall(nic_verilog[start:nic_verilog.index("endmodule", start)])
    tied = {name for kind, _w, name in ports
            if kind == "input" and re.fullmatch(r"(?:tx\d+|host)__tready", name)}
    outer = [(kind, width, name) for kind, width, name in ports if name not in tied]
    lines = [f"module {TOPLEVEL}({', '.join(name for _k, _w, name in outer)});"]
    lines += [f"  {kind} {width + ' ' if width else ''}{name};" for kind, width, name in outer]
    lines += ["  reg rst_q = 1'b1;", "  always @(posedge clk) rst_q <= rst;",
              f"  {module} nic ("]
    connections = [f"    .{name}({'rst_q' if name == 'rst' else name})"
                   for _k, _w, name in outer] + [f"    .{name}(1'b1)" for name in sorted(tied)]
    lines += [",\n".join(connections), "  );", "endmodule", ""]
    return "\n".join(lines)


def io_header(ports: int, data_width: int, verdict_bits: int) -> str:
    """``fast_io.h``: the harness's access to one configuration's ports (Verilator's C++
    types differ by width: up to 64 bits a scalar, wider a word array)."""
    nbytes = data_width // 8
    vwords = (verdict_bits + 31) // 32
    lines = ["// Generated by sim/fast.py for one NIC configuration; do not edit.",
             "#pragma once",
             f"#define NIC_PORTS {ports}", f"#define DATA_BYTES {nbytes}",
             f"#define VERDICT_WORDS {vwords}",
             f"#define S_AXIL(member) {_cname('s_axil__')}##member", ""]

    def set_data(signal: str) -> list[str]:
        if data_width <= 64:
            return [f"{{ uint64_t v; memcpy(&v, beat, 8); t->{signal} = v; }}"]
        return [f"for (int i = 0; i < {nbytes // 4}; i++) "
                f"{{ uint32_t v; memcpy(&v, beat + 4 * i, 4); t->{signal}[i] = v; }}"]

    def get_data(signal: str) -> list[str]:
        if data_width <= 64:
            return [f"{{ uint64_t v = t->{signal}; memcpy(beat, &v, 8); }}"]
        return [f"for (int i = 0; i < {nbytes // 4}; i++) "
                f"{{ uint32_t v = t->{signal}[i]; memcpy(beat + 4 * i, &v, 4); }}"]

    lines.append("static inline void rx_drive(Vnic* t, int p, const uint8_t* beat, "
                 "uint64_t keep, bool last, bool user) {")
    lines.append("  switch (p) {")
    for p in range(ports):
        lines.append(f"  case {p}:")
        lines += ["    " + s for s in set_data(f"rx{p}__tdata")]
        lines += [f"    t->rx{p}__tkeep = keep; t->rx{p}__tlast = last; "
                  f"t->rx{p}__tuser = user; t->rx{p}__tvalid = 1; break;"]
    lines += ["  }", "}", ""]
    lines.append("static inline void rx_idle(Vnic* t, int p) {")
    lines.append("  switch (p) {")
    for p in range(ports):
        lines.append(f"  case {p}: t->rx{p}__tvalid = 0; t->rx{p}__tlast = 0; "
                     f"t->rx{p}__tuser = 0; t->rx{p}__tkeep = 0; break;")
    lines += ["  }", "}", ""]
    lines.append("static inline bool rx_ready(Vnic* t, int p) {")
    lines.append("  switch (p) {")
    for p in range(ports):
        lines.append(f"  case {p}: return t->rx{p}__tready;")
    lines += ["  }", "  return false;", "}", ""]
    outs = [f"tx{p}" for p in range(ports)] + ["host"]
    lines.append("static inline bool out_valid(Vnic* t, int o) {")
    lines.append("  switch (o) {")
    for o, name in enumerate(outs):
        lines.append(f"  case {o}: return t->{name}__tvalid;")
    lines += ["  }", "  return false;", "}", ""]
    lines.append("static inline void out_beat(Vnic* t, int o, uint8_t* beat, uint64_t* keep, "
                 "bool* last) {")
    lines.append("  switch (o) {")
    for o, name in enumerate(outs):
        lines.append(f"  case {o}:")
        lines += ["    " + s for s in get_data(f"{name}__tdata")]
        lines.append(f"    *keep = t->{name}__tkeep; *last = t->{name}__tlast; break;")
    lines += ["  }", "}", ""]
    lines.append("static inline void verdict_words(Vnic* t, uint32_t* w) {")
    if verdict_bits > 64:
        lines.append(f"  for (int i = 0; i < {vwords}; i++) w[i] = t->verdict[i];")
    elif verdict_bits > 32:
        lines.append("  uint64_t v = t->verdict; w[0] = (uint32_t)v; w[1] = (uint32_t)(v >> 32);")
    else:
        lines.append("  w[0] = t->verdict;")
    lines += ["}", ""]
    return re.sub(r"\b(?:rx\d+|tx\d+|host)__t\w+", lambda m: _cname(m.group(0)),
                  "\n".join(lines))


def build(ports: int = 2, data_width: int = 64, verbose: bool = False, engines: int = 1
          ) -> tuple[pathlib.Path, float]:
    """Build (or reuse) the harness for a configuration: ``(binary, seconds)``."""
    try:
        rtl.check_tool("verilator")
    except rtl.BuildError as exc:
        raise FastError(str(exc)) from None
    began = time.perf_counter()
    name = f"fast-p{ports}-w{data_width}-e{engines}-{_hardware_key(ports, data_width, engines)}"
    build_dir = build_cache.cached(
        name, _harness_key(),
        lambda directory: _compile(directory, ports, data_width, engines, verbose))
    return build_dir / "obj" / "xdpnic_fast", time.perf_counter() - began


def _compile(build_dir: pathlib.Path, ports: int, data_width: int, engines: int,
             verbose: bool) -> None:
    from hw.xdp.verdict import VerdictLayout
    source = build_dir / f"{TOPLEVEL}.v"
    obj = build_dir / "obj"
    # The model is Verilated already when only the harness changed: make recompiles the
    # harness and relinks.
    remake = source.exists() and (obj / "Vnic.mk").exists()
    if not source.exists():
        text = nic_build.verilog_text(ports, data_width, engines)
        source.write_text(text + "\n" + wrapper_text(text))
    header = io_header(ports, data_width, VerdictLayout.size)
    io = build_dir / "fast_io.h"
    if not io.exists() or io.read_text() != header:
        io.write_text(header)
    if remake:
        cmd = ["make", "-C", str(obj), "-f", "Vnic.mk", "-j", "2"]
    else:
        cmd = ["verilator", "--cc", "--exe", "--build", "-j", "2", *VERILATOR_FLAGS,
               "--top-module", TOPLEVEL, "--prefix", "Vnic", "--Mdir", str(obj),
               "-o", "xdpnic_fast", "-CFLAGS", f"{CXX_FLAGS} -I{build_dir}",
               str(source), str(HARNESS)]
    # OPT_FAST/OPT_GLOBAL default to -Os in verilated.mk and come last on the harness's and
    # the runtime's compile lines.
    env = build_cache.verilator_env(f"OPT_FAST={CXX_FLAGS} OPT_GLOBAL={CXX_FLAGS}")
    log = build_dir / "build.log"
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    if verbose:
        print(log.read_text())
    if proc.returncode != 0:
        raise FastError(f"verilator build of the fast harness failed; see {log}")


class Job:
    """A job file under construction (see the module docstring for the ops).

    Parameters
    ----------
    ports, data_width : int
        The NIC configuration the job is for.
    record_bytes : bool
        Record every egress frame's bytes (off for long runs: lengths and cycles only).
    limit : int
        Cycles in all before the run stops with an error.
    engines : int
        Engines in the NIC (1 .. ``machine.MAX_ENGINES``).
    """

    def __init__(self, ports: int = 2, data_width: int = 64, record_bytes: bool = True,
                 limit: int = 10_000_000_000, engines: int = 1):
        self.ports = ports
        self.data_width = data_width
        self.engines = engines
        self.lines = ["xdpnic-fast-job 1", f"config {ports} {data_width}", f"limit {limit}",
                      f"bytes {'on' if record_bytes else 'off'}"]
        self._data: dict[bytes, int] = {}
        self.frame_count = 0
        self._reads: dict[int, str] = {}

    def _add(self, text: str) -> int:
        self.lines.append(text)
        return len(self.lines)          # the job-file line number of this op

    def reset(self, cycles: int = RESET_CYCLES) -> None:
        self._add(f"reset {cycles}")

    def write(self, offset: int, value: int) -> None:
        self._add(f"write {offset:#x} {value & 0xFFFFFFFF:#x}")

    def read(self, offset: int, name: str | None = None) -> int:
        """Read a register; its value lands in :attr:`FastRun.reads` under ``name`` (default:
        the job line number, which is returned)."""
        line = self._add(f"read {offset:#x}")
        self._reads[line] = name if name is not None else str(line)
        return line

    def poll(self, offset: int, mask: int, value: int, cycles: int) -> None:
        self._add(f"poll {offset:#x} {mask:#x} {value:#x} {cycles}")

    def wait(self, cycles: int) -> None:
        self._add(f"wait {cycles}")

    def frame(self, data: bytes, port: int = 0, start: int = 0, tuser: bool = False) -> None:
        """Queue a frame on ``rx<port>``, first beat no earlier than ``start`` cycles after
        the traffic op begins."""
        data = bytes(data)
        if data not in self._data:
            self._data[data] = len(self._data)
            self.lines.append(f"data {self._data[data]} {data.hex() or '-'}")
        self.lines.append(f"frame {port} {start} {self._data[data]} {int(bool(tuser))}")
        self.frame_count += 1

    def frames_bulk(self, templates: list[bytes], starts: list[int], port: int = 0) -> None:
        """Frame i is ``templates[i % len(templates)]`` with first beat no earlier than
        ``starts[i]``: a million frames without a Python call each."""
        ids = []
        for data in templates:
            data = bytes(data)
            if data not in self._data:
                self._data[data] = len(self._data)
                self.lines.append(f"data {self._data[data]} {data.hex() or '-'}")
            ids.append(self._data[data])
        n = len(ids)
        self.lines.extend(f"frame {port} {start} {ids[i % n]} 0" for i, start in enumerate(starts))
        self.frame_count += len(starts)

    def traffic(self, cycles: int) -> None:
        self._add(f"traffic {cycles}")

    def quiet(self, cycles: int, limit: int) -> None:
        self._add(f"quiet {cycles} {limit}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


@dataclass
class FrameTiming:
    """When a frame went in: offered (first beat valid), first and last beat accepted."""
    index: int
    port: int
    offered: int
    first: int
    last: int


@dataclass
class Egress:
    """A frame that left: ``port`` is an int or ``"host"``; ``data`` None with bytes off."""
    port: int | str
    first: int
    last: int
    length: int
    data: bytes | None


@dataclass
class FastRun:
    """Everything one harness run recorded."""
    verdicts: list[tuple[int, int]]             # (cycle, raw record)
    frames: list[FrameTiming]                   # in the order their last beats went in
    egress: list[Egress]
    reads: dict[str, int]
    polls: list[tuple[int, int, int, int]]      # (line, offset, value, cycles)
    traffic_start: int | None
    clock_cycles: int
    sim_seconds: float                          # wall time of the simulation loop
    cpu_seconds: float = 0.0                    # CPU time of the simulation loop
    wall_seconds: float = 0.0
    build_seconds: float = 0.0
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def cycles_per_second(self) -> float:
        """Simulated cycles per wall-clock second of the simulation loop alone."""
        return self.clock_cycles / self.sim_seconds if self.sim_seconds else 0.0

    @property
    def cycles_per_cpu_second(self) -> float:
        """Simulated cycles per CPU second of the simulation loop (fair on a loaded machine)."""
        return self.clock_cycles / self.cpu_seconds if self.cpu_seconds else 0.0

    def decoded(self) -> list[dict]:
        """Every verdict record decoded (:func:`hw.xdp.verdict.decode_verdict`)."""
        from hw.xdp.verdict import decode_verdict
        return [decode_verdict(raw) for _cycle, raw in self.verdicts]

    def outputs(self) -> dict[str, list[bytes]]:
        """Egress frames by stream, as :func:`sim.nic_results.match_outputs` takes them."""
        out: dict[str, list[bytes]] = {"pass": []}
        out.update({f"port{p}": [] for p in range(self._ports())})
        for e in self.egress:
            name = "pass" if e.port == "host" else f"port{e.port}"
            out.setdefault(name, []).append(e.data if e.data is not None else b"")
        return out

    def results(self):
        """One :class:`firmware.ebpf.xdp.FrameResult` per verdict, in order."""
        from .nic_results import match_outputs
        return match_outputs(self.decoded(), self.outputs())

    def _ports(self) -> int:
        return max([e.port for e in self.egress if e.port != "host"], default=-1) + 1


def verdict_field(name: str) -> tuple[int, int]:
    """``(offset, mask)`` of a verdict field, to pull it out of raw records quickly."""
    from hw.xdp.verdict import VerdictLayout
    f = VerdictLayout[name]
    return f.offset, (1 << f.width) - 1


def run_job(job: Job, *, verbose: bool = False, keep: str | os.PathLike | None = None,
            on_progress=None) -> FastRun:
    """Build (or reuse) the harness for the job's configuration, run it, parse the records.
    ``keep``: a directory to leave job.txt and records.txt in; ``on_progress(frames)`` is
    called as frames go in (every few thousand)."""
    binary, build_seconds = build(job.ports, job.data_width, verbose, engines=job.engines)
    with tempfile.TemporaryDirectory(prefix="xdpnic-fast-") as tmp:
        where = pathlib.Path(keep) if keep is not None else pathlib.Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        job_file, records = where / "job.txt", where / "records.txt"
        job_file.write_text(job.text())
        began = time.perf_counter()
        with open(where / "stderr.txt", "w+") as err:
            proc = subprocess.Popen([str(binary), str(job_file), str(records)],
                                    stdout=subprocess.PIPE, stderr=err, text=True)
            for line in proc.stdout:          # "frames N" now and then
                if on_progress is not None and line.startswith("frames "):
                    on_progress(int(line.split()[1]))
            proc.wait()
            err.seek(0)
            message = err.read().strip()
        if proc.returncode != 0:
            raise FastError(message or f"harness exited {proc.returncode}")
        run = parse_records(records.read_text(), job._reads)
        run.counters = dict(run.reads)
        run.wall_seconds = time.perf_counter() - began
    run.build_seconds = build_seconds
    return run


def parse_records(text: str, names: dict[int, str] | None = None,
                  complete: bool = True) -> FastRun:
    """The records file as a :class:`FastRun` (``names``: job line -> read name); with
    ``complete`` False, a part of it (no END record yet: cycles 0)."""
    names = names or {}
    verdicts, frames, egress, polls = [], [], [], []
    reads: dict[str, int] = {}
    traffic_start, cycles, ns, cpu_ns = None, None, 0, 0
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "V":
            cycle, raw = rest.split(" ")
            verdicts.append((int(cycle), int(raw, 16)))
        elif kind == "F":
            index, port, offered, first, last = map(int, rest.split(" "))
            frames.append(FrameTiming(index, port, offered, first, last))
        elif kind == "E":
            port, first, last, length, data = rest.split(" ")
            egress.append(Egress("host" if port == "host" else int(port), int(first),
                                 int(last), int(length),
                                 None if data == "-" else bytes.fromhex(data)))
        elif kind == "R":
            job_line, _offset, value = map(int, rest.split(" "))
            reads[names.get(job_line, str(job_line))] = value
        elif kind == "P":
            polls.append(tuple(map(int, rest.split(" "))))
        elif kind == "T":
            traffic_start = int(rest)
        elif kind == "END":
            cycles, ns, cpu_ns = map(int, rest.split(" "))
        else:
            raise FastError(f"records: unknown record {line[:40]!r}")
    if cycles is None:
        if complete:
            raise FastError("records: the harness stopped before END")
        cycles = 0
    for e in egress:                # empty frames (0 bytes) print '-' even with bytes on
        if e.data is None and e.length == 0:
            e.data = b""
    return FastRun(verdicts, frames, egress, reads, polls, traffic_start, cycles, ns / 1e9,
                   cpu_ns / 1e9)


def program_ops(job: Job, insns, *, budget: int = DEFAULT_INSN_BUDGET,
                drop_when_busy: bool = False, flow_hash: bool = False) -> None:
    """Load a program as the driver and the cocotb bench do (stop, then
    :func:`firmware.driver.program_load.load_writes`), with the counters cleared
    (``flow_hash``: engines by flow hash)."""
    job.write(regs.register("CTRL").offset, 0)
    ctrl = 1 << regs.CTRL.CLEAR_COUNTERS
    if drop_when_busy:
        ctrl |= 1 << regs.CTRL.DROP_WHEN_BUSY
    if flow_hash:
        ctrl |= 1 << regs.CTRL.FLOW_HASH
    for offset, value in load_writes(program_words(insns), budget, ctrl):
        job.write(offset, value)


def frames_job(insns, frames, *, ports: int = 2, data_width: int = 64, ingress_port: int = 0,
               budget: int = DEFAULT_INSN_BUDGET, drop_when_busy: bool = False,
               record_bytes: bool = True, traffic_cycles: int = 10_000_000_000,
               drain_cycles: int = 100_000_000, engines: int = 1,
               flow_hash: bool = False) -> Job:
    """A whole job: reset, load, the frames, wait for the NIC to go idle and quiet, read every
    counter.  ``frames``: bytes, or ``(bytes, port, start, tuser)`` tuples (missing items:
    ``ingress_port``, 0, False)."""
    job = Job(ports, data_width, record_bytes, engines=engines)
    job.reset()
    program_ops(job, insns, budget=budget, drop_when_busy=drop_when_busy, flow_hash=flow_hash)
    for item in frames:
        if isinstance(item, (bytes, bytearray)):
            job.frame(item, ingress_port)
        else:
            data, *rest = item
            port = rest[0] if len(rest) > 0 else ingress_port
            start = rest[1] if len(rest) > 1 else 0
            tuser = rest[2] if len(rest) > 2 else False
            job.frame(data, port, start, tuser)
    finish_job(job, ports, traffic_cycles, drain_cycles)
    return job


def finish_job(job: Job, ports: int, traffic_cycles: int = 10_000_000_000,
               drain_cycles: int = 100_000_000) -> None:
    """Send the frames, wait for the NIC to go idle and every stream to fall quiet, then read
    every counter (into ``reads`` by register name)."""
    job.traffic(traffic_cycles)
    status = regs.register("STATUS").offset
    job.poll(status, 1 << regs.STATUS.IDLE, 1 << regs.STATUS.IDLE, drain_cycles)
    job.quiet(32, drain_cycles)
    for name, offset in regs.offsets(ports).items():
        if name in COUNTER_READS or name.startswith("PORT"):
            job.read(offset, name)


def run_frames(insns, frames, **options) -> FastRun:
    """:func:`frames_job` and :func:`run_job`; ``run.counters`` holds the registers read at
    the end."""
    verbose = options.pop("verbose", False)
    return run_job(frames_job(insns, frames, **options), verbose=verbose)


class Session:
    """The harness driven op by op (``--interactive``): register reads are answered at once, so
    the host driver can load a program and create its maps through :class:`FastTransport`
    (MAP_CMD writes, MAP_STATUS polls, MAP_RESULT reads), before :meth:`finish` sends the
    traffic part of a :class:`Job` and collects the records."""

    def __init__(self, ports: int = 2, data_width: int = 64, *, engines: int = 1,
                 record_bytes: bool = True, limit: int = 10_000_000_000,
                 verbose: bool = False):
        self.binary, self.build_seconds = build(ports, data_width, verbose, engines=engines)
        self.ports, self.data_width = ports, data_width
        self._tmp = tempfile.TemporaryDirectory(prefix="xdpnic-fast-")
        where = pathlib.Path(self._tmp.name)
        self._records = where / "records.txt"
        self._stderr = open(where / "stderr.txt", "w+")
        self._began = time.perf_counter()
        self._proc = subprocess.Popen([str(self.binary), "--interactive", str(self._records)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._stderr, text=True, bufsize=1)
        self.line = 0
        self._data_ids = 0
        self._records_read = 0
        self._send(Job(ports, data_width, record_bytes, limit).lines)

    def _send(self, lines) -> None:
        try:
            for text in lines:
                self._proc.stdin.write(text + "\n")
                self.line += 1
            self._proc.stdin.flush()
        except BrokenPipeError:
            raise FastError(self._error()) from None

    def _error(self) -> str:
        self._proc.wait()
        self._stderr.seek(0)
        return self._stderr.read().strip() or f"harness exited {self._proc.returncode}"

    def _answer(self, kind: str, on_progress=None) -> int:
        for text in self._proc.stdout:
            if text.startswith(kind + " "):
                return int(text.split()[1])
            if text.startswith("frames ") and on_progress is not None:
                on_progress(int(text.split()[1]))
        raise FastError(self._error())

    def reset(self, cycles: int = RESET_CYCLES) -> None:
        self._send([f"reset {cycles}"])

    def exchange(self, frames: list[tuple[bytes, int]], *, traffic_cycles: int = 1_000_000,
                 quiet_cycles: int = 1100, quiet_limit: int = 10_000_000) -> FastRun:
        """Send ``frames`` (bytes, port) now, run until the NIC has been quiet for
        ``quiet_cycles`` (longer than the stack's 512-cycle sweep, during which a frame's
        program waits without a beat moving), and return the records they produced."""
        lines = []
        for data, port in frames:
            lines.append(f"data {self._data_ids} {bytes(data).hex() or '-'}")
            lines.append(f"frame {port} 0 {self._data_ids} 0")
            self._data_ids += 1
        self._send(lines + [f"traffic {traffic_cycles}", f"quiet {quiet_cycles} {quiet_limit}"])
        self._answer("Q")
        with open(self._records) as f:
            f.seek(self._records_read)
            text = f.read()
            self._records_read = f.tell()
        return parse_records(text, complete=False)

    def write(self, offset: int, value: int) -> None:
        self._send([f"write {offset:#x} {value & 0xFFFFFFFF:#x}"])

    def read(self, offset: int) -> int:
        self._send([f"read {offset:#x}"])
        return self._answer("R")

    def wait(self, cycles: int) -> None:
        self._send([f"wait {cycles}"])

    def finish(self, job: Job, on_progress=None) -> FastRun:
        """Send ``job``'s ops after its header (frames, traffic, reads...), end the session and
        return every record of it (``counters``: the job's named reads)."""
        header = 4                              # header, config, limit, bytes
        names = {self.line + (line - header): name for line, name in job._reads.items()}
        self._send(job.lines[header:] + ["end"])
        self._proc.stdin.close()
        for text in self._proc.stdout:
            if text.startswith("frames ") and on_progress is not None:
                on_progress(int(text.split()[1]))
        if self._proc.wait() != 0:
            raise FastError(self._error())
        run = parse_records(self._records.read_text(), names)
        run.counters = dict(run.reads)
        run.wall_seconds = time.perf_counter() - self._began
        run.build_seconds = self.build_seconds
        self.close()
        return run

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._stderr.close()
        self._tmp.cleanup()


def driver_transport(session: Session):
    """A :class:`firmware.driver.transport.Transport` over a :class:`Session`: registers and
    time only (frames go through the session's job)."""
    from firmware.driver.transport import Transport, TransportError

    class FastTransport(Transport):
        async def read(self, offset: int) -> int:
            return session.read(offset)

        async def write(self, offset: int, value: int) -> None:
            session.write(offset, value)

        async def wait(self, cycles: int = 1) -> None:
            session.wait(cycles)

        async def send(self, port, frame, error=False):
            raise TransportError("the fast harness takes frames through its job")

        def pending(self) -> int:
            return 0

        async def receive(self, egress, timeout=10_000):
            raise TransportError("the fast harness records egress frames in its records")

        def received(self, egress) -> int:
            return 0

        def describe(self) -> str:
            return "fast/verilator"

    return FastTransport()
