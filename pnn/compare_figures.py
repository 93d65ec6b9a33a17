"""Figures of the ``pnn compare`` study (matplotlib, PNG, no display needed).

* ``accuracy_vs_evaluations.png``: physical test accuracy against cumulative
  physical evaluations, one curve per (network, method) of the first data set
  (methods that spend none are drawn as a marker at the left edge).
* ``accuracy_vs_depth.png``: physical (solid) and digital (dashed) test
  accuracy against the number of substrate layers.
* ``accuracy_vs_noise.png``: physical test accuracy against the noise level.
* ``cyclic_hessian.png``: top Hessian eigenvalue of the digital model under
  plain and cyclic cross-entropy, with the edge of stability ``2 / lr``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

__all__ = ["plot_compare"]


def _accuracy_vs_evaluations(pairs, path: Path) -> None:
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    dataset = pairs[0][0]["dataset"]
    curves: dict[str, list] = {}
    for job, res in pairs:
        if job["dataset"] != dataset:
            continue
        label = f"{job['network']['name']}/{job['method']['method']}"
        curves.setdefault(label, []).append(res["history"])
    for label, histories in sorted(curves.items()):
        evals = np.mean([h["physical_evaluations"] for h in histories], axis=0)
        acc = np.mean([h["accuracy_physical"] for h in histories], axis=0)
        if not evals.any():
            label += " (0 evals, drawn at 1)"
        evals = np.maximum(evals, 1.0)  # zero-cost methods at the left edge
        ax.plot(evals, acc, marker="o", ms=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("physical evaluations (samples through the device)")
    ax.set_ylabel(f"test accuracy on the physical system ({dataset})")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _sweep(arrays, methods, xlabel: str, path: Path, model_too: bool) -> None:
    points, acc = arrays
    fig = Figure(figsize=(5, 3.6))
    ax = fig.subplots()
    for i, method in enumerate(methods):
        (line,) = ax.plot(
            points, acc["accuracy_physical"][i].mean(-1), marker="o", label=method
        )
        if model_too:
            ax.plot(
                points,
                acc["accuracy_model"][i].mean(-1),
                ls="--",
                color=line.get_color(),
                alpha=0.6,
            )
    ax.set_xticks(points)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (physical; dashed: digital)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _cyclic(record, path: Path) -> None:
    fig = Figure(figsize=(5, 3.6))
    ax = fig.subplots()
    for i, amplitude in enumerate(record["amplitude"]):
        ax.plot(record["step"], record["top_eigenvalue"][i], label=f"A = {amplitude:g}")
    ax.axhline(float(record["edge_of_stability"]), color="k", ls=":", label="2 / lr")
    ax.set_xlabel("step")
    ax.set_ylabel("top Hessian eigenvalue")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot_compare(
    result: dict[str, Any], config, out_dir: str | os.PathLike
) -> list[Path]:
    """Draw the study's figures into ``out_dir``; returns the files written.

    Args:
        result: the return value of :func:`pnn.compare.run_compare`.
        config: the :class:`pnn.compare.CompareConfig` that produced it.
        out_dir: destination folder.
    """
    out = Path(out_dir)
    written = []
    if result["pairs"]:
        path = out / "accuracy_vs_evaluations.png"
        _accuracy_vs_evaluations(result["pairs"], path)
        written.append(path)
    if result["depth"] is not None:
        path = out / "accuracy_vs_depth.png"
        _sweep(result["depth"], config.depth_sweep.methods, "layers", path, True)
        written.append(path)
    if result["noise"] is not None:
        path = out / "accuracy_vs_noise.png"
        label = f"{config.noise_sweep.field} level"
        _sweep(result["noise"], config.noise_sweep.methods, label, path, False)
        written.append(path)
    if result["cyclic"] is not None:
        path = out / "cyclic_hessian.png"
        _cyclic(result["cyclic"], path)
        written.append(path)
    logger.info("figures: %s", ", ".join(str(p) for p in written))
    return written
