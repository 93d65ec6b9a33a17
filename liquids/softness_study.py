"""The softness study: does one weighted integral of g(r) order both liquids?

For every trajectory of a KA-LJ / KA-WCA temperature sweep this module
measures tau_alpha (species A, F_s at q = 7.25), p_hop on the evenly spaced
frames, labels and per-particle structure functions, and g_ab(r) of the same
frames. Softness hyperplanes are trained on the LJ states, on the WCA states
and on both; every state then gets its mean softness of species A, both
from per-particle softness and from the weighted integral of g(r)
(:mod:`liquids.weighted_gr`), which must agree. The claim of Landes et al.
(PRE 101, 010602(R) (2020)) is that tau_alpha of both liquids is one monotone
function of mean softness, while a plain g(r) measure (here the height of the
first peak of g_AA) does not order them; the Spearman rank correlations
across both liquids together test it. Also reported: P_R(S) at each T and its
Arrhenius fit :math:`P_R(S, T) = \\exp(\\Sigma(S) - \\Delta E(S) / T)`, and
the Hessian spectrum at an inherent structure of each liquid
(:mod:`liquids.vibrations`).

Outputs under ``out``: ``weights_{lj,wca,both}.h5`` (hyperplanes),
``summary.csv`` and ``softness_study.h5`` (per-state table, P_R(S),
Arrhenius fits, correlations), figures ``gr_weights.png``,
``tau_vs_softness.png``, ``pr_arrhenius.png`` and ``vdos.png``.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
from pathlib import Path
from typing import Literal

import h5py
import jax
import numpy as np
import pydantic
from scipy import stats

from landscape.config import FrozenConfig
from landscape.records import atomic_h5, atomic_path, write_config_attrs
from liquids.dynamics import self_intermediate_scattering, tau_alpha
from liquids.features import FeatureGrid, StructureFunctions, structure_functions
from liquids.rearrangements import (
    HopIndicator,
    TrainingSet,
    evenly_spaced_frames,
    label_rearrangements,
    p_hop,
    training_set,
)
from liquids.softness import Hyperplane, fit_hyperplane, save_hyperplane, softness
from liquids.structure import PairCorrelation, pair_correlation
from liquids.trajectory import Trajectory, read_trajectory
from liquids.weighted_gr import weight_function, weighted_integral

logger = logging.getLogger(__name__)

__all__ = [
    "SoftnessStudyConfig",
    "StateAnalysis",
    "StudyResult",
    "demo_config",
    "run_study",
]

Liquid = Literal["lj", "wca", "both"]


class GridConfig(FrozenConfig):
    """Shells of the radial structure functions (sigma_AA units)."""

    mu_min: float = pydantic.Field(0.6, ge=0)
    mu_max: float = pydantic.Field(2.4, gt=0)
    step: float = pydantic.Field(0.1, gt=0)
    delta: float = pydantic.Field(0.1, gt=0)
    cutoff: float | None = None

    def build(self) -> FeatureGrid:
        return FeatureGrid.uniform(
            self.mu_min, self.mu_max, self.step, delta=self.delta, cutoff=self.cutoff
        )


class SoftnessStudyConfig(FrozenConfig):
    """Settings of ``liquids softness``.

    Attributes:
        files: trajectory files or glob patterns of the sweep (model and
            temperature are read from each file's config).
        out: output folder.
        grid: the feature shells.
        window: t_R of p_hop in (evenly spaced) frames.
        p_c: rearranging when p_hop > p_c.
        p_low: quiet when p_hop < p_low over the quiet window.
        quiet_tau: quiet window in units of tau_alpha (at least 3 frames).
        max_per_class: training samples per class, species and state.
        min_per_class: fewer pooled samples of a class is an error.
        c_values: SVM regularisations tried by cross-validation.
        folds: cross-validation folds.
        seed: seed of sampling and splits.
        q: wave number of F_s.
        gr_bin_width: bin width of g(r) for the weighted integral.
        softness_bins: bins of S for P_R(S).
        vibrations: quench one frame of the coldest state of each liquid and
            analyse its Hessian.
        vib_modes: lowest modes computed.
        max_frames: use at most this many evenly spaced frames per state.
    """

    files: tuple[str, ...] = ("results/liquids/sweep/*.h5",)
    out: str = "results/liquids/softness"
    grid: GridConfig = GridConfig()
    window: int = pydantic.Field(10, ge=2)
    p_c: float = pydantic.Field(0.2, gt=0)
    p_low: float = pydantic.Field(0.05, gt=0)
    quiet_tau: float = pydantic.Field(1.0, gt=0)
    max_per_class: int = pydantic.Field(1000, ge=1)
    min_per_class: int = pydantic.Field(20, ge=1)
    c_values: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
    folds: int = pydantic.Field(5, ge=2)
    seed: int = 0
    q: float = pydantic.Field(7.25, gt=0)
    gr_bin_width: float = pydantic.Field(0.002, gt=0)
    softness_bins: int = pydantic.Field(8, ge=2)
    vibrations: bool = True
    vib_modes: int = pydantic.Field(10, ge=1)
    max_frames: int = pydantic.Field(400, ge=3)


@dataclasses.dataclass(frozen=True)
class StateAnalysis:
    """Everything measured on one state point before training."""

    path: str
    model: str
    temperature: float
    tau_alpha: float
    species: np.ndarray
    box: np.ndarray
    hop: HopIndicator
    labels: np.ndarray
    features: StructureFunctions
    gr: PairCorrelation
    gr_coarse: PairCorrelation  # 0.02 bins, for the peak and the figure
    positions: np.ndarray  # [times, particles, dim] at hop.frames
    g_aa_peak: float


@dataclasses.dataclass(frozen=True)
class StudyResult:
    """Results of :func:`run_study`."""

    table: list[dict]
    spearman: dict[str, float]
    hyperplanes: dict[str, Hyperplane]
    arrhenius: dict[str, dict[str, list[float]]]
    vibrations: dict[str, dict]
    out: Path

    def __repr__(self) -> str:
        states = ", ".join(f"{r['model']} T={r['T']:g}" for r in self.table)
        rho = {k: round(v, 3) for k, v in self.spearman.items()}
        return (
            f"StudyResult({self.out}: {len(self.table)} states [{states}], "
            f"hyperplanes {sorted(self.hyperplanes)}, Spearman {rho})"
        )


def _expand(files: tuple[str, ...]) -> list[Path]:
    paths = []
    for pattern in files:
        hits = (
            sorted(glob.glob(pattern))
            if any(c in pattern for c in "*?[")
            else [pattern]
        )
        paths += [Path(p) for p in hits if not Path(p).name.endswith(".part.h5")]
    if not paths:
        raise ValueError(
            f"no trajectory files match {list(files)}; run `liquids sweep` (or "
            "`liquids demo`) first or set `files` in the config"
        )
    return paths


def _state_point(path: Path) -> tuple[str, float]:
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs.get("config_json", "{}"))
    if "model" not in config or "temperature" not in config:
        raise ValueError(
            f"{path} does not record model and temperature in its config; "
            "softness needs trajectories written by `liquids sweep`"
        )
    return str(config["model"]), float(config["temperature"])


def analyse_state(path: Path, cfg: SoftnessStudyConfig, grid: FeatureGrid):
    """tau_alpha, p_hop, labels, features and g(r) of one trajectory."""
    model, temperature = _state_point(path)
    traj = read_trajectory(path)
    fs = self_intermediate_scattering(traj, q=cfg.q)
    try:
        tau = tau_alpha(fs.lags, fs.fs[0])
    except ValueError as err:
        logger.warning("%s: no tau_alpha (%s)", path, err)
        tau = float("nan")
    even = evenly_spaced_frames(traj.times)[: cfg.max_frames]
    sub: Trajectory = traj.select(even)
    hop = p_hop(sub.unwrapped(), cfg.window)
    spacing = float(sub.times[1] - sub.times[0])
    quiet = max(3, int(round(cfg.quiet_tau * tau / spacing))) if np.isfinite(tau) else 3
    quiet = min(quiet, hop.values.shape[0])
    labels = label_rearrangements(hop, cfg.p_c, cfg.p_low, quiet)
    positions = np.asarray(sub.positions)[hop.frames]
    features = structure_functions(positions, sub.species, sub.box, grid)
    gr = pair_correlation(
        positions, sub.species, sub.box, r_max=grid.cutoff, bin_width=cfg.gr_bin_width
    )
    coarse = pair_correlation(
        positions, sub.species, sub.box, r_max=grid.cutoff, bin_width=0.02
    )
    logger.info(
        "%s: %s T=%.3f tau_alpha=%.4g, %d frames (dt_frame=%.4g), %.3f%% rearranging",
        path.name,
        model,
        temperature,
        tau,
        len(hop.frames),
        spacing,
        100 * np.mean(labels == 1),
    )
    return StateAnalysis(
        path=str(path),
        model=model,
        temperature=temperature,
        tau_alpha=tau,
        species=np.asarray(sub.species),
        box=np.asarray(sub.box),
        hop=hop,
        labels=labels,
        features=features,
        gr=gr,
        gr_coarse=coarse,
        positions=positions,
        g_aa_peak=float(coarse.g[0, 0].max()),
    )


def _pooled_training(states: list[StateAnalysis], cfg: SoftnessStudyConfig, name):
    rows, labels, species = [], [], []
    for k, st in enumerate(states):
        ts: TrainingSet = training_set(
            st.hop,
            st.labels,
            st.species,
            max_per_class=cfg.max_per_class,
            min_per_class=0,
            seed=cfg.seed + k,
        )
        t = np.searchsorted(st.hop.frames, ts.frames)
        rows.append(st.features.flat()[t, ts.particles])
        labels.append(ts.labels)
        species.append(ts.species)
    labels, species = np.concatenate(labels), np.concatenate(species)
    for s in np.unique(np.concatenate([st.species for st in states])):
        n = int(np.sum((species == s) & (labels == 1)))
        if n < cfg.min_per_class:
            raise ValueError(
                f"too few rearrangements to train on {name!r}: species {s} has {n} "
                f"rearranging samples (need {cfg.min_per_class}); lower p_c "
                f"({cfg.p_c}), raise p_low, use longer runs or higher temperatures"
            )
    return np.concatenate(rows), labels, species


def _p_r(states, hyperplane, edges, p_c):
    """P_R(S) of species A in each state: [states, bins] (NaN if empty)."""
    out = np.full((len(states), len(edges) - 1), np.nan)
    for k, st in enumerate(states):
        s = softness(hyperplane, st.features, st.species)[:, st.species == 0].ravel()
        hops = (st.hop.values[:, st.species == 0] > p_c).ravel()
        which = np.digitize(s, edges[1:-1])
        for b in range(len(edges) - 1):
            mine = which == b
            if mine.sum() >= 20:
                out[k, b] = hops[mine].mean()
    return out


def _arrhenius(temps, p_r):
    """Fit ln P_R = Sigma - Delta E / T per softness bin (>= 2 positive T)."""
    delta_e, sigma = [], []
    for b in range(p_r.shape[1]):
        ok = np.isfinite(p_r[:, b]) & (p_r[:, b] > 0)
        if ok.sum() >= 2 and np.ptp(temps[ok]) > 0:
            slope, intercept = np.polyfit(1 / temps[ok], np.log(p_r[ok, b]), 1)
            delta_e.append(float(-slope))
            sigma.append(float(intercept))
        else:
            delta_e.append(float("nan"))
            sigma.append(float("nan"))
    return delta_e, sigma


def _vibrations(states, hyperplane, cfg, grid):
    from liquids.inherent import quench
    from liquids.potentials import kob_andersen
    from liquids.vibrations import (
        low_modes,
        soft_mode_participation,
        softness_correlation,
        vibrational_dos,
    )

    out = {}
    for model in ("lj", "wca"):
        mine = [st for st in states if st.model == model]
        if not mine:
            continue
        st = min(mine, key=lambda s: s.temperature)
        potential = kob_andersen(model, st.box, st.species, dim=st.box.size)
        inherent = quench(potential, st.positions[0], force_tol=1e-3)
        key = jax.random.PRNGKey(cfg.seed)
        low = low_modes(potential, inherent.positions[0], cfg.vib_modes, key=key)
        dos = vibrational_dos(potential, inherent.positions[0], key=key)
        features = structure_functions(inherent.positions, st.species, st.box, grid)
        s_thermal = softness(hyperplane, st.features, st.species)[0]
        s_inherent = softness(hyperplane, features, st.species)[0]
        part = soft_mode_participation(low)
        out[model] = dict(
            temperature=st.temperature,
            e_inherent=float(inherent.energy[0]),
            eigenvalues=low.eigenvalues.tolist(),
            participation=low.participation.tolist(),
            omega=dos.omega,
            dos=dos.density,
            corr_thermal=softness_correlation(part, s_thermal),
            corr_inherent=softness_correlation(part, s_inherent),
        )
        logger.info(
            "%s IS at T=%.3f: e=%.4f, lowest omega^2 %s, PR %s, rho(part, S)=%.3f",
            model,
            st.temperature,
            inherent.energy[0],
            np.round(low.eigenvalues[:3], 3),
            np.round(low.participation[:3], 3),
            out[model]["corr_thermal"],
        )
    return out


def run_study(cfg: SoftnessStudyConfig, progress=None) -> StudyResult:
    """Run the whole study; see the module docstring for the outputs.

    Args:
        cfg: the study settings.
        progress: optional ``progress(message)`` callback (the CLI's console).
    """
    say = progress or (lambda message: None)
    grid = cfg.grid.build()
    paths = _expand(cfg.files)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    states = []
    for path in paths:
        say(f"analysing {path}")
        states.append(analyse_state(path, cfg, grid))
    states.sort(key=lambda s: (s.model, s.temperature))

    hyperplanes = {}
    for name in ("both", "lj", "wca"):
        chosen = [st for st in states if name in ("both", st.model)]
        if not chosen:
            continue
        say(f"training softness on {name}")
        try:
            x, y, s = _pooled_training(chosen, cfg, name)
        except ValueError as err:
            if name == "both":
                raise
            # One liquid alone may be too quiet; the joint weights still work.
            logger.warning("no %s-only hyperplane: %s", name, err)
            continue
        hyperplanes[name] = fit_hyperplane(
            x, y, s, grid, c_values=cfg.c_values, folds=cfg.folds, seed=cfg.seed
        )
        save_hyperplane(out / f"weights_{name}.h5", hyperplanes[name])
    main = hyperplanes["both"]

    table = []
    for st in states:
        row = dict(
            model=st.model,
            T=st.temperature,
            tau_alpha=st.tau_alpha,
            g_AA_peak=st.g_aa_peak,
        )
        for name, hp in hyperplanes.items():
            s = softness(hp, st.features, st.species)
            row[f"mean_S_{name}"] = float(np.mean(s[:, st.species == 0]))
        s = softness(main, st.features, st.species)
        hops = st.hop.values[:, st.species == 0] > cfg.p_c
        row["P_R_S_pos"] = float(hops[s[:, st.species == 0] > 0].mean())
        row["P_R"] = float(hops.mean())
        row["mean_S_from_gr"] = float(weighted_integral(main, st.gr).mean_softness[0])
        table.append(row)

    spearman = _correlations(table)
    all_s = np.concatenate(
        [
            softness(main, st.features, st.species)[:, st.species == 0].ravel()
            for st in states
        ]
    )
    edges = np.quantile(all_s, np.linspace(0.02, 0.98, cfg.softness_bins + 1))
    arrhenius = {}
    p_r_tables = {}
    for model in ("lj", "wca"):
        mine = [st for st in states if st.model == model]
        if mine:
            p_r = _p_r(mine, main, edges, cfg.p_c)
            temps = np.array([st.temperature for st in mine])
            delta_e, sigma = _arrhenius(temps, p_r)
            arrhenius[model] = dict(delta_E=delta_e, Sigma=sigma)
            p_r_tables[model] = (temps, p_r)
    vib = _vibrations(states, main, cfg, grid) if cfg.vibrations else {}

    _write_outputs(
        out, cfg, table, spearman, hyperplanes, edges, p_r_tables, arrhenius, vib
    )
    _draw_figures(out, states, main, table, edges, p_r_tables, vib)
    return StudyResult(table, spearman, hyperplanes, arrhenius, vib, out)


def _correlations(table: list[dict]) -> dict[str, float]:
    tau = np.array([r["tau_alpha"] for r in table])
    ok = np.isfinite(tau)
    result = {}
    for key in ("mean_S_both", "mean_S_lj", "mean_S_wca", "g_AA_peak"):
        values = np.array([r.get(key, np.nan) for r in table])
        good = ok & np.isfinite(values)
        result[key] = (
            float(stats.spearmanr(values[good], tau[good]).statistic)
            if good.sum() >= 3
            else float("nan")
        )
    return result


def _write_outputs(
    out, cfg, table, spearman, hyperplanes, edges, p_r_tables, arrhenius, vib
):
    keys = list(table[0])
    with atomic_path(out / "summary.csv") as tmp:
        lines = [",".join(keys)]
        lines += [
            ",".join(
                f"{r[k]:.6g}" if isinstance(r[k], float) else str(r[k]) for k in keys
            )
            for r in table
        ]
        tmp.write_text("\n".join(lines) + "\n")
    with atomic_h5(out / "softness_study.h5") as f:
        write_config_attrs(f, cfg.to_dict())
        f.attrs["spearman_json"] = json.dumps(spearman)
        group = f.create_group("states")
        for key in keys:
            values = [r[key] for r in table]
            group[key] = np.asarray(values, dtype="S8" if key == "model" else float)
        f["softness_edges"] = edges
        for model, (temps, p_r) in p_r_tables.items():
            f[f"P_R/{model}/T"] = temps
            f[f"P_R/{model}/P_R"] = p_r
            f[f"arrhenius/{model}/delta_E"] = np.asarray(arrhenius[model]["delta_E"])
            f[f"arrhenius/{model}/Sigma"] = np.asarray(arrhenius[model]["Sigma"])
        for model, v in vib.items():
            for key in ("eigenvalues", "participation", "omega", "dos"):
                f[f"vibrations/{model}/{key}"] = np.asarray(v[key])
            for key in ("temperature", "e_inherent", "corr_thermal", "corr_inherent"):
                f[f"vibrations/{model}"].attrs[key] = v[key]
        for name, hp in hyperplanes.items():
            for s, q in zip(hp.central, hp.quality, strict=True):
                f.attrs[f"quality_{name}_{int(s)}"] = json.dumps(dataclasses.asdict(q))


def _draw_figures(out, states, main, table, edges, p_r_tables, vib):
    # Figure objects, not pyplot: no global backend switch, so a notebook that
    # calls the study keeps its inline figures.
    import matplotlib
    from matplotlib.figure import Figure

    colours = {"lj": "tab:blue", "wca": "tab:red"}
    coldest = {}
    for st in states:
        if st.model not in coldest or st.temperature < coldest[st.model].temperature:
            coldest[st.model] = st

    fig = Figure(figsize=(6, 8))
    axes = fig.subplots(3, 1, sharex=True)
    r = next(iter(coldest.values())).gr.r
    for model, st in coldest.items():
        axes[0].plot(
            st.gr.r,
            st.gr.g[0, 0],
            color=colours[model],
            lw=1,
            label=f"KA-{model.upper()} T={st.temperature:g}",
        )
    if {"lj", "wca"} <= set(coldest) and coldest["lj"].gr.r.size == coldest[
        "wca"
    ].gr.r.size:
        diff = coldest["lj"].gr.g[0, 0] - coldest["wca"].gr.g[0, 0]
        axes[1].plot(r, diff, color="k", lw=1)
    w = weight_function(main, r)
    axes[2].plot(r, w[0, 0], label="W_AA", color="tab:green")
    axes[2].plot(r, w[0, 1], label="W_AB", color="tab:purple")
    axes[0].set_ylabel("g_AA(r)")
    axes[1].set_ylabel("g_LJ - g_WCA")
    axes[2].set_ylabel("W(r)")
    axes[2].set_xlabel("r")
    axes[0].legend()
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(out / "gr_weights.png", dpi=120)

    fig = Figure(figsize=(9, 4))
    axes = fig.subplots(1, 2, sharey=True)
    for model in ("lj", "wca"):
        rows = [row for row in table if row["model"] == model]
        tau = [row["tau_alpha"] for row in rows]
        for ax, key in zip(axes, ("mean_S_both", "g_AA_peak"), strict=True):
            ax.semilogy(
                [row[key] for row in rows],
                tau,
                "o-",
                color=colours[model],
                label=f"KA-{model.upper()}",
            )
    axes[0].set_xlabel("mean softness <S>_A")
    axes[1].set_xlabel("g_AA first-peak height")
    axes[0].set_ylabel("tau_alpha")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out / "tau_vs_softness.png", dpi=120)

    fig = Figure(figsize=(9, 4))
    axes = fig.subplots(1, len(p_r_tables), squeeze=False)
    centres = 0.5 * (edges[1:] + edges[:-1])
    cmap = matplotlib.colormaps["viridis"]
    for ax, (model, (temps, p_r)) in zip(axes[0], p_r_tables.items(), strict=True):
        for b, s in enumerate(centres):
            ok = np.isfinite(p_r[:, b]) & (p_r[:, b] > 0)
            ax.semilogy(
                1 / temps[ok],
                p_r[ok, b],
                "o-",
                ms=3,
                color=cmap(b / max(len(centres) - 1, 1)),
                label=f"S={s:.2f}",
            )
        ax.set_title(f"KA-{model.upper()}")
        ax.set_xlabel("1 / T")
        ax.set_ylabel("P_R(S)")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "pr_arrhenius.png", dpi=120)

    if vib:
        fig = Figure(figsize=(5, 4))
        ax = fig.subplots()
        for model, v in vib.items():
            ax.plot(
                v["omega"],
                v["dos"],
                color=colours[model],
                label=f"KA-{model.upper()} IS, T={v['temperature']:g}",
            )
        ax.set_xlabel("omega")
        ax.set_ylabel("D(omega)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "vdos.png", dpi=120)


def demo_config(sweep: str, out: str) -> SoftnessStudyConfig:
    """The softness step of ``liquids demo``, sized for its short sweep.

    The demo sweep records softness-grade linear frames every 0.1 LJ time
    (``SweepConfig.linear_frame_time``) next to its log blocks, so p_hop
    uses the usual t_R = 10 frames (1 LJ time); fewer frames, folds and
    modes than a production study keep it to about a minute.
    """
    return SoftnessStudyConfig(
        files=(f"{sweep}/*.h5",),
        out=out,
        min_per_class=10,
        max_per_class=500,
        folds=3,
        vib_modes=5,
        max_frames=300,
    )
