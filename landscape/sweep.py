"""Sweeps of training runs over learning rates, amplitudes and periods.

Each point of the grid ``learning_rates x amplitudes x periods`` is an
independent :func:`landscape.training.train` run, sent through
:func:`landscape.jobs.run_jobs` (a local Dask cluster by default). A run that
diverges is a result, not an error: its status is recorded. The sweep writes
one run file per point, a summary file ``sweep.h5`` and a bifurcation diagram
per (amplitude, period): late-time training loss and top Hessian eigenvalue
against the learning rate, with the stability line 2 / lr.

``sweep.h5`` layout::

    /  attrs: config_json (the SweepConfig), glassland_version
    learning_rate, amplitude, period   float64/int64 [runs]
    final_train_accuracy, final_test_accuracy, max_hessian_top  [runs]
    late_loss_median, late_top_median  [runs]  over the last late_fraction
    diverged_step                      int64 [runs]  (-1: finished)
    run_file                           str   [runs]  relative to the folder
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pydantic

from landscape.config import FrozenConfig, parse_config
from landscape.jobs import run_jobs
from landscape.plots import plot_bifurcation
from landscape.recording import read_run
from landscape.records import atomic_h5, write_config_attrs
from landscape.run_config import TrainConfig
from landscape.training import TrainingDiverged, train

logger = logging.getLogger(__name__)

__all__ = ["SweepConfig", "run_sweep", "sweep_configs", "training_job"]


class SweepConfig(FrozenConfig):
    """A grid of runs around one base config.

    Attributes:
        base: the run every point starts from.
        learning_rates: swept learning rates.
        amplitudes: swept loss amplitudes A (empty: the base's).
        periods: swept loss periods T (empty: the base's).
        late_fraction: share of the records (the latest) summarised as
            late-time values.
    """

    base: TrainConfig = TrainConfig()
    learning_rates: list[pydantic.PositiveFloat] = pydantic.Field(min_length=1)
    amplitudes: list[Annotated[float, pydantic.Field(ge=1.0)]] = []
    periods: list[pydantic.PositiveInt] = []
    late_fraction: float = pydantic.Field(default=0.25, gt=0.0, le=1.0)


def sweep_configs(config: SweepConfig) -> list[TrainConfig]:
    """The run configs of the grid, learning rate varying fastest."""
    base = config.base.to_dict()
    amps = config.amplitudes or [config.base.loss.amplitude]
    periods = config.periods or [config.base.loss.period]
    out = []
    for period, amp, lr in itertools.product(periods, amps, config.learning_rates):
        run = dict(base)
        run["loss"] = dict(base["loss"], amplitude=amp, period=period)
        run["optimizer"] = dict(base["optimizer"], learning_rate=lr)
        out.append(parse_config(TrainConfig, run, source="sweep point"))
    return out


def training_job(
    config: dict[str, Any], out_path: str, late_fraction: float = 0.25
) -> dict[str, Any]:
    """Train one run (a picklable job for :func:`landscape.jobs.run_jobs`).

    Args:
        config: a :class:`~landscape.run_config.TrainConfig` as a dict.
        out_path: its run file.
        late_fraction: share of the latest records summarised.

    Returns:
        A dict of summary numbers (final accuracies, the largest recorded top
        Hessian eigenvalue, late-time losses and eigenvalues, the step at
        which it diverged or -1).
    """
    cfg = parse_config(TrainConfig, config)
    diverged = -1
    try:
        train(cfg, out_path)
    except TrainingDiverged as err:
        diverged = err.step
    rec, _ = read_run(out_path)
    n = len(rec["step"])
    late = slice(n - max(1, int(round(late_fraction * n))), n)
    top = rec["hessian_top"][:, 0] if rec["hessian_top"].shape[1] else np.zeros(n)
    return {
        "out_path": str(out_path),
        "diverged_step": diverged,
        "final_train_accuracy": float(rec["train_accuracy"][-1]),
        "final_test_accuracy": float(rec["test_accuracy"][-1]),
        "max_hessian_top": float(np.max(top)),
        "late_loss": rec["cross_entropy"][late],
        "late_top": top[late],
    }


def run_sweep(
    config: SweepConfig,
    out_dir: str | os.PathLike,
    *,
    scheduler: str | None = None,
    n_workers: int = 2,
    on_done: Callable[[int, Any], None] | None = None,
) -> list[dict[str, Any]]:
    """Run the grid, write ``sweep.h5`` and bifurcation figures to ``out_dir``.

    Returns:
        The :func:`training_job` results, in grid order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = sweep_configs(config)
    names = [
        f"lr{c.optimizer.learning_rate:g}_A{c.loss.amplitude:g}_T{c.loss.period}.h5"
        for c in runs
    ]
    jobs = [
        {
            "config": c.to_dict(),
            "out_path": str(out_dir / name),
            "late_fraction": config.late_fraction,
        }
        for c, name in zip(runs, names, strict=True)
    ]
    results = run_jobs(
        training_job, jobs, scheduler=scheduler, n_workers=n_workers, on_done=on_done
    )
    _write_summary(out_dir / "sweep.h5", config, runs, names, results)
    for (period, amp), idx in _groups(runs).items():
        plot_bifurcation(
            [runs[i].optimizer.learning_rate for i in idx],
            [results[i]["late_loss"] for i in idx],
            [results[i]["late_top"] for i in idx],
            out_dir / f"bifurcation_A{amp:g}_T{period}.png",
        )
    return results


def _groups(runs: list[TrainConfig]) -> dict[tuple[int, float], list[int]]:
    groups: dict[tuple[int, float], list[int]] = {}
    for i, c in enumerate(runs):
        groups.setdefault((c.loss.period, c.loss.amplitude), []).append(i)
    return groups


def _write_summary(path, config, runs, names, results) -> None:
    with atomic_h5(path) as f:
        write_config_attrs(f, config.to_dict())
        f["learning_rate"] = [c.optimizer.learning_rate for c in runs]
        f["amplitude"] = [c.loss.amplitude for c in runs]
        f["period"] = np.asarray([c.loss.period for c in runs], np.int64)
        for key in ("final_train_accuracy", "final_test_accuracy", "max_hessian_top"):
            f[key] = [r[key] for r in results]
        f["late_loss_median"] = [float(np.median(r["late_loss"])) for r in results]
        f["late_top_median"] = [float(np.median(r["late_top"])) for r in results]
        f["diverged_step"] = np.asarray([r["diverged_step"] for r in results])
        f["run_file"] = np.asarray(names, dtype=object).astype("S")
