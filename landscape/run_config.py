"""Configs of a training run: data, optimiser and the run itself.

Every field is validated when the config is built (from TOML through
:func:`landscape.config.load_config`), before any JAX compilation; what
depends on the data (sizes of subsets and batches) is checked by
:func:`landscape.training.build_problem` right after the data is loaded.
"""

from __future__ import annotations

from typing import Literal

import optax
import pydantic

from landscape.config import FrozenConfig
from landscape.datasets import Dataset, load_dataset
from landscape.losses import LossConfig
from landscape.models import ModelConfig

__all__ = ["DatasetConfig", "OptimizerConfig", "TrainConfig"]


class DatasetConfig(FrozenConfig):
    """Which data set to train on (see :mod:`landscape.datasets`).

    Attributes:
        name: ``"spiral"``, ``"digits"`` or ``"mnist1d"``.
        seed: seed of the data (spiral noise, digits split; mnist1d uses
            generator seed 42 + seed, so 0 gives the package default data).
        num_per_class: spiral points per class and split.
        noise: spiral angle noise (radians).
        test_fraction: digits held-out share.

    Options that do not apply to ``name`` are ignored.
    """

    name: Literal["spiral", "digits", "mnist1d"] = "spiral"
    seed: int = 0
    num_per_class: pydantic.PositiveInt = 100
    noise: float = pydantic.Field(default=0.2, ge=0.0, allow_inf_nan=False)
    test_fraction: float = pydantic.Field(default=0.2, gt=0.0, lt=1.0)

    def load(self) -> Dataset:
        """Build the data set."""
        if self.name == "spiral":
            return load_dataset(
                "spiral",
                num_per_class=self.num_per_class,
                noise=self.noise,
                seed=self.seed,
            )
        if self.name == "digits":
            return load_dataset(
                "digits", test_fraction=self.test_fraction, seed=self.seed
            )
        return load_dataset("mnist1d", seed=42 + self.seed)


class OptimizerConfig(FrozenConfig):
    """An optax optimiser.

    Attributes:
        name: ``"sgd"`` (plain gradient descent), ``"momentum"`` (heavy ball)
            or ``"adam"``.
        learning_rate: step size (the papers' toy runs use 1).
        momentum: momentum coefficient of ``"momentum"``.
    """

    name: Literal["sgd", "momentum", "adam"] = "sgd"
    learning_rate: pydantic.PositiveFloat = 1.0
    momentum: float = pydantic.Field(default=0.9, ge=0.0, lt=1.0)

    def build(self) -> optax.GradientTransformation:
        """The optax transformation."""
        if self.name == "sgd":
            return optax.sgd(self.learning_rate)
        if self.name == "momentum":
            return optax.sgd(self.learning_rate, momentum=self.momentum)
        return optax.adam(self.learning_rate)


class TrainConfig(FrozenConfig):
    """Everything that defines a training run.

    Attributes:
        dataset, model, loss, optimizer: the sub-configs.
        num_steps: optimisation steps (a multiple of ``record_every``).
        batch_size: minibatch size; ``None`` is full-batch gradient descent.
        seed: seed of the parameters, minibatches and Lanczos start vectors.
        dtype: ``"float32"`` or ``"float64"`` (scoped ``jax.enable_x64``).
        record_every: steps between records.
        hessian_k: top Hessian eigenvalues per record (0: off).
        hessian_lanczos_steps: Lanczos steps per record (clipped to the
            number of parameters).
        ntk_k: top NTK eigenvalues per record (0: off).
        ntk_subset: number of fixed training inputs of the NTK.
        checkpoint_every: steps between checkpoints (a multiple of
            ``record_every``; 0: only at the end).
        snapshot_every: steps between parameter snapshots stored in the run
            file for :mod:`landscape.spectrum_job` (multiple of
            ``record_every``; 0: only the first and last step).
    """

    dataset: DatasetConfig = DatasetConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    num_steps: pydantic.PositiveInt = 1000
    batch_size: pydantic.PositiveInt | None = None
    seed: int = 0
    dtype: Literal["float32", "float64"] = "float32"
    record_every: pydantic.PositiveInt = 25
    hessian_k: pydantic.NonNegativeInt = 1
    hessian_lanczos_steps: pydantic.PositiveInt = 10
    ntk_k: pydantic.NonNegativeInt = 5
    ntk_subset: pydantic.PositiveInt = 50
    checkpoint_every: pydantic.NonNegativeInt = 0
    snapshot_every: pydantic.NonNegativeInt = 0

    @pydantic.model_validator(mode="after")
    def _check_multiples(self) -> TrainConfig:
        for name in ("num_steps", "checkpoint_every", "snapshot_every"):
            value = getattr(self, name)
            if value % self.record_every:
                raise ValueError(
                    f"{name}={value} must be a multiple of "
                    f"record_every={self.record_every}"
                )
        if self.hessian_k > self.hessian_lanczos_steps:
            raise ValueError(
                f"hessian_k={self.hessian_k} needs hessian_lanczos_steps >= "
                f"hessian_k, got {self.hessian_lanczos_steps}"
            )
        return self
