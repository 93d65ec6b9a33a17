"""Labelled (xarray) views of landscape run files, for notebooks.

A run file written by :func:`landscape.training.train` (layout in
:mod:`landscape.recording`) opens as an :class:`xarray.Dataset` whose
variables carry their axes by name, so a figure or a selection reads like
the science::

    run = open_run("results/landscape/run.h5")
    run.hessian_top.sel(hessian_index=0).plot()         # lambda_max vs step
    run.class_weights.sel(step=slice(0, 5000))

    spec = open_spectra("results/landscape/run.h5")     # after `spectrum`
    spec.hessian_density.sel(step=spec.step[-1])

Views are read-only copies of the file's arrays (run files are small); the
file is closed when the call returns. A file of another layout raises a
:class:`ValueError` that says which layout it has.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import xarray as xr

from landscape.recording import LAYOUT, RECORD_FIELDS

__all__ = ["open_run", "open_spectra"]

#: axis names of each record field after the leading ``step`` axis
_RECORD_DIMS = {
    "class_weights": ("class",),
    "hessian_top": ("hessian_index",),
    "hessian_residual": ("hessian_index",),
    "ntk_top": ("ntk_index",),
}


def _check_run(f: h5py.File, path: str | os.PathLike) -> None:
    layout = f.attrs.get("layout")
    if layout != LAYOUT:
        raise ValueError(
            f"{os.fspath(path)} is not a landscape run file: its layout attribute "
            f"is {layout!r}, expected {LAYOUT!r} (written by `landscape train`)"
        )


def _text(value) -> str | int | float:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _root_attrs(f: h5py.File, path: str | os.PathLike) -> dict:
    attrs = {k: _text(v) for k, v in f.attrs.items()}
    attrs["path"] = os.fspath(path)
    return attrs


def open_run(path: str | os.PathLike) -> xr.Dataset:
    """The records of a training run as labelled arrays.

    Args:
        path: a run file (``layout = "glassland-landscape-run/1"``).

    Returns:
        A dataset with dimension ``step`` (``[R]`` records) and

        * ``loss``, ``cross_entropy``, ``test_cross_entropy``,
          ``train_accuracy``, ``test_accuracy``: ``[step]``;
        * ``class_weights``: ``[step, class]`` (Gamma_i, sums to C);
        * ``hessian_top``, ``hessian_residual``: ``[step, hessian_index]``,
          descending eigenvalues of the weighted full-batch loss Hessian;
        * ``ntk_top``: ``[step, ntk_index]``, descending full-NTK eigenvalues;
        * coordinate ``snapshot_step`` of the stored parameter snapshots;

        the root attributes (``status``, ``completed_steps``, ``num_params``,
        ``config_json``...), the path, a summary of the config (``amplitude``,
        ``period``, ``loss_kind``, ``learning_rate``, ``widths``) and
        ``edge_of_stability = 2 / lr`` when the optimiser is plain gradient
        descent.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a landscape run file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no run file at {path}")
    with h5py.File(path, "r") as f:
        _check_run(f, path)
        group = f["records"]
        arrays = {name: group[name][()] for name in RECORD_FIELDS if name in group}
        snapshots = f["snapshots/step"][()] if "snapshots/step" in f else []
        attrs = _root_attrs(f, path)
    steps = np.asarray(arrays.pop("step", np.zeros(0, np.int64)), np.int64)
    data_vars = {}
    for name, values in arrays.items():
        dims = ("step", *_RECORD_DIMS.get(name, ()))
        data_vars[name] = (dims, np.asarray(values))
    coords = {"step": steps, "snapshot_step": np.asarray(snapshots, np.int64)}
    for dims, values in data_vars.values():
        for dim, size in zip(dims[1:], values.shape[1:], strict=True):
            coords[dim] = np.arange(size)
    config = json.loads(attrs.get("config_json", "{}") or "{}")
    optimizer, loss = config.get("optimizer", {}), config.get("loss", {})
    for key, value in (
        ("amplitude", loss.get("amplitude")),
        ("period", loss.get("period")),
        ("loss_kind", loss.get("kind")),
        ("learning_rate", optimizer.get("learning_rate")),
        ("widths", str(config.get("model", {}).get("widths", ""))),
    ):
        if value is not None:
            attrs[key] = value
    if optimizer.get("name") == "sgd" and optimizer.get("learning_rate"):
        attrs["edge_of_stability"] = 2.0 / float(optimizer["learning_rate"])
    ds = xr.Dataset(data_vars, coords=coords, attrs=attrs)
    ds.step.attrs["long_name"] = "optimisation step"
    return ds


def open_spectra(path: str | os.PathLike) -> xr.Dataset:
    """The snapshot spectra of a run (group ``spectra/``) as labelled arrays.

    Args:
        path: a run file on which :func:`landscape.spectrum_job.compute_spectra`
            (``landscape spectrum``) has run.

    Returns:
        A dataset with dimension ``step`` (``[S]`` snapshots) and, for
        ``op`` in ``hessian``, ``ntk``: ``{op}_top`` ``[step, {op}_index]``
        (descending), ``{op}_density`` on abscissae ``{op}_grid``
        ``[step, {op}_grid_index]`` (integrates to 1), and the SLQ nodes and
        weights ``{op}_nodes``, ``{op}_node_weights``
        ``[step, probe, lanczos_step]``. Attributes: the SLQ settings.

    Raises:
        ValueError: not a run file, or no spectra computed yet.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no run file at {path}")
    with h5py.File(path, "r") as f:
        _check_run(f, path)
        if "spectra" not in f:
            raise ValueError(
                f"{path} holds no spectra/ group yet; compute it with "
                "`landscape spectrum` or landscape.spectrum_job.compute_spectra"
            )
        group = f["spectra"]
        arrays = {name: group[name][()] for name in group}
        attrs = {k: _text(v) for k, v in group.attrs.items()}
    attrs["path"] = os.fspath(path)
    steps = np.asarray(arrays.pop("step"), np.int64)
    data_vars = {}
    for name, values in arrays.items():
        op, _, what = name.partition("_")
        if what == "top":
            dims = ("step", f"{op}_index")
        elif what in ("grid", "density"):
            dims = ("step", f"{op}_grid_index")
        elif what in ("nodes", "node_weights"):
            dims = ("step", f"{op}_probe", f"{op}_lanczos_step")
        else:
            dims = ("step",) + tuple(f"{name}_{i}" for i in range(values.ndim - 1))
        data_vars[name] = (dims[: values.ndim], values)
    return xr.Dataset(data_vars, coords={"step": steps}, attrs=attrs)
