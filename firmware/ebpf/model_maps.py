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
        if spec.type in (MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.DEVMAP) \
                and spec.key_size != 4:
            raise MapError(f"map {spec.name!r}: {spec.type.name} needs a 4-byte key, "
                           f"not {spec.key_size}")
        if spec.type == MapType.DEVMAP and spec.value_size not in (4, 8):
            raise MapError(f"map {spec.name!r}: DEVMAP values are 4 or 8 bytes "
                           f"(struct bpf_devmap_val), not {spec.value_size}")
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
        return self.spec.type in (MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.DEVMAP)

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
        if self.spec.type == MapType.DEVMAP and slot is not None \
                and not self._devmap_ifindex(slot):
            return None         # an empty devmap slot has no device
        return slot

    def update(self, key: bytes, value: bytes, flags: int, copy: int | None = None) -> int:
        key, value = bytes(key), bytes(value)
        # BPF_F_LOCK needs a bpf_spin_lock in the value, which no map here has; the kernel
        # checks it after the other flags (arrays: after the index too).
        if flags & ~BPF_F_LOCK > BPF_EXIST:
            return -errno.EINVAL
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
        if slot is not None:
            if flags == BPF_NOEXIST:
                return -errno.EEXIST
            self._set_slot(slot, value, copy)
            if self.spec.type == MapType.LRU_HASH:
                self.slots.move_to_end(key)
            return 0
        if flags == BPF_EXIST:
            return -errno.ENOENT
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
        if self.spec.type == MapType.DEVMAP:
            # A devmap slot is emptied (no device), and that succeeds also when it was empty.
            # Ref: kernel/bpf/devmap.c dev_map_delete_elem.
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
            if self.spec.type == MapType.DEVMAP and not self._devmap_ifindex(slot):
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
        return struct.unpack_from("<I", self._slot_bytes(slot))[0]


PER_CPU_TYPES = frozenset({MapType.PERCPU_ARRAY, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH})

MODEL_MAP_TYPES = frozenset({
    MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH,
    MapType.LPM_TRIE, MapType.DEVMAP})


class MapSet:
    """The maps of one loaded program, by map id (= index in the object's map list)."""

    def __init__(self, specs: list[MapSpec], engines: int = 1):
        if len(specs) > 1 << (32 - 4 - MAP_ID_SHIFT):
            raise MapError(f"{len(specs)} maps: the address map has room for 256")
        self.maps = [ModelMap(spec, map_id, engines) for map_id, spec in enumerate(specs)]

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

    def helpers(self, engine: int = 0, redirect_target=None) -> dict:
        """The map helpers for a program running on ``engine``.

        ``redirect_target(ifindex)`` records where ``bpf_redirect_map`` sends the frame.
        """
        def the_map(handle: int) -> ModelMap:
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
            if flags & ~action_mask or m.spec.type != MapType.DEVMAP:
                return XdpAction.ABORTED
            slot = m.lookup(struct.pack("<I", key & MASK32))
            if slot is None:
                return flags & action_mask
            redirect_target(m._devmap_ifindex(slot))
            return XdpAction.REDIRECT

        return {HelperId.MAP_LOOKUP_ELEM: lookup, HelperId.MAP_UPDATE_ELEM: update,
                HelperId.MAP_DELETE_ELEM: delete, HelperId.REDIRECT_MAP: redirect_map}

