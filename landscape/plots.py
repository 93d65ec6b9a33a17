"""Figures of training runs and sweeps (PNG, matplotlib without pyplot).

Figures are built on :class:`matplotlib.figure.Figure` directly, so no
global backend is selected and nothing is shown on screen.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

__all__ = ["plot_bifurcation", "plot_ntk_spectrum", "plot_training_curves"]

Records = Mapping[str, np.ndarray]


def _colours(labels: Sequence[str]) -> dict[str, str]:
    unique = list(dict.fromkeys(labels))
    return {label: f"C{i}" for i, label in enumerate(unique)}


def plot_training_curves(
    runs: Sequence[tuple[str, Records]],
    path: str | os.PathLike,
    *,
    learning_rate: float,
) -> None:
    """Accuracy, loss, class weights and top Hessian eigenvalue against step.

    Args:
        runs: ``(label, records)`` pairs; runs sharing a label (seeds) share a
            colour.
        path: output PNG.
        learning_rate: draws the edge-of-stability line 2 / lr.
    """
    colours = _colours([label for label, _ in runs])
    fig = Figure(figsize=(11, 8), layout="constrained")
    ax = fig.subplots(2, 2)
    seen: set[str] = set()
    for label, rec in runs:
        c, step = colours[label], rec["step"]
        name = None if label in seen else label
        seen.add(label)
        ax[0, 0].plot(step, rec["train_accuracy"], color=c, lw=0.8, label=name)
        ax[0, 0].plot(step, rec["test_accuracy"], color=c, lw=0.8, ls="--")
        ax[0, 1].plot(step, rec["cross_entropy"], color=c, lw=0.8, label=name)
        if rec["hessian_top"].shape[1]:
            ax[1, 1].plot(step, rec["hessian_top"][:, 0], color=c, lw=0.6, label=name)
    cyclic = max(runs, key=lambda run: np.ptp(run[1]["class_weights"]))[1]
    for i in range(cyclic["class_weights"].shape[1]):
        ax[1, 0].plot(cyclic["step"], cyclic["class_weights"][:, i], label=f"class {i}")
    ax[1, 1].axhline(2.0 / learning_rate, color="k", ls=":", label="2 / lr")
    ax[1, 1].set_yscale("log")
    titles = [
        ("accuracy (solid train, dashed test)", "accuracy"),
        ("plain cross-entropy (train)", "loss"),
        ("class weights of the most cyclic run", "Gamma_i"),
        ("top Hessian eigenvalue", "lambda_max"),
    ]
    for a, (title, ylabel) in zip(ax.flat, titles, strict=True):
        a.set_title(title)
        a.set_xlabel("step")
        a.set_ylabel(ylabel)
        a.legend(fontsize=8)
    fig.savefig(path, dpi=120)
    logger.info("wrote %s", path)


def plot_ntk_spectrum(
    runs: Sequence[tuple[str, Records]], path: str | os.PathLike
) -> None:
    """Top NTK eigenvalues: against step (largest) and by rank at the end."""
    colours = _colours([label for label, _ in runs])
    fig = Figure(figsize=(11, 4), layout="constrained")
    ax = fig.subplots(1, 2)
    seen: set[str] = set()
    for label, rec in runs:
        if not rec["ntk_top"].shape[1]:
            continue
        c = colours[label]
        name = None if label in seen else label
        seen.add(label)
        ax[0].plot(rec["step"], rec["ntk_top"][:, 0], color=c, lw=0.6, label=name)
        final = rec["ntk_top"][-1]
        ax[1].plot(np.arange(1, final.size + 1), final, "o-", color=c, label=name)
    ax[0].set(title="largest NTK eigenvalue", xlabel="step", yscale="log")
    ax[1].set(title="NTK spectrum at the end", xlabel="rank", yscale="log")
    for a in ax:
        a.legend(fontsize=8)
    fig.savefig(path, dpi=120)
    logger.info("wrote %s", path)


def plot_bifurcation(
    values: Sequence[float],
    late_losses: Sequence[np.ndarray],
    late_top: Sequence[np.ndarray],
    path: str | os.PathLike,
    *,
    parameter: str = "learning rate",
    stability_line: bool = True,
) -> None:
    """Bifurcation diagram: late-time records against a swept parameter.

    Args:
        values: the swept values (one per run).
        late_losses: per run, the training losses recorded late in the run.
        late_top: per run, the late top Hessian eigenvalues.
        path: output PNG.
        parameter: x-axis label.
        stability_line: draw 2 / lr on the eigenvalue panel (a learning-rate
            sweep).
    """
    fig = Figure(figsize=(11, 4), layout="constrained")
    ax = fig.subplots(1, 2)
    for v, loss, top in zip(values, late_losses, late_top, strict=True):
        ax[0].plot(np.full(len(loss), v), loss, ",", color="k", alpha=0.5)
        ax[1].plot(np.full(len(top), v), top, ",", color="k", alpha=0.5)
        ax[0].plot(v, np.median(loss), "o", color="C0", ms=4)
        ax[1].plot(v, np.median(top) if len(top) else np.nan, "o", color="C0", ms=4)
    if stability_line:
        grid = np.geomspace(min(values), max(values), 100)
        ax[1].plot(grid, 2.0 / grid, "r:", label="2 / lr")
        ax[1].legend(fontsize=8)
    ax[0].set(xlabel=parameter, ylabel="late training loss", xscale="log")
    ax[1].set(xlabel=parameter, ylabel="late top Hessian eigenvalue")
    ax[1].set(xscale="log", yscale="log")
    fig.savefig(path, dpi=120)
    logger.info("wrote %s", path)
