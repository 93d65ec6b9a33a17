"""One-line notebook figures of whole sweeps (datasets of :mod:`liquids.views`).

:mod:`liquids.plots` draws one result object; these draw every state of a
sweep at once, KA-LJ in blue and KA-WCA in red, darker for colder states.
Each takes an optional matplotlib ``ax`` (without one it draws on a new
:class:`matplotlib.figure.Figure`) and returns the axes it drew on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

__all__ = [
    "plot_relaxation_times",
    "plot_sweep_pair_correlation",
    "plot_sweep_scattering",
    "plot_tau_vs_softness",
]

_CMAPS = {"lj": "Blues", "wca": "Reds"}


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    from matplotlib.figure import Figure  # lazy: plotting is optional

    return Figure(figsize=(4.5, 3.4), layout="constrained").subplots()


def _state_colours(sweep: xr.Dataset) -> list[Any]:
    from matplotlib import colormaps

    colours = []
    models = np.asarray(sweep.model.values).astype(str)
    temps = np.asarray(sweep["T"].values, np.float64)
    for model, temp in zip(models, temps, strict=True):
        mine = temps[models == model]
        span = np.ptp(mine) or 1.0
        shade = 0.95 - 0.55 * (temp - mine.min()) / span  # colder: darker
        colours.append(colormaps[_CMAPS.get(model, "Greys")](shade))
    return colours


def _label(model: str, temp: float) -> str:
    return f"KA-{model.upper()} T={temp:g}"


def plot_sweep_pair_correlation(
    sweep: xr.Dataset, *, pair: str = "AA", ax: Any = None, **line_kwargs: Any
) -> Any:
    """``g_ab(r)`` of every state of a sweep (:func:`liquids.views.open_sweep`).

    Args:
        sweep: the sweep's dataset.
        pair: ``"AA"``, ``"AB"`` or ``"BB"``.
        ax: axes to draw on.
    """
    if pair not in sweep.pair.values:
        raise ValueError(f"pair must be one of {list(sweep.pair.values)}, got {pair!r}")
    ax = _axes(ax)
    colours = _state_colours(sweep)
    for i in range(sweep.sizes["state"]):
        state = sweep.isel(state=i)
        label = _label(str(state.model.values), float(state["T"]))
        ax.plot(
            sweep.r,
            state.g.sel(pair=pair),
            color=colours[i],
            label=label,
            **line_kwargs,
        )
    ax.axhline(1.0, color="0.7", lw=0.8)
    ax.set(xlabel="$r$", ylabel=f"$g_{{{pair}}}(r)$")
    ax.legend(frameon=False, fontsize="small")
    return ax


def plot_sweep_scattering(
    sweep: xr.Dataset, *, species: str = "A", ax: Any = None, **line_kwargs: Any
) -> Any:
    """``F_s(q, t)`` of one species for every state, with the ``1/e`` level."""
    ax = _axes(ax)
    colours = _state_colours(sweep)
    t = sweep.t.values
    for i in range(sweep.sizes["state"]):
        state = sweep.isel(state=i)
        fs = state.fs.sel(species=species).values
        ok = np.isfinite(fs) & (t > 0)
        label = _label(str(state.model.values), float(state["T"]))
        ax.semilogx(t[ok], fs[ok], color=colours[i], label=label, **line_kwargs)
    ax.axhline(1 / np.e, color="0.7", lw=0.8, ls=":")
    ax.set(
        xlabel="$t$",
        ylabel=f"$F_s(q={sweep.attrs.get('q', 7.25):g}, t)$",
        ylim=(-0.05, 1.05),
    )
    ax.legend(frameon=False, fontsize="small")
    return ax


def plot_relaxation_times(
    sweep: xr.Dataset, *, species: str = "A", ax: Any = None, **line_kwargs: Any
) -> Any:
    """``tau_alpha`` against ``1 / T``, one line per model (log scale).

    Works on :func:`~liquids.views.open_sweep` (``tau_alpha[state, species]``)
    and :func:`~liquids.views.open_softness` (``tau_alpha[state]``, species A)
    datasets. States whose ``F_s`` never reached ``1/e`` are left out.
    """
    ax = _axes(ax)
    tau = sweep.tau_alpha
    if "species" in tau.dims:
        tau = tau.sel(species=species)
    models = np.asarray(sweep.model.values).astype(str)
    for model in dict.fromkeys(models):
        mine = models == model
        temps = sweep["T"].values[mine]
        values = tau.values[mine]
        order = np.argsort(temps)
        ok = np.isfinite(values[order])
        ax.semilogy(
            1 / temps[order][ok],
            values[order][ok],
            "o-",
            color={"lj": "tab:blue", "wca": "tab:red"}.get(model),
            label=f"KA-{model.upper()}",
            **line_kwargs,
        )
    ax.set(xlabel="$1/T$", ylabel=r"$\tau_\alpha$")
    ax.legend(frameon=False)
    return ax


def plot_tau_vs_softness(
    softness: xr.Dataset,
    *,
    x: str = "mean_S_both",
    ax: Any = None,
    **line_kwargs: Any,
) -> Any:
    """``tau_alpha`` of each state against a structural measure, per model.

    With ``x = "mean_S_both"`` (mean softness of species A from the
    hyperplane trained on both liquids) the claim of Landes et al. (PRE 101,
    010602(R), 2020) is that both liquids fall on one curve; with
    ``x = "g_AA_peak"`` they do not.

    Args:
        softness: :func:`liquids.views.open_softness` of a study.
        x: the column on the horizontal axis.
        ax: axes to draw on.
    """
    if x not in softness:
        raise ValueError(f"x must be a variable of the study, got {x!r}")
    ax = _axes(ax)
    models = np.asarray(softness.model.values).astype(str)
    for model in dict.fromkeys(models):
        mine = models == model
        order = np.argsort(softness[x].values[mine])
        ax.semilogy(
            softness[x].values[mine][order],
            softness.tau_alpha.values[mine][order],
            "o-",
            color={"lj": "tab:blue", "wca": "tab:red"}.get(model),
            label=f"KA-{model.upper()}",
            **line_kwargs,
        )
    ax.set(xlabel=x.replace("_", " "), ylabel=r"$\tau_\alpha$")
    ax.legend(frameon=False)
    return ax
