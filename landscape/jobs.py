"""Independent jobs of a sweep, run through Dask.

A sweep (learning rates, temperatures, seeds, ...) is a list of independent
jobs. :func:`run_jobs` sends them to a Dask scheduler: a local cluster of
single-threaded worker processes by default, an existing scheduler when an
address is given (so the same command scales to a SLURM cluster through
``dask-jobqueue``), or in-process and in order with ``scheduler="sync"``.

**One CPU per local worker.** XLA's CPU client sizes its intra-op thread
pool to the CPUs the process may run on. A batched LAPACK custom call (the LU
factorisation behind ``jnp.linalg.solve``) splits its batch over that pool and
blocks until the pieces finish; when as many such calls run concurrently as
the pool has threads, every pool thread waits for work that only a pool
thread can do, and the process hangs with all threads in a futex wait
(measured with the resistor network before 9f29ca9: its test-set scoring hung after
about 50 calls on 2 cores; pinned to one CPU, 180 calls ran through). A pool
of one thread runs the batch inline and cannot deadlock, so the local
cluster's workers are pinned to one CPU each (:func:`pin_to_one_cpu`) before
they run a job; that also matches ``threads_per_worker=1``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["pin_to_one_cpu", "quiet_dask_logging", "run_jobs"]


def quiet_dask_logging(level: int = logging.ERROR) -> None:
    """Silence Dask's own chatter (nannies, workers, shutdown notices).

    For command-line front ends: a failed job still raises. ``distributed``
    sets its loggers' levels when it is imported, so it is imported first.
    """
    import distributed  # noqa: F401

    logging.getLogger("distributed").setLevel(level)


def pin_to_one_cpu(index: int = 0) -> int | None:
    """Restrict this process to one CPU (the ``index``-th allowed one, cyclic).

    Must run before JAX creates its CPU client (the first computation): the
    client sizes its thread pool then. Returns the CPU, or ``None`` where the
    platform cannot set affinities (the call then does nothing).
    """
    if not hasattr(os, "sched_setaffinity"):
        logger.info("pin_to_one_cpu: no sched_setaffinity on this platform")
        return None
    try:
        from jax._src import xla_bridge

        if xla_bridge.backends_are_initialized():
            # Info, not warning: a Dask worker that imported a module which
            # already computed with JAX lands here on every sweep; the
            # affinity still applies, only the pool size is fixed.
            logger.info(
                "pin_to_one_cpu: JAX's CPU client already exists; its thread "
                "pool keeps its size (pin before the first computation)"
            )
    except ImportError:  # pragma: no cover - jax is a dependency
        pass
    cpus = sorted(os.sched_getaffinity(0))
    cpu = cpus[index % len(cpus)]
    os.sched_setaffinity(0, {cpu})
    return cpu


def _one_cpu_per_worker():
    """A worker plugin that pins each local worker (names 0, 1, ...) to its
    own CPU; re-run by Dask on a restarted worker."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class OneCpuPerWorker(WorkerPlugin):
        name = "landscape-one-cpu-per-worker"

        def setup(self, worker) -> None:
            name = worker.name
            pin_to_one_cpu(name if isinstance(name, int) else 0)

    return OneCpuPerWorker()


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
            single-threaded processes, each pinned to one CPU; ``"sync"``
            runs in this process, in order; any other string is the address
            of a running scheduler (for example ``"tcp://10.0.0.1:8786"``).
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
        client.register_plugin(_one_cpu_per_worker())
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
