"""The Linux kernel as a target and a judge: the ``bpf()`` system call (``bpf``), programs
wrapped to the conformance suite's calling convention (``wrap``, ``runner``), the conformance
target (``conformance``), XDP test runs with maps (``xdp``), the ``xdpnic run`` target
(``run``) and the kernel's time per packet (``bench``).  See docs/kernel-target.md.
"""
