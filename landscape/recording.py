"""The HDF5 record of a training run.

A run file (``RUN.h5``, written only through
:func:`landscape.records.atomic_h5`) has this layout::

    /  attrs: layout = "glassland-landscape-run/1", config_json,
              glassland_version (plus one attribute per scalar config entry),
              status ("running" | "complete" | "diverged"), completed_steps,
              diverged_step (-1 unless diverged), num_params, num_classes,
              dataset_repr
    records/step              int64   [R]      optimisation step of each record
    records/loss              float64 [R]      training loss with the class
                                               weights of that step (full batch)
    records/cross_entropy     float64 [R]      plain (unweighted) training CE
    records/test_cross_entropy float64 [R]     plain CE on the test split
    records/train_accuracy    float64 [R]      fraction in [0, 1]
    records/test_accuracy     float64 [R]
    records/class_weights     float64 [R, C]   Gamma_i at that step
    records/hessian_top       float64 [R, hk]  top Hessian eigenvalues of the
                                               weighted full-batch loss, descending
    records/hessian_residual  float64 [R, hk]  Lanczos residual norms |Hv - lv|
    records/ntk_top           float64 [R, nk]  top eigenvalues of the full
                                               (N k x N k) empirical NTK on the
                                               fixed subset, descending
    ntk_subset                int64   [n]      indices (into the train split) of
                                               the fixed NTK inputs
    snapshots/step            int64   [S]      steps with stored parameters
    snapshots/params          float   [S, P]   flat parameters (the order of
                                               ``jax.flatten_util.ravel_pytree``)
    spectra/...               written by :mod:`landscape.spectrum_job`

A record at step s describes the parameters after s optimiser updates; the
weights Gamma are those the update at step s uses. Hessian and NTK
eigenvalues have the units of the loss per parameter squared; the NTK has
units of output squared. ``hk`` or ``nk`` is 0 when that spectrum is off.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import h5py
import numpy as np

from landscape.records import atomic_h5, read_config_attrs, write_config_attrs

__all__ = ["LAYOUT", "RECORD_FIELDS", "RunRecords", "read_run"]

LAYOUT = "glassland-landscape-run/1"

RECORD_FIELDS = (
    "step",
    "loss",
    "cross_entropy",
    "test_cross_entropy",
    "train_accuracy",
    "test_accuracy",
    "class_weights",
    "hessian_top",
    "hessian_residual",
    "ntk_top",
)


@dataclasses.dataclass
class RunRecords:
    """Records of one run, grown one row at a time.

    Attributes:
        rows: one dict per record with the keys :data:`RECORD_FIELDS`.
        snapshot_steps: steps with stored flat parameters.
        snapshots: the flat parameter vectors ``[P]``.
        ntk_subset: ``[n]`` indices of the fixed NTK inputs.
    """

    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    snapshot_steps: list[int] = dataclasses.field(default_factory=list)
    snapshots: list[np.ndarray] = dataclasses.field(default_factory=list)
    ntk_subset: np.ndarray = dataclasses.field(
        default_factory=lambda: np.zeros(0, np.int64)
    )

    def append(self, **row: Any) -> None:
        """Add one record (all of :data:`RECORD_FIELDS`)."""
        missing = set(RECORD_FIELDS) - set(row)
        if missing:
            raise ValueError(f"record is missing fields {sorted(missing)}")
        self.rows.append(row)

    def arrays(self) -> dict[str, np.ndarray]:
        """The records as stacked arrays, one per field."""
        if not self.rows:
            return {}
        out = {}
        for name in RECORD_FIELDS:
            values = [np.asarray(r[name]) for r in self.rows]
            dtype = np.int64 if name == "step" else np.float64
            out[name] = np.stack(values).astype(dtype)
        return out

    def truncate(self, last_step: int) -> None:
        """Drop records and snapshots after ``last_step`` (resume)."""
        self.rows = [r for r in self.rows if int(r["step"]) <= last_step]
        keep = [i for i, s in enumerate(self.snapshot_steps) if s <= last_step]
        self.snapshot_steps = [self.snapshot_steps[i] for i in keep]
        self.snapshots = [self.snapshots[i] for i in keep]

    def write(
        self, path: str | os.PathLike, config: dict[str, Any], attrs: dict[str, Any]
    ) -> None:
        """Write the whole run file atomically (see the module docstring)."""
        with atomic_h5(path, "w") as f:
            write_config_attrs(f, config)
            f.attrs["layout"] = LAYOUT
            for key, value in attrs.items():
                f.attrs[key] = value
            group = f.create_group("records")
            for name, array in self.arrays().items():
                group.create_dataset(name, data=array)
            f.create_dataset("ntk_subset", data=np.asarray(self.ntk_subset, np.int64))
            snaps = f.create_group("snapshots")
            snaps.create_dataset("step", data=np.asarray(self.snapshot_steps, np.int64))
            if self.snapshots:
                snaps.create_dataset("params", data=np.stack(self.snapshots))

    @classmethod
    def read(cls, path: str | os.PathLike) -> RunRecords:
        """Read back the records of a run file."""
        with h5py.File(path, "r") as f:
            _check_layout(f)
            group = f["records"]
            arrays = {name: group[name][()] for name in group if name in RECORD_FIELDS}
            n = len(arrays.get("step", []))
            rows = [{k: v[i] for k, v in arrays.items()} for i in range(n)]
            steps = [int(s) for s in f["snapshots/step"][()]]
            snaps = (
                list(f["snapshots/params"][()]) if "params" in f["snapshots"] else []
            )
            return cls(rows, steps, snaps, f["ntk_subset"][()])


def _check_layout(f: h5py.File) -> None:
    if f.attrs.get("layout") != LAYOUT:
        raise ValueError(
            f"{f.filename} is not a landscape run file (layout "
            f"{f.attrs.get('layout')!r}, expected {LAYOUT!r})"
        )


def read_run(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``(records, attrs)`` of a run file: stacked record arrays and the root
    attributes, with the parsed config under ``attrs["config"]``."""
    with h5py.File(path, "r") as f:
        _check_layout(f)
        records = {name: f["records"][name][()] for name in f["records"]}
        attrs = {k: v for k, v in f.attrs.items() if k != "config_json"}
        attrs["config"] = read_config_attrs(f)
    return records, attrs
