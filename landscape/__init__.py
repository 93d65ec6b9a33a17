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
]
