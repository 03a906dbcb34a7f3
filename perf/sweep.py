"""Sweeps on Dask: one task per configuration, on this machine or on a cluster.

:func:`run` submits ``function(config)`` for every configuration to a ``dask.distributed``
scheduler and returns the results in the order of the configurations, so a sweep's output
does not depend on which worker finished first.  Where the tasks go:

- ``scheduler`` ``tcp://HOST:PORT`` (or the ``DASK_SCHEDULER_ADDRESS`` environment variable):
  an existing cluster (``dask scheduler`` and ``dask worker`` processes, docs/bench.md).  Its
  workers import this project, so each runs from a checkout of the same commit.
- otherwise a ``LocalCluster`` of ``workers`` processes (default: this machine's cores), one
  thread each: the simulator is single-threaded and holds the GIL in its Python parts.
- ``workers`` 0: no Dask, the tasks run one after the other in this process.

The Verilated NIC a task needs is built by the task itself (:func:`sim.fast.build`): keyed by
a hash of its sources and locked, so each configuration is built once per build directory,
once per machine, or once for a cluster whose workers share ``XDPNIC_SIM_BUILD``.
"""

import os
import sys

__all__ = ["SCHEDULER_ENV", "SweepError", "scheduler_address", "run"]

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
# How long to try to reach a scheduler before giving up.
CONNECT_TIMEOUT = "20s"


class SweepError(RuntimeError):
    """The scheduler could not be reached or a worker was lost."""


def scheduler_address(scheduler: str | None) -> str | None:
    """The cluster to use: ``scheduler``, else ``$DASK_SCHEDULER_ADDRESS``, else None (a
    local one)."""
    return scheduler or os.environ.get(SCHEDULER_ENV) or None


def run(function, configs: list, *, scheduler: str | None = None, workers: int | None = None,
        show_progress: bool = True, unit: str = "runs") -> list:
    """``[function(c) for c in configs]``, one Dask task per configuration (see the module
    docstring for where they run).  ``function`` and the configurations must pickle; an
    exception in a task is raised here.  A progress bar counts finished tasks on a terminal."""
    configs = list(configs)
    address = scheduler_address(scheduler)
    if workers is not None and workers < 0:
        raise SweepError(f"workers must be 0 or more, not {workers}")
    bar = None
    if show_progress and sys.stderr.isatty() and configs:
        from tqdm import tqdm
        bar = tqdm(total=len(configs), unit=unit, file=sys.stderr, leave=False)
    try:
        if address is None and workers == 0:
            results = []
            for config in configs:
                results.append(function(config))
                if bar is not None:
                    bar.update(1)
            return results
        return _on_dask(function, configs, address, workers, bar)
    finally:
        if bar is not None:
            bar.close()


def _on_dask(function, configs, address, workers, bar) -> list:
    import logging

    from distributed import Client, KilledWorker, LocalCluster, as_completed
    cluster = None
    try:
        if address is None:
            # Its HTTP server on a free port: several sweeps may run at once (test workers).
            cluster = LocalCluster(n_workers=min(workers or os.cpu_count() or 1, len(configs)),
                                   threads_per_worker=1, processes=True,
                                   dashboard_address=":0", silence_logs=logging.ERROR)
            client = Client(cluster)
        else:
            client = Client(address, timeout=CONNECT_TIMEOUT)
    except OSError as exc:
        raise SweepError(f"cannot reach the Dask scheduler {address}: {exc}") from None
    try:
        # pure=False: every configuration is its own task even when two are equal.
        futures = client.map(function, configs, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        results = [None] * len(configs)
        for future in as_completed(futures):
            try:
                results[index[future.key]] = future.result()
            except KilledWorker as exc:
                raise SweepError(f"configuration {index[future.key] + 1} of {len(configs)}: "
                                 f"the workers running it died ({exc})") from None
            if bar is not None:
                bar.update(1)
        return results
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
