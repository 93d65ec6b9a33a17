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
from landscape.eigen import Eigenpairs, hessian_eigenvalues, top_eigenvalues
from landscape.hvp import (
    batched_hessian_matvec,
    batched_hessian_vector_product,
    hessian_matvec,
    hessian_vector_product,
)
from landscape.lanczos import LanczosResult, lanczos

# isort: split

# -- losses, models, datasets, training --

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
    "batched_hessian_matvec",
    "batched_hessian_vector_product",
    "hessian_eigenvalues",
    "hessian_matvec",
    "hessian_vector_product",
    "lanczos",
    "top_eigenvalues",
]
