"""Labelled (xarray) views of the pnn comparison file, for notebooks.

:func:`open_compare` reads ``compare.h5`` (written by
:func:`pnn.compare.run_compare`, ``pnn compare``; layout in
:mod:`pnn.compare`) into a :class:`CompareResults` of
:class:`xarray.Dataset` s with named coordinates::

    res = open_compare("results/pnn/compare.h5")
    res.pairs.accuracy_physical.mean("seed").sel(dataset="digits")
    res.depth.accuracy_physical.sel({"method": "in_silico"})  # [depth, seed]
    res.noise.accuracy_physical.mean("seed")                 # [method, noise]
    res.cyclic.top_eigenvalue.sel(amplitude=1.0)             # [step]

Pairs that were not run (a method incompatible with a network) are NaN.
Select methods with a dict, ``.sel({"method": "spsa"})``: ``.sel(method=...)``
is xarray's interpolation-method argument, not the dimension.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import h5py
import numpy as np
import xarray as xr

__all__ = ["CompareResults", "open_compare"]

_FINAL = ("accuracy_model", "accuracy_physical", "physical_evaluations", "wall_time")


@dataclasses.dataclass(frozen=True)
class CompareResults:
    """The parts of a ``compare.h5`` file as labelled datasets.

    Attributes:
        path: the file.
        pairs: final accuracies, physical evaluations and wall time
            ``[dataset, network, method, seed]``, and the per-epoch
            ``history_*`` variables ``[dataset, network, method, seed, epoch]``.
        depth: depth sweep ``accuracy_physical``, ``accuracy_model``
            ``[method, depth, seed]``, or ``None``.
        noise: noise sweep ``[method, noise, seed]`` (attribute ``field``: the
            swept substrate option), or ``None``.
        cyclic: cyclic-loss Hessian record ``top_eigenvalue``, ``loss``
            ``[amplitude, step]`` with ``edge_of_stability``, or ``None``.
        config: the study's config.
    """

    path: Path
    pairs: xr.Dataset
    depth: xr.Dataset | None
    noise: xr.Dataset | None
    cyclic: xr.Dataset | None
    config: dict

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={v}" for k, v in self.pairs.sizes.items())
        lines = [f"CompareResults({self.path})", f"  pairs: {sizes}"]
        for name in ("depth", "noise", "cyclic"):
            ds = getattr(self, name)
            if ds is not None:
                shape = ", ".join(f"{k}={v}" for k, v in ds.sizes.items())
                lines.append(f"  {name}: {shape}")
        if self.pairs.sizes.get("method"):
            best = self.pairs.accuracy_physical.mean("seed").max(["dataset", "network"])
            ranked = sorted(
                zip(best.method.values, best.values, strict=True), key=lambda x: -x[1]
            )
            text = ", ".join(f"{m} {a:.3f}" for m, a in ranked if np.isfinite(a))
            lines.append(f"  best physical accuracy: {text}")
        return "\n".join(lines)


def _strings(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _pairs(group: h5py.Group) -> xr.Dataset:
    runs = []
    group.visititems(
        lambda name, obj: (
            runs.append(name)
            if isinstance(obj, h5py.Group)
            and name.rsplit("/", 1)[-1].startswith("seed_")
            else None
        )
    )
    keys = [tuple(name.split("/")) for name in runs]
    axes = {
        "dataset": sorted({k[0] for k in keys}),
        "network": sorted({k[1] for k in keys}),
        "method": sorted({k[2] for k in keys}),
        "seed": sorted({int(k[3].removeprefix("seed_")) for k in keys}),
    }
    shape = tuple(len(v) for v in axes.values())
    epochs = max(
        (group[n]["epoch"].shape[0] for n in runs if "epoch" in group[n]), default=0
    )
    final = {k: np.full(shape, np.nan) for k in _FINAL}
    history_names = sorted(
        {k for n in runs for k in group[n] if k != "epoch"} if runs else set()
    )
    history = {k: np.full(shape + (epochs,), np.nan) for k in history_names}
    for name, key in zip(runs, keys, strict=True):
        index = (
            axes["dataset"].index(key[0]),
            axes["network"].index(key[1]),
            axes["method"].index(key[2]),
            axes["seed"].index(int(key[3].removeprefix("seed_"))),
        )
        run = group[name]
        for k in _FINAL:
            final[k][index] = float(run.attrs.get(k, np.nan))
        for k in history_names:
            if k in run:
                values = run[k][()]
                history[k][index][: values.size] = values
    dims = tuple(axes)
    data = {k: (dims, v) for k, v in final.items()}
    data |= {f"history_{k}": ((*dims, "epoch"), v) for k, v in history.items()}
    coords = dict(axes, epoch=np.arange(1, epochs + 1))
    return xr.Dataset(data, coords=coords)


def _sweep(group: h5py.Group, axis: str, name: str) -> xr.Dataset:
    methods = _strings(group["methods"][()])
    points = group[axis][()]
    data = {
        k: (("method", name, "seed"), group[k][()])
        for k in ("accuracy_physical", "accuracy_model")
        if k in group
    }
    seeds = next(iter(data.values()))[1].shape[-1] if data else 0
    attrs = {
        k: v.decode() if isinstance(v, bytes) else v for k, v in group.attrs.items()
    }
    return xr.Dataset(
        data,
        coords={"method": methods, name: points, "seed": np.arange(seeds)},
        attrs=attrs,
    )


def _cyclic(group: h5py.Group) -> xr.Dataset:
    arrays = {k: group[k][()] for k in group}
    coords = {"amplitude": arrays.pop("amplitude"), "step": arrays.pop("step")}
    data = {}
    for k, v in arrays.items():
        if v.ndim == 2:
            data[k] = (("amplitude", "step"), v)
        elif v.ndim == 1 and v.size == coords["amplitude"].size:
            data[k] = ("amplitude", v)
        elif v.ndim == 0:
            data[k] = ((), v)
    return xr.Dataset(data, coords=coords)


def open_compare(path: str | os.PathLike) -> CompareResults:
    """Open a ``compare.h5`` (or the folder holding it) as labelled datasets.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a pnn comparison file.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "compare.h5"
    if not path.exists():
        raise FileNotFoundError(f"no comparison file at {path}")
    with h5py.File(path, "r") as f:
        if "pairs" not in f or "summary" not in f:
            raise ValueError(
                f"{path} is not a pnn comparison file: it has groups "
                f"{sorted(f)}, expected pairs/ and summary/ (written by "
                "`pnn compare`)"
            )
        config = json.loads(f.attrs.get("config_json", "{}") or "{}")
        pairs = _pairs(f["pairs"])
        depth = (
            _sweep(f["depth_sweep"], "depths", "depth") if "depth_sweep" in f else None
        )
        noise = (
            _sweep(f["noise_sweep"], "levels", "noise") if "noise_sweep" in f else None
        )
        cyclic = _cyclic(f["cyclic_hessian"]) if "cyclic_hessian" in f else None
    return CompareResults(path, pairs, depth, noise, cyclic, config)
