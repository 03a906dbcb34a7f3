"""The eBPF execution core: one hardware unit per module, composed by :mod:`hw.core.core`."""
