"""The pipelined eBPF core (docs/core.md): its own sequencer, LSU, ALU and multiplier, the
other units shared with :mod:`hw.core`; composed by :mod:`hw.core.pipelined.core`."""
