"""One-line notebook figures of landscape run views.

Each function takes a dataset from :mod:`landscape.views` and an optional
matplotlib ``ax`` (without one it draws on a new
:class:`matplotlib.figure.Figure`, no pyplot state) and returns the axes it
drew on. In a notebook::

    fig, axes = plt.subplots(1, 2)
    plot_top_eigenvalue(open_run("run.h5"), ax=axes[0])
    plot_spectral_density(open_spectra("run.h5"), ax=axes[1])
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import xarray as xr

__all__ = [
    "plot_accuracy",
    "plot_class_weights",
    "plot_spectral_density",
    "plot_top_eigenvalue",
]

Operator = Literal["hessian", "ntk"]


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    from matplotlib.figure import Figure  # lazy: plotting is optional

    return Figure(figsize=(4.5, 3.4), layout="constrained").subplots()


def _operator(operator: str) -> str:
    if operator not in ("hessian", "ntk"):
        raise ValueError(f"operator must be 'hessian' or 'ntk', got {operator!r}")
    return operator


def plot_top_eigenvalue(
    run: xr.Dataset,
    *,
    operator: Operator = "hessian",
    index: int = 0,
    label: str | None = None,
    ax: Any = None,
    **line_kwargs: Any,
) -> Any:
    """The ``index``-th largest Hessian (or NTK) eigenvalue against step.

    Draws the edge of stability ``2 / lr`` for a Hessian of a plain
    gradient-descent run (Cohen et al. 2021): with plain cross-entropy the top
    eigenvalue hovers near it; the cyclic loss drives it well above.

    Args:
        run: :func:`landscape.views.open_run` of a run file.
        operator: ``"hessian"`` or ``"ntk"``.
        index: which eigenvalue (0 = largest).
        label: legend label (default: the loss amplitude).
        ax: axes to draw on.
    """
    name = f"{_operator(operator)}_top"
    ax = _axes(ax)
    if name not in run or run[name].shape[1] <= index:
        raise ValueError(
            f"this run recorded {run.sizes.get(operator + '_index', 0)} {operator} "
            f"eigenvalues, index {index} asked for"
        )
    if label is None:
        label = f"A = {run.attrs.get('amplitude', '?')}"
    values = run[name].isel({f"{operator}_index": index})
    ax.plot(run.step, values, label=label, **line_kwargs)
    if operator == "hessian" and "edge_of_stability" in run.attrs:
        ax.axhline(run.attrs["edge_of_stability"], color="0.5", lw=0.8, ls="--")
    ylabel = (
        r"$\lambda_{\max}(H)$" if operator == "hessian" else r"$\lambda_{\max}$(NTK)"
    )
    ax.set(xlabel="step", ylabel=ylabel, yscale="log")
    ax.legend(frameon=False)
    return ax


def plot_accuracy(
    run: xr.Dataset, *, label: str | None = None, ax: Any = None, **line_kwargs: Any
) -> Any:
    """Train (solid) and test (dashed) accuracy against step."""
    ax = _axes(ax)
    label = label if label is not None else f"A = {run.attrs.get('amplitude', '?')}"
    (line,) = ax.plot(run.step, run.train_accuracy, label=label, **line_kwargs)
    ax.plot(run.step, run.test_accuracy, color=line.get_color(), ls="--")
    ax.set(xlabel="step", ylabel="accuracy (solid train, dashed test)")
    ax.legend(frameon=False)
    return ax


def plot_class_weights(run: xr.Dataset, *, ax: Any = None, **line_kwargs: Any) -> Any:
    """The cyclic class weights ``Gamma_i(t)`` of each class against step."""
    ax = _axes(ax)
    for c in run["class"].values:
        ax.plot(
            run.step,
            run.class_weights.sel({"class": c}),
            label=f"class {c}",
            **line_kwargs,
        )
    ax.set(xlabel="step", ylabel=r"$\Gamma_i$", yscale="log")
    ax.legend(frameon=False)
    return ax


def plot_spectral_density(
    spectra: xr.Dataset,
    *,
    operator: Operator = "hessian",
    steps: list[int] | None = None,
    ax: Any = None,
    **line_kwargs: Any,
) -> Any:
    """SLQ spectral density of the Hessian (or NTK) at chosen snapshots.

    Args:
        spectra: :func:`landscape.views.open_spectra` of a run file.
        operator: ``"hessian"`` or ``"ntk"``.
        steps: snapshot steps to draw (default: first and last).
        ax: axes to draw on.
    """
    op = _operator(operator)
    ax = _axes(ax)
    if steps is None:
        steps = sorted({int(spectra.step[0]), int(spectra.step[-1])})
    for step in steps:
        row = spectra.sel(step=step)
        density = np.maximum(row[f"{op}_density"].values, 1e-12)
        ax.plot(row[f"{op}_grid"], density, label=f"step {step}", **line_kwargs)
    ax.set(xlabel=r"eigenvalue $\lambda$", ylabel=r"$\rho(\lambda)$", yscale="log")
    ax.legend(frameon=False)
    return ax
