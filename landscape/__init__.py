"""landscape: Hessian and NTK spectra of any scalar function of a pytree.

The shared core of glassland. It imports neither :mod:`liquids` nor :mod:`pnn`.
"""

from landscape.config import ConfigError, FrozenConfig, load_config, parse_config
from landscape.records import (
    atomic_h5,
    load_checkpoint,
    read_config_attrs,
    save_checkpoint,
    write_config_attrs,
)

# isort: split
# -- spectral core (hvp, lanczos, eigen, density, trace, ntk) --
from landscape.density import SpectralDensity, spectral_density
from landscape.eigen import Eigenpairs, hessian_eigenvalues, top_eigenvalues
from landscape.hvp import (
    batched_hessian_matvec,
    batched_hessian_vector_product,
    hessian_matvec,
    hessian_vector_product,
)
from landscape.lanczos import LanczosResult, lanczos
from landscape.ntk import empirical_ntk, ntk_eigenvalues, ntk_vector_product
from landscape.trace import TraceEstimate, hutchinson_trace

# isort: split

# -- losses, models, datasets, training --
from landscape.datasets import Dataset, digits, load_dataset, mnist1d, spiral
from landscape.losses import (
    LossConfig,
    cyclic_class_weights,
    cyclic_cross_entropy,
    cyclic_mse_component,
    cyclic_mse_sample,
)
from landscape.models import MLP, ModelConfig, MyrtleCNN, build_model, init_params
from landscape.recording import read_run
from landscape.run_config import DatasetConfig, OptimizerConfig, TrainConfig
from landscape.spectrum_job import SpectrumOptions, compute_spectra
from landscape.training import TrainingDiverged, TrainResult, train

__all__ = [
    "ConfigError",
    "FrozenConfig",
    "atomic_h5",
    "load_checkpoint",
    "load_config",
    "parse_config",
    "read_config_attrs",
    "save_checkpoint",
    "write_config_attrs",
    # spectral core
    "Eigenpairs",
    "LanczosResult",
    "SpectralDensity",
    "TraceEstimate",
    "batched_hessian_matvec",
    "batched_hessian_vector_product",
    "empirical_ntk",
    "hessian_eigenvalues",
    "hessian_matvec",
    "hessian_vector_product",
    "hutchinson_trace",
    "lanczos",
    "ntk_eigenvalues",
    "ntk_vector_product",
    "spectral_density",
    "top_eigenvalues",
    # losses, models, datasets, training
    "Dataset",
    "DatasetConfig",
    "LossConfig",
    "MLP",
    "ModelConfig",
    "MyrtleCNN",
    "OptimizerConfig",
    "SpectrumOptions",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "build_model",
    "compute_spectra",
    "cyclic_class_weights",
    "cyclic_cross_entropy",
    "cyclic_mse_component",
    "cyclic_mse_sample",
    "digits",
    "init_params",
    "load_dataset",
    "mnist1d",
    "read_run",
    "spiral",
    "train",
]
