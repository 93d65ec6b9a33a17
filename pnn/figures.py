"""One-line notebook figures of the pnn comparison (:func:`pnn.views.open_compare`).

Each function takes a :class:`~pnn.views.CompareResults` and an optional
matplotlib ``ax`` (without one it draws on a new
:class:`matplotlib.figure.Figure`, no pyplot state) and returns the axes it
drew on. :mod:`pnn.compare_figures` writes the study's PNG files; these are
for looking at the results interactively.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pnn.views import CompareResults

__all__ = [
    "plot_cyclic_hessian",
    "plot_depth_sweep",
    "plot_method_accuracy",
    "plot_noise_sweep",
]


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    from matplotlib.figure import Figure  # lazy: plotting is optional

    return Figure(figsize=(5.0, 3.4), layout="constrained").subplots()


def _missing(name: str) -> ValueError:
    return ValueError(f"this comparison file has no {name} (disabled in its config)")


def plot_method_accuracy(
    results: CompareResults,
    *,
    dataset: str | None = None,
    network: str | None = None,
    ax: Any = None,
) -> Any:
    """Model and physical test accuracy of every method, mean and spread over seeds.

    The gap between the two bars of a method is its reality gap: in-silico
    training scores well on the twin and worse on the physical system;
    physics-aware training closes most of it (Wright et al., Nature 2022).

    Args:
        results: the comparison.
        dataset: which data set (default: the first).
        network: which network (default: the first).
        ax: axes to draw on.
    """
    pairs = results.pairs
    dataset = dataset or str(pairs.dataset.values[0])
    network = network or str(pairs.network.values[0])
    sel = pairs.sel(dataset=dataset, network=network)
    ran = np.isfinite(sel.accuracy_physical).any("seed").values
    methods = [str(m) for m, ok in zip(sel.method.values, ran, strict=True) if ok]
    ax = _axes(ax)
    x = np.arange(len(methods))
    for shift, name, label in (
        (-0.2, "accuracy_model", "model $f_m$"),
        (0.2, "accuracy_physical", "physical $f_p$"),
    ):
        values = sel[name].sel({"method": methods})
        ax.bar(
            x + shift,
            values.mean("seed", skipna=True),
            width=0.4,
            yerr=values.std("seed", skipna=True),
            label=label,
        )
    ax.set_xticks(x, methods, rotation=45, ha="right")
    ax.set(ylabel="test accuracy", ylim=(0, 1), title=f"{network} on {dataset}")
    ax.legend(frameon=False)
    return ax


def _sweep(ds, axis: str, xlabel: str, ax: Any) -> Any:
    ax = _axes(ax)
    for method in ds.method.values:
        acc = ds.accuracy_physical.sel({"method": method})
        ax.errorbar(
            ds[axis],
            acc.mean("seed"),
            yerr=acc.std("seed"),
            marker="o",
            capsize=2,
            label=str(method),
        )
    ax.set(xlabel=xlabel, ylabel="physical test accuracy", ylim=(0, 1))
    ax.legend(frameon=False)
    return ax


def plot_depth_sweep(results: CompareResults, *, ax: Any = None) -> Any:
    """Physical accuracy against the number of substrate layers, per method."""
    if results.depth is None:
        raise _missing("depth sweep")
    return _sweep(results.depth, "depth", "substrate layers", ax)


def plot_noise_sweep(results: CompareResults, *, ax: Any = None) -> Any:
    """Physical accuracy against the swept noise level, per method."""
    if results.noise is None:
        raise _missing("noise sweep")
    field = results.noise.attrs.get("field", "noise level")
    return _sweep(results.noise, "noise", str(field).replace("_", " "), ax)


def plot_cyclic_hessian(results: CompareResults, *, ax: Any = None) -> Any:
    """Top Hessian eigenvalue of the digital model under static and cyclic loss."""
    if results.cyclic is None:
        raise _missing("cyclic-loss Hessian record")
    cyc = results.cyclic
    ax = _axes(ax)
    for amplitude in cyc.amplitude.values:
        ax.plot(
            cyc.step,
            cyc.top_eigenvalue.sel(amplitude=amplitude),
            label=f"A = {amplitude:g}",
        )
    if "edge_of_stability" in cyc:
        ax.axhline(float(cyc.edge_of_stability), color="0.5", lw=0.8, ls="--")
    ax.set(xlabel="step", ylabel=r"$\lambda_{\max}(H)$", yscale="log")
    ax.legend(frameon=False)
    return ax
