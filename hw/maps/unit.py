"""The map unit: every map's values, the key table, the map helpers and the host's map mailbox.

One sequencer serves, one at a time, (1) the core's loads, stores and atomics in the map-value
region, (2) the map helpers (``bpf_map_lookup_elem``, ``_update_elem``, ``_delete_elem``,
``bpf_redirect_map``) and (3) the host's commands (:class:`hw.regs.MapOp`).  Serving one client
at a time is what keeps values whole: a host update never interleaves with a program's load of
the same value, and an atomic's locked read holds everyone else off until its write.

Storage:

* **Value memory**: one RAM of 8-byte rows, shared by all maps.  A map owns a contiguous,
  8-byte-aligned part (``max_entries * value_size`` bytes, times ``engines`` for a per-CPU
  map), zeroed when the map is created.  Map ``id``'s value of slot ``s`` is at
  ``0x4000_0000 | id << 20 | s * value_size`` in the program's address map
  (``machine.map_value_address``), as in the golden model; a per-CPU map's copy for engine
  ``e`` starts ``e * max_entries * value_size`` bytes into the map's part
  (``ModelMap._copy_base``).
* **Key table** (:class:`hw.maps.hash_table.HashTable`, a 4-way cuckoo hash table in block
  RAM with a stash): a hash, LRU-hash or LPM-trie map owns ``max_entries`` consecutive table
  slots; slot ``s`` of the map is table slot ``slot_base + s``.  A key is found in the cycle
  after the probe whatever the occupancy; a new key takes the lowest free slot (the golden
  model does the same), so iteration (get-next-key) is in slot order.  The table holds the only
  copy of each key, which get-next-key reads back.
* **Use stamps** (LRU): a counter value written at every use of a slot (lookups and updates by
  the program, updates by the host); a full LRU map evicts the slot with the smallest stamp,
  found by reading the map's stamps one per cycle.

LPM tries: a key ``(prefixlen, data)`` is stored under tag ``prefixlen + 1`` and matched with
the data's bits beyond the prefix cleared (the table keeps them as given, for get-next-key); a
lookup probes the table from the key's prefix length down to 0 and stops at the first hit (the
longest match), 2 cycles per probe.

Helper arguments are read from the stack, the packet (``mem_req``, routed by the datapath) or
the map values themselves.  A key or value pointer that does not cover ``key_size`` /
``value_size`` readable bytes makes the call fault (the core traps OUT_OF_BOUNDS), as the
golden model's helpers do; a map handle that names no map faults the same way.

Engines: the NIC's eBPF engines (1..8) share this unit.  ``helper_engine`` names the engine
whose program made a helper call; for a per-CPU map (``PERCPU_ARRAY``, ``PERCPU_HASH``) a
lookup returns the address of that engine's copy, an update writes that copy only, and a new
per-CPU hash entry is zero in every other engine's copy (the kernel initializes it so).  The
core's loads and stores need no engine: the address names the copy.  The host sees all copies
at once: a LOOKUP puts engine ``e``'s copy at ``e * value_size`` in ``MAP_VALUE`` and an
UPDATE writes every copy from there, so ``engines * value_size`` must fit the 1 KiB window
(CREATE answers ``-E2BIG`` otherwise, as the model transport).  An engine number beyond
``engines`` wraps (``engine % engines``, as the golden model's ``_copy_base``).

Limits are parameters and the host reads them from the capability registers.

Ref: Linux kernel/bpf/arraymap.c, hashtab.c, lpm_trie.c, devmap.c, syscall.c (errors);
firmware/ebpf/model_maps.py (the golden model, whose choices this unit shares; constants from
the contract module firmware/ebpf/map_abi.py).
"""

import errno

from amaranth.hdl import Module, Signal, Array, Cat, Const, Mux
from amaranth.lib import enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from firmware.ebpf import isa, machine
from firmware.ebpf.helpers import HelperId
from firmware.ebpf.maps import MapType
from firmware.ebpf.map_abi import (BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST, LPM_DATA_SIZE_MAX,
                                   LPM_KEY_HEADER, MAP_REGION_BYTES)
from hw import regs
from hw.core.decoder import Size
from hw.core.helper import HelperRequest, HelperResponse
from hw.core.lsu import ExtRequest, ExtResponse
from hw.xdp.access import RowAccess

from .hash_table import HashTable, Search
from .mailbox import Mailbox
from .stamps import UseStamps

__all__ = ["MapUnit", "MAP_TYPES", "MAP_HELPERS"]

MAP_TYPES = (MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.HASH, MapType.PERCPU_HASH,
             MapType.LRU_HASH, MapType.LPM_TRIE, MapType.DEVMAP)
MAP_HELPERS = (HelperId.MAP_LOOKUP_ELEM, HelperId.MAP_UPDATE_ELEM, HelperId.MAP_DELETE_ELEM,
               HelperId.REDIRECT_MAP)
ARRAY_TYPES = (MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.DEVMAP)
HASH_TYPES = (MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH)
CAM_TYPES = HASH_TYPES + (MapType.LPM_TRIE,)
PERCPU_TYPES = (MapType.PERCPU_ARRAY, MapType.PERCPU_HASH)

MV_BASE = machine.region_base(machine.Region.MAP_VALUE)
MAX_VALUE = regs.MAP_VALUE_WINDOW.size       # a value (all its per-CPU copies) fits the mailbox


def _neg(code: int, bits: int = 64) -> int:
    return -code & ((1 << bits) - 1)


class _Op(enum.Enum, shape=4):
    H_LOOKUP = 0
    H_UPDATE = 1
    H_DELETE = 2
    H_REDIRECT = 3
    C_RESET = 4
    C_CREATE = 5
    C_LOOKUP = 6
    C_UPDATE = 7
    C_DELETE = 8
    C_NEXT = 9


class _Kind(enum.Enum, shape=3):
    """Where a copy reads from / writes to."""
    EXT = 0       # a program address (map value, stack, packet); sources only
    RAM = 1       # value memory, raw byte address
    STAGE = 2     # the mailbox value window
    ZERO = 3      # zeros; sources only
    FBUF = 4      # the key buffer; destinations only


class _S(enum.Enum, shape=5):
    IDLE = 0
    CORE_ISSUE = 1
    CORE_WAIT = 2
    LOAD = 3
    DISPATCH = 4
    RESOLVE = 5
    PROBE = 6
    PROBE_WAIT = 7
    DEV_READ = 8
    DEV_WAIT = 9
    ACT = 10
    INSERT = 11
    EVICT = 12
    COPY_READ = 13
    COPY_READ_WAIT = 14
    COPY_STAGE_WAIT = 15
    COPY_WRITE = 16
    COPY_WRITE_WAIT = 17
    NEXT_PROBE = 18
    NEXT_WAIT = 19
    NEXT_KEY = 20
    CREATE = 21
    FINISH = 22
    INSERT_VALUE = 23
    PERCPU = 25       # per-CPU copies one after another (host values, a new entry's zeros)
    FREE_WAIT = 26    # an insert waits for the table's search for the lowest free slot


class MapUnit(wiring.Component):
    """Maps in hardware (see the module docstring).

    Parameters
    ----------
    max_maps : int
        Maps at once (ids 0 .. max_maps - 1), at most 16.
    cam_slots : int
        Key-table slots shared by hash, LRU-hash and LPM maps (a multiple of 32, or a power of
        two below 32); the table's ways hold 8/5 of them.
    key_bytes : int
        Longest hash key; an LPM key has 4 bytes of prefix length and up to this many of data.
    value_bytes : int
        Value memory shared by all maps (a power of two, at least 64).
    engines : int
        eBPF engines sharing the unit (1..8): the copies of a per-CPU value.

    Members
    -------
    core_req, core_resp : the map-value region's loads and stores (``hw.core.lsu.ExtRequest``).
    helper_req, helper_resp : the map helpers (other ids answer ``unknown``).
    helper_engine : In(ENGINE_BITS)
        The engine whose program made the helper call; valid with ``helper_req``, sampled when
        the call is accepted (0 with one engine).
    mem_req, mem_resp : reads of helper arguments outside the map values (stack, packet).
    redirect_set, redirect_ifindex : Out
        ``bpf_redirect_map`` found a device: the frame goes to ``redirect_ifindex``.
    cmd_wr, cmd : In
        A host command (``MAP_CMD``) is written.
    busy, result : Out
        ``MAP_STATUS.busy`` and ``MAP_RESULT``.
    create_type, create_key_size, create_value_size, create_max_entries : In(32)
    key_addr, key_wr_en, key_wr_data, key_wr_strb, key_rd_data
        The ``MAP_KEY`` window: word ``key_addr``; read data the cycle after.
    value_addr, value_wr_en, value_wr_data, value_wr_strb, value_rd_data
        The ``MAP_VALUE`` window, likewise.
    """

    def __init__(self, max_maps: int = 16, cam_slots: int = 512, key_bytes: int = 24,
                 value_bytes: int = 65536, engines: int = 1):
        if (not isinstance(engines, int) or isinstance(engines, bool)
                or not 1 <= engines <= machine.MAX_ENGINES):
            raise ValueError(f"engines must be an int 1..{machine.MAX_ENGINES}, not {engines!r}")
        if not 1 <= max_maps <= 16:
            raise ValueError(f"max_maps must be 1..16, not {max_maps!r}")
        if value_bytes < 64 or value_bytes & (value_bytes - 1):
            raise ValueError(f"value_bytes must be a power of two >= 64, not {value_bytes!r}")
        if not 4 <= key_bytes <= regs.MAP_KEY_WINDOW.size - LPM_KEY_HEADER:
            raise ValueError(f"key_bytes must be 4..{regs.MAP_KEY_WINDOW.size - LPM_KEY_HEADER}")
        self.max_maps = max_maps
        self.cam_slots = cam_slots
        self.key_bytes = key_bytes
        self.value_bytes = value_bytes
        self.engines = engines
        key_words = regs.MAP_KEY_WINDOW.size // 4
        value_words = regs.MAP_VALUE_WINDOW.size // 4
        super().__init__({
            "core_req": In(stream.Signature(ExtRequest)),
            "core_resp": Out(stream.Signature(ExtResponse)),
            "helper_req": In(stream.Signature(HelperRequest)),
            "helper_resp": Out(stream.Signature(HelperResponse)),
            "helper_engine": In(machine.ENGINE_BITS),
            "mem_req": Out(stream.Signature(ExtRequest)),
            "mem_resp": In(stream.Signature(ExtResponse)),
            "redirect_set": Out(1), "redirect_ifindex": Out(32),
            "cmd_wr": In(1), "cmd": In(32), "busy": Out(1), "result": Out(32),
            "create_type": In(32), "create_key_size": In(32), "create_value_size": In(32),
            "create_max_entries": In(32),
            "key_addr": In(range(key_words)), "key_wr_en": In(1), "key_wr_data": In(32),
            "key_wr_strb": In(4), "key_rd_data": Out(32),
            "value_addr": In(range(value_words)), "value_wr_en": In(1),
            "value_wr_data": In(32), "value_wr_strb": In(4), "value_rd_data": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        N = self.max_maps
        E = self.engines
        KB = self.key_bytes
        FK = KB + LPM_KEY_HEADER                  # bytes of the key buffer
        S = self.cam_slots
        sbits = (S - 1).bit_length()
        vbits = (self.value_bytes - 1).bit_length()
        idbits = max(1, (N - 1).bit_length())

        # --- storage ------------------------------------------------------------------
        m.submodules.values = values = Memory(shape=64, depth=self.value_bytes // 8, init=[])
        v_rd = values.read_port()
        v_wr = values.write_port(granularity=8)
        m.submodules.access = ra = RowAccess(8, self.value_bytes, machine.Region.MAP_VALUE)
        m.d.comb += [v_rd.addr.eq(ra.rd_addr), v_rd.en.eq(ra.rd_en), ra.rd_data.eq(v_rd.data),
                     v_wr.addr.eq(ra.wr_addr), v_wr.en.eq(ra.wr_en), v_wr.data.eq(ra.wr_data)]
        # An LPM entry's tag is its prefix length + 1 (0..8 * KB + 1).
        m.submodules.table = table = HashTable(S, 8 * KB, owner_bits=4,
                                               tag_bits=(8 * KB + 1).bit_length())
        m.submodules.stamps = stamps = UseStamps(S)

        # Map descriptors.
        d_valid = Signal(N)
        d_type = Array(Signal(5, name=f"type{i}") for i in range(N))
        d_ks = Array(Signal(8, name=f"key_size{i}") for i in range(N))
        d_vs = Array(Signal(16, name=f"value_size{i}") for i in range(N))
        d_max = Array(Signal(20, name=f"max_entries{i}") for i in range(N))
        d_vbase = Array(Signal(vbits + 1, name=f"value_base{i}") for i in range(N))
        d_sbase = Array(Signal(sbits + 1, name=f"slot_base{i}") for i in range(N))
        d_total = Array(Signal(21, name=f"total{i}") for i in range(N))    # all copies
        d_stride = Array(Signal(21, name=f"copy_bytes{i}") for i in range(N))  # one copy
        nmaps = Signal(range(N + 1))
        next_value = Signal(vbits + 2)
        next_slot = Signal(sbits + 2)

        # --- host windows ---------------------------------------------------------------
        m.submodules.mailbox = mailbox = Mailbox()
        for name in ("key_addr", "key_wr_en", "key_wr_data", "key_wr_strb",
                     "value_addr", "value_wr_en", "value_wr_data", "value_wr_strb"):
            m.d.comb += getattr(mailbox, name).eq(getattr(self, name))
        m.d.comb += [self.key_rd_data.eq(mailbox.key_rd_data),
                     self.value_rd_data.eq(mailbox.value_rd_data)]
        kwin = mailbox.key

        # --- sequencer registers -------------------------------------------------------
        state = Signal(_S)
        ret = Signal(_S)
        op = Signal(_Op)
        host = Signal()                    # the operation is a host command
        locked = Signal()
        cur = Signal(idbits)
        id_ok = Signal()
        args = Signal.like(self.helper_req.payload.args)
        flags = Signal(64)
        r0 = Signal(64)
        fault = Signal()
        c_type = Signal(5)
        c_ks = Signal(8)
        c_vs = Signal(16)
        c_max = Signal(20)
        c_vbase = Signal(vbits + 1)
        c_sbase = Signal(sbits + 1)
        fbuf = Signal(8 * FK)              # the key being worked on
        found = Signal()
        slot = Signal(20)                  # map-relative slot (array index)
        cam_slot = Signal(sbits)
        plen = Signal(range(8 * KB + 2))
        lpm_bad = Signal()
        core = Signal(ExtRequest)          # the core access being served
        unknown = Signal()                 # a helper id this unit does not implement
        free_ok = Signal()                 # the probe found a free slot (at cam_slot)
        cmd_pending = Signal()
        # Per-CPU maps: the calling engine, where its copy starts in the map, and the walk
        # over all copies (copy ``cpy`` at ``lbase`` in the map, at ``win`` in MAP_VALUE).
        eng = Signal(range(E))
        c_stride = Signal(21)
        c_own = Signal(21)
        cpy = Signal(range(E + 1))
        lbase = Signal(21)
        win = Signal(range(2 * MAX_VALUE + 1))    # (cpy + 1) * value_size, cpy <= engines

        def is_type(sig, types):
            return sig.matches(*[t.value for t in types])

        is_array = is_type(c_type, ARRAY_TYPES)
        is_hash = is_type(c_type, HASH_TYPES)
        is_lpm = c_type == MapType.LPM_TRIE
        is_lru = c_type == MapType.LRU_HASH
        is_devmap = c_type == MapType.DEVMAP
        # A value with more than one copy (a per-CPU map on a NIC of several engines).
        multi = is_type(c_type, PERCPU_TYPES) if E > 1 else Const(0)
        lpm_bits = Signal(16)
        m.d.comb += lpm_bits.eq((c_ks - LPM_KEY_HEADER) << 3)
        slot_offset = Signal(36)
        m.d.comb += slot_offset.eq(slot * c_vs)
        slot_ram = Signal(vbits + 1)    # the slot in the caller's copy (c_own: 0 unless per-CPU)
        m.d.comb += slot_ram.eq(c_vbase + c_own + slot_offset)
        copy_ram = Signal(vbits + 1)        # copy ``cpy`` of the slot
        m.d.comb += copy_ram.eq(c_vbase + lbase + slot_offset)
        index = fbuf[:32]                   # an array key

        def finish(value, bits_errno=None):
            """End the operation with r0/result ``value`` (a negative errno if ``bits_errno``)."""
            v = _neg(bits_errno) if bits_errno is not None else value
            return [r0.eq(v), state.eq(_S.FINISH)]

        # The data of an LPM key with the bits beyond ``plen`` cleared (byte 0 is the most
        # significant, as the trie compares them).
        lpm_data = fbuf[8 * LPM_KEY_HEADER:]
        lpm_key = Signal(8 * KB)
        for byte in range(KB):
            for bit in range(8):
                m.d.comb += lpm_key[8 * byte + bit].eq(lpm_data[8 * byte + bit]
                                                       & (plen > 8 * byte + 7 - bit))
        # A key as the program or host gave it (an LPM key's data with its host bits).
        key_as_given = Mux(is_lpm, lpm_data[:8 * KB], fbuf[:8 * KB])
        is_update = op.as_value().matches(_Op.H_UPDATE, _Op.C_UPDATE)
        m.d.comb += [
            table.q_owner.eq(cur), table.q_tag.eq(Mux(is_lpm, plen + 1, 0)),
            table.q_key.eq(Mux(is_lpm, lpm_key, fbuf[:8 * KB])),
            table.lo.eq(c_sbase), table.hi.eq(c_sbase + c_max),
            table.after.eq(cam_slot), table.from_start.eq(flags[0] | ~found),
        ]

        # Address translation for the map-value region: map id, offset, and bounds.
        def translate(addr, nbytes):
            map_id = addr[machine.MAP_ID_SHIFT:machine.REGION_SHIFT]
            offset = addr[:machine.MAP_ID_SHIFT]
            ok = ((addr[machine.REGION_SHIFT:] == machine.Region.MAP_VALUE) & (map_id < N)
                  & Array(d_valid[i] for i in range(N))[map_id[:idbits]]
                  & (offset + nbytes <= d_total[map_id[:idbits]]))
            return ok, d_vbase[map_id[:idbits]] + offset

        # --- copies: chunks of 8, 4, 2, 1 bytes from a source to a destination ---------------
        src_kind = Signal(_Kind)
        dst_kind = Signal(_Kind)
        src = Signal(32)
        dst = Signal(32)
        count = Signal(21)
        # A value copied within the value memory onto a place above it that it overlaps is
        # copied from its end (as memmove), so every byte is read before it is overwritten --
        # the golden model reads the whole value first.
        backward = Signal()
        chunk = Signal(4)
        chunk_size = Signal(Size)
        with m.If(count >= 8):
            m.d.comb += [chunk.eq(8), chunk_size.eq(Size.DW)]
        with m.Elif(count >= 4):
            m.d.comb += [chunk.eq(4), chunk_size.eq(Size.W)]
        with m.Elif(count >= 2):
            m.d.comb += [chunk.eq(2), chunk_size.eq(Size.H)]
        with m.Else():
            m.d.comb += [chunk.eq(1), chunk_size.eq(Size.B)]
        word = Signal(64)
        chunk_mask = Signal(64)
        m.d.comb += chunk_mask.eq((Const(1, 65) << (chunk * 8)) - 1)
        src_at = Signal(32)                 # where this chunk is read and written
        dst_at = Signal(32)
        m.d.comb += [src_at.eq(Mux(backward, src + count - chunk, src)),
                     dst_at.eq(Mux(backward, dst + count - chunk, dst))]
        _, src_ram = translate(src_at, chunk)
        advance = [src.eq(Mux(backward, src, src + chunk)),
                   dst.eq(Mux(backward, dst, dst + chunk)), count.eq(count - chunk),
                   state.eq(Mux(count == chunk, ret, _S.COPY_READ))]
        # A helper update's value read from the value memory below its slot: from the end.
        _, value_src_ram = translate(args[2][:32], 1)
        value_from_end = Signal()
        m.d.comb += value_from_end.eq(
            ~host & (args[2][machine.REGION_SHIFT:32] == machine.Region.MAP_VALUE)
            & (value_src_ram < slot_ram))
        src_in_values = src[machine.REGION_SHIFT:] == machine.Region.MAP_VALUE
        from_mem = Signal()

        def copy(s_kind, s_addr, d_kind, d_addr, n, then, from_end=0):
            return [src_kind.eq(s_kind), src.eq(s_addr), dst_kind.eq(d_kind), dst.eq(d_addr),
                    count.eq(n), backward.eq(from_end), ret.eq(then),
                    state.eq(Mux(n == 0, then, _S.COPY_READ))]

        # Whether ``n`` bytes at program address ``addr`` can be read (no fault on the way).
        def readable(addr, n):
            region = addr[machine.REGION_SHIFT:32]
            offset = addr[:machine.REGION_SHIFT]
            ok_values, _ = translate(addr, n)
            return (addr[32:] == 0) & (
                ((region == machine.Region.STACK)
                 & (offset + n <= isa.STACK_SIZE * isa.MAX_CALL_DEPTH))
                | ((region == machine.Region.PACKET)
                   & (offset + n <= machine.PACKET_BUFFER_SIZE))
                | ok_values)

        ra_req = ra.req.payload
        m.d.comb += self.busy.eq(self.cmd_wr | cmd_pending | (host & (state != _S.IDLE)))
        with m.If(self.cmd_wr):
            m.d.sync += cmd_pending.eq(1)

        with m.Switch(state):
            with m.Case(_S.IDLE):
                m.d.comb += self.core_req.ready.eq(1)
                with m.If(self.core_req.valid):
                    m.d.sync += [core.eq(self.core_req.payload), state.eq(_S.CORE_ISSUE)]
                with m.Elif(~locked & self.helper_req.valid):
                    m.d.comb += self.helper_req.ready.eq(1)
                    p = self.helper_req.payload
                    is_unknown = ~p.id.matches(*[h.value for h in MAP_HELPERS])
                    valid_ids = Array(d_valid[i] for i in range(N))
                    m.d.sync += [host.eq(0), args.eq(p.args), cur.eq(p.args[0][:idbits]),
                                 eng.eq(self.helper_engine % E),
                                 id_ok.eq((p.args[0] < N) & valid_ids[p.args[0][:idbits]]),
                                 fault.eq(0), r0.eq(0), unknown.eq(is_unknown),
                                 state.eq(Mux(is_unknown, _S.FINISH, _S.LOAD))]
                    with m.Switch(p.id):
                        with m.Case(HelperId.MAP_LOOKUP_ELEM):
                            m.d.sync += op.eq(_Op.H_LOOKUP)
                        with m.Case(HelperId.MAP_UPDATE_ELEM):
                            m.d.sync += [op.eq(_Op.H_UPDATE), flags.eq(p.args[3])]
                        with m.Case(HelperId.MAP_DELETE_ELEM):
                            m.d.sync += op.eq(_Op.H_DELETE)
                        with m.Case(HelperId.REDIRECT_MAP):
                            m.d.sync += [op.eq(_Op.H_REDIRECT), flags.eq(p.args[2])]
                with m.Elif(~locked & cmd_pending):
                    cmd_op = self.cmd[regs.MAP_CMD.OP:regs.MAP_CMD.OP + 4]
                    map_id = self.cmd[regs.MAP_CMD.MAP_ID:regs.MAP_CMD.MAP_ID + 8]
                    m.d.sync += [host.eq(1), unknown.eq(0), fault.eq(0), r0.eq(0),
                                 cmd_pending.eq(0), cur.eq(map_id[:idbits]), eng.eq(0),
                                 id_ok.eq((map_id < N)
                                          & Array(d_valid[i] for i in range(N))[map_id[:idbits]]),
                                 flags.eq(self.cmd[regs.MAP_CMD.FLAGS:regs.MAP_CMD.FLAGS + 8]),
                                 state.eq(_S.LOAD)]
                    with m.Switch(cmd_op):
                        for code, name in ((regs.MapOp.RESET, "C_RESET"),
                                           (regs.MapOp.CREATE, "C_CREATE"),
                                           (regs.MapOp.LOOKUP, "C_LOOKUP"),
                                           (regs.MapOp.UPDATE, "C_UPDATE"),
                                           (regs.MapOp.DELETE, "C_DELETE"),
                                           (regs.MapOp.NEXT_KEY, "C_NEXT")):
                            with m.Case(code):
                                m.d.sync += op.eq(_Op[name])
                        with m.Default():
                            m.d.sync += [r0.eq(_neg(errno.EINVAL)), state.eq(_S.FINISH)]

            # --- the core's loads and stores -------------------------------------------
            with m.Case(_S.CORE_ISSUE):
                nbytes = Signal(4)
                for size, n in isa.SIZE_BYTES.items():
                    with m.If(core.size == Size[size.name]):
                        m.d.comb += nbytes.eq(n)
                ok, ram = translate(core.addr, nbytes)
                m.d.comb += [ra_req.addr.eq(MV_BASE | ram), ra_req.write.eq(core.write),
                             ra_req.size.eq(core.size), ra_req.wdata.eq(core.wdata)]
                with m.If(ok):
                    m.d.comb += ra.req.valid.eq(1)
                    with m.If(ra.req.ready):
                        m.d.sync += state.eq(_S.CORE_WAIT)
                        # An atomic's read locks the unit until its write; a read that
                        # faults locks nothing (the core traps, no write follows).
                        with m.If(core.lock):
                            m.d.sync += locked.eq(1)
                        with m.Elif(core.write):
                            m.d.sync += locked.eq(0)
                with m.Else():
                    m.d.comb += [self.core_resp.valid.eq(1), self.core_resp.payload.fault.eq(1)]
                    with m.If(self.core_resp.ready):
                        m.d.sync += state.eq(_S.IDLE)
            with m.Case(_S.CORE_WAIT):
                m.d.comb += [self.core_resp.valid.eq(ra.resp.valid),
                             self.core_resp.payload.eq(ra.resp.payload),
                             ra.resp.ready.eq(self.core_resp.ready)]
                with m.If(ra.resp.valid & self.core_resp.ready):
                    m.d.sync += state.eq(_S.IDLE)

            # --- helpers and commands: the map's descriptor -----------------------------
            with m.Case(_S.LOAD):
                m.d.sync += [c_type.eq(d_type[cur]), c_ks.eq(d_ks[cur]), c_vs.eq(d_vs[cur]),
                             c_max.eq(d_max[cur]), c_vbase.eq(d_vbase[cur]),
                             c_sbase.eq(d_sbase[cur]), found.eq(0), lpm_bad.eq(0),
                             c_stride.eq(d_stride[cur]),
                             c_own.eq(Mux(is_type(d_type[cur], PERCPU_TYPES),
                                          eng * d_stride[cur], 0)),
                             cpy.eq(0), lbase.eq(0), win.eq(0),
                             state.eq(_S.DISPATCH)]
            with m.Case(_S.DISPATCH):
                key_ptr = args[1]
                with m.Switch(op):
                    with m.Case(_Op.C_RESET):
                        with m.If(table.ready):
                            m.d.comb += table.clear_all.eq(1)
                            m.d.sync += [d_valid.eq(0), nmaps.eq(0), next_value.eq(0),
                                         next_slot.eq(0)]
                            m.d.comb += stamps.clear.eq(1)
                            m.d.sync += finish(0)
                    with m.Case(_Op.C_CREATE):
                        m.d.sync += state.eq(_S.CREATE)
                    with m.Case(_Op.H_REDIRECT):
                        with m.If(~id_ok):
                            m.d.sync += [fault.eq(1), state.eq(_S.FINISH)]
                        with m.Elif((flags & ~machine.XdpAction.TX).any() | ~is_devmap):
                            m.d.sync += finish(machine.XdpAction.ABORTED)
                        with m.Elif(args[1][:32] >= c_max):
                            m.d.sync += finish(flags & machine.XdpAction.TX)
                        with m.Else():
                            m.d.sync += [slot.eq(args[1][:32]), state.eq(_S.DEV_READ)]
                    with m.Case(_Op.H_LOOKUP, _Op.H_DELETE, _Op.H_UPDATE):
                        value_ok = Mux(op == _Op.H_UPDATE, readable(args[2], c_vs), 1)
                        with m.If(~id_ok | ~readable(key_ptr, c_ks) | ~value_ok):
                            m.d.sync += [fault.eq(1), state.eq(_S.FINISH)]
                        with m.Else():
                            m.d.sync += [fbuf.eq(0)]
                            m.d.sync += copy(_Kind.EXT, key_ptr[:32], _Kind.FBUF, 0, c_ks,
                                             _S.RESOLVE)
                    with m.Default():      # host lookup, update, delete, next key
                        with m.If(~id_ok):
                            m.d.sync += finish(0, errno.EBADF)
                        with m.Else():
                            key_mask = (Const(1, 8 * FK + 1) << (c_ks << 3)) - 1
                            m.d.sync += [fbuf.eq(kwin[:8 * FK] & key_mask), state.eq(_S.RESOLVE)]

            # --- find the key's slot ---------------------------------------------------------
            with m.Case(_S.RESOLVE):
                with m.If(is_array):
                    m.d.sync += [slot.eq(index), found.eq(index < c_max)]
                    # A devmap lookup also needs a device in the slot.
                    with m.If(is_devmap & (index < c_max)
                              & op.as_value().matches(_Op.H_LOOKUP, _Op.C_LOOKUP)):
                        m.d.sync += state.eq(_S.DEV_READ)
                    with m.Else():
                        m.d.sync += state.eq(_S.ACT)
                with m.Elif(is_lpm):
                    with m.If(index > lpm_bits):
                        m.d.sync += [lpm_bad.eq(1), state.eq(_S.ACT)]
                    with m.Else():
                        m.d.sync += [plen.eq(index), state.eq(_S.PROBE)]
                with m.Else():
                    m.d.sync += state.eq(_S.PROBE)
            with m.Case(_S.PROBE):
                # The table may still be finishing the previous operation's write.
                with m.If(table.ready):
                    m.d.comb += [table.probe.eq(1),
                                 table.search.eq(Mux(is_update, Search.FREE, Search.NONE))]
                    m.d.sync += state.eq(_S.PROBE_WAIT)
            with m.Case(_S.PROBE_WAIT):
                with m.If(table.hit):
                    m.d.sync += [found.eq(1), cam_slot.eq(table.hit_slot),
                                 slot.eq(table.hit_slot - c_sbase), state.eq(_S.ACT)]
                    # An LPM update rewrites the key (its host bits) once the table is free.
                    with m.If(is_lpm & is_update):
                        m.d.sync += state.eq(_S.FREE_WAIT)
                with m.Elif(is_lpm & (plen != 0)
                            & op.as_value().matches(_Op.H_LOOKUP, _Op.C_LOOKUP)):
                    m.d.sync += [plen.eq(plen - 1), state.eq(_S.PROBE)]
                with m.Elif(is_update):
                    m.d.sync += state.eq(_S.FREE_WAIT)
                with m.Else():
                    m.d.sync += state.eq(_S.ACT)
            # An insert's slot: the lowest free one of the map (searched since the probe).
            with m.Case(_S.FREE_WAIT):
                with m.If(table.ready):
                    m.d.sync += [free_ok.eq(table.found), state.eq(_S.ACT)]
                    with m.If(~found):
                        m.d.sync += cam_slot.eq(table.found_slot)

            # A devmap slot's device (ifindex, the value's first 4 bytes).
            with m.Case(_S.DEV_READ):
                m.d.comb += [ra.req.valid.eq(1), ra_req.addr.eq(MV_BASE | slot_ram),
                             ra_req.size.eq(Size.W)]
                with m.If(ra.req.ready):
                    m.d.sync += state.eq(_S.DEV_WAIT)
            with m.Case(_S.DEV_WAIT):
                m.d.comb += ra.resp.ready.eq(1)
                ifindex = ra.resp.payload.rdata[:32]
                with m.If(ra.resp.valid):
                    with m.If(op == _Op.H_REDIRECT):
                        with m.If(ifindex != 0):
                            m.d.comb += [self.redirect_set.eq(1),
                                         self.redirect_ifindex.eq(ifindex)]
                            m.d.sync += finish(machine.XdpAction.REDIRECT)
                        with m.Else():
                            m.d.sync += finish(flags & machine.XdpAction.TX)
                    with m.Else():
                        m.d.sync += [found.eq(ifindex != 0), state.eq(_S.ACT)]

            # --- what the operation does with the slot ------------------------------------
            with m.Case(_S.ACT):
                value_src_kind = Mux(host, _Kind.STAGE, _Kind.EXT)
                value_src = Mux(host, 0, args[2][:32])
                touch = Signal()
                with m.Switch(op):
                    with m.Case(_Op.H_LOOKUP):
                        with m.If(found):
                            m.d.comb += touch.eq(is_lru)
                            m.d.sync += finish(MV_BASE | (cur << machine.MAP_ID_SHIFT)
                                               | (c_own + slot_offset))
                        with m.Else():
                            m.d.sync += finish(0)
                    with m.Case(_Op.C_LOOKUP):
                        with m.If(found & multi):
                            m.d.sync += [r0.eq(0), state.eq(_S.PERCPU)]
                        with m.Elif(found):
                            m.d.sync += [r0.eq(0)]
                            m.d.sync += copy(_Kind.RAM, slot_ram, _Kind.STAGE, 0, c_vs,
                                             _S.FINISH)
                        with m.Else():
                            m.d.sync += finish(0, errno.ENOENT)
                    with m.Case(_Op.H_DELETE, _Op.C_DELETE):
                        with m.If(is_devmap):
                            with m.If(~found):
                                m.d.sync += finish(0, errno.EINVAL)
                            with m.Else():
                                m.d.sync += [r0.eq(0)]
                                m.d.sync += copy(_Kind.ZERO, 0, _Kind.RAM, slot_ram, c_vs,
                                                 _S.FINISH)
                        with m.Elif(is_array | lpm_bad):
                            m.d.sync += finish(0, errno.EINVAL)
                        with m.Elif(~found):
                            m.d.sync += finish(0, errno.ENOENT)
                        with m.Else():
                            m.d.comb += [table.wr_en.eq(1), table.wr_slot.eq(cam_slot),
                                         table.wr_valid.eq(0)]
                            m.d.sync += finish(0)
                    with m.Case(_Op.H_UPDATE, _Op.C_UPDATE):
                        # The host writes every copy of a per-CPU value, a program its own.
                        write_value = Signal()
                        with m.If(write_value & host & multi):
                            m.d.sync += state.eq(_S.PERCPU)
                        with m.Elif(write_value):
                            m.d.sync += copy(value_src_kind, value_src, _Kind.RAM, slot_ram,
                                             c_vs, _S.FINISH, value_from_end)
                        with m.If((flags & ~BPF_F_LOCK) > BPF_EXIST):
                            m.d.sync += finish(0, errno.EINVAL)
                        with m.Elif(is_array):
                            with m.If(~found):
                                m.d.sync += finish(0, errno.E2BIG)
                            with m.Elif(flags & BPF_NOEXIST):
                                m.d.sync += finish(0, errno.EEXIST)
                            with m.Elif(flags & BPF_F_LOCK):
                                m.d.sync += finish(0, errno.EINVAL)
                            with m.Else():
                                m.d.comb += write_value.eq(1)
                                m.d.sync += r0.eq(0)
                        with m.Elif((flags & BPF_F_LOCK) != 0):
                            m.d.sync += finish(0, errno.EINVAL)
                        with m.Elif(lpm_bad):
                            m.d.sync += finish(0, errno.EINVAL)
                        with m.Elif(found):
                            with m.If(flags == BPF_NOEXIST):
                                m.d.sync += finish(0, errno.EEXIST)
                            with m.Else():
                                m.d.comb += touch.eq(is_hash)
                                # The LPM trie keeps the key's bytes as last given.
                                m.d.comb += [table.wr_en.eq(is_lpm), table.wr_slot.eq(cam_slot),
                                             table.wr_valid.eq(1), table.wr_owner.eq(cur),
                                             table.wr_tag.eq(plen + 1),
                                             table.wr_key.eq(key_as_given)]
                                m.d.comb += write_value.eq(1)
                                m.d.sync += r0.eq(0)
                        with m.Elif(flags == BPF_EXIST):
                            m.d.sync += finish(0, errno.ENOENT)
                        with m.Elif(~table.can_insert):
                            # The table's stash is full (rarer than 1 in 10^6 fills of
                            # every slot: docs/maps.md); refused before anything changes.
                            m.d.sync += [r0.eq(Mux(is_lpm, _neg(errno.ENOSPC), _neg(errno.E2BIG))),
                                         state.eq(_S.FINISH)]
                        with m.Elif(free_ok):
                            m.d.sync += state.eq(_S.INSERT)
                        with m.Elif(is_lru):
                            m.d.comb += [stamps.find.eq(1), stamps.base.eq(c_sbase),
                                         stamps.count.eq(c_max)]
                            m.d.sync += state.eq(_S.EVICT)
                        with m.Else():
                            m.d.sync += [r0.eq(Mux(is_lpm, _neg(errno.ENOSPC), _neg(errno.E2BIG))),
                                         state.eq(_S.FINISH)]
                    with m.Case(_Op.C_NEXT):
                        with m.If(is_array):
                            following = Mux(flags[0] | (index >= c_max), 0, index + 1)
                            with m.If(following >= c_max):
                                m.d.sync += finish(0, errno.ENOENT)
                            with m.Else():
                                m.d.comb += [mailbox.key_load.eq(1),
                                             mailbox.key_load_data.eq(following[:32])]
                                m.d.sync += finish(0)
                        with m.Else():
                            m.d.sync += state.eq(_S.NEXT_PROBE)
                with m.If(touch):
                    m.d.comb += [stamps.touch.eq(1), stamps.touch_slot.eq(cam_slot)]

            # A new key into the slot ``cam_slot``, then its value.
            with m.Case(_S.INSERT):
                with m.If(table.ready):
                    m.d.comb += [table.wr_en.eq(1), table.wr_slot.eq(cam_slot),
                                 table.wr_valid.eq(1), table.wr_owner.eq(cur),
                                 table.wr_tag.eq(Mux(is_lpm, plen + 1, 0)),
                                 table.wr_key.eq(key_as_given),
                                 stamps.touch.eq(1), stamps.touch_slot.eq(cam_slot)]
                    m.d.sync += [slot.eq(cam_slot - c_sbase),
                                 state.eq(_S.INSERT_VALUE)]

            # LRU eviction: the least recently used slot of the (full) map.
            with m.Case(_S.EVICT):
                with m.If(stamps.ready):
                    m.d.sync += [cam_slot.eq(stamps.oldest), state.eq(_S.INSERT)]

            with m.Case(_S.INSERT_VALUE):
                m.d.sync += r0.eq(0)
                with m.If(host & multi):
                    m.d.sync += state.eq(_S.PERCPU)
                with m.Else():
                    # A program's new per-CPU entry: its own copy, then zeros in the others
                    # (after, so a value read from another copy of the slot arrives as the
                    # model reads it, before anything is zeroed).
                    m.d.sync += copy(Mux(host, _Kind.STAGE, _Kind.EXT), Mux(host, 0, args[2][:32]),
                                     _Kind.RAM, slot_ram, c_vs, Mux(multi, _S.PERCPU, _S.FINISH),
                                     value_from_end)

            # Every copy of a per-CPU slot in turn: a host lookup's to MAP_VALUE, a host update's
            # from it, or a program's new entry's zeros in the copies other than its own.
            with m.Case(_S.PERCPU):
                m.d.sync += [cpy.eq(cpy + 1), lbase.eq(lbase + c_stride), win.eq(win + c_vs)]
                with m.If(cpy == E):
                    m.d.sync += state.eq(_S.FINISH)
                with m.Elif(host & (op == _Op.C_LOOKUP)):
                    m.d.sync += copy(_Kind.RAM, copy_ram, _Kind.STAGE, win, c_vs, _S.PERCPU)
                with m.Elif(host):
                    m.d.sync += copy(_Kind.STAGE, win, _Kind.RAM, copy_ram, c_vs, _S.PERCPU)
                with m.Elif(cpy != eng):
                    m.d.sync += copy(_Kind.ZERO, 0, _Kind.RAM, copy_ram, c_vs, _S.PERCPU)

            # --- copies ----------------------------------------------------------------------
            with m.Case(_S.COPY_READ):
                m.d.sync += from_mem.eq(0)
                with m.Switch(src_kind):
                    with m.Case(_Kind.ZERO):
                        m.d.sync += [word.eq(0), state.eq(_S.COPY_WRITE)]
                    with m.Case(_Kind.STAGE):
                        m.d.comb += [mailbox.stage_rd_en.eq(1), mailbox.stage_rd_addr.eq(src_at)]
                        m.d.sync += state.eq(_S.COPY_STAGE_WAIT)
                    with m.Default():
                        use_ram = (src_kind == _Kind.RAM) | src_in_values
                        ram_addr = Mux(src_kind == _Kind.RAM, src_at, src_ram)
                        with m.If(use_ram):
                            m.d.comb += [ra.req.valid.eq(1), ra_req.addr.eq(MV_BASE | ram_addr),
                                         ra_req.size.eq(chunk_size)]
                            with m.If(ra.req.ready):
                                m.d.sync += state.eq(_S.COPY_READ_WAIT)
                        with m.Else():
                            m.d.comb += [self.mem_req.valid.eq(1),
                                         self.mem_req.payload.addr.eq(src_at),
                                         self.mem_req.payload.size.eq(chunk_size)]
                            with m.If(self.mem_req.ready):
                                m.d.sync += [from_mem.eq(1), state.eq(_S.COPY_READ_WAIT)]
            with m.Case(_S.COPY_STAGE_WAIT):
                m.d.sync += [word.eq(mailbox.stage_rd_data & chunk_mask), state.eq(_S.COPY_WRITE)]
            with m.Case(_S.COPY_READ_WAIT):
                resp = Mux(from_mem, self.mem_resp.payload.as_value(),
                           ra.resp.payload.as_value())
                rvalid = Mux(from_mem, self.mem_resp.valid, ra.resp.valid)
                m.d.comb += [self.mem_resp.ready.eq(from_mem), ra.resp.ready.eq(~from_mem)]
                rdata = Signal(ExtResponse)
                m.d.comb += rdata.eq(resp)
                with m.If(rvalid):
                    with m.If(rdata.fault):
                        m.d.sync += [fault.eq(1), state.eq(_S.FINISH)]
                    with m.Else():
                        m.d.sync += [word.eq(rdata.rdata & chunk_mask), state.eq(_S.COPY_WRITE)]
            with m.Case(_S.COPY_WRITE):
                with m.Switch(dst_kind):
                    with m.Case(_Kind.FBUF):
                        m.d.sync += [fbuf.eq(fbuf | (word << (dst_at[:6] << 3)))] + advance
                    with m.Case(_Kind.STAGE):
                        m.d.comb += [mailbox.stage_wr_en.eq(1), mailbox.stage_wr_addr.eq(dst_at),
                                     mailbox.stage_wr_data.eq(word),
                                     mailbox.stage_wr_mask.eq((Const(1, 9) << chunk) - 1)]
                        m.d.sync += advance
                    with m.Default():
                        m.d.comb += [ra.req.valid.eq(1), ra_req.addr.eq(MV_BASE | dst_at),
                                     ra_req.write.eq(1), ra_req.size.eq(chunk_size),
                                     ra_req.wdata.eq(word)]
                        with m.If(ra.req.ready):
                            m.d.sync += state.eq(_S.COPY_WRITE_WAIT)
            with m.Case(_S.COPY_WRITE_WAIT):
                m.d.comb += ra.resp.ready.eq(1)
                with m.If(ra.resp.valid):
                    m.d.sync += advance

            # --- get-next-key of a hash or LPM map --------------------------------------
            with m.Case(_S.NEXT_PROBE):
                with m.If(table.ready):
                    m.d.comb += [table.probe.eq(1), table.search.eq(Search.USED)]
                    m.d.sync += state.eq(_S.NEXT_WAIT)
            with m.Case(_S.NEXT_WAIT):
                m.d.comb += table.fetch_slot.eq(table.found_slot)
                with m.If(table.ready & table.found):
                    m.d.comb += table.fetch.eq(1)
                    m.d.sync += state.eq(_S.NEXT_KEY)
                with m.Elif(table.ready):
                    m.d.sync += finish(0, errno.ENOENT)
            with m.Case(_S.NEXT_KEY):
                # An LPM key is its prefix length (the tag less 1), then its data.
                fetched_plen = Signal(32)
                m.d.comb += fetched_plen.eq(table.fetched_tag - 1)
                with m.If(table.ready):
                    m.d.comb += [mailbox.key_load.eq(1),
                                 mailbox.key_load_data.eq(Mux(is_lpm,
                                                              Cat(fetched_plen, table.fetched_key),
                                                              table.fetched_key))]
                    m.d.sync += finish(0)

            # --- CREATE ------------------------------------------------------------------------
            with m.Case(_S.CREATE):
                t, ks = self.create_type, self.create_key_size
                vs, entries = self.create_value_size, self.create_max_entries
                copies = Mux(t.matches(*[x.value for x in PERCPU_TYPES]), E, 1)
                stride = Signal(36)
                total = Signal(40)                      # all copies
                m.d.comb += [stride.eq(entries[:20] * vs[:16]), total.eq(stride * copies)]
                aligned = (total + 7) & ~7
                t_array = t.matches(*[x.value for x in ARRAY_TYPES])
                t_hash = t.matches(*[x.value for x in HASH_TYPES])
                t_lpm = t == MapType.LPM_TRIE
                t_devmap = t == MapType.DEVMAP
                needs_cam = t_hash | t_lpm
                with m.If(~t.matches(*[x.value for x in MAP_TYPES]) | (ks == 0) | (vs == 0)
                          | (entries == 0) | (t_array & (ks != 4))
                          | (t_devmap & (vs != 4) & (vs != 8))
                          | (t_lpm & ((ks <= LPM_KEY_HEADER)
                                      | (ks > LPM_KEY_HEADER + LPM_DATA_SIZE_MAX)))):
                    m.d.sync += finish(0, errno.EINVAL)
                with m.Elif((t_lpm & (ks > LPM_KEY_HEADER + KB)) | (t_hash & (ks > KB))
                            | (vs * copies > MAX_VALUE) | (entries >= 1 << 20)
                            | (total > MAP_REGION_BYTES)):
                    m.d.sync += finish(0, errno.E2BIG)
                with m.Elif((nmaps == N) | (needs_cam & (entries > S - next_slot))
                            | (aligned > self.value_bytes - next_value)):
                    m.d.sync += finish(0, errno.ENOMEM)
                with m.Else():
                    m.d.sync += [
                        d_valid.bit_select(nmaps, 1).eq(1), d_type[nmaps].eq(t),
                        d_ks[nmaps].eq(ks), d_vs[nmaps].eq(vs), d_max[nmaps].eq(entries),
                        d_vbase[nmaps].eq(next_value), d_sbase[nmaps].eq(next_slot),
                        d_total[nmaps].eq(total), d_stride[nmaps].eq(stride),
                        nmaps.eq(nmaps + 1), next_value.eq(next_value + aligned),
                        next_slot.eq(next_slot + Mux(needs_cam, entries, 0)),
                        r0.eq(nmaps),
                    ] + copy(_Kind.ZERO, 0, _Kind.RAM, next_value, total, _S.FINISH)

            with m.Case(_S.FINISH):
                with m.If(host):
                    m.d.sync += [self.result.eq(r0[:32]), state.eq(_S.IDLE)]
                with m.Else():
                    m.d.comb += [self.helper_resp.valid.eq(1),
                                 self.helper_resp.payload.r0.eq(r0),
                                 self.helper_resp.payload.fault.eq(fault),
                                 self.helper_resp.payload.unknown.eq(unknown)]
                    with m.If(self.helper_resp.ready):
                        m.d.sync += state.eq(_S.IDLE)
        return m
