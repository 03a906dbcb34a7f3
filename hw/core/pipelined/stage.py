"""A pipeline stage register: a payload (a ``data`` layout) and its valid bit, with explicit
stall and kill.

Each cycle a stage either takes what the stage before offers (``in_valid``/``in_payload``),
holds what it has (``stall``: the stage after cannot take it yet), or empties (``kill``: a
redirect or a trap after it makes its instruction wrong-path).  Kill wins over stall.  A
stage offers its contents to the next one with ``valid``/``payload``; the stage before may
move on this cycle when ``~stall`` (it is overwritten or emptied).
"""

from amaranth.hdl import Signal

__all__ = ["Stage"]


class Stage:
    """One stage register (not a component: its signals belong to the sequencer that owns it).

    Parameters
    ----------
    name : str
        Prefix of the signal names (``f``, ``d``, ``x``: the stage's letter).
    layout : data.Layout
        What the stage holds besides its valid bit.
    """

    def __init__(self, name: str, layout):
        self.name = name
        self.valid = Signal(name=f"{name}_valid")
        self.payload = Signal(layout, name=f"{name}_payload")
        self.stall = Signal(name=f"{name}_stall")
        self.kill = Signal(name=f"{name}_kill")
        self.in_valid = Signal(name=f"{name}_in_valid")
        self.in_payload = Signal(layout, name=f"{name}_in_payload")

    def elaborate(self, m) -> None:
        """Add the register's update rule to module ``m``."""
        with m.If(self.kill):
            m.d.sync += self.valid.eq(0)
        with m.Elif(~self.stall):
            m.d.sync += [self.valid.eq(self.in_valid), self.payload.eq(self.in_payload)]
