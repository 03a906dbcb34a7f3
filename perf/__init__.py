"""Experiments on the NIC: ``xdpnic bench`` and ``xdpnic report`` run here, the commands only
parse options and print.

- :mod:`perf.linerate`: wire time and line rates (frame sizes count the FCS).
- :mod:`perf.throughput`: one program's throughput and latency through the fast harness.
- :mod:`perf.anchors`: the published figures the NIC is compared with.
- :mod:`perf.synthesis`: the saved ``xdpnic synth`` results (Fmax, the clock reached).
- :mod:`perf.main_paths`: the path each firmware program is measured on.
- :mod:`perf.runs`: the report's rows (one per program x size x engines), provenance.
- :mod:`perf.bench_runs`: ``xdpnic bench``'s rows (RTL and kernel), its table and CSV.
- :mod:`perf.verdicts`: the design targets' verdicts and the cycle breakdown.
- :mod:`perf.render`: docs/performance.md; :mod:`perf.plots`: the PNGs of both commands.
- :mod:`perf.sweep`: one task per configuration on a Dask cluster.
"""
