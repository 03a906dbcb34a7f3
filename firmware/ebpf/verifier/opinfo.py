"""An ``isa.OpSpec``'s derived fields, computed once per table row.

``OpSpec``'s properties (``cls``, ``alu_op``, ...) build an enum on every access; the
verifier reads them for every instruction it processes, where that dominated the profile.
"""

from __future__ import annotations

__all__ = ["FastSpec", "fast_spec"]


class FastSpec:
    """An ``isa.OpSpec``'s derived fields, computed once (its properties build enums on
    every access, which dominated the walk's profile)."""
    __slots__ = ("fmt", "cls", "alu_op", "jmp_op", "size", "mode", "src_is_reg", "mnemonic")

    def __init__(self, spec):
        self.fmt, self.cls, self.mnemonic = spec.fmt, spec.cls, spec.mnemonic
        self.src_is_reg = spec.src_is_reg
        self.size = _or_none(lambda: spec.size)
        self.mode = _or_none(lambda: spec.mode)
        self.alu_op = _or_none(lambda: spec.alu_op)
        self.jmp_op = _or_none(lambda: spec.jmp_op)


def _or_none(get):
    try:
        return get()
    except ValueError:
        return None


_SPECS: dict[int, tuple] = {}


def fast_spec(spec) -> FastSpec:
    got = _SPECS.get(id(spec))
    if got is None or got[0] is not spec:
        got = _SPECS[id(spec)] = (spec, FastSpec(spec))
    return got[1]
