"""The underparameterised spiral study: static versus cyclic cross-entropy.

A narrow 2-W-3 ReLU MLP on the 3-arm spiral (100 points per class), trained
by full-batch gradient descent at lr = 1 in float64, once with plain
cross-entropy (A = 1) and once with the cyclic loss (A = 70, ending with one
static period), over several seeds. This is the toy experiment of
Ruiz-Garcia et al. (ICML 2021) with the paper's protocol (T = 5000, 14
periods, the last one static) except that spectra are recorded every 100
steps instead of every 25, which keeps it to minutes on two cores.

:func:`run_demo` writes one run file per (amplitude, seed), the figures
``curves.png`` (accuracy, loss, class weights, top Hessian eigenvalue with
the 2 / lr line) and ``ntk.png``, and ``summary.json`` (the table).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydantic

from landscape.config import FrozenConfig, parse_config
from landscape.jobs import run_jobs
from landscape.plots import plot_ntk_spectrum, plot_training_curves
from landscape.recording import read_run
from landscape.records import atomic_path
from landscape.run_config import TrainConfig
from landscape.sweep import training_job

logger = logging.getLogger(__name__)

__all__ = ["DemoConfig", "demo_configs", "run_demo", "summarise"]


class DemoConfig(FrozenConfig):
    """Size of the spiral study.

    Attributes:
        width: hidden width W of the 2-W-3 MLP.
        seeds: parameter seeds (the data set is the same for all).
        amplitudes: loss amplitudes compared (1 is plain cross-entropy).
        period: T in steps.
        num_periods: periods per run; the last one is static (A = 1).
        learning_rate: gradient-descent step size.
        record_every: steps between records (Hessian top eigenvalue by 10
            Lanczos steps; NTK on 50 fixed inputs).
    """

    width: pydantic.PositiveInt = 16
    seeds: list[int] = pydantic.Field(default=[0, 1, 2], min_length=1)
    amplitudes: list[float] = pydantic.Field(default=[1.0, 70.0], min_length=1)
    period: pydantic.PositiveInt = 5000
    num_periods: pydantic.PositiveInt = 14
    learning_rate: pydantic.PositiveFloat = 1.0
    record_every: pydantic.PositiveInt = 100


def demo_configs(demo: DemoConfig) -> list[tuple[str, TrainConfig]]:
    """``(file stem, config)`` of every run of the study."""
    out = []
    for amp in demo.amplitudes:
        for seed in demo.seeds:
            cfg = {
                "dataset": {"name": "spiral", "num_per_class": 100, "seed": 0},
                "model": {"kind": "mlp", "widths": [demo.width]},
                "loss": {
                    "kind": "cross_entropy",
                    "amplitude": amp,
                    "period": demo.period,
                    "final_static_periods": 1,
                },
                "optimizer": {"name": "sgd", "learning_rate": demo.learning_rate},
                "num_steps": demo.period * demo.num_periods,
                "seed": seed,
                "dtype": "float64",
                "record_every": demo.record_every,
                "hessian_k": 1,
                "hessian_lanczos_steps": 10,
                "ntk_k": 10,
                "ntk_subset": 50,
                "checkpoint_every": demo.period,
            }
            stem = f"spiral_W{demo.width}_A{amp:g}_seed{seed}"
            out.append((stem, parse_config(TrainConfig, cfg, source=stem)))
    return out


def summarise(
    results: list[dict[str, Any]], amplitudes: list[float], learning_rate: float
) -> list[dict[str, Any]]:
    """Seed mean and spread (standard deviation) per amplitude.

    Args:
        results: :func:`landscape.sweep.training_job` results with an extra
            ``amplitude`` key.
        amplitudes: the amplitudes, in table order.
        learning_rate: for the ratio of the top eigenvalue to 2 / lr.

    Returns:
        One row per amplitude: ``amplitude``, ``seeds``, and ``mean``/``std``
        of ``train_accuracy``, ``test_accuracy``, ``max_top_over_2_lr``.
    """
    rows = []
    for amp in amplitudes:
        mine = [r for r in results if r["amplitude"] == amp]
        stats = {
            "train_accuracy": [r["final_train_accuracy"] for r in mine],
            "test_accuracy": [r["final_test_accuracy"] for r in mine],
            "max_top_over_2_lr": [
                r["max_hessian_top"] * learning_rate / 2.0 for r in mine
            ],
        }
        row: dict[str, Any] = {"amplitude": amp, "seeds": len(mine)}
        for key, values in stats.items():
            row[key] = {"mean": float(np.mean(values)), "std": float(np.std(values))}
        rows.append(row)
    return rows


def run_demo(
    demo: DemoConfig,
    out_dir: str | os.PathLike,
    *,
    scheduler: str | None = None,
    n_workers: int = 2,
    on_done: Callable[[int, Any], None] | None = None,
) -> dict[str, Any]:
    """Run the study (through :func:`landscape.jobs.run_jobs`) and write its
    files to ``out_dir``.

    Returns:
        ``{"rows": summary table, "files": written paths, "results": per-run
        summaries}``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = demo_configs(demo)
    jobs = [
        {"config": cfg.to_dict(), "out_path": str(out_dir / f"{stem}.h5")}
        for stem, cfg in runs
    ]
    results = run_jobs(
        training_job, jobs, scheduler=scheduler, n_workers=n_workers, on_done=on_done
    )
    for (_, cfg), res in zip(runs, results, strict=True):
        res["amplitude"] = cfg.loss.amplitude
    rows = summarise(results, list(demo.amplitudes), demo.learning_rate)

    curves = [(f"A = {r['amplitude']:g}", read_run(r["out_path"])[0]) for r in results]
    files = [Path(r["out_path"]) for r in results]
    plot_training_curves(
        curves, out_dir / "curves.png", learning_rate=demo.learning_rate
    )
    plot_ntk_spectrum(curves, out_dir / "ntk.png")
    with atomic_path(out_dir / "summary.json") as tmp:
        tmp.write_text(json.dumps({"demo": demo.to_dict(), "rows": rows}, indent=2))
    files += [out_dir / "curves.png", out_dir / "ntk.png", out_dir / "summary.json"]
    return {
        "rows": rows,
        "files": files,
        "results": [
            {k: v for k, v in r.items() if k not in ("late_loss", "late_top")}
            for r in results
        ],
    }
