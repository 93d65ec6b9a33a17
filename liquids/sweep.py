"""Temperature sweep of both KA liquids: one trajectory per state, then a summary.

:func:`run_sweep` simulates KA-LJ and KA-WCA at every temperature of a
:class:`SweepConfig`, one HDF5 trajectory per state point
(``<out>/<model>_T<T>.h5``) through :func:`landscape.jobs.run_jobs` (a local
Dask cluster by default, any scheduler address, or ``"sync"``). A state whose
file exists is skipped; a killed state resumes from its checkpoint. Then
:func:`summarize_sweep` measures, per state, U/N, P, tau_alpha and D of
species A (analysis by :mod:`liquids.views` / :mod:`liquids.dynamics`) and
writes ``summary.csv`` and three figures.

Run lengths follow the expected structural relaxation time of KA-LJ
(species A, q = 7.25; SCIENCE.md, RUMD reference data), interpolated in
log tau against 1/T (:func:`expected_tau_alpha`). KA-WCA relaxes faster at the
same T, so the same lengths are safe for it. Equilibration lasts
``equilibration_taus`` times tau (at least ``min_equilibration_time``),
production ``production_taus`` times tau (at least ``min_production_time``),
so F_s(q, t) crosses 1/e many times over within one run.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pydantic

from landscape.config import FrozenConfig, parse_config
from landscape.jobs import run_jobs
from liquids.production import run_state
from liquids.simulation import MDConfig

logger = logging.getLogger(__name__)

__all__ = [
    "SweepConfig",
    "SweepResult",
    "expected_tau_alpha",
    "demo_config",
    "run_sweep",
    "state_config",
    "state_path",
    "summarize_sweep",
]

# KA-LJ, rho = 1.2, species A: (T, tau_alpha) from SCIENCE.md section 2.
_TAU_TABLE = np.array(
    [(2.0, 0.353), (1.0, 1.5), (0.8, 4.0), (0.6, 35.0), (0.5, 400.0), (0.45, 5e3)]
)


def expected_tau_alpha(temperature: float) -> float:
    """Approximate tau_alpha of KA-LJ species A at rho = 1.2 (LJ time).

    Linear interpolation of log tau in 1/T through the reference table
    (T = 2.0: 0.353; 1.0: 1.5; 0.8: 4; 0.6: 35; 0.5: 400; 0.45: 5e3), and
    linear extrapolation beyond it. Only used to size runs.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}")
    x = 1.0 / _TAU_TABLE[:, 0]
    y = np.log(_TAU_TABLE[:, 1])
    xi = 1.0 / temperature
    if xi <= x[0]:
        slope = (y[1] - y[0]) / (x[1] - x[0])
        return float(np.exp(y[0] + slope * (xi - x[0])))
    if xi >= x[-1]:
        slope = (y[-1] - y[-2]) / (x[-1] - x[-2])
        return float(np.exp(y[-1] + slope * (xi - x[-1])))
    return float(np.exp(np.interp(xi, x, y)))


class SweepConfig(FrozenConfig):
    """A sweep over liquids and temperatures (LJ units).

    Attributes:
        models: liquids to simulate.
        temperatures: thermostat temperatures.
        num_particles: N of every state.
        equilibration_taus, production_taus: run lengths in units of the
            expected tau_alpha; min_equilibration_time, min_production_time:
            lower bounds (LJ time).
        melt_time: time at ``md.melt_temperature`` (2.0) before equilibrating
            states colder than it.
        linear_frame_time, linear_frames: softness-grade frames recorded in
            addition to the log blocks: ``linear_frames`` evenly spaced frames
            every ``linear_frame_time`` (LJ time) from the start of
            production, so ``liquids softness`` can compute p_hop on a
            sweep's files (``linear_frames = 0``: log blocks only).
        seed: PRNG seed (each state adds its index).
        md: overrides of :class:`~liquids.simulation.MDConfig` fields shared
            by all states (``dt``, ``dtype``, ``neighbor_format``, ...).
        out: output folder.
        n_workers: worker processes of the local Dask cluster.
    """

    models: tuple[Literal["lj", "wca"], ...] = ("lj", "wca")
    temperatures: tuple[float, ...] = (2.0, 1.0, 0.8, 0.7, 0.6)
    num_particles: int = pydantic.Field(1000, ge=2)
    equilibration_taus: float = pydantic.Field(10.0, gt=0)
    production_taus: float = pydantic.Field(10.0, gt=0)
    min_equilibration_time: float = pydantic.Field(10.0, ge=0)
    min_production_time: float = pydantic.Field(10.0, gt=0)
    melt_time: float = pydantic.Field(5.0, ge=0)
    linear_frame_time: float = pydantic.Field(0.1, gt=0)
    linear_frames: int = pydantic.Field(1000, ge=0)
    seed: int = 0
    md: dict[str, Any] = pydantic.Field(default_factory=dict)
    out: str = "results/liquids/sweep"
    n_workers: int = pydantic.Field(2, ge=1)

    @pydantic.field_validator("temperatures")
    @classmethod
    def _positive_temperatures(cls, value):
        if not value or any(not t > 0 for t in value):
            raise ValueError(
                f"temperatures must be positive and non-empty, got {value}"
            )
        return value

    @pydantic.model_validator(mode="after")
    def _states_are_valid(self) -> SweepConfig:
        for name in ("model", "temperature", "num_particles", "seed"):
            if name in self.md:
                raise ValueError(f"md may not set {name!r}: it is set per state")
        for i, (model, temp) in enumerate(self.states()):
            state_config(self, model, temp, i)  # raises on a bad combination
        return self

    def states(self) -> list[tuple[str, float]]:
        return [(m, t) for m in self.models for t in self.temperatures]


def state_config(cfg: SweepConfig, model: str, temperature: float, index: int):
    """The :class:`MDConfig` of one state point of a sweep."""
    tau = expected_tau_alpha(temperature)
    md = dict(cfg.md)
    dt = float(md.get("dt", MDConfig.model_fields["dt"].default))
    melt_temperature = float(md.get("melt_temperature", 2.0))
    # Log blocks reach about twice tau, in powers of two of steps.
    block = int(2 ** np.clip(round(math.log2(max(2 * tau / dt, 1))), 8, 16))
    values = {
        "block_steps": block,
        "log_frames_per_block": 12,
        "linear_frame_steps": max(1, round(cfg.linear_frame_time / dt)),
        "linear_frames": cfg.linear_frames,
        "melt_time": cfg.melt_time if temperature < melt_temperature else 0.0,
        **md,
        "model": model,
        "temperature": temperature,
        "num_particles": cfg.num_particles,
        "seed": cfg.seed + index,
        "equilibration_time": max(
            cfg.min_equilibration_time, cfg.equilibration_taus * tau
        ),
        "production_time": _whole_frames(
            max(cfg.min_production_time, cfg.production_taus * tau),
            max(1, round(cfg.linear_frame_time / dt)) * dt,
        ),
    }
    return parse_config(MDConfig, values, source=f"state {model} T={temperature}")


def _whole_frames(duration: float, interval: float) -> float:
    """``duration`` rounded up to a whole number of frame intervals."""
    return math.ceil(duration / interval - 1e-9) * interval


def demo_config(out: str = "results/liquids") -> SweepConfig:
    """The short sweep of ``liquids demo``: N = 500, T = 2.0, 1.0, 0.8.

    Runs are shorter than the default sweep's (10 tau equilibration, 15 tau
    production) so the demo takes minutes on two cores. Frames are linear
    only, every 0.1 LJ time (no log blocks): softness-grade for p_hop, and
    evenly spaced, so F_s and the MSD take the FFT path over all origins;
    all temperatures of a liquid share one compiled chunk of 50 frames.
    """
    return SweepConfig(
        temperatures=(2.0, 1.0, 0.8),
        num_particles=500,
        equilibration_taus=10.0,
        production_taus=15.0,
        min_equilibration_time=5.0,
        min_production_time=5.0,
        melt_time=2.0,
        linear_frames=0,
        md={"block_steps": 20, "log_frames_per_block": 0, "blocks_per_chunk": 50},
        out=out,
    )


def state_path(out: str | os.PathLike, model: str, temperature: float) -> Path:
    """``<out>/<model>_T<temperature>.h5``."""
    return Path(out) / f"{model}_T{temperature:.3f}.h5"


def _simulate(config: dict, path: str) -> dict:
    """Dask job: one state point (top level, so it pickles)."""
    result = run_state(MDConfig(**config), path)
    return {
        "path": str(result.path),
        "frames": result.frames,
        "steps": result.steps,
        "skipped": result.skipped,
        "wall_time": result.wall_time,
    }


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """Files and summary of a sweep.

    Attributes:
        out: the output folder.
        rows: one dict per state (model, T, U/N, P, tau_alpha_A, D_A).
        files: every file written (trajectories, CSV, figures).
    """

    out: str
    rows: list[dict]
    files: list[str]


def run_sweep(
    cfg: SweepConfig,
    *,
    scheduler: str | None = None,
    on_state_done: Callable[[int, dict], None] | None = None,
) -> SweepResult:
    """Simulate every state of ``cfg`` and summarise the sweep.

    Args:
        cfg: the sweep.
        scheduler: ``None`` (local Dask cluster of ``cfg.n_workers``
            processes), ``"sync"`` (in this process) or a scheduler address.
        on_state_done: ``on_state_done(index, info)`` as each state finishes.
    """
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [
        {
            "config": state_config(cfg, model, temp, i).to_dict(),
            "path": str(state_path(out, model, temp)),
        }
        for i, (model, temp) in enumerate(cfg.states())
    ]
    logger.info("sweep: %d states into %s", len(jobs), out)
    infos = run_jobs(
        _simulate,
        jobs,
        scheduler=scheduler,
        n_workers=min(cfg.n_workers, len(jobs)),
        on_done=on_state_done,
    )
    rows, figures = summarize_sweep([i["path"] for i in infos], out)
    return SweepResult(
        str(out),
        rows,
        [i["path"] for i in infos] + [str(out / "summary.csv")] + figures,
    )


def _diffusion(state) -> float:
    from liquids.dynamics import diffusion_constant

    t_name = "t_msd" if "t_msd" in state.coords else "t"
    t = state[t_name].values
    msd = state.msd.sel(species="A").values
    keep = np.isfinite(msd) & (t > 0)
    try:
        return diffusion_constant(t[keep], msd[keep], int(state.attrs["dimension"]))
    except ValueError as err:
        logger.info(
            "D not measured for %s T=%s: %s", state.model.item(), state.T.item(), err
        )
        return float("nan")


def summarize_sweep(
    files: list[str | os.PathLike], out: str | os.PathLike
) -> tuple[list[dict], list[str]]:
    """Summary table (CSV) and figures of finished state files.

    Returns:
        ``(rows, figure paths)``; rows hold ``model, T, U_per_N, P,
        tau_alpha_A, D_A`` (NaN where the run was too short to measure).
    """
    from liquids.views import open_sweep

    out = Path(out)
    sweep = open_sweep(list(files))
    rows = []
    for i in range(sweep.sizes["state"]):
        state = sweep.isel(state=i)
        rows.append(
            {
                "model": str(state.model.item()),
                "T": float(state.T.item()),
                "U_per_N": float(state.potential_energy),
                "P": float(state.pressure),
                "T_kinetic": float(state.temperature),
                "tau_alpha_A": float(state.tau_alpha.sel(species="A")),
                "D_A": _diffusion(state),
            }
        )
    with open(out / "summary.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    figures = _figures(sweep, out)
    logger.info("sweep summary: %d states, written to %s", len(rows), out)
    return rows, figures


def _figures(sweep, out: Path) -> list[str]:
    from matplotlib.figure import Figure

    from liquids.figures import plot_relaxation_times, plot_sweep_scattering

    paths = []
    fig = Figure(figsize=(6, 6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    r = sweep.r.values
    models = list(dict.fromkeys(sweep.model.values.tolist()))
    temps = sorted(set(sweep.T.values.tolist()), reverse=True)
    for k, temp in enumerate(temps):
        color = f"C{k}"  # one colour per temperature in both panels
        g = {}
        for model in models:
            pick = (sweep.model.values == model) & (sweep.T.values == temp)
            if pick.any():
                g[model] = sweep.g.sel(pair="AA").values[np.flatnonzero(pick)[0]]
                style = "-" if model == "lj" else "--"
                top.plot(
                    r,
                    g[model],
                    style,
                    color=color,
                    lw=1,
                    label=f"KA-{model.upper()} T={temp:g}",
                )
        if len(g) == 2:
            bottom.plot(r, g["lj"] - g["wca"], color=color, lw=1, label=f"T={temp:g}")
    top.set_ylabel(r"$g_{AA}(r)$")
    top.set_title("A-A pair correlation: KA-LJ solid, KA-WCA dashed", fontsize=9)
    top.legend(fontsize=7)
    bottom.axhline(0, color="0.7", lw=0.5)
    bottom.set_xlabel(r"$r$ ($\sigma_{AA}$)")
    bottom.set_ylabel(r"$g^{LJ}_{AA} - g^{WCA}_{AA}$")
    if bottom.lines[1:]:
        bottom.legend(fontsize=7)
    paths.append(out / "g_AA.png")
    fig.savefig(paths[-1], dpi=120)

    fig = Figure(figsize=(6, 4), layout="constrained")
    plot_sweep_scattering(sweep, ax=fig.subplots())
    paths.append(out / "fs_A.png")
    fig.savefig(paths[-1], dpi=120)

    fig = Figure(figsize=(5, 4), layout="constrained")
    ax = fig.subplots()
    plot_relaxation_times(sweep, ax=ax)
    ax.set_ylabel(r"$\tau_\alpha$ of species A (LJ time)")
    ax.set_title(r"$F_s(q=7.25, \tau_\alpha) = 1/e$", fontsize=9)
    paths.append(out / "tau_alpha.png")
    fig.savefig(paths[-1], dpi=120)
    return [str(p) for p in paths]
