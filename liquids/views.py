"""Labelled (xarray) views of liquids files, for notebooks.

Every file the liquids CLI writes opens as an :class:`xarray.Dataset` with
named axes:

* :func:`open_trajectory`: one trajectory file (layout
  :mod:`liquids.trajectory`) with coordinates ``t`` (frame time),
  ``particle``, ``dim`` (pass ``frames=`` to read a part of a long run).
* :func:`open_state`: the standard observables of one state point computed
  from its trajectory, with coordinates ``r``, ``t`` and the species pair,
  plus ``tau_alpha`` and the mean thermodynamics.
* :func:`open_sweep`: :func:`open_state` of every trajectory of a sweep
  folder, stacked along ``state`` with coordinates ``model`` and ``T``.
* :func:`open_softness`: the table of ``softness_study.h5`` (written by
  ``liquids softness``) along ``state``, with ``P_R(S)`` on the softness
  bins ``S``.

Example::

    sweep = open_sweep("results/liquids/sweep")
    sweep.tau_alpha.sel(species="A")               # one value per state
    sweep.g.sel(pair="AA").where(sweep.model == "lj", drop=True)

A file of another layout raises a :class:`ValueError` that names its layout.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import xarray as xr

from liquids.dynamics import (
    mean_squared_displacement,
    self_intermediate_scattering,
    tau_alpha,
)
from liquids.structure import pair_correlation
from liquids.trajectory import LAYOUT, read_trajectory

__all__ = ["open_softness", "open_state", "open_sweep", "open_trajectory"]


def _species_name(a: int) -> str:
    return chr(ord("A") + a) if a < 26 else str(a)


def _check_trajectory(f: h5py.File, path: Path) -> None:
    layout = f.attrs.get("layout")
    if layout != LAYOUT:
        raise ValueError(
            f"{path} is not a glassland trajectory: its layout attribute is "
            f"{layout!r}, expected {LAYOUT!r} (written by `liquids sweep`); "
            "read LAMMPS or GSD files with liquids.read_lammps_dump / read_gsd"
        )


def _config(f: h5py.File) -> dict:
    return json.loads(f.attrs.get("config_json", "{}") or "{}")


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no file at {path}")
    return path


def open_trajectory(
    path: str | os.PathLike, *, frames: slice | None = None
) -> xr.Dataset:
    """A trajectory file as labelled arrays.

    Args:
        path: a file in the :mod:`liquids.trajectory` layout.
        frames: read only these frames (a slice); default all.

    Returns:
        A dataset with coordinates ``t`` ``[frames]`` (time, LJ units),
        ``particle``, ``dim`` (``"x", "y"[, "z"]``), ``species``
        ``[particle]`` (0 = A) and ``box`` ``[dim]``; variables ``positions``
        (wrapped, ``[t, particle, dim]``), ``images`` and, if stored,
        ``velocities``; the thermodynamic series ``potential_energy``,
        ``temperature``, ``pressure`` on coordinate ``thermo_t``. Attributes:
        the run's config (``model``, ``temperature``...) and the path.

    Raises:
        FileNotFoundError, ValueError: missing file or another layout.
    """
    path = _existing(path)
    frames = slice(None) if frames is None else frames
    if not isinstance(frames, slice):
        raise TypeError(f"frames must be a slice or None, got {type(frames)}")
    with h5py.File(path, "r") as f:
        _check_trajectory(f, path)
        config = _config(f)
        box = f["box"][()]
        dims = ["x", "y", "z"][: box.size]
        coords = {
            "t": f["times"][frames],
            "particle": np.arange(f["species"].shape[0]),
            "dim": dims,
            "species": ("particle", f["species"][()]),
            "box": ("dim", box),
        }
        data = {
            name: (("t", "particle", "dim"), f[name][frames])
            for name in ("positions", "images", "velocities")
            if name in f
        }
        if "thermo" in f:
            thermo = f["thermo"]
            coords["thermo_t"] = thermo["time"][()]
            for name in thermo:
                if name != "time":
                    data[name] = ("thermo_t", thermo[name][()])
    attrs = {k: v for k, v in config.items() if isinstance(v, int | float | str)}
    attrs["path"] = os.fspath(path)
    return xr.Dataset(data, coords=coords, attrs=attrs)


def open_state(
    path: str | os.PathLike,
    *,
    r_max: float | None = None,
    bin_width: float = 0.02,
    q: float = 7.25,
) -> xr.Dataset:
    """The observables of one state point, computed from its trajectory.

    Args:
        path: a trajectory file (one state point of a sweep).
        r_max: largest ``r`` of ``g(r)``; default ``min(4, L_min / 2)``.
        bin_width: ``g(r)`` bin width.
        q: wave number of ``F_s(q, t)`` (first peak of ``S_AA``: 7.25).

    Returns:
        A dataset with coordinates ``r``, ``t`` (time lag), ``species``
        (``"A", "B"``) and ``pair`` (``"AA", "AB", "BB"``); variables ``g``
        ``[pair, r]`` (partial ``g_ab(r)``), ``msd`` and ``fs``
        ``[species, t]``, ``tau_alpha`` ``[species]`` (NaN where ``F_s`` never
        reached ``1/e``) and the time-averaged ``potential_energy``
        (per particle), ``pressure`` and kinetic ``temperature``; attributes
        ``model``, ``T`` (thermostat), ``num_particles``, ``dimension``,
        ``q``, ``path``.
    """
    path = _existing(path)
    with h5py.File(path, "r") as f:
        _check_trajectory(f, path)
        config = _config(f)
    traj = read_trajectory(path)
    if r_max is None:
        r_max = min(4.0, 0.5 * float(np.min(traj.box)))
    gr = pair_correlation(traj, r_max=r_max, bin_width=bin_width)
    msd = mean_squared_displacement(traj)
    fs = self_intermediate_scattering(traj, q=q)

    species = [_species_name(a) for a in range(gr.num_species)]
    pairs = [(a, b) for a in range(gr.num_species) for b in range(a, gr.num_species)]
    taus = []
    for a in range(fs.fs.shape[0]):
        try:
            taus.append(tau_alpha(fs.lags, fs.fs[a]))
        except ValueError:
            taus.append(np.nan)
    data = {
        "g": (("pair", "r"), np.stack([gr.partial(a, b) for a, b in pairs])),
        "fs": (("species", "t"), fs.fs),
        "tau_alpha": ("species", np.asarray(taus)),
    }
    coords = {
        "r": gr.r,
        "t": fs.lags,
        "species": species[: fs.fs.shape[0]],
        "pair": [species[a] + species[b] for a, b in pairs],
    }
    if np.allclose(msd.lags, fs.lags):
        data["msd"] = (("species", "t"), msd.msd)
    else:
        data["msd"] = (("species", "t_msd"), msd.msd)
        coords["t_msd"] = msd.lags
    for name, values in (traj.thermo or {}).items():
        if name != "time" and np.size(values):
            data[name] = ((), float(np.mean(values)))
    attrs = {
        "model": str(config.get("model", "")),
        "T": float(config.get("temperature", np.nan)),
        "num_particles": traj.num_particles,
        "dimension": traj.dimension,
        "q": q,
        "path": os.fspath(path),
    }
    ds = xr.Dataset(data, coords=coords, attrs=attrs)
    ds.r.attrs["long_name"] = "r"
    ds.t.attrs["long_name"] = "t"
    return ds


def _sweep_files(folder: str | os.PathLike | Sequence) -> list[Path]:
    if isinstance(folder, str | os.PathLike):
        folder = _existing(folder)
        files = sorted(folder.glob("*.h5")) if folder.is_dir() else [folder]
    else:
        files = [_existing(p) for p in folder]
    files = [p for p in files if not p.name.endswith(".part.h5")]
    if not files:
        raise ValueError(f"no trajectory files (*.h5) in {folder}")
    return files


def open_sweep(
    folder: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    r_max: float | None = None,
    bin_width: float = 0.02,
    q: float = 7.25,
    progress=None,
) -> xr.Dataset:
    """:func:`open_state` of every trajectory of a sweep, stacked by state.

    Args:
        folder: a folder of trajectory files (``*.h5``, unfinished
            ``*.part.h5`` skipped) or a list of files.
        r_max, bin_width, q: as in :func:`open_state` (one ``r`` grid for
            all states, so ``r_max`` defaults to the smallest box's).
        progress: optional ``progress(done, total)`` after each state (e.g.
            :meth:`landscape.progress.ProgressBar.to`).

    Returns:
        The states concatenated along ``state`` (sorted by model, then
        temperature), with coordinates ``model`` and ``T`` on ``state``.
        Time lags are joined (NaN where a state lacks a lag).
    """
    files = _sweep_files(folder)
    if r_max is None:
        sides = []
        for path in files:
            with h5py.File(path, "r") as f:
                _check_trajectory(f, path)
                sides.append(float(np.min(f["box"][()])))
        r_max = min(4.0, 0.5 * min(sides))
    states = []
    for i, path in enumerate(files):
        states.append(open_state(path, r_max=r_max, bin_width=bin_width, q=q))
        if progress is not None:
            progress(i + 1, len(files))
    states.sort(key=lambda s: (s.attrs["model"], s.attrs["T"]))
    stacked = xr.concat(
        [
            s.expand_dims("state").assign_coords(
                model=("state", [s.attrs["model"]]),
                T=("state", [s.attrs["T"]]),
                file=("state", [s.attrs["path"]]),
            )
            for s in states
        ],
        dim="state",
        join="outer",
        combine_attrs="drop_conflicts",
    )
    stacked.attrs.pop("path", None)
    stacked.attrs["files"] = len(files)
    return stacked


def open_softness(path: str | os.PathLike) -> xr.Dataset:
    """The per-state table of a softness study (``softness_study.h5``).

    Args:
        path: the study file written by :func:`liquids.softness_study.run_study`
            (``liquids softness``), or its folder.

    Returns:
        A dataset along ``state`` (coordinates ``model``, ``T``) with every
        column of the study's table (``tau_alpha``, ``mean_S_both``,
        ``mean_S_from_gr``, ``P_R``, ``g_AA_peak``...), ``P_R_of_S``
        ``[state, S]`` on the softness bin centres ``S`` (edges in
        ``S_edges``), the Arrhenius fit ``delta_E``, ``Sigma`` ``[model, S]``
        and the Spearman rank correlations as attributes.

    Raises:
        FileNotFoundError, ValueError: missing file or not a study file.
    """
    path = _existing(path)
    if path.is_dir():
        path = _existing(path / "softness_study.h5")
    with h5py.File(path, "r") as f:
        if "states" not in f or "softness_edges" not in f:
            raise ValueError(
                f"{path} is not a softness study file (no states/ and "
                "softness_edges; written by `liquids softness`)"
            )
        table = {k: f["states"][k][()] for k in f["states"]}
        edges = f["softness_edges"][()]
        p_r = {
            m: (f[f"P_R/{m}/T"][()], f[f"P_R/{m}/P_R"][()]) for m in f.get("P_R", {})
        }
        fits = {
            m: (f[f"arrhenius/{m}/delta_E"][()], f[f"arrhenius/{m}/Sigma"][()])
            for m in f.get("arrhenius", {})
        }
        spearman = json.loads(f.attrs.get("spearman_json", "{}"))
    models = [m.decode() if isinstance(m, bytes) else str(m) for m in table["model"]]
    temps = np.asarray(table.pop("T"), np.float64)
    table.pop("model")
    centres = 0.5 * (edges[1:] + edges[:-1])
    p_r_of_s = np.full((len(models), centres.size), np.nan)
    for i, (model, temp) in enumerate(zip(models, temps, strict=True)):
        if model in p_r:
            match = np.flatnonzero(np.isclose(p_r[model][0], temp))
            if match.size:
                p_r_of_s[i] = p_r[model][1][match[0]]
    data = {k: ("state", np.asarray(v, np.float64)) for k, v in table.items()}
    data["P_R_of_S"] = (("state", "S"), p_r_of_s)
    coords = {
        "model": ("state", models),
        "T": ("state", temps),
        "S": centres,
        "S_edges": ("S_edge", edges),
    }
    if fits:
        fit_models = sorted(fits)
        coords["fit_model"] = fit_models
        data["delta_E"] = (
            ("fit_model", "S"),
            np.stack([fits[m][0] for m in fit_models]),
        )
        data["Sigma"] = (("fit_model", "S"), np.stack([fits[m][1] for m in fit_models]))
    attrs = {f"spearman_{k}": float(v) for k, v in spearman.items()}
    attrs["path"] = os.fspath(path)
    return xr.Dataset(data, coords=coords, attrs=attrs)
