"""Maps and map helpers on the golden model: the reference for the hardware maps.

Each map keeps its values in one bytearray of ``max_entries`` slots of ``value_size`` bytes
(times the number of engines for per-CPU maps), which the model's memory exposes as the map's
part of the map-value region, so a pointer returned by ``bpf_map_lookup_elem`` is an ordinary
address that the program loads, stores and updates atomically.

Semantics are the kernel's (``kernel/bpf/arraymap.c``, ``hashtab.c``, ``lpm_trie.c``,
``devmap.c``), including error returns, with these deliberate simplifications, which the
hardware shares:

* An update of an existing hash entry overwrites its slot in place (the kernel swaps in a new
  element, so a pointer held across the update would still see the old value).
* The LRU hash evicts the exact least recently used entry (lookups and updates count as use);
  the kernel's LRU is approximate and per-CPU.
* Hash-like maps and the LPM trie put a new entry in the lowest free slot and iterate
  (get-next-key) in slot order, as the hardware's CAM does (the kernel iterates in bucket
  order, and walks its trie).  Slot order is also what a pointer from a lookup shows.
* ``bpf_redirect_map`` does not broadcast: ``BPF_F_BROADCAST`` and ``BPF_F_EXCLUDE_INGRESS``
  give ``XDP_ABORTED`` (the kernel sends a copy to every device in the map).
* A PROG_ARRAY holds program ids (1 + the program's place in the object's program list; 0 is
  an empty slot), where the kernel takes a program's fd and shows its id.  ``bpf_tail_call``
  follows the kernel: an index past ``max_entries`` fails, then at most 33 tail calls per frame
  (``MAX_TAIL_CALL_CNT``; the count grows also when the slot is empty), then an empty slot
  fails; a failed tail call goes on with the next instruction.  A tail call from a
  bpf-to-bpf callee ends the whole call stack here (the kernel returns to the callee's caller).
* A map of maps (ARRAY_OF_MAPS, HASH_OF_MAPS) holds map ids (1 + the inner map's place in
  the object's map list; 0 is an empty array slot), where the kernel takes a map's fd and
  shows its id; a map put in must match the inner template's type, sizes, flags and
  ``max_entries`` (else ``-EINVAL``).  A lookup from the program gives the inner map's handle,
  which the map helpers take like an ``lddw``'s.
* A CPUMAP entry is a host queue: ``bpf_redirect_map`` into it hands the frame to the host on
  the queue with the entry's index (the kernel hands it to that CPU's network stack).  Every
  index below ``max_entries`` is a queue (the kernel also refuses a CPU that does not exist,
  ``-ENODEV``), and an entry cannot carry a program (``bpf_prog.fd`` > 0 is ``-EINVAL``).
"""

import errno
import heapq
import struct
from collections import OrderedDict

from .helpers import HelperId
from .isa import MASK32, MASK64
from .machine import MAP_ID_SHIFT, TrapCause, XdpAction, map_value_address
from .map_abi import (BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST, LPM_DATA_SIZE_MAX,
                      LPM_KEY_HEADER, MAP_REGION_BYTES)
from .maps import MapSpec, MapType
from .model import Trap

__all__ = ["ModelMap", "MapSet", "MapError", "BPF_ANY", "BPF_NOEXIST", "BPF_EXIST",
           "MODEL_MAP_TYPES"]


class MapError(Exception):
    """A map that cannot be created as specified (type, sizes or flags)."""


class ModelMap:
    """One map: its spec, its id (the handle a program's lddw gives) and its storage."""

    def __init__(self, spec: MapSpec, map_id: int, engines: int = 1):
        if spec.type not in MODEL_MAP_TYPES:
            raise MapError(f"map {spec.name!r}: type {spec.type.name} is not supported")
        if spec.key_size <= 0 or spec.value_size <= 0 or spec.max_entries <= 0:
            raise MapError(f"map {spec.name!r}: key, value size and max_entries must be "
                           f"positive (have {spec.key_size}, {spec.value_size}, "
                           f"{spec.max_entries})")
        self.spec = spec
        self.map_id = map_id
        self.programs = 0           # a PROG_ARRAY: how many programs its ids may name
        self.map_specs: list[MapSpec] = []      # a map of maps: the maps its ids name
        # The type's own rules first, as the kernel's map_alloc_check runs before any sizing.
        self._validate_type_rules()
        self.copies = engines if spec.type in (MapType.PERCPU_ARRAY, MapType.PERCPU_HASH) else 1
        total = spec.max_entries * spec.value_size * self.copies
        if total > MAP_REGION_BYTES:
            raise MapError(f"map {spec.name!r}: {total} bytes of values exceed the "
                           f"{MAP_REGION_BYTES}-byte window a map has in the address map")
        self.values = bytearray(total)
        # Hash-like maps: key -> slot, in least-recently-used-first order for LRU; the free
        # slots as a heap (the lowest is taken first).
        self.slots: OrderedDict[bytes, int] = OrderedDict()
        self.free = list(range(spec.max_entries))
        self.lpm_given: dict[bytes, bytes] = {}     # LPM: canonical key -> key as given
        if spec.initial is not None:
            self.values[:len(spec.initial)] = spec.initial

    def _validate_type_rules(self) -> None:
        spec = self.spec
        if spec.type in (MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.PROG_ARRAY) \
                + DEVICE_MAP_TYPES and spec.key_size != 4:
            raise MapError(f"map {spec.name!r}: {spec.type.name} needs a 4-byte key, "
                           f"not {spec.key_size}")
        if spec.type in MAPS_OF_MAPS and (spec.value_size != 4 or spec.inner is None):
            raise MapError(f"map {spec.name!r}: a {spec.type.name} has 4-byte values (a map) "
                           f"and an inner map template (__array(values, struct ...))")
        if spec.type == MapType.ARRAY_OF_MAPS and spec.key_size != 4:
            raise MapError(f"map {spec.name!r}: ARRAY_OF_MAPS needs a 4-byte key, "
                           f"not {spec.key_size}")
        if spec.type == MapType.PROG_ARRAY and spec.value_size != 4:
            raise MapError(f"map {spec.name!r}: PROG_ARRAY values are 4 bytes (a program), "
                           f"not {spec.value_size}")
        # Ref: kernel/bpf/devmap.c dev_map_alloc_check, kernel/bpf/cpumap.c cpu_map_alloc.
        if spec.type in DEVICE_MAP_TYPES and spec.value_size not in (4, 8):
            value = "bpf_cpumap_val" if spec.type == MapType.CPUMAP else "bpf_devmap_val"
            raise MapError(f"map {spec.name!r}: {spec.type.name} values are 4 or 8 bytes "
                           f"(struct {value}), not {spec.value_size}")
        if spec.type == MapType.LPM_TRIE and not (
                LPM_KEY_HEADER < spec.key_size <= LPM_KEY_HEADER + LPM_DATA_SIZE_MAX):
            raise MapError(f"map {spec.name!r}: LPM_TRIE keys are 4 bytes of prefix length "
                           f"and 1..256 bytes of data, not {spec.key_size}")

    # --- addressing ---
    def _copy_base(self, engine: int) -> int:
        return (engine % self.copies) * self.spec.max_entries * self.spec.value_size

    def slot_address(self, slot: int, engine: int = 0) -> int:
        return map_value_address(self.map_id,
                                 self._copy_base(engine) + slot * self.spec.value_size)

    def _slot_bytes(self, slot: int, copy: int = 0) -> bytearray:
        start = self._copy_base(copy) + slot * self.spec.value_size
        return self.values[start:start + self.spec.value_size]

    def _set_slot(self, slot: int, value: bytes, copy: int | None = None) -> None:
        size = self.spec.value_size
        copies = range(self.copies) if copy is None else [copy]
        for c in copies:
            start = self._copy_base(c) + slot * size
            self.values[start:start + size] = value

    @property
    def is_array(self) -> bool:
        return self.spec.type in (MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.DEVMAP,
                                  MapType.CPUMAP, MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS)

    def _array_index(self, key: bytes) -> int:
        return struct.unpack("<I", key)[0]

    # --- the operations; each returns 0 or a negative errno where the kernel does ---
    def find(self, key: bytes) -> int | None:
        """The slot holding ``key``'s value, or None (no LRU bookkeeping)."""
        if self.is_array:
            index = self._array_index(key)
            return index if index < self.spec.max_entries else None
        if self.spec.type == MapType.LPM_TRIE:
            return self._lpm_match(key)
        return self.slots.get(bytes(key))

    def lookup(self, key: bytes) -> int | None:
        slot = self.find(key)
        if slot is not None and self.spec.type == MapType.LRU_HASH:
            self.slots.move_to_end(bytes(key))
        if self.spec.type in EMPTY_WHEN_ZERO and slot is not None \
                and not self._devmap_ifindex(slot):
            return None         # an empty devmap slot has no device, a cpumap one no queue
        return slot

    def update(self, key: bytes, value: bytes, flags: int, copy: int | None = None) -> int:
        key, value = bytes(key), bytes(value)
        # BPF_F_LOCK needs a bpf_spin_lock in the value, which no map here has; the kernel
        # checks it after the other flags (arrays: after the index too).
        if flags & ~BPF_F_LOCK > BPF_EXIST:
            return -errno.EINVAL
        if self.spec.type == MapType.CPUMAP:
            return self._cpumap_update(key, value, flags)
        if self.spec.type == MapType.PROG_ARRAY:
            return self._prog_array_update(key, value, flags)
        if self.spec.type in MAPS_OF_MAPS:
            why = self._inner_map_refusal(value)
            if why:
                return why
            if self.spec.type == MapType.ARRAY_OF_MAPS and flags != BPF_ANY:
                return -errno.EINVAL        # bpf_fd_array_map_update_elem: BPF_ANY only
        if self.is_array:
            index = self._array_index(key)
            if index >= self.spec.max_entries:
                return -errno.E2BIG
            if flags & BPF_NOEXIST:
                return -errno.EEXIST
            if flags & BPF_F_LOCK:
                return -errno.EINVAL
            self._set_slot(index, value, copy)
            return 0
        if flags & BPF_F_LOCK:
            return -errno.EINVAL
        if self.spec.type == MapType.LPM_TRIE:
            return self._lpm_update(key, value, flags)
        slot = self.slots.get(key)
        if slot is not None and flags == BPF_NOEXIST:
            return -errno.EEXIST
        if self.spec.type == MapType.DEVMAP_HASH and not self._ifindex_of(value):
            return -errno.EINVAL        # no device has ifindex 0 (dev_map_hash_update_elem)
        if slot is not None:
            self._set_slot(slot, value, copy)
            if self.spec.type == MapType.LRU_HASH:
                self.slots.move_to_end(key)
            return 0
        if flags == BPF_EXIST and self.spec.type != MapType.DEVMAP_HASH:
            return -errno.ENOENT        # (dev_map_hash_update_elem adds on BPF_EXIST too)
        if not self.free:
            if self.spec.type != MapType.LRU_HASH:
                return -errno.E2BIG
            _victim, victim_slot = self.slots.popitem(last=False)
            heapq.heappush(self.free, victim_slot)
        slot = heapq.heappop(self.free)
        self.slots[key] = slot
        # A new per-CPU entry is zero on the other engines, as the kernel initializes it.
        if copy is not None:
            self._set_slot(slot, bytes(self.spec.value_size))
        self._set_slot(slot, value, copy)
        return 0

    def delete(self, key: bytes) -> int:
        key = bytes(key)
        if self.spec.type in (MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS):
            # Ref: kernel/bpf/arraymap.c fd_array_map_delete_elem.
            index = self._array_index(key)
            if index >= self.spec.max_entries:
                return -errno.E2BIG
            if not self._devmap_ifindex(index):
                return -errno.ENOENT
            self._set_slot(index, bytes(4))
            return 0
        if self.spec.type in (MapType.DEVMAP, MapType.CPUMAP):
            # A devmap slot is emptied (no device), a cpumap one (no queue), and that succeeds
            # also when it was empty.  Ref: devmap.c dev_map_delete_elem, cpumap.c
            # cpu_map_delete_elem.
            index = self._array_index(key)
            if index >= self.spec.max_entries:
                return -errno.EINVAL
            self._set_slot(index, bytes(self.spec.value_size))
            return 0
        if self.is_array:
            return -errno.EINVAL
        if self.spec.type == MapType.LPM_TRIE:
            prefixlen, data = self._lpm_split(key)
            if prefixlen > self._lpm_bits():
                return -errno.EINVAL
            key = self._lpm_key(prefixlen, data)    # host bits beyond the prefix don't count
            self.lpm_given.pop(key, None)
        slot = self.slots.pop(key, None)
        if slot is None:
            return -errno.ENOENT
        heapq.heappush(self.free, slot)
        return 0

    def next_key(self, key: bytes | None) -> bytes | None:
        """The key after ``key`` in iteration order (the first when ``key`` is None or absent)."""
        if self.is_array:
            index = 0 if key is None else self._array_index(key) + 1
            if key is not None and self._array_index(key) >= self.spec.max_entries:
                index = 0
            return struct.pack("<I", index) if index < self.spec.max_entries else None
        keys = sorted(self.slots, key=self.slots.__getitem__)
        if key is not None and self.spec.type == MapType.LPM_TRIE:
            prefixlen, data = self._lpm_split(key)
            key = self._lpm_key(prefixlen, data) if prefixlen <= self._lpm_bits() else None
        if key is None or bytes(key) not in self.slots:
            following = keys[0] if keys else None
        else:
            position = keys.index(bytes(key)) + 1
            following = keys[position] if position < len(keys) else None
        return self.lpm_given.get(following, following)

    def value(self, slot: int, copy: int = 0) -> bytes:
        return bytes(self._slot_bytes(slot, copy))

    def dump(self) -> dict:
        """Every entry, in iteration order, as bpftool shows a map: keys and values in hex,
        a per-CPU map's value as a list of one value per engine (also for one engine, as
        the kernel target lists one per CPU)."""
        entries = []
        key = self.next_key(None)
        while key is not None:
            slot = self.find(key)
            if self.spec.type in EMPTY_WHEN_ZERO and not self._devmap_ifindex(slot):
                key = self.next_key(key)    # no device: a lookup fails, bpftool shows nothing
                continue
            values = [self.value(slot, c).hex() for c in range(self.copies)]
            entries.append({"key": key.hex(),
                            "value": values if self.spec.type in PER_CPU_TYPES else values[0]})
            key = self.next_key(key)
        return {"id": self.map_id, "name": self.spec.name, "type": self.spec.type.name,
                "key_size": self.spec.key_size, "value_size": self.spec.value_size,
                "max_entries": self.spec.max_entries, "entries": entries}

    # --- LPM trie: the entries are (prefixlen, data) keys; lookup takes the longest match ---
    def _lpm_split(self, key: bytes) -> tuple[int, int]:
        prefixlen = struct.unpack_from("<I", key)[0]
        data = int.from_bytes(key[LPM_KEY_HEADER:], "big")
        return prefixlen, data

    def _lpm_bits(self) -> int:
        return 8 * (self.spec.key_size - LPM_KEY_HEADER)

    def _lpm_update(self, key: bytes, value: bytes, flags: int) -> int:
        prefixlen, data = self._lpm_split(key)
        bits = self._lpm_bits()
        if prefixlen > bits:
            return -errno.EINVAL
        canonical = self._lpm_key(prefixlen, data)
        exists = canonical in self.slots
        if flags == BPF_NOEXIST and exists:
            return -errno.EEXIST
        if flags == BPF_EXIST and not exists:
            return -errno.ENOENT
        if not exists:
            if not self.free:
                return -errno.ENOSPC
            self.slots[canonical] = heapq.heappop(self.free)
        self.lpm_given[canonical] = key     # the kernel keeps the key's bytes as given
        self._set_slot(self.slots[canonical], value)
        return 0

    def _lpm_key(self, prefixlen: int, data: int) -> bytes:
        """The stored key: host bits beyond the prefix cleared, as the trie compares them."""
        bits = self._lpm_bits()
        mask = ((1 << prefixlen) - 1) << (bits - prefixlen) if prefixlen else 0
        return struct.pack("<I", prefixlen) + (data & mask).to_bytes(bits // 8, "big")

    def _lpm_match(self, key: bytes) -> int | None:
        limit, data = self._lpm_split(key)
        if limit > self._lpm_bits():
            return None
        for prefixlen in range(limit, -1, -1):
            slot = self.slots.get(self._lpm_key(prefixlen, data))
            if slot is not None:
                return slot
        return None

    def _devmap_ifindex(self, slot: int) -> int:
        """A devmap slot's ifindex (0: no device); a cpumap slot's qsize (0: no queue)."""
        return self._ifindex_of(self._slot_bytes(slot))

    @staticmethod
    def _ifindex_of(value: bytes) -> int:
        return struct.unpack_from("<I", value)[0]

    def _inner_map_refusal(self, value: bytes) -> int:
        """Why ``value`` (a map id) cannot go in this map of maps: -EBADF for no map, -EINVAL
        for one unlike the inner template (kernel/bpf/map_in_map.c bpf_map_meta_equal)."""
        map_id = self._ifindex_of(value)
        if not 0 < map_id <= len(self.map_specs):
            return -errno.EBADF
        spec, template = self.map_specs[map_id - 1], self.spec.inner
        if (spec.type, spec.key_size, spec.value_size, spec.flags, spec.max_entries) != (
                template.type, template.key_size, template.value_size, template.flags,
                template.max_entries) or spec.inner is not None:
            return -errno.EINVAL
        return 0

    def _prog_array_update(self, key: bytes, value: bytes, flags: int) -> int:
        """Ref: kernel/bpf/arraymap.c bpf_fd_array_map_update_elem (BPF_ANY only; a value
        that names no program is a bad fd)."""
        if flags != BPF_ANY:
            return -errno.EINVAL
        index = self._array_index(key)
        if index >= self.spec.max_entries:
            return -errno.E2BIG
        if not 0 < self._ifindex_of(value) <= self.programs:
            return -errno.EBADF
        self._set_slot(index, value)
        return 0

    def _cpumap_update(self, key: bytes, value: bytes, flags: int) -> int:
        """Ref: kernel/bpf/cpumap.c cpu_map_update_elem (qsize 0 empties the entry)."""
        if flags > BPF_EXIST:
            return -errno.EINVAL
        index = self._array_index(key)
        if index >= self.spec.max_entries:
            return -errno.E2BIG
        if flags == BPF_NOEXIST:
            return -errno.EEXIST
        qsize = self._ifindex_of(value)
        if qsize > CPUMAP_QSIZE_MAX:
            return -errno.EOVERFLOW
        if len(value) == 8 and struct.unpack_from("<i", value, 4)[0] > 0:
            return -errno.EINVAL        # a program on a host queue: not on the NIC
        self._set_slot(index, value if qsize else bytes(len(value)))
        return 0


# Maps whose entries name where bpf_redirect_map sends a frame: a port (device), a host queue.
DEVICE_MAP_TYPES = (MapType.DEVMAP, MapType.DEVMAP_HASH, MapType.CPUMAP)
CPUMAP_QSIZE_MAX = 16384        # Ref: kernel/bpf/cpumap.c cpu_map_update_elem

# Array-like maps whose slot is empty while its first u32 is 0 (no device, queue, program).
EMPTY_WHEN_ZERO = (MapType.DEVMAP, MapType.CPUMAP, MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS)
MAPS_OF_MAPS = (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS)
INNER_MAP_HANDLE = 1 << 32      # a lookup in a map of maps: this | the inner map's id
MAX_TAIL_CALL_CNT = 33          # Ref: include/linux/bpf.h

PER_CPU_TYPES = frozenset({MapType.PERCPU_ARRAY, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH})

MODEL_MAP_TYPES = frozenset({
    MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH,
    MapType.LPM_TRIE, MapType.DEVMAP, MapType.DEVMAP_HASH, MapType.CPUMAP, MapType.PROG_ARRAY,
    MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS})


class MapSet:
    """The maps of one loaded program, by map id (= index in the object's map list)."""

    def __init__(self, specs: list[MapSpec], engines: int = 1,
                 programs: dict[str, list] | None = None):
        """``programs``: every program of the object by name (its instructions), which a
        PROG_ARRAY names by id (1 + its place here) and ``bpf_tail_call`` runs."""
        if len(specs) > 1 << (32 - 4 - MAP_ID_SHIFT):
            raise MapError(f"{len(specs)} maps: the address map has room for 256")
        self.maps = [ModelMap(spec, map_id, engines) for map_id, spec in enumerate(specs)]
        self.programs = list((programs or {}).items())
        names = [name for name, _insns in self.programs]
        map_names = [spec.name for spec in specs]
        for m in self.maps:
            m.programs = len(self.programs)
            m.map_specs = list(specs)
            for slot, name in m.spec.init_slots:
                table, what = (map_names, "map") if m.spec.inner is not None \
                    else (names, "program")
                if name not in table:
                    raise MapError(f"map {m.spec.name!r}: slot {slot} names {what} {name!r}, "
                                   f"which is not loaded")
                err = m.update(struct.pack("<I", slot), struct.pack("<I", table.index(name) + 1),
                               BPF_ANY)
                if err:
                    raise MapError(f"map {m.spec.name!r}: {what} {name!r} cannot go in slot "
                                   f"{slot} ({errno.errorcode.get(-err, err)})")

    def program_id(self, name: str) -> int:
        """The id a PROG_ARRAY holds for program ``name``."""
        return [n for n, _insns in self.programs].index(name) + 1

    def __getitem__(self, map_id: int) -> ModelMap:
        return self.maps[map_id]

    def by_name(self, name: str) -> ModelMap:
        for m in self.maps:
            if m.spec.name == name:
                return m
        raise KeyError(f"no map named {name!r} (have: {', '.join(m.spec.name for m in self.maps)})")

    def value_regions(self) -> dict[int, bytearray]:
        """What the model's memory exposes in the map-value region."""
        return {m.map_id: m.values for m in self.maps}

    def helpers(self, engine: int = 0, redirect_target=None, redirect_queue=None,
                tail_call=None) -> dict:
        """The map helpers for a program running on ``engine``.

        ``redirect_target(ifindex)`` records the port (ifindex) ``bpf_redirect_map`` sends the
        frame to, through a DEVMAP or DEVMAP_HASH; ``redirect_queue(index)`` the host queue,
        through a CPUMAP.  ``tail_call(insns)`` starts the program a ``bpf_tail_call`` jumps
        to (it ends the running one); the count of tail calls is per call of ``helpers``, so
        one frame's.
        """
        tail_calls = 0
        def the_map(handle: int) -> ModelMap:
            handle &= ~INNER_MAP_HANDLE
            if handle >= len(self.maps):
                raise Trap(TrapCause.OUT_OF_BOUNDS, f"map handle {handle:#x} names no map")
            return self.maps[handle]

        def key_bytes(memory, m: ModelMap, pointer: int) -> bytes:
            return bytes(memory.load(pointer + i, 1) for i in range(m.spec.key_size))

        def value_bytes(memory, m: ModelMap, pointer: int) -> bytes:
            return bytes(memory.load(pointer + i, 1) for i in range(m.spec.value_size))

        def lookup(memory, handle, key_ptr, *_):
            m = the_map(handle)
            slot = m.lookup(key_bytes(memory, m, key_ptr))
            if slot is not None and m.spec.type in MAPS_OF_MAPS:
                return INNER_MAP_HANDLE | (m._devmap_ifindex(slot) - 1)
            return 0 if slot is None else m.slot_address(slot, engine)

        def update(memory, handle, key_ptr, value_ptr, flags, *_):
            m = the_map(handle)
            copy = engine if m.copies > 1 else None
            return m.update(key_bytes(memory, m, key_ptr), value_bytes(memory, m, value_ptr),
                            flags, copy) & MASK64

        def delete(memory, handle, key_ptr, *_):
            m = the_map(handle)
            return m.delete(key_bytes(memory, m, key_ptr)) & MASK64

        def redirect_map(memory, handle, key, flags, *_):
            m = the_map(handle)
            action_mask = XdpAction.TX      # the low bits: the verdict when there is no entry
            if flags & ~action_mask or m.spec.type not in DEVICE_MAP_TYPES:
                return XdpAction.ABORTED
            slot = m.lookup(struct.pack("<I", key & MASK32))
            if slot is None:
                return flags & action_mask
            if m.spec.type == MapType.CPUMAP:
                redirect_queue(key & MASK32)
            else:
                redirect_target(m._devmap_ifindex(slot))
            return XdpAction.REDIRECT

        def tail_call_helper(memory, _ctx, handle, index, *_):
            nonlocal tail_calls
            m = the_map(handle)
            index &= MASK32
            if m.spec.type != MapType.PROG_ARRAY or index >= m.spec.max_entries \
                    or tail_calls >= MAX_TAIL_CALL_CNT:
                return -errno.ENOENT & MASK64
            tail_calls += 1
            program = m._devmap_ifindex(index)
            if not program or tail_call is None:
                return -errno.ENOENT & MASK64
            tail_call(self.programs[program - 1][1])       # raises StopProgram
            return 0

        return {HelperId.MAP_LOOKUP_ELEM: lookup, HelperId.MAP_UPDATE_ELEM: update,
                HelperId.MAP_DELETE_ELEM: delete, HelperId.REDIRECT_MAP: redirect_map,
                HelperId.TAIL_CALL: tail_call_helper}

