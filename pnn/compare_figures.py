"""Figures of the ``pnn compare`` study (matplotlib, PNG, no display needed).

* ``accuracy_vs_evaluations.png``: physical test accuracy against cumulative
  physical evaluations, one panel per network of the first data set, one
  curve per method (methods that spend none are dashed horizontal lines at
  their final accuracy).
* ``accuracy_vs_depth.png``: physical (solid) and digital (dashed, open
  markers) test accuracy against the number of substrate layers.
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
from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

logger = logging.getLogger(__name__)

__all__ = ["plot_compare"]


#: one colour and marker per method, the same in every panel and figure
_METHOD_STYLE = {
    "backprop": ("tab:gray", "o"),
    "in_silico": ("tab:blue", "s"),
    "noise_aware": ("tab:cyan", "v"),
    "physics_aware": ("tab:orange", "o"),
    "feedback_alignment": ("tab:red", "^"),
    "forward_forward": ("tab:green", "D"),
    "spsa": ("tab:purple", "P"),
    "equilibrium": ("tab:brown", "X"),
    "coupled_learning": ("tab:olive", "*"),
}


def _style(method: str) -> tuple[str, str]:
    return _METHOD_STYLE.get(method, ("k", "o"))


def _accuracy_vs_evaluations(pairs, path: Path) -> None:
    """One panel per network of the first data set; methods that spend no
    physical evaluations are horizontal lines at their final accuracy."""
    dataset = pairs[0][0]["dataset"]
    curves: dict[str, dict[str, list]] = {}
    for job, res in pairs:
        if job["dataset"] != dataset:
            continue
        network = job["network"]["name"]
        curves.setdefault(network, {}).setdefault(job["method"]["method"], []).append(
            res["history"]
        )
    networks = list(curves)
    fig = Figure(figsize=(5.2 * len(networks), 4.4))
    axes = np.atleast_1d(fig.subplots(1, len(networks), sharey=True))
    for ax, network in zip(axes, networks, strict=True):
        for method, histories in curves[network].items():
            color, marker = _style(method)
            evals = np.mean([h["physical_evaluations"] for h in histories], axis=0)
            acc = np.mean([h["accuracy_physical"] for h in histories], axis=0)
            if not evals.any():
                ax.axhline(
                    acc[-1], color=color, ls="--", lw=1, label=f"{method} (0 evals)"
                )
                continue
            ax.plot(evals, acc, color=color, marker=marker, ms=3, label=method)
        ax.set_xscale("log")
        # Ticks at 1, 2 and 5 per decade, plain numbers: a range shorter
        # than a decade otherwise shows no labelled tick at all.
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{network} ({dataset}, seed mean)", fontsize=9)
        ax.set_xlabel("physical evaluations in training (samples x queries)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5, loc="lower right")
    axes[0].set_ylabel("test accuracy on the physical system")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _sweep(arrays, methods, xlabel: str, path: Path, model_too: bool) -> None:
    points, acc = arrays
    fig = Figure(figsize=(5.4, 3.8))
    ax = fig.subplots()
    for i, method in enumerate(methods):
        color, marker = _style(method)
        ax.plot(
            points,
            acc["accuracy_physical"][i].mean(-1),
            color=color,
            marker=marker,
            label=f"{method} (physical)" if model_too else method,
        )
        if model_too:
            ax.plot(
                points,
                acc["accuracy_model"][i].mean(-1),
                ls="--",
                color=color,
                marker=marker,
                mfc="none",
                alpha=0.7,
                label=f"{method} (digital model)",
            )
    ax.set_xticks(points)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (seed mean)")
    ax.grid(alpha=0.3)
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
