"""Softness: the signed distance to the hyperplane that best separates
rearranging from quiet particles in structure-function space.

Following Cubuk et al. (PRL 114, 108001 (2015)) and Schoenholz et al.
(Nat. Phys. 12, 469 (2016)), each central species gets its own linear support
vector machine on standardised features :math:`z = (x - m) / s`:

.. math::

    S_i = \\hat{\\mathbf w} \\cdot \\mathbf z_i + \\hat b,
    \\qquad \\lVert \\hat{\\mathbf w} \\rVert = 1,

so :math:`S_i` is the signed Euclidean distance to the hyperplane in
standardised units; positive means "looks like a rearranging particle".
The regularisation C is chosen by stratified cross-validation over decades,
and quality is reported on a held-out split: the accuracy and the fraction
of rearranging particles with S > 0 (85-90 % is typical for KA liquids).

Folding the scaling into the weights gives the raw-feature form used by the
weighted integral of g(r) (:mod:`liquids.weighted_gr`):
:math:`S_i = b' + \\sum_{b,\\mu} w'_{b\\mu} G_b(i;\\mu)` with
:math:`w' = \\hat w / s` and :math:`b' = \\hat b - \\sum \\hat w m / s`.

HDF5 layout of a hyperplane (group ``/hyperplane``)::

    attrs:  config_json (the FeatureGrid), glassland_version,
            layout = "glassland-hyperplane/1"
    central    int32   [C]        central species, one hyperplane each
    mean       float64 [C, D]     feature means of the scaler
    scale      float64 [C, D]     feature standard deviations of the scaler
    weights    float64 [C, D]     unit-norm weights in standardised space
    intercept  float64 [C]        intercept (same units)
    quality/   one group per central species, attrs C, cv_accuracy,
               test_accuracy, test_rearranging_positive, n_train, n_test

with ``D = grid.num_features`` ordered as :meth:`FeatureGrid.feature_names`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import h5py
import numpy as np

from landscape.records import atomic_h5, read_config_attrs, write_config_attrs
from landscape.validate import require_in_range, require_positive_int
from liquids.features import FeatureGrid, StructureFunctions

logger = logging.getLogger(__name__)

__all__ = [
    "Hyperplane",
    "SoftnessQuality",
    "fit_hyperplane",
    "load_hyperplane",
    "save_hyperplane",
    "softness",
]

LAYOUT = "glassland-hyperplane/1"


@dataclasses.dataclass(frozen=True)
class SoftnessQuality:
    """How well one species' hyperplane separates the classes.

    Attributes:
        C: regularisation chosen by cross-validation.
        cv_accuracy: mean cross-validated accuracy at that C.
        test_accuracy: accuracy on the held-out split.
        test_rearranging_positive: held-out fraction of rearranging
            particles with S > 0.
        n_train: training samples (both classes).
        n_test: held-out samples.
    """

    C: float
    cv_accuracy: float
    test_accuracy: float
    test_rearranging_positive: float
    n_train: int
    n_test: int


@dataclasses.dataclass(frozen=True)
class Hyperplane:
    """Fitted softness hyperplanes, one per central species.

    Attributes:
        grid: the feature grid the hyperplanes were trained on.
        central: ``[C]`` central species, one hyperplane each.
        mean: ``[C, D]`` scaler means.
        scale: ``[C, D]`` scaler standard deviations.
        weights: ``[C, D]`` unit-norm weights in standardised space.
        intercept: ``[C]`` intercepts.
        quality: per central species, or empty for a hand-made hyperplane.
    """

    grid: FeatureGrid
    central: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    intercept: np.ndarray
    quality: tuple[SoftnessQuality, ...] = ()

    def __repr__(self) -> str:
        quality = ", ".join(
            f"species {int(c)}: C={q.C:g}, held-out accuracy {q.test_accuracy:.3f}"
            for c, q in zip(self.central, self.quality, strict=False)
        )
        return (
            f"Hyperplane(central species {np.asarray(self.central).tolist()}, "
            f"{self.grid.num_features} features" + (f"; {quality})" if quality else ")")
        )

    def __post_init__(self) -> None:
        c, d = len(self.central), self.grid.num_features
        for name in ("mean", "scale", "weights"):
            if np.shape(getattr(self, name)) != (c, d):
                raise ValueError(
                    f"{name} must have shape ({c}, {d}), got "
                    f"{np.shape(getattr(self, name))}"
                )
        if np.shape(self.intercept) != (c,):
            raise ValueError(
                f"intercept must have shape ({c},), got {np.shape(self.intercept)}"
            )

    def raw_weights(self) -> np.ndarray:
        """``[C, D]`` weights on raw (unscaled) features."""
        return np.asarray(self.weights) / np.asarray(self.scale)

    def raw_intercept(self) -> np.ndarray:
        """``[C]`` intercept on raw features."""
        return np.asarray(self.intercept) - np.sum(
            self.raw_weights() * np.asarray(self.mean), axis=1
        )

    def radial_weights(self) -> np.ndarray:
        """``[C, species, shells]`` raw weights of the radial features."""
        g = self.grid
        return self.raw_weights()[:, : g.num_radial].reshape(
            -1, g.num_species, g.num_shells
        )

    def row_of(self, species: int) -> int:
        """Index of the hyperplane for central ``species``."""
        hits = np.nonzero(np.asarray(self.central) == species)[0]
        if hits.size == 0:
            raise ValueError(
                f"no hyperplane for central species {species}; trained for "
                f"{np.asarray(self.central).tolist()}"
            )
        return int(hits[0])


def _check_grid(found: FeatureGrid, wanted: FeatureGrid, what: str) -> None:
    if found != wanted:
        raise ValueError(
            f"{what} uses a different feature grid from the hyperplane: "
            f"got {found.to_dict()}, the hyperplane needs {wanted.to_dict()}; "
            "recompute the structure functions with hyperplane.grid or retrain"
        )


def softness(hyperplane: Hyperplane, features: StructureFunctions, species):
    """Per-particle softness.

    Args:
        hyperplane: fitted hyperplanes.
        features: structure functions on ``hyperplane.grid``.
        species: ``[particles]`` species labels.

    Returns:
        ``[frames, particles]`` softness; NaN for particles whose species has
        no hyperplane.
    """
    _check_grid(features.grid, hyperplane.grid, "the structure functions")
    x = features.flat().astype(np.float64)
    species = np.asarray(species)
    if species.shape != x.shape[1:2]:
        raise ValueError(
            f"species must have shape ({x.shape[1]},), got {species.shape}"
        )
    out = np.full(x.shape[:2], np.nan)
    w, b = hyperplane.raw_weights(), hyperplane.raw_intercept()
    for row, s in enumerate(np.asarray(hyperplane.central)):
        mine = species == s
        out[:, mine] = x[:, mine] @ w[row] + b[row]
    return out


def fit_hyperplane(
    features: np.ndarray,
    labels: np.ndarray,
    species: np.ndarray,
    grid: FeatureGrid,
    *,
    c_values: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0),
    folds: int = 5,
    test_fraction: float = 0.2,
    seed: int = 0,
    min_feature_std: float = 1e-3,
) -> Hyperplane:
    """Fit one linear SVM per species present in ``species``.

    Args:
        features: ``[samples, D]`` raw features (``StructureFunctions.flat``
            rows of the training samples).
        labels: ``[samples]`` 1 rearranging, 0 non-rearranging.
        species: ``[samples]`` central species of each sample.
        grid: the grid the features were computed on.
        c_values: regularisation values tried by cross-validation.
        folds: stratified cross-validation folds.
        test_fraction: held-out fraction for the quality numbers.
        seed: seed of the splits.
        min_feature_std: features whose training standard deviation is at or
            below this are left out (weight 0, scale 1).

    Returns:
        :class:`Hyperplane` with quality numbers per species.
    """
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    species = np.asarray(species)
    if x.ndim != 2 or x.shape[1] != grid.num_features:
        raise ValueError(
            f"features must be [samples, {grid.num_features}] for this grid, got "
            f"{x.shape}"
        )
    if y.shape != (x.shape[0],) or species.shape != (x.shape[0],):
        raise ValueError("labels and species must have one entry per sample")
    if not set(np.unique(y)) <= {0, 1}:
        raise ValueError(f"labels must be 0 or 1, got values {np.unique(y)}")
    require_positive_int("folds", folds)
    require_in_range("test_fraction", test_fraction, 0.0, 0.9, inclusive=False)

    rows = []
    for s in np.unique(species):
        mine = species == s
        xs, ys = x[mine], y[mine]
        if min(np.sum(ys == 1), np.sum(ys == 0)) < 2 * folds:
            raise ValueError(
                f"species {s} has {np.sum(ys == 1)} rearranging and "
                f"{np.sum(ys == 0)} non-rearranging samples; need at least "
                f"{2 * folds} of each to train with {folds}-fold cross-validation"
            )
        x_tr, x_te, y_tr, y_te = train_test_split(
            xs, ys, test_size=test_fraction, stratify=ys, random_state=seed
        )
        model = make_pipeline(
            StandardScaler(),
            LinearSVC(dual=False, max_iter=20000, class_weight="balanced"),
        )
        search = GridSearchCV(
            model,
            {"linearsvc__C": list(c_values)},
            cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
        )
        # Shells no pair ever reaches (std ~ 0) would get huge raw weights
        # w / s; they are left out of the fit and get weight 0.
        keep = x_tr.std(axis=0) > min_feature_std
        search.fit(x_tr[:, keep], y_tr)
        scaler, svm = search.best_estimator_[0], search.best_estimator_[1]
        mean, scale = x_tr.mean(axis=0), np.ones(x.shape[1])
        mean[keep], scale[keep] = scaler.mean_, scaler.scale_
        w = np.zeros(x.shape[1])
        norm = float(np.linalg.norm(svm.coef_[0]))
        w[keep], b = svm.coef_[0] / norm, float(svm.intercept_[0]) / norm
        s_te = ((x_te - mean) / scale) @ w + b
        quality = SoftnessQuality(
            C=float(search.best_params_["linearsvc__C"]),
            cv_accuracy=float(search.best_score_),
            test_accuracy=float(np.mean((s_te > 0) == (y_te == 1))),
            test_rearranging_positive=float(np.mean(s_te[y_te == 1] > 0)),
            n_train=int(y_tr.size),
            n_test=int(y_te.size),
        )
        logger.info("species %d: %s", s, quality)
        rows.append((int(s), mean, scale, w, b, quality))
    return Hyperplane(
        grid=grid,
        central=np.array([r[0] for r in rows], dtype=np.int32),
        mean=np.stack([r[1] for r in rows]),
        scale=np.stack([r[2] for r in rows]),
        weights=np.stack([r[3] for r in rows]),
        intercept=np.array([r[4] for r in rows]),
        quality=tuple(r[5] for r in rows),
    )


def save_hyperplane(path: str | os.PathLike, hyperplane: Hyperplane) -> None:
    """Write ``hyperplane`` to ``/hyperplane`` of an HDF5 file (atomically;
    other groups of an existing file are kept)."""
    with atomic_h5(path, mode="a") as f:
        if "hyperplane" in f:
            del f["hyperplane"]
        group = f.create_group("hyperplane")
        group.attrs["layout"] = LAYOUT
        write_config_attrs(group, hyperplane.grid.to_dict())
        for name in ("mean", "scale", "weights", "intercept"):
            group[name] = np.asarray(getattr(hyperplane, name), dtype=np.float64)
        group["central"] = np.asarray(hyperplane.central, dtype=np.int32)
        quality = group.create_group("quality")
        for s, q in zip(hyperplane.central, hyperplane.quality, strict=True):
            sub = quality.create_group(str(int(s)))
            for key, value in dataclasses.asdict(q).items():
                sub.attrs[key] = value


def load_hyperplane(
    path: str | os.PathLike, grid: FeatureGrid | None = None
) -> Hyperplane:
    """Read a hyperplane written by :func:`save_hyperplane`.

    Args:
        path: the HDF5 file.
        grid: if given, the grid the caller's features use; a hyperplane
            trained on another grid is an error.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {str(path)!r} does not exist")
    with h5py.File(path, "r") as f:
        if "hyperplane" not in f or f["hyperplane"].attrs.get("layout") != LAYOUT:
            raise ValueError(f"{path} holds no glassland hyperplane ({LAYOUT})")
        group = f["hyperplane"]
        stored = FeatureGrid.model_validate(read_config_attrs(group))
        arrays = {k: group[k][()] for k in ("central", "mean", "scale", "weights")}
        intercept = group["intercept"][()]
        quality = tuple(
            SoftnessQuality(
                **{k: v.item() for k, v in group["quality"][str(s)].attrs.items()}
            )
            for s in arrays["central"]
            if str(s) in group["quality"]
        )
    if grid is not None:
        _check_grid(
            grid,
            stored,
            f"the requested grid (weights file {path})",
        )
    return Hyperplane(grid=stored, intercept=intercept, quality=quality, **arrays)
