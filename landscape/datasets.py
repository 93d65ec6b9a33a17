"""Small offline classification data sets for landscape experiments.

Everything here is generated or bundled: nothing is downloaded.

* :func:`spiral`: the 3-arm spiral of the authors' toy notebook for dynamical
  loss functions (Ruiz-Garcia et al., ICML 2021).
* :func:`digits`: scikit-learn's bundled 8x8 digits (1797 x 64, 10 classes).
* :func:`mnist1d`: the procedural MNIST-1D generator (Greydanus 2020), 4000 /
  1000 split, 40 features.

:func:`load_dataset` picks one by name.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Callable
from typing import Any

import numpy as np

from landscape.validate import require_finite, require_positive_int

logger = logging.getLogger(__name__)

__all__ = ["DATASETS", "Dataset", "digits", "load_dataset", "mnist1d", "spiral"]


@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class Dataset:
    """A train/test split of a classification problem.

    Attributes:
        x_train: ``[train, features]`` inputs (float64).
        y_train: ``[train]`` int32 labels in ``[0, num_classes)``.
        x_test: ``[test, features]`` inputs.
        y_test: ``[test]`` labels.
        num_classes: number of classes.
        name: short name (``"spiral"``, ``"digits"``, ``"mnist1d"``).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    name: str

    def __post_init__(self):
        for split in ("train", "test"):
            x = np.asarray(getattr(self, f"x_{split}"))
            y = np.asarray(getattr(self, f"y_{split}"))
            if x.ndim != 2:
                raise ValueError(
                    f"x_{split} must have shape [samples, features], got {x.shape}"
                )
            if y.shape != x.shape[:1]:
                raise ValueError(
                    f"y_{split} must have shape [{x.shape[0]}], got {y.shape}"
                )
            require_finite(f"x_{split}", x)
            if y.size and (y.min() < 0 or y.max() >= self.num_classes):
                raise ValueError(
                    f"y_{split} labels must lie in [0, {self.num_classes}), "
                    f"got range [{y.min()}, {y.max()}]"
                )
        if self.x_train.shape[1] != self.x_test.shape[1]:
            raise ValueError(
                f"x_train has {self.x_train.shape[1]} features but x_test has "
                f"{self.x_test.shape[1]}"
            )

    @property
    def num_features(self) -> int:
        """Input dimension."""
        return int(self.x_train.shape[1])

    def __repr__(self) -> str:
        counts = np.bincount(self.y_train, minlength=self.num_classes)
        return (
            f"Dataset({self.name!r}: train {self.x_train.shape[0]}, "
            f"test {self.x_test.shape[0]}, features {self.num_features}, "
            f"classes {self.num_classes}, train per class "
            f"{counts.min()}-{counts.max()})"
        )


def _make(name, x_tr, y_tr, x_te, y_te, num_classes) -> Dataset:
    return Dataset(
        x_train=np.ascontiguousarray(x_tr, dtype=np.float64),
        y_train=np.asarray(y_tr, dtype=np.int32),
        x_test=np.ascontiguousarray(x_te, dtype=np.float64),
        y_test=np.asarray(y_te, dtype=np.int32),
        num_classes=int(num_classes),
        name=name,
    )


def _spiral_arms(rng, num_per_class: int, num_classes: int, noise: float):
    radius = np.linspace(0.0, 1.0, num_per_class)
    xs, ys = [], []
    for j in range(num_classes):
        start = 2.0 * np.pi * j / num_classes
        angle = np.linspace(start, start + 4.0 * np.pi, num_per_class)
        angle = angle + noise * rng.standard_normal(num_per_class)
        xs.append(np.stack([radius * np.sin(angle), radius * np.cos(angle)], 1))
        ys.append(np.full(num_per_class, j))
    return np.concatenate(xs), np.concatenate(ys)


def spiral(
    num_per_class: int = 100,
    num_classes: int = 3,
    noise: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """The multi-arm spiral of the dynamical-loss toy experiment.

    Arm j has points at radii r evenly spaced in [0, 1] and angles

    .. math::

        t = \\frac{2\\pi j}{C} + 4\\pi r + \\epsilon, \\qquad
        \\epsilon \\sim \\mathcal N(0, \\sigma^2),

    placed at (r sin t, r cos t). The test set is a second, independent draw
    of the angle noise (same radii, ``num_per_class`` points per class) from
    the same seed, so both splits are balanced and deterministic.

    Args:
        num_per_class: points per class in each split.
        num_classes: number of arms C (the paper uses 3).
        noise: standard deviation sigma of the angle noise (radians).
        seed: seed of the noise.

    Returns:
        A :class:`Dataset` with 2 features.
    """
    require_positive_int("num_per_class", num_per_class)
    if int(num_classes) != num_classes or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    train_rng, test_rng = np.random.default_rng(seed).spawn(2)
    x_tr, y_tr = _spiral_arms(train_rng, num_per_class, num_classes, noise)
    x_te, y_te = _spiral_arms(test_rng, num_per_class, num_classes, noise)
    return _make("spiral", x_tr, y_tr, x_te, y_te, num_classes)


def digits(test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 handwritten digits, scaled to [0, 1].

    Args:
        test_fraction: share of the 1797 images held out, stratified by class.
        seed: seed of the split.

    Returns:
        A :class:`Dataset` with 64 features (row-major 8x8 pixels), 10 classes.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    bunch = load_digits()
    x = bunch.data / 16.0
    x_tr, x_te, y_tr, y_te = train_test_split(
        x,
        bunch.target,
        test_size=test_fraction,
        stratify=bunch.target,
        random_state=seed,
    )
    return _make("digits", x_tr, y_tr, x_te, y_te, 10)


def mnist1d(seed: int = 42) -> Dataset:
    """MNIST-1D from the ``mnist1d`` package's procedural generator.

    Uses the generator's default arguments (5000 samples, 80 % train, 40
    features) and never its download path. The generator seeds NumPy's and
    Python's global random state; both are restored afterwards.

    Args:
        seed: the generator's seed (its default is 42).

    Returns:
        A :class:`Dataset` with 4000 train and 1000 test samples, 10 classes.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = int(seed)
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)
    return _make("mnist1d", data["x"], data["y"], data["x_test"], data["y_test"], 10)


DATASETS: dict[str, Callable[..., Dataset]] = {
    "digits": digits,
    "mnist1d": mnist1d,
    "spiral": spiral,
}


def load_dataset(name: str, **kwargs: Any) -> Dataset:
    """Build the data set called ``name`` with keyword options ``kwargs``.

    Raises:
        ValueError: for an unknown name (the message lists the valid ones).
        TypeError: for an option the data set does not take.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {sorted(DATASETS)}")
    data = DATASETS[name](**kwargs)
    logger.info("loaded %r", data)
    return data
