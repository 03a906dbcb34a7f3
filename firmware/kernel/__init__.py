"""The Linux kernel as a target and a judge: the ``bpf()`` system call (``bpf``), programs
wrapped to the conformance suite's calling convention (``wrap``, ``runner``), the conformance
target (``conformance``) and XDP test runs with maps (``xdp``).  See docs/kernel-target.md.
"""
