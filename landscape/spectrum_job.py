"""Hessian and NTK spectra of the parameter snapshots stored in run files.

:func:`training.train <landscape.training.train>` stores flat parameter
snapshots in the run file (``snapshots/params``, at every
``snapshot_every`` steps and always at the first and last step).
:func:`compute_spectra` rebuilds the run's data and network from the stored
config and, at every snapshot, computes

* the top-k Hessian eigenvalues of the weighted full-batch training loss
  (with the class weights of that step), by Lanczos;
* the Hessian spectral density by stochastic Lanczos quadrature
  (:func:`landscape.density.spectral_density`);
* the top-k eigenvalues and the SLQ density of the full empirical NTK on the
  run's fixed NTK subset,

and writes them to the group ``spectra/`` of the same file (replacing an
older one), atomically::

    spectra/  attrs: num_probes, slq_steps, lanczos_steps, seed
    spectra/step                 int64   [S]
    spectra/hessian_top          float64 [S, k]     descending
    spectra/hessian_grid         float64 [S, G]     density abscissae
    spectra/hessian_density      float64 [S, G]     integrates to 1
    spectra/hessian_nodes        float64 [S, probes, steps]  SLQ nodes
    spectra/hessian_node_weights float64 [S, probes, steps]  SLQ weights
    spectra/ntk_top, ntk_grid, ntk_density, ntk_nodes, ntk_node_weights
                                 (the same for the NTK; [S, 0] if ntk off)
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable

import h5py
import jax
import numpy as np
import pydantic
from jax.flatten_util import ravel_pytree

from landscape.config import FrozenConfig, parse_config
from landscape.density import spectral_density
from landscape.eigen import top_eigenvalues
from landscape.hvp import hessian_matvec
from landscape.losses import class_weights_at
from landscape.ntk import ntk_eigenvalues, ntk_vector_product
from landscape.recording import RunRecords
from landscape.records import atomic_h5, read_config_attrs
from landscape.run_config import TrainConfig
from landscape.training import build_problem

logger = logging.getLogger(__name__)

__all__ = ["SpectrumOptions", "compute_spectra"]


class SpectrumOptions(FrozenConfig):
    """Settings of :func:`compute_spectra`.

    Attributes:
        k: top eigenvalues of each operator.
        lanczos_steps: Lanczos steps of the top-k (clipped to the dimension).
        num_probes: SLQ probes.
        slq_steps: Lanczos steps per SLQ probe (clipped to the dimension).
        num_grid: points of each density grid.
        seed: seed of the Lanczos start vectors and probes.
    """

    k: pydantic.PositiveInt = 5
    lanczos_steps: pydantic.PositiveInt = 30
    num_probes: pydantic.PositiveInt = 4
    slq_steps: pydantic.PositiveInt = 32
    num_grid: pydantic.PositiveInt = 256
    seed: int = 0

    @pydantic.model_validator(mode="after")
    def _check_k(self) -> SpectrumOptions:
        if self.k > self.lanczos_steps:
            raise ValueError(
                f"k={self.k} needs lanczos_steps >= k, got {self.lanczos_steps}"
            )
        return self


def _operator_spectra(matvec, dim, key, options: SpectrumOptions, dtype) -> dict:
    k = min(options.k, dim)
    pairs = top_eigenvalues(
        matvec,
        dim,
        k,
        key=key,
        num_steps=min(max(options.lanczos_steps, k), dim),
        dtype=dtype,
    )
    dens = spectral_density(
        matvec,
        dim,
        key=jax.random.fold_in(key, 1),
        num_probes=options.num_probes,
        num_steps=options.slq_steps,
        num_grid=options.num_grid,
        dtype=dtype,
    )
    return {
        "top": np.asarray(pairs.values, np.float64),
        "grid": dens.grid,
        "density": dens.density,
        "nodes": dens.nodes,
        "node_weights": dens.weights,
    }


def compute_spectra(
    path: str | os.PathLike,
    options: SpectrumOptions | None = None,
    *,
    on_snapshot: Callable[[int, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Spectra of every snapshot in the run file ``path``, appended to it.

    Args:
        path: a run file written by :func:`landscape.training.train`.
        options: :class:`SpectrumOptions` (default settings if ``None``).
        on_snapshot: called as ``on_snapshot(done, total)`` after each
            snapshot (for a progress bar).

    Returns:
        The arrays written under ``spectra/``.

    Raises:
        ValueError: a file that is not a run file or holds no snapshots.
    """
    options = options or SpectrumOptions()
    records = RunRecords.read(path)
    with h5py.File(path, "r") as f:
        config = parse_config(
            TrainConfig, read_config_attrs(f), source=f"{os.fspath(path)}:config_json"
        )
    if not records.snapshots:
        raise ValueError(f"{path} holds no parameter snapshots")
    x64 = config.dtype == "float64"
    with jax.enable_x64(True) if x64 else contextlib.nullcontext():
        out = _spectra(config, records, options, on_snapshot)
    with atomic_h5(path, "a") as f:
        if "spectra" in f:
            del f["spectra"]
        group = f.create_group("spectra")
        for name in ("num_probes", "slq_steps", "lanczos_steps", "seed"):
            group.attrs[name] = getattr(options, name)
        for name, array in out.items():
            group.create_dataset(name, data=array)
    logger.info("wrote spectra of %d snapshots to %s", len(out["step"]), path)
    return out


def _spectra(config, records, options, on_snapshot) -> dict[str, np.ndarray]:
    problem = build_problem(config)
    _, unravel = ravel_pytree(problem.params)
    x, y = problem.arrays[:2]
    x_ntk = x[np.asarray(records.ntk_subset)]
    base_key = jax.random.key(options.seed, impl="rbg")
    rows: dict[str, list] = {}
    total = len(records.snapshot_steps)
    for i, (step, flat) in enumerate(
        zip(records.snapshot_steps, records.snapshots, strict=True)
    ):
        params = unravel(jax.numpy.asarray(flat, problem.dtype))
        weights = class_weights_at(
            config.loss, step, problem.data.num_classes, config.num_steps, problem.dtype
        )
        key = jax.random.fold_in(base_key, step)
        matvec, dim, _ = hessian_matvec(problem.objective, params, x, y, weights)
        hess = _operator_spectra(matvec, dim, key, options, problem.dtype)
        if len(x_ntk):
            ntk_mv, ntk_dim = ntk_vector_product(problem.apply_fn, params, x_ntk)
            ntk = _operator_spectra(
                ntk_mv, ntk_dim, jax.random.fold_in(key, 2), options, problem.dtype
            )
            ntk["top"] = np.asarray(
                ntk_eigenvalues(
                    problem.apply_fn,
                    params,
                    x_ntk,
                    min(options.k, ntk_dim),
                    key=jax.random.fold_in(key, 3),
                ),
                np.float64,
            )
        else:
            ntk = {k: np.zeros(0) for k in hess}
        rows.setdefault("step", []).append(step)
        for prefix, spec in (("hessian", hess), ("ntk", ntk)):
            for name, value in spec.items():
                rows.setdefault(f"{prefix}_{name}", []).append(value)
        if on_snapshot is not None:
            on_snapshot(i + 1, total)
    return {name: np.stack(values) for name, values in rows.items()}
