"""Vibrations of inherent structures: Hessian spectrum, soft modes, softness.

At a minimum of the potential energy :math:`U`, harmonic vibrations are the
eigenmodes of the Hessian (unit masses, so eigenvalues are squared angular
frequencies):

.. math::

    H_{i\\alpha, j\\beta} = \\frac{\\partial^2 U}
        {\\partial r_{i\\alpha} \\partial r_{j\\beta}}, \\qquad
    H e_n = \\omega_n^2 e_n .

The vibrational density of states :math:`D(\\omega) = 2\\omega\\,
\\phi(\\omega^2)` follows from the eigenvalue density :math:`\\phi` estimated
matrix-free by stochastic Lanczos quadrature
(:func:`landscape.density.spectral_density`); the lowest modes come from
Lanczos (:func:`landscape.eigen.top_eigenvalues` with ``which="smallest"``),
skipping the ``dim`` zero-frequency translations of a periodic box. A mode's
participation ratio

.. math::

    P_n = \\frac{\\left(\\sum_i |e_{n,i}|^2\\right)^2}{N \\sum_i |e_{n,i}|^4}

is 1 for a plane wave and 1/N for a mode on one particle. Quasi-localised
soft modes concentrate on particles that are prone to rearrange
(Widmer-Cooper et al., Nat. Phys. 4, 711 (2008)); the per-particle
participation in the lowest modes is compared with softness by a rank
correlation (Schoenholz et al., Nat. Phys. 12, 469 (2016)).
"""

from __future__ import annotations

import dataclasses
import functools
import logging

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from landscape.density import spectral_density
from landscape.eigen import top_eigenvalues
from landscape.hvp import hessian_matvec
from landscape.validate import require_positive_int

logger = logging.getLogger(__name__)

__all__ = [
    "LowModes",
    "VibrationalDOS",
    "hessian_matrix",
    "low_modes",
    "participation_ratio",
    "soft_mode_participation",
    "softness_correlation",
    "vibrational_dos",
]


@dataclasses.dataclass(frozen=True)
class LowModes:
    """The lowest non-translational Hessian modes of one configuration.

    Attributes:
        eigenvalues: ``[k]`` squared frequencies, ascending.
        modes: ``[k, particles, dim]`` unit-norm eigenvectors.
        participation: ``[k]`` participation ratios.
        residuals: ``[k]`` Lanczos residual norms.
    """

    eigenvalues: np.ndarray
    modes: np.ndarray
    participation: np.ndarray
    residuals: np.ndarray

    @property
    def frequencies(self) -> np.ndarray:
        return np.sqrt(np.clip(self.eigenvalues, 0, None))


@dataclasses.dataclass(frozen=True)
class VibrationalDOS:
    """Vibrational density of states from SLQ.

    Attributes:
        omega: ``[G]`` angular frequencies.
        density: ``[G]`` :math:`D(\\omega)`, integrating to ~1 (the
            ``dim / (N dim)`` zero modes excepted).
        mean_eigenvalue: :math:`\\mathrm{tr} H / (N d)` estimate, the mean
            :math:`\\omega^2`.
    """

    omega: np.ndarray
    density: np.ndarray
    mean_eigenvalue: float


@functools.lru_cache(maxsize=8)
def _energy_of(potential):
    """One function object per potential, so its Hessian-vector product is
    compiled once (``landscape.hvp`` caches per function object)."""

    def energy(position):
        return potential.energy_dense(position)

    return energy


def _matvec(potential, position, dtype):
    x = jnp.asarray(position, dtype)
    return hessian_matvec(_energy_of(potential), x)


def hessian_matrix(potential, position, dtype=jnp.float64) -> np.ndarray:
    """Dense ``[N d, N d]`` Hessian (small N), built column by column from
    the same Hessian-vector product that Lanczos uses.

    Args:
        potential: a :class:`liquids.potentials.KAPotential`.
        position: ``[particles, dim]``.
        dtype: dtype of the computation (float64 needs ``jax.enable_x64``).
    """
    matvec, size, _ = _matvec(potential, position, dtype)
    eye = jnp.eye(size, dtype=dtype)
    return np.stack([np.asarray(matvec(e)) for e in eye], axis=1)


def participation_ratio(modes: np.ndarray) -> np.ndarray:
    """``[k]`` participation ratios of ``[k, particles, dim]`` modes."""
    modes = np.asarray(modes, dtype=np.float64)
    if modes.ndim != 3:
        raise ValueError(f"modes must be [k, particles, dim], got {modes.shape}")
    weight = np.sum(modes**2, axis=-1)
    return np.sum(weight, axis=1) ** 2 / (modes.shape[1] * np.sum(weight**2, axis=1))


def low_modes(
    potential,
    position,
    k: int,
    *,
    key: jax.Array,
    num_steps: int | None = None,
    dtype=jnp.float32,
) -> LowModes:
    """The ``k`` lowest modes above the ``dim`` translational zero modes.

    Args:
        potential: the potential (``energy_dense`` is differentiated).
        position: ``[particles, dim]`` an inherent structure.
        k: modes wanted.
        key: PRNG key of the Lanczos start vector.
        num_steps: Lanczos steps (default ``min(N d, 4 (k + dim) + 40)``); the
            smallest end of a glass spectrum is dense, so check ``residuals``.
        dtype: float dtype.
    """
    k = require_positive_int("k", k)
    n, dim = np.shape(position)
    size = n * dim
    wanted = k + dim
    if num_steps is None:
        num_steps = min(size, 4 * wanted + 40)
    matvec, size, _ = _matvec(potential, position, dtype)
    pairs = top_eigenvalues(
        matvec,
        size,
        wanted,
        key=key,
        num_steps=num_steps,
        which="smallest",
        dtype=dtype,
    )
    values = np.asarray(pairs.values, dtype=np.float64)[dim:]
    modes = np.asarray(pairs.vectors, dtype=np.float64)[dim:].reshape(k, n, dim)
    return LowModes(
        eigenvalues=values,
        modes=modes,
        participation=participation_ratio(modes),
        residuals=np.asarray(pairs.residuals, dtype=np.float64)[dim:],
    )


def vibrational_dos(
    potential,
    position,
    *,
    key: jax.Array,
    num_probes: int = 8,
    num_steps: int = 80,
    num_grid: int = 400,
    dtype=jnp.float32,
) -> VibrationalDOS:
    """Vibrational density of states :math:`D(\\omega)` by SLQ on the Hessian.

    Eigenvalues below zero (numerical noise about the zero modes) are
    dropped; the density is :math:`2 \\omega \\phi(\\omega^2)` on a grid of
    ``num_grid`` frequencies up to the largest Ritz value.
    """
    matvec, size, _ = _matvec(potential, position, dtype)
    slq = spectral_density(
        matvec, size, key=key, num_probes=num_probes, num_steps=num_steps, dtype=dtype
    )
    omega_max = np.sqrt(max(float(slq.nodes.max()), 0.0)) + 3 * np.sqrt(slq.sigma)
    omega = np.linspace(0.0, omega_max, num_grid)
    z = (omega[:, None] ** 2 - slq.nodes.reshape(-1)) / slq.sigma
    phi = np.exp(-0.5 * z**2) / (np.sqrt(2 * np.pi) * slq.sigma)
    phi = phi @ slq.weights.reshape(-1) / slq.nodes.shape[0]
    return VibrationalDOS(
        omega=omega, density=2 * omega * phi, mean_eigenvalue=slq.moment(1)
    )


def soft_mode_participation(low: LowModes) -> np.ndarray:
    """``[particles]`` participation of each particle in the low modes,
    :math:`p_i = \\sum_n |e_{n,i}|^2` (sums to ``k``)."""
    return np.sum(low.modes**2, axis=(0, 2))


def softness_correlation(participation: np.ndarray, softness: np.ndarray) -> float:
    """Spearman rank correlation between soft-mode participation and softness
    of the same particles (NaN softness entries are left out)."""
    participation = np.asarray(participation, dtype=np.float64)
    softness = np.asarray(softness, dtype=np.float64)
    if participation.shape != softness.shape:
        raise ValueError(
            f"participation {participation.shape} and softness {softness.shape} "
            "must have the same shape"
        )
    keep = np.isfinite(softness)
    return float(stats.spearmanr(participation[keep], softness[keep]).statistic)
