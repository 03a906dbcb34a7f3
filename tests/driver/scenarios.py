"""Driver test scenarios: each ``async def scenario(nic)`` runs unchanged on every transport.

The expected results come from the golden model (``xdp.run_frame`` with its own ``MapSet``),
never from the device.  A scenario raises ``AssertionError`` when the device disagrees.
Where the device decides what is possible (maps, helpers beyond the XDP1 datapath's), the
scenario asserts the exact outcome for what ``nic.info.features`` says it offers: loads and
runs like the model, or is refused with the kernel-offload message.
"""

import pathlib
import struct

from firmware.driver.nic import (CounterMismatch, NicError, NotSupportedByDevice,
                                 ProgramTooLarge, VerifierRejected)
from firmware.ebpf.asm import assemble
from firmware.ebpf.helpers import HelperId
from firmware.ebpf.isa import MASK32
from firmware.ebpf.machine import TrapCause
from firmware.ebpf.maps import MapSpec, MapType
from firmware.ebpf.model_helpers import EngineState
from firmware.ebpf.model_maps import MapSet
from firmware.ebpf.xdp import Disposition, run_frame
from firmware.program import ProgramImage, load_program
from firmware.progs.build import PROGRAMS
from hw import regs

PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent.parent

SCENARIOS = ["identify", "frames_one_by_one", "frames_back_to_back", "budget_trap",
             "frames_on_both_ports", "atomic_replace_under_traffic", "atomic_replace_drop_when_busy",
             "too_large_refused", "map_type_refused", "verifier_rejection_refused",
             "helpers_the_device_may_lack", "maps_from_the_host", "firmware_programs"]

# Longer runs (@pytest.mark.slow), also with random pauses on the streams.
SLOW_SCENARIOS = ["many_frames_both_ports", "frames_back_to_back", "atomic_replace_under_traffic",
                  "atomic_replace_drop_when_busy"]

DEMO = PROJECT_ROOT / "firmware" / "progs" / "asm" / "xdp_demo.s"
# The disposition name of each per-port counter a frame can end in.
_COUNTER_OF = {"drop": Disposition.DROP, "aborted": Disposition.ABORTED,
               "pass": Disposition.PASS, "tx": Disposition.TX, "redirect": Disposition.REDIRECT}
_DISCARD_COUNTER = {"runt": "runt", "oversize": "oversize", "mac_error": "mac-error"}


def demo_frames() -> list[tuple[bytes, bool]]:
    """scapy frames that take every branch of the demo program, a runt and a MAC error."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Dot1Q, Ether
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    ip = IP(src="10.0.0.1", dst="10.0.0.2")
    frames = [eth / ip / ICMP(type=8) / b"ping", eth / ip / UDP(sport=1000, dport=9) / b"x",
              eth / ip / UDP(sport=1000, dport=53) / b"query", eth / ip / TCP(dport=80),
              eth / IPv6(src="fd00::1", dst="fd00::2") / UDP(dport=9),
              eth / Dot1Q(vlan=5) / ip / ICMP()]
    out = [(bytes(f), False) for f in frames]
    out += [(bytes(13), False), (bytes(frames[0]), True), (bytes(frames[0]) + bytes(40), False)]
    return out


def model_run(insns, frames, maps=None, budget=None, port=0):
    kwargs = {"budget": budget} if budget is not None else {}
    return [run_frame(insns, f, ingress_port=port, error_flag=e, maps=maps, **kwargs)
            for f, e in frames]


def tally(results, ports=2, port=0) -> dict[str, int]:
    """The flat counters (``Counters.flat()`` names) the model's results add up to."""
    out = {f"PORT{p}_{name}": 0 for p in range(ports) for name, _d in regs.PORT_COUNTERS}
    out["HOST_FRAMES"] = 0
    out.update({name: 0 for name in regs.TRAP_COUNTERS})
    names = {Disposition.DROP: "DROP", Disposition.ABORTED: "ABORTED", Disposition.PASS: "PASS",
             Disposition.TX: "TX", Disposition.REDIRECT: "REDIRECT"}
    discards = {"runt": "DISCARD_RUNT", "oversize": "DISCARD_OVERSIZE",
                "mac-error": "DISCARD_MAC_ERROR"}
    for r in results:
        out[f"PORT{port}_RX_FRAMES"] += 1
        if r.disposition == Disposition.DISCARD:
            out[f"PORT{port}_{discards[r.reason]}"] += 1
            continue
        out[f"PORT{port}_{names[r.disposition]}"] += 1
        if r.trap != TrapCause.NONE:
            out[regs.TRAP_COUNTERS[int(r.trap) - 1]] += 1
        if r.disposition == Disposition.PASS:
            out["HOST_FRAMES"] += 1
        elif r.egress_port is not None:
            out[f"PORT{r.egress_port}_EGRESS_FRAMES"] += 1
    return out


def expected_output(r) -> tuple[str | None, bytes | None]:
    if r.disposition == Disposition.PASS:
        return "pass", r.metadata + r.frame
    if r.disposition in (Disposition.TX, Disposition.REDIRECT):
        return f"port{r.egress_port}", r.frame
    return None, None


async def assert_counters(nic, expected: dict[str, int]) -> None:
    counters = await nic.counters()         # checks RX = sum of dispositions and discards
    got = counters.flat()
    diff = {k: (got[k], v) for k, v in expected.items() if got[k] != v}
    assert not diff, f"counters (device, model) differ: {diff}"


# --- the scenarios ---

async def identify(nic):
    info = await nic.identify()
    assert info.id == regs.ID_MAGIC
    assert (info.ports, info.data_bytes, info.imem_slots) == (2, 8, 4096)
    assert await nic.read("BUDGET") == regs.register("BUDGET").reset
    assert await nic.read("STATUS") & 1 << regs.STATUS.IDLE
    # The instruction window is write-only, unmapped addresses read 0.
    await nic.transport.write(regs.IMEM_WINDOW.offset, 0x12345678)
    assert await nic.transport.read(regs.IMEM_WINDOW.offset) == 0
    assert await nic.transport.read(0x0FC) == 0
    await nic.write("ID", 0)                # read-only: ignored
    assert await nic.read("ID") == regs.ID_MAGIC


async def frames_one_by_one(nic):
    image = load_program(DEMO)
    loaded = await nic.load(image, clear_counters=True)
    assert loaded.slots == len(image.insns) and not loaded.replaced
    frames = demo_frames()
    model = model_run(image.insns, frames)
    for index, ((frame, error), want) in enumerate(zip(frames, model)):
        got = await nic.run(frame, 0, error)
        if want.disposition == Disposition.DISCARD:
            assert got.counter == [k for k, v in _DISCARD_COUNTER.items()
                                   if v == want.reason][0], (index, got, want.reason)
            continue
        assert _COUNTER_OF[got.counter] == want.disposition, (index, got.counter, want)
        egress, output = expected_output(want)
        assert (got.egress, got.output) == (egress, output), index
        assert got.last.r0 == want.r0 & MASK32 and got.last.insns == want.insn_count, index
        assert got.last.trap == want.trap and got.last.trap_pc == want.trap_pc, index
    await assert_counters(nic, tally(model))


async def frames_back_to_back(nic):
    image = load_program(DEMO)
    await nic.load(image, clear_counters=True)
    frames = demo_frames() * 2
    for frame, error in frames:
        await nic.send(frame, 0, error)
    await nic.drain()
    model = model_run(image.insns, frames)
    for name in ("port0", "port1", "pass"):
        want = [out for r in model for egress, out in [expected_output(r)] if egress == name]
        got = [await nic.receive(name, 2000) for _ in want]
        assert got == want, name
        assert await nic.receive(name, 50) is None, f"an extra frame on {name}"
    await assert_counters(nic, tally(model))


async def frames_on_both_ports(nic, copies: int = 1):
    """Both RX ports at once: XDP_TX leaves by the ingress port, XDP_PASS frames of both
    ports share the host stream (in arbitration order), counters per ingress port."""
    image = load_program(DEMO)
    await nic.load(image, clear_counters=True)
    by_port = {0: demo_frames() * copies, 1: list(reversed(demo_frames())) * copies}
    for i in range(max(len(f) for f in by_port.values())):
        for port, frames in by_port.items():
            if i < len(frames):
                await nic.send(frames[i][0], port, frames[i][1])
    await nic.drain()
    expected = {name: 0 for name in (await nic.counters()).flat()}
    passed = []
    for port, frames in by_port.items():
        model = model_run(image.insns, frames, port=port)
        for k, v in tally(model, port=port).items():
            expected[k] += v
        want = [out for r in model for egress, out in [expected_output(r)]
                if egress == f"port{port}"]
        got = [await nic.receive(f"port{port}", 2000) for _ in want]
        assert got == want, f"port{port}"
        passed += [out for r in model for egress, out in [expected_output(r)] if egress == "pass"]
    got_pass = [await nic.receive("pass", 2000) for _ in passed]
    assert sorted(got_pass) == sorted(passed)
    for name in ("port0", "port1", "pass"):
        assert await nic.receive(name, 50) is None, f"an extra frame on {name}"
    await assert_counters(nic, expected)


async def many_frames_both_ports(nic):
    """The slow variant: twenty times the traffic on both ports."""
    await frames_on_both_ports(nic, copies=20)


REDIRECT_ADJUST = """
    mov %r6, %r1
    mov %r2, -4
    call 44                      # bpf_xdp_adjust_head(ctx, -4): 4 bytes more in front
    jne %r0, 0, out
    ldxw %r2, [%r6+0]
    ldxw %r3, [%r6+4]
    mov %r4, %r2
    add %r4, 4
    jgt %r4, %r3, out
    stw [%r2+0], 0x11223344
    mov %r1, 2                   # ifindex 2: port 1
    mov %r2, 0
    call 23                      # bpf_redirect
    exit
out:
    mov %r0, 1
    exit
"""


async def budget_trap(nic):
    """A budget the program exceeds traps BUDGET (counted, ABORTED, LAST_TRAP/PC); with the
    default budget the same program redirects a grown frame out of port 1."""
    image = ProgramImage("redirect_adjust", assemble(REDIRECT_ADJUST))
    frames = demo_frames()[:3]
    await nic.load(image, budget=5, clear_counters=True)
    model = model_run(image.insns, frames, budget=5)
    assert all(r.trap == TrapCause.BUDGET for r in model)
    for frame, error in frames:
        got = await nic.run(frame, 0, error)
        assert got.counter == "aborted" and got.output is None
        assert got.last.trap == TrapCause.BUDGET and got.last.trap_pc == model[0].trap_pc
        assert got.last.insns == model[0].insn_count
    await assert_counters(nic, tally(model))
    loaded = await nic.load(image, clear_counters=True)
    assert loaded.replaced
    model = model_run(image.insns, frames)
    for (frame, error), want in zip(frames, model):
        got = await nic.run(frame, 0, error)
        assert want.disposition == Disposition.REDIRECT and got.counter == "redirect"
        assert (got.egress, got.output) == expected_output(want)
        assert got.output[:4] == struct.pack("<I", 0x11223344)
    await assert_counters(nic, tally(model))


def marker_program(marker: int, padding: int) -> ProgramImage:
    """Writes ``marker`` into frame bytes 14 and 15 (one store each) and sends the frame
    back (XDP_TX); ``padding`` extra instructions make the two programs' slots differ, so a
    half-written memory would mix them."""
    pad = "\n".join("    mov %r5, 0" for _ in range(padding))
    return ProgramImage(f"marker_{marker:02x}", assemble(f"""
    ldxw %r2, [%r1+0]
    ldxw %r3, [%r1+4]
    mov %r4, %r2
    add %r4, 16
    jgt %r4, %r3, short
{pad}
    stb [%r2+14], {marker}
{pad}
    stb [%r2+15], {marker}
    mov %r0, 3
    exit
short:
    mov %r0, 1
    exit
"""))


async def _replace_under_traffic(nic, drop_when_busy: bool, count: int = 24):
    old, new = marker_program(0xAA, 2), marker_program(0xBB, 5)
    await nic.load(old, clear_counters=True, drop_when_busy=drop_when_busy)
    frame = demo_frames()[2][0]
    for _ in range(count):
        await nic.send(frame, 0)
    # Replace once a few frames have gone through the old program, with most still queued.
    for _ in range(100_000):
        if nic.transport.received("port0") >= 3:
            break
        await nic.transport.wait(1)
    if not drop_when_busy:      # (with it, back-to-back frames that find the engine busy
        assert nic.transport.pending() > count // 2     # are dropped, so the queue empties)
    loaded = await nic.load(new, drop_when_busy=drop_when_busy)
    assert loaded.replaced
    # More traffic after the swap (with drop_when_busy the held frames may all be dropped).
    for _ in range(count // 3):
        await nic.send(frame, 0)
    count += count // 3
    await nic.drain()
    outputs = []
    while (out := await nic.receive("port0", 200)) is not None:
        outputs.append(out)
    markers = [out[14:16] for out in outputs]
    assert all(m in (b"\xaa\xaa", b"\xbb\xbb") for m in markers), markers
    # in order: every old frame before every new one, and both programs saw frames
    assert markers == sorted(markers), markers
    assert b"\xaa\xaa" in markers and b"\xbb\xbb" in markers, markers
    for out, m in zip(outputs, markers):
        assert out == frame[:14] + m + frame[16:]
    counters = await nic.counters()
    block = counters.ports[0]
    assert block["RX_FRAMES"] == count
    assert block["TX"] == len(outputs) == block["EGRESS_FRAMES"]
    assert block["TX"] + block["DISCARD_BUFFER_FULL"] == count
    if not drop_when_busy:
        assert block["TX"] == count
    return block


async def atomic_replace_under_traffic(nic):
    await _replace_under_traffic(nic, drop_when_busy=False)


async def atomic_replace_drop_when_busy(nic):
    await _replace_under_traffic(nic, drop_when_busy=True)


async def too_large_refused(nic):
    info = await nic.identify()
    await nic.load(load_program(DEMO))
    big = ProgramImage("big", assemble("\n".join(["mov %r0, 2"] * info.imem_slots + ["exit"])))
    try:
        await nic.load(big)
    except ProgramTooLarge as exc:
        assert str(exc) == (f"big: program needs {info.imem_slots + 1} instruction slots; "
                            f"the device's instruction memory holds {info.imem_slots}"), exc
    else:
        raise AssertionError("a program larger than the instruction memory was loaded")
    # The refusal touched nothing: the demo still runs.
    got = await nic.run(demo_frames()[1][0])
    assert got.counter == "drop" and await nic.enabled()


async def map_type_refused(nic):
    image = ProgramImage("tail_calls", assemble("mov %r0, 2\nexit"),
                         [MapSpec("jmp_table", MapType.PROG_ARRAY, 4, 4, 8)])
    try:
        await nic.load(image)
    except NotSupportedByDevice as exc:
        assert str(exc) == ("tail_calls: map type PROG_ARRAY not supported by device "
                            "(map 'jmp_table', section .maps)"), exc
    else:
        raise AssertionError("a PROG_ARRAY map was accepted")
    assert not await nic.enabled()


async def verifier_rejection_refused(nic):
    image = ProgramImage("unchecked", assemble("ldxw %r2, [%r1+0]\nldxb %r0, [%r2+12]\nexit"))
    try:
        await nic.load(image)
    except VerifierRejected as exc:
        assert exc.result.error_pc == 1
        assert "1: (71) r0 = *(u8 *)(r2 +12)" in exc.log     # the kernel's log format
        assert str(exc).startswith("unchecked: verifier rejected the program at insn 1: "
                                   "invalid access to packet, off=12 size=1"), exc
    else:
        raise AssertionError("an unchecked packet access passed the verifier")
    assert not await nic.enabled()


TRACE_KTIME = """
    lddw %r1, 0xa6425206968      # "hi %d\\n"
    stxdw [%r10-8], %r1
    call 5                       # bpf_ktime_get_ns
    mov %r1, %r10
    add %r1, -8
    mov %r2, 7
    mov %r3, 42
    mov %r4, 0
    mov %r5, 0
    call 6                       # bpf_trace_printk("hi %d\\n", 7, 42)
    mov %r0, 2
    exit
"""


async def helpers_the_device_may_lack(nic):
    """ktime and trace_printk: the model offers them (the trace is readable); the XDP1
    datapath does not, and the driver says which helper, at which instruction."""
    info = await nic.identify()
    image = ProgramImage("trace", assemble(TRACE_KTIME))
    if HelperId.KTIME_GET_NS in info.features.helpers:
        await nic.load(image)
        got = await nic.run(demo_frames()[0][0])
        assert got.counter == "pass"
        assert await nic.trace() == ["hi 42\n"]
        return
    try:
        await nic.load(image)
    except NotSupportedByDevice as exc:
        assert str(exc) == ("trace: insn 3: helper bpf_ktime_get_ns (id 5) not supported "
                            "by device"), exc
    else:
        raise AssertionError("bpf_ktime_get_ns accepted by a device without it")
    try:
        await nic.trace()
    except NicError as exc:
        assert "has no trace output" in str(exc)
    else:
        raise AssertionError("trace output from a device without a trace path")


COUNT_MAPS = """
    mov %r6, %r1
    stw [%r10-4], 0
    mov %r2, %r10
    add %r2, -4
    lddw %r1, map_idx 1          # config (HASH): key 0 holds the verdict, if present
    call 1
    mov %r7, 2
    jeq %r0, 0, count
    ldxw %r7, [%r0+0]
count:
    ldxw %r2, [%r6+0]
    ldxw %r3, [%r6+4]
    mov %r4, %r2
    add %r4, 15
    jgt %r4, %r3, out
    ldxb %r5, [%r2+14]
    and %r5, 3
    stxw [%r10-8], %r5
    mov %r2, %r10
    add %r2, -8
    lddw %r1, map_idx 0          # counts (ARRAY): frames by byte 14 & 3
    call 1
    jeq %r0, 0, out
    ldxdw %r1, [%r0+0]
    add %r1, 1
    stxdw [%r0+0], %r1
out:
    mov %r0, %r7
    exit
"""


def count_maps_image() -> ProgramImage:
    return ProgramImage("count_maps", assemble(COUNT_MAPS),
                        [MapSpec("counts", MapType.ARRAY, 4, 8, 4),
                         MapSpec("config", MapType.HASH, 4, 4, 8)])


async def maps_from_the_host(nic):
    info = await nic.identify()
    image = count_maps_image()
    if MapType.ARRAY not in info.features.map_types:
        try:
            await nic.load(image)
        except NotSupportedByDevice as exc:
            assert str(exc) == ("count_maps: map type ARRAY not supported by device "
                                "(map 'counts', section .maps)"), exc
        else:
            raise AssertionError("maps accepted by a device without a map unit")
        return
    await nic.load(image, clear_counters=True)
    counts, config = nic.maps["counts"], nic.maps["config"]
    model_maps = MapSet(image.maps)
    frames = [(f, e) for f, e in demo_frames() if not e and len(f) >= 15]
    key0 = struct.pack("<I", 0)
    phases = [None, struct.pack("<I", 1), None]         # no entry, DROP, deleted again
    results = []
    for verdict in phases:
        if verdict is not None:
            await config.update(key0, verdict)
            model_maps.by_name("config").update(key0, verdict, 0)
        elif await config.lookup(key0) is not None:
            await config.delete(key0)
            model_maps.by_name("config").delete(key0)
        for frame, error in frames:
            got = await nic.run(frame, 0, error)
            want = run_frame(image.insns, frame, maps=model_maps)
            results.append(want)
            assert _COUNTER_OF[got.counter] == want.disposition
            assert (got.egress, got.output) == expected_output(want)
    assert await counts.keys() == [struct.pack("<I", k) for k in range(4)]
    assert await counts.items() == [(k, model_maps.by_name("counts").value(i))
                                    for i, k in enumerate(await counts.keys())]
    assert sum(struct.unpack("<Q", v)[0] for _k, v in await counts.items()) == len(results)
    assert await config.keys() == []
    try:
        await counts.delete(key0)
    except NicError as exc:
        assert "delete of key 00000000 failed: -EINVAL" in str(exc), exc
    else:
        raise AssertionError("an array element was deleted")
    try:
        await config.update(key0, b"\x01")
    except NicError as exc:
        assert str(exc) == "map 'config': value is 1 bytes; the map's value size is 4", exc
    else:
        raise AssertionError("a short value was accepted")
    await assert_counters(nic, tally(results))
    try:
        await counts.lookup(b"\x00")
    except NicError as exc:
        assert str(exc) == "map 'counts': key is 1 bytes; the map's key size is 4"
    else:
        raise AssertionError("a short key was accepted")


async def counters_mismatch_detected(nic):
    """Not a device scenario: Counters.check on made-up numbers (pure Python)."""
    from firmware.driver.nic import Counters
    block = {name: 0 for name, _d in regs.PORT_COUNTERS}
    block.update(RX_FRAMES=3, DROP=1, PASS=1)
    try:
        Counters([block], 0, {}, idle=True).check()
    except CounterMismatch as exc:
        assert str(exc).startswith("port 0: RX_FRAMES 3 != DROP 1 + ABORTED 0 + PASS 1")
    else:
        raise AssertionError("a lost frame went unnoticed")


# --- every firmware program (clang objects) ---

# The programs the NIC runs (FEATURE_PROGRAMS need map types and helpers its driver and map
# unit do not offer yet: tail calls, CPUMAP, maps of maps, the FIB).
FIRMWARE = sorted(PROGRAMS)
_CALL = 0x85        # JMP | CALL (isa.Cls.JMP | isa.JmpOp.CALL)
_OBJECTS: dict[str, pathlib.Path] = {}


def firmware_image(name: str) -> ProgramImage:
    """firmware/progs/<name>.c compiled with clang (once per process) and loaded."""
    from firmware.build import find_clang
    from firmware.progs.build import build_program
    if name not in _OBJECTS:
        if find_clang() is None:
            raise RuntimeError("clang is not installed (scripts/setup.sh installs it)")
        import tempfile
        _OBJECTS[name] = build_program(name, tempfile.mkdtemp(prefix="xdpnic-driver-"))
    return load_program(_OBJECTS[name])


def firmware_traffic(limit: int | None = None) -> list[bytes]:
    from tests.firmware.packets import mixed_traffic
    frames = mixed_traffic()
    return frames[:limit] if limit else frames


def expected_refusal(image, features) -> str | None:
    """What a device offering ``features`` must say about ``image`` (None: it loads),
    worked out from the program itself."""
    from firmware.ebpf.verifier.platform import HELPERS
    for spec in image.maps:
        if spec.type not in features.map_types:
            kind = "global data" if spec.is_global_data else f"section {spec.section}"
            return (f"{image.name}: map type {MapType(spec.type).name} not supported by "
                    f"device (map '{spec.name}', {kind})")
    # The map unit's limits (the firmware's maps hit only the CAM's key width and slots).
    cam = (MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH, MapType.LPM_TRIE)
    slots = 0
    for spec in image.maps:
        if spec.type not in cam:
            continue
        lpm = spec.type == MapType.LPM_TRIE
        data = spec.key_size - 4 * lpm
        if data > features.key_bytes:
            return (f"{image.name}: map '{spec.name}': "
                    + (f"LPM keys hold {data} bytes after the 4-byte prefix length" if lpm
                       else f"keys are {data} bytes")
                    + f", device's CAM holds {features.key_bytes}-byte keys")
        if slots + spec.max_entries > features.map_slots:
            return (f"{image.name}: map '{spec.name}': {spec.max_entries} entries, but the "
                    f"maps before it took {slots} of the device's {features.map_slots} CAM "
                    "slots")
        slots += spec.max_entries
    for pc, insn in enumerate(image.insns):
        if insn.opcode == _CALL and insn.src == 0 and insn.imm not in features.helpers:
            return (f"{image.name}: insn {pc}: helper {HELPERS[insn.imm].name} (id "
                    f"{insn.imm}) not supported by device")
    return None


async def run_and_compare(nic, image, frames) -> None:
    await nic.load(image, clear_counters=True)
    maps = MapSet(image.maps) if image.maps else None
    engine = EngineState()
    results = []
    for index, frame in enumerate(frames):
        want = run_frame(image.insns, frame, maps=maps, engine=engine)
        results.append(want)
        got = await nic.run(frame)
        if want.disposition == Disposition.DISCARD:
            assert got.counter == want.reason.replace("-", "_"), index
            continue
        assert _COUNTER_OF[got.counter] == want.disposition, (index, got.counter, want.reason)
        assert (got.egress, got.output) == expected_output(want), index
        assert (got.last.r0, got.last.insns, got.last.trap) == \
            (want.r0 & 0xFFFFFFFF, want.insn_count, want.trap), index
    await assert_counters(nic, tally(results))
    for spec in image.maps:
        m = maps.by_name(spec.name)
        want = [(bytes.fromhex(e["key"]), bytes.fromhex("".join(e["value"])))   # per-CPU: a list
                for e in host_view(m.dump())["entries"]]
        assert await nic.maps[spec.name].items() == want, spec.name


def host_view(dump: dict) -> dict:
    """A ``ModelMap.dump()`` as the host sees the map through lookups, as in the kernel: an
    empty devmap slot (ifindex 0) has no device, so its lookup fails and a dump skips it."""
    if dump["type"] != "DEVMAP":
        return dump
    entries = [e for e in dump["entries"] if bytes.fromhex(e["value"])[:4] != bytes(4)]
    return dict(dump, entries=entries)



async def firmware_programs(nic, limit: int = 6):
    """Each firmware program: runs and matches the model (outcomes, bytes, counters, maps),
    or -- on a device without its map types or helpers -- is refused naming exactly them."""
    info = await nic.identify()
    ran = []
    for name in FIRMWARE:
        image = firmware_image(name)
        refusal = expected_refusal(image, info.features)
        if refusal is None:
            await run_and_compare(nic, image, firmware_traffic(limit))
            ran.append(name)
            continue
        try:
            await nic.load(image)
        except NotSupportedByDevice as exc:
            assert str(exc) == refusal, (str(exc), refusal)
        else:
            raise AssertionError(f"{name} loaded; expected: {refusal}")
    assert {"xdp_drop", "xdp_pass", "xdp_tx"} <= set(ran), ran


async def firmware_all_traffic(nic) -> dict:
    """Every firmware program with all of the firmware tests' traffic (loaded one after the
    other on one NIC): ``{name: "ok" or the failure}``, so a test can report each program."""
    import traceback
    outcome = {}
    for name in FIRMWARE:
        try:
            await run_and_compare(nic, firmware_image(name), firmware_traffic())
            outcome[name] = "ok"
        except Exception:           # reported per program by the pytest side
            outcome[name] = traceback.format_exc()
    return outcome
