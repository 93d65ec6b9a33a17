"""Plots of structure and dynamics results, one function per quantity.

Each function takes a result object from :mod:`liquids.structure`,
:mod:`liquids.scattering` or :mod:`liquids.dynamics` and an optional
matplotlib ``ax``; without one it draws on a new
:class:`matplotlib.figure.Figure` (no pyplot global state, so this works
headless). Each returns the ``ax`` it drew on. Species are
labelled ``A, B, ...`` in label order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from liquids.dynamics import MeanSquaredDisplacement, SelfIntermediateScattering
from liquids.scattering import StructureFactor
from liquids.structure import PairCorrelation

__all__ = [
    "plot_mean_squared_displacement",
    "plot_pair_correlation",
    "plot_self_intermediate_scattering",
    "plot_structure_factor",
]


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    from matplotlib.figure import Figure  # lazy: plotting is optional

    return Figure(figsize=(4.5, 3.4), layout="constrained").subplots()


def _name(a: int) -> str:
    return chr(ord("A") + a) if a < 26 else str(a)


def plot_pair_correlation(
    gr: PairCorrelation,
    pairs: Sequence[tuple[int, int]] | None = None,
    *,
    ax: Any = None,
    **line_kwargs: Any,
) -> Any:
    """``g_ab(r)`` for the chosen species pairs (default: all ``a <= b``).

    Args:
        gr: result of :func:`~liquids.structure.pair_correlation`.
        pairs: ``(a, b)`` pairs to draw.
        ax: matplotlib axes to draw on.
        **line_kwargs: passed to ``ax.plot`` (e.g. ``linestyle="--"``).
    """
    ax = _axes(ax)
    s = gr.num_species
    if pairs is None:
        pairs = [(i, j) for i in range(s) for j in range(i, s)]
    for a, b in pairs:
        ax.plot(gr.r, gr.partial(a, b), label=f"{_name(a)}{_name(b)}", **line_kwargs)
    ax.axhline(1.0, color="0.7", linewidth=0.8)
    ax.set(xlabel="$r$", ylabel="$g_{ab}(r)$")
    ax.legend(frameon=False)
    return ax


def plot_structure_factor(
    sq: StructureFactor, *, partial: bool = False, ax: Any = None, **line_kwargs: Any
) -> Any:
    """Number-number ``S(q)``, or the like partials ``S_aa(q)`` if ``partial``."""
    ax = _axes(ax)
    if partial:
        for a in range(sq.partial.shape[0]):
            label = f"{_name(a)}{_name(a)}"
            ax.plot(sq.q, sq.partial[a, a], label=label, **line_kwargs)
        ax.legend(frameon=False)
    else:
        ax.plot(sq.q, sq.number_number, **line_kwargs)
    ax.set(xlabel="$q$", ylabel="$S(q)$")
    return ax


def plot_mean_squared_displacement(
    msd: MeanSquaredDisplacement, *, ax: Any = None, **line_kwargs: Any
) -> Any:
    """MSD of each species against lag, log-log, with a slope-1 guide."""
    ax = _axes(ax)
    t = msd.lags[1:]
    for a in range(msd.msd.shape[0]):
        ax.loglog(t, msd.msd[a, 1:], label=_name(a), **line_kwargs)
    if len(t):
        guide = msd.msd[0, -1] * t / t[-1]
        ax.loglog(t, guide, color="0.7", linewidth=0.8, linestyle=":")
    ax.set(xlabel="$t$", ylabel=r"$\langle \Delta r^2(t) \rangle$")
    ax.legend(frameon=False)
    return ax


def plot_self_intermediate_scattering(
    fs: SelfIntermediateScattering,
    *,
    tau: float | None = None,
    ax: Any = None,
    **line_kwargs: Any,
) -> Any:
    """``F_s(q, t)`` of each species against ``log t``, with the ``1/e`` level.

    Args:
        fs: result of :func:`~liquids.dynamics.self_intermediate_scattering`.
        tau: if given, a vertical marker at ``tau_alpha``.
        ax: matplotlib axes to draw on.
    """
    ax = _axes(ax)
    t = fs.lags[1:]
    for a in range(fs.fs.shape[0]):
        ax.semilogx(t, fs.fs[a, 1:], label=_name(a), **line_kwargs)
    ax.axhline(1 / math.e, color="0.7", linewidth=0.8, linestyle=":")
    if tau is not None and np.isfinite(tau):
        ax.axvline(tau, color="0.5", linewidth=0.8)
    ax.set(xlabel="$t$", ylabel=f"$F_s(q={fs.q:.3g}, t)$", ylim=(-0.05, 1.05))
    ax.legend(frameon=False)
    return ax
