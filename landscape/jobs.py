"""Independent jobs of a sweep, run through Dask.

A sweep (learning rates, temperatures, seeds, ...) is a list of independent
jobs. :func:`run_jobs` sends them to a Dask scheduler: a local cluster of
single-threaded worker processes by default, an existing scheduler when an
address is given (so the same command scales to a SLURM cluster through
``dask-jobqueue``), or in-process and in order with ``scheduler="sync"``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["quiet_dask_logging", "run_jobs"]


def quiet_dask_logging(level: int = logging.ERROR) -> None:
    """Silence Dask's own chatter (nannies, workers, shutdown notices).

    For command-line front ends: a failed job still raises. ``distributed``
    sets its loggers' levels when it is imported, so it is imported first.
    """
    import distributed  # noqa: F401

    logging.getLogger("distributed").setLevel(level)


def run_jobs(
    func: Callable[..., Any],
    jobs: Sequence[dict[str, Any]],
    *,
    scheduler: str | None = None,
    n_workers: int = 2,
    on_done: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    """Run ``func(**job)`` for every job and return the results in order.

    Args:
        func: a picklable top-level function.
        jobs: keyword arguments of each call.
        scheduler: ``None`` starts a local cluster with ``n_workers``
            single-threaded processes; ``"sync"`` runs in this process, in
            order; any other string is the address of a running scheduler
            (for example ``"tcp://10.0.0.1:8786"``).
        n_workers: worker processes of the local cluster.
        on_done: called as ``on_done(index, result)`` as each job finishes
            (a CLI uses it to advance a progress bar).

    A job that raises stops the sweep with that job's exception; results of
    jobs that already finished have been passed to ``on_done``.
    """
    if n_workers < 1:
        raise ValueError(f"n_workers must be >= 1, got {n_workers}")
    results: list[Any] = [None] * len(jobs)
    if scheduler == "sync":
        for i, job in enumerate(jobs):
            results[i] = func(**job)
            if on_done is not None:
                on_done(i, results[i])
        return results

    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: sweeps may run side by side
        )
        client = Client(cluster)
    else:
        client = Client(scheduler)
    logger.info("running %d jobs on %s", len(jobs), client.scheduler.address)
    try:
        futures = [client.submit(func, pure=False, **job) for job in jobs]
        index = {f.key: i for i, f in enumerate(futures)}
        for future in as_completed(futures):
            i = index[future.key]
            results[i] = future.result()
            if on_done is not None:
                on_done(i, results[i])
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return results
