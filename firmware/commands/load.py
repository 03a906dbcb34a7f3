"""``xdpnic load PROG``: put a program on a NIC through the host driver, and show what it wrote.

Runs the driver's whole load path on a target -- identify (``ID``/``CONFIG``), verify,
translate (map references to hardware map ids; map types and helpers the device lacks are
refused as the kernel refuses them for offload), write the instruction memory, attach -- and
prints the device, the map table and the instruction-memory image (slot, 64-bit word,
disassembly).  ``--verify-only`` stops before the device is written.  Exit status: 0 loaded
(or would load), 1 refused (verifier, device), 2 bad input.

The simulated device lives as long as the command: this checks that the NIC takes the program
and shows exactly what the driver writes; ``xdpnic run`` pushes traffic through it.
"""

import asyncio
import json
import sys

from ..driver.nic import Nic, NicError, NotSupportedByDevice, ProgramTooLarge, VerifierRejected
from ..ebpf.disasm import format_insn
from ..ebpf.maps import MapType
from ..program import PROGRAM_TYPES, ProgramError, check_program_type, load_program

__all__ = ["register", "LOAD_TARGETS"]

LOAD_TARGETS = ("model", "amaranth")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "load", help="verify, translate and load a program onto a NIC through the driver",
        description="Load an XDP program onto a NIC with the host driver: identify the device, "
                    "verify, translate map references to hardware map ids (refusing map types "
                    "and helpers the device does not offer, as the kernel does for offload), "
                    "write the instruction memory and attach. Prints the device, the map table "
                    "and the instruction-memory image. Exit status 0 loaded, 1 refused, "
                    "2 bad input.")
    p.add_argument("program", metavar="PROG",
                   help="assembly file, raw bytecode (.bin) or clang -target bpf object")
    p.add_argument("--section", help="program to pick from an object with several")
    p.add_argument("--type", dest="program_type", choices=PROGRAM_TYPES,
                   help="take it as this program type whatever its section name says (by "
                        "default libbpf's section table decides, and only XDP loads)")
    p.add_argument("--target", choices=LOAD_TARGETS, default="model",
                   help="model: the register map on the golden model (maps, every helper); "
                        "amaranth: hw.top.NIC in Amaranth's simulator, the XDP1 datapath "
                        "(default model)")
    p.add_argument("--verify-only", action="store_true",
                   help="verify and translate, write nothing to the device")
    p.add_argument("--budget", type=int, default=None,
                   help="instruction budget per frame (default: BUDGET's reset value)")
    p.add_argument("--image", metavar="FILE",
                   help="also write the translated instruction memory as raw bytecode")
    p.add_argument("--json", action="store_true",
                   help="one JSON object: device, maps, image, status")
    p.set_defaults(func=main)


async def _load(nic: Nic, image, args) -> dict:
    info = await nic.identify()
    report = {"program": image.name, "source": image.source, "target": args.target,
              "device": info.as_dict()}
    translation, log = await nic.prepare(image)
    report["verifier"] = log
    report["maps"] = [{"index": k, "hw_id": hw_id, "name": spec.name,
                       "type": MapType(spec.type).name, "key_size": spec.key_size,
                       "value_size": spec.value_size, "max_entries": spec.max_entries,
                       "flags": spec.flags}
                      for k, (spec, hw_id) in enumerate(zip(translation.maps,
                                                            translation.map_ids))]
    insns = translation.insns
    report["image"] = [{"slot": i, "word": f"{w:016x}",
                        "text": "(lddw, second slot)"
                        if i > 0 and insns[i - 1].imm64 is not None else format_insn(insns[i], i)}
                       for i, w in enumerate(translation.words)]
    report["words"] = translation.words
    if args.verify_only:
        report["status"] = "verified"
        return report
    loaded = await nic.load(image, budget=args.budget)
    report["status"] = "loaded"
    report["bus_writes"] = loaded.bus_writes
    report["registers"] = {name: await nic.read(name)
                           for name in ("CTRL", "STATUS", "PROG_LEN", "BUDGET")}
    report["map_ids"] = loaded.map_ids
    return report


def _run(nic_coroutine, target: str):
    if target == "model":
        from ..driver.model_transport import ModelTransport
        return asyncio.run(nic_coroutine(ModelTransport()))
    from sim.transport_amaranth import AmaranthTransport
    return AmaranthTransport().run(nic_coroutine)


def main(args) -> int:
    if args.budget is not None and not 1 <= args.budget <= 0xFFFFFFFF:
        print(f"xdpnic load: --budget must be 1..4294967295, not {args.budget}",
              file=sys.stderr)
        return 2
    try:
        image = load_program(args.program, args.section)
        check_program_type(image, getattr(args, "program_type", None), verb="loads")
    except ProgramError as exc:
        print(f"xdpnic load: {exc}", file=sys.stderr)
        return 2
    outcome: dict = {}

    async def go(transport):
        try:
            outcome["report"] = await _load(Nic(transport), image, args)
        except (VerifierRejected, NotSupportedByDevice, ProgramTooLarge, NicError) as exc:
            outcome["refused"] = exc

    _run(go, args.target)
    if "refused" in outcome:
        exc = outcome["refused"]
        if args.json:
            print(json.dumps({"program": image.name, "target": args.target,
                              "status": "refused", "kind": type(exc).__name__,
                              "error": str(exc).splitlines()[0],
                              "log": getattr(exc, "log", [])}, indent=1))
        else:
            print(f"xdpnic load: {exc}", file=sys.stderr)
        return 1
    report = outcome["report"]
    if args.image:
        try:
            with open(args.image, "wb") as f:
                f.write(b"".join(w.to_bytes(8, "little") for w in report["words"]))
        except OSError as exc:
            print(f"xdpnic load: cannot write {args.image}: {exc.strerror}", file=sys.stderr)
            return 2
    del report["words"]
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        _print(report)
    return 0


def _print(report: dict) -> None:
    d = report["device"]
    print(f"device {d['id']} on {report['target']}: {d['ports']} ports, "
          f"{8 * d['data_bytes']}-bit streams, {d['imem_slots']} instruction slots")
    print(f"  helpers: {', '.join(d['helpers']) or '(none)'}")
    print(f"  map types: {', '.join(d['map_types']) or '(none)'}")
    limits = d.get("map_limits")
    if limits:
        print(f"  map unit: {limits['max_maps']} maps, {limits['cam_slots']} CAM slots of "
              f"{limits['key_bytes']}-byte keys, {limits['value_bytes']} bytes of values, "
              f"{limits['engines']} engine(s); trace {'yes' if d['trace'] else 'no'}")
    print(f"program {report['program']}: {len(report['image'])} slots, "
          f"{report['verifier'][-1] if report['verifier'] else 'not verified'}")
    if report["maps"]:
        print("maps:")
        print(f"  {'idx':>3} {'hw id':>5}  {'type':<12} {'key':>4} {'value':>6} "
              f"{'entries':>8}  name")
        for m in report["maps"]:
            print(f"  {m['index']:>3} {m['hw_id']:>5}  {m['type'].lower():<12} "
                  f"{m['key_size']:>3}B {m['value_size']:>5}B {m['max_entries']:>8}  "
                  f"{m['name']}")
    print("instruction memory:")
    for row in report["image"]:
        print(f"  {row['slot']:5d}: {row['word']}  {row['text']}")
    if report["status"] == "loaded":
        r = report["registers"]
        print(f"loaded: PROG_LEN {r['PROG_LEN']}, BUDGET {r['BUDGET']}, CTRL {r['CTRL']:#x}, "
              f"STATUS {r['STATUS']:#x} ({report['bus_writes']} control-bus writes)")
    else:
        print("verified and translated; nothing written (--verify-only)")
