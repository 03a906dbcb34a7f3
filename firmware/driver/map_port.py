"""Host access to the device's maps through the control bus: the map mailbox of :mod:`hw.regs`.

:class:`RegisterMapPort` is the one :class:`~firmware.driver.transport.MapPort` the driver
uses, on every transport whose device says it has maps (``CAP_MAP_TYPES`` non-zero): the
golden model (:class:`~firmware.driver.model_transport.ModelTransport` emulates the same
registers), Amaranth's simulator and the Verilog under cocotb.  A command is:

1. the operands: the key into the ``MAP_KEY`` window, the value into ``MAP_VALUE`` (per-CPU
   maps: engine e's copy at ``e * value_size``), or for CREATE the ``MAP_CREATE_*`` registers;
2. one write of ``MAP_CMD`` (op, map id, flags), which starts it;
3. polling ``MAP_STATUS.busy`` until it falls;
4. ``MAP_RESULT``: 0 or a negative errno (CREATE: the new map's id), and for LOOKUP the value
   in ``MAP_VALUE``, for NEXT_KEY the next key in ``MAP_KEY``.

Windows are little-endian 32-bit words: byte k of a key is byte ``k % 4`` of the word at
``MAP_KEY + (k & ~3)``; a key or value that is not a whole number of words is padded with
zero bytes on the way in and cut to size on the way out.
"""

import errno

from hw import regs

from ..ebpf.maps import MapType
from .transport import MapPort, Transport, TransportError

__all__ = ["RegisterMapPort", "MapCommandError", "PER_CPU_TYPES", "BUSY_POLLS"]

PER_CPU_TYPES = frozenset({MapType.PERCPU_ARRAY, MapType.PERCPU_HASH})
BUSY_POLLS = 100_000          # MAP_STATUS reads before a command counts as hung
_MASK32 = 0xFFFFFFFF


class MapCommandError(TransportError):
    """A mailbox command failed in a way the caller did not ask about (a hung map unit, or
    CREATE refused by the device); the message names the map and the errno."""


def _errno_text(result: int) -> str:
    import os
    code = -result
    return f"-{errno.errorcode.get(code, str(code))} ({os.strerror(code)})"


def _signed(word: int) -> int:
    return word - (1 << 32) if word >> 31 else word


class RegisterMapPort(MapPort):
    """The map mailbox of ``transport`` (a device with ``engines`` engines: a per-CPU value
    is ``engines`` copies of ``value_size`` bytes)."""

    def __init__(self, transport: Transport, engines: int = 1):
        if engines < 1:
            raise ValueError(f"engines must be at least 1, not {engines!r}")
        self.transport = transport
        self.engines = engines
        self.offsets = regs.offsets(0)
        self.specs: dict[int, object] = {}        # hardware id -> MapSpec (for the sizes)
        self.commands = 0                         # MAP_CMD writes, for the cost figures

    # --- the mailbox ---
    async def _command(self, op: int, map_id: int = 0, flags: int = 0) -> int:
        await self.transport.write(self.offsets["MAP_CMD"], op << regs.MAP_CMD.OP
                                   | map_id << regs.MAP_CMD.MAP_ID
                                   | flags << regs.MAP_CMD.FLAGS)
        self.commands += 1
        status = self.offsets["MAP_STATUS"]
        for _ in range(BUSY_POLLS):
            if not await self.transport.read(status) & 1:
                return _signed(await self.transport.read(self.offsets["MAP_RESULT"]))
        raise MapCommandError(f"{self.transport.describe()}: MAP_STATUS.busy stayed 1 for "
                              f"{BUSY_POLLS} reads after MAP_CMD op {op} on map {map_id}")

    async def _put(self, window: regs.Window, data: bytes) -> None:
        if len(data) > window.size:
            raise TransportError(f"{len(data)} bytes do not fit the {window.size}-byte "
                                 f"{window.name} window")
        padded = bytes(data) + bytes(-len(data) % 4)
        for at in range(0, len(padded), 4):
            await self.transport.write(window.offset + at,
                                       int.from_bytes(padded[at:at + 4], "little"))

    async def _get(self, window: regs.Window, size: int) -> bytes:
        out = bytearray()
        for at in range(0, size, 4):
            out += (await self.transport.read(window.offset + at)).to_bytes(4, "little")
        return bytes(out[:size])

    def _sizes(self, map_id: int) -> tuple[int, int]:
        """(key bytes, value bytes in the window) of map ``map_id``."""
        spec = self.specs.get(map_id)
        if spec is None:
            raise TransportError(f"no map with id {map_id} on the device")
        copies = self.engines if spec.type in PER_CPU_TYPES else 1
        return spec.key_size, spec.value_size * copies

    # --- MapPort ---
    async def create(self, specs: list) -> list[int]:
        """RESET (every map of the previous program goes), then one CREATE per spec, in the
        object's order; global-data maps get their initial contents with an UPDATE."""
        result = await self._command(regs.MapOp.RESET)
        if result:
            raise MapCommandError(f"map RESET failed: {_errno_text(result)}")
        self.specs = {}
        ids = []
        for spec in specs:
            for name, value in (("MAP_CREATE_TYPE", int(spec.type)),
                                ("MAP_CREATE_KEY_SIZE", spec.key_size),
                                ("MAP_CREATE_VALUE_SIZE", spec.value_size),
                                ("MAP_CREATE_MAX_ENTRIES", spec.max_entries)):
                await self.transport.write(self.offsets[name], value)
            result = await self._command(regs.MapOp.CREATE)
            if result < 0:
                raise MapCommandError(
                    f"map '{spec.name}' ({MapType(spec.type).name}, key {spec.key_size} B, "
                    f"value {spec.value_size} B, {spec.max_entries} entries): the device "
                    f"refused to create it: {_errno_text(result)}")
            self.specs[result] = spec
            ids.append(result)
        for spec, map_id in zip(specs, ids):
            if spec.initial is not None and any(spec.initial):
                value = bytes(spec.initial[:spec.value_size]).ljust(spec.value_size, b"\0")
                result = await self.update(map_id, bytes(spec.key_size), value, 0)
                if result:
                    raise MapCommandError(f"map '{spec.name}': writing its initial contents "
                                          f"failed: {_errno_text(result)}")
        return ids

    async def lookup(self, map_id: int, key: bytes) -> bytes | None:
        key_size, value_bytes = self._sizes(map_id)
        await self._put(regs.MAP_KEY_WINDOW, bytes(key)[:key_size])
        result = await self._command(regs.MapOp.LOOKUP, map_id)
        if result == -errno.ENOENT:
            return None
        if result:
            raise MapCommandError(f"lookup in map {map_id} failed: {_errno_text(result)}")
        return await self._get(regs.MAP_VALUE_WINDOW, value_bytes)

    async def update(self, map_id: int, key: bytes, value: bytes, flags: int) -> int:
        key_size, value_bytes = self._sizes(map_id)
        value = bytes(value)
        size = self.specs[map_id].value_size
        if len(value) == size and value_bytes != size:
            value = value * (value_bytes // size)     # one value for every engine's copy
        if len(value) != value_bytes:
            raise TransportError(f"map {map_id}: a value is {value_bytes} bytes "
                                 f"({value_bytes // size} x {size}), not {len(value)}")
        if not 0 <= flags <= 0xFF:
            return -errno.EINVAL
        await self._put(regs.MAP_KEY_WINDOW, bytes(key)[:key_size])
        await self._put(regs.MAP_VALUE_WINDOW, value)
        return await self._command(regs.MapOp.UPDATE, map_id, flags)

    async def delete(self, map_id: int, key: bytes) -> int:
        key_size, _value = self._sizes(map_id)
        await self._put(regs.MAP_KEY_WINDOW, bytes(key)[:key_size])
        return await self._command(regs.MapOp.DELETE, map_id)

    async def next_key(self, map_id: int, key: bytes | None) -> bytes | None:
        key_size, _value = self._sizes(map_id)
        if key is not None:
            await self._put(regs.MAP_KEY_WINDOW, bytes(key)[:key_size])
        result = await self._command(regs.MapOp.NEXT_KEY, map_id, 1 if key is None else 0)
        if result == -errno.ENOENT:
            return None
        if result:
            raise MapCommandError(f"next key in map {map_id} failed: {_errno_text(result)}")
        return await self._get(regs.MAP_KEY_WINDOW, key_size)
