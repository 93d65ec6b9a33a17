"""Spectral density of a matrix-free operator by stochastic Lanczos quadrature.

The spectral density of a symmetric :math:`A` of dimension :math:`d`,
:math:`\\phi(t) = \\frac{1}{d} \\sum_i \\delta(t - \\lambda_i)`, satisfies
:math:`\\int f \\, \\phi = \\frac{1}{d}\\mathrm{tr} f(A) = \\mathbb{E}_v[v^\\top
f(A) v]` for random unit probes with :math:`\\mathbb{E}[v v^\\top] = I / d`.
For one probe, :math:`m` Lanczos steps started at :math:`v` give the
:math:`m`-point Gauss quadrature of the measure
:math:`\\sum_i (u_i^\\top v)^2 \\delta(t - \\lambda_i)`: its nodes are the
Ritz values :math:`\\theta_j` of :math:`T_m` and its weights the squared first
components :math:`\\tau_j = (s_j)_1^2` of the eigenvectors of :math:`T_m`
(non-negative, summing to :math:`\\lVert v \\rVert^2 = 1`). It integrates
polynomials of degree :math:`\\le 2m - 1` exactly, and its nodes are exact
eigenvalues once :math:`m` reaches the number of distinct eigenvalues (the
Krylov space is then invariant). Averaging over probes and broadening each
node with a Gaussian of width :math:`\\sigma`,

.. math::

    \\hat\\phi(t) = \\frac{1}{n_v} \\sum_{l=1}^{n_v} \\sum_{j=1}^{m}
    \\tau^{(l)}_j \\, \\frac{1}{\\sqrt{2\\pi}\\sigma}
    \\exp\\!\\left(-\\frac{(t - \\theta^{(l)}_j)^2}{2\\sigma^2}\\right).

Probes are Rademacher vectors scaled to unit norm, so that the first moment
:math:`\\sum_j \\tau_j \\theta_j = v^\\top A v` is exactly
:math:`\\mathrm{tr}(A)/d` for a diagonal operator.

References: G. H. Golub & G. Meurant, *Matrices, Moments and Quadrature
with Applications* (2010); L. Lin, Y. Saad & C. Yang, SIAM Rev. 58, 34
(2016); B. Ghorbani, S. Krishnan & Y. Xiao, ICML 2019 (Hessian spectra of
networks by SLQ).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Float

from landscape.lanczos import lanczos, resolve_dtype, tridiagonal
from landscape.validate import require_finite, require_positive, require_positive_int

logger = logging.getLogger(__name__)

__all__ = ["SpectralDensity", "spectral_density"]


class SpectralDensity(NamedTuple):
    """Result of :func:`spectral_density`; host (NumPy, float64) arrays.

    Attributes:
        nodes: ``[probes, steps]`` Gauss-quadrature nodes (Ritz values) per
            probe. After a breakdown at ``m < steps`` the remaining entries
            repeat the last node with weight 0.
        weights: ``[probes, steps]`` non-negative weights; each row sums to 1.
        grid: ``[G]`` points at which the density is evaluated.
        density: ``[G]`` broadened density; integrates to 1 over the real
            line (and over the default grid to within :math:`10^{-6}`).
        sigma: the Gaussian broadening width used.
        num_steps: ``[probes]`` effective Lanczos steps of each probe.
    """

    nodes: Float[np.ndarray, "probes steps"]
    weights: Float[np.ndarray, "probes steps"]
    grid: Float[np.ndarray, " G"]
    density: Float[np.ndarray, " G"]
    sigma: float
    num_steps: np.ndarray

    def __repr__(self) -> str:
        probes, steps = np.shape(self.nodes)
        return (
            f"SpectralDensity({probes} probes x {steps} Lanczos steps, nodes in "
            f"[{float(np.min(self.nodes)):.4g}, {float(np.max(self.nodes)):.4g}], "
            f"grid of {np.size(self.grid)}, sigma={self.sigma:.3g})"
        )

    def moment(self, power: int) -> float:
        """Quadrature estimate of :math:`\\frac{1}{d}\\mathrm{tr}(A^p)`.

        Exact for each probe's quadratic form :math:`v^\\top A^p v` while
        ``power <= 2 m - 1``.
        """
        per_probe = np.sum(self.weights * self.nodes**power, axis=1)
        return float(per_probe.mean())


def _probe_quadrature(result, steps: int) -> tuple[np.ndarray, np.ndarray]:
    theta, s = np.linalg.eigh(tridiagonal(result.alphas, result.betas))
    weights = s[0] ** 2
    weights = weights / weights.sum()  # exact in theory; removes rounding drift
    pad = steps - theta.size
    nodes = np.concatenate([theta, np.full(pad, theta[-1])])
    return nodes, np.concatenate([weights, np.zeros(pad)])


def gaussian_broadening(
    nodes: np.ndarray, weights: np.ndarray, grid: np.ndarray, sigma: float
) -> np.ndarray:
    """Probe-averaged sum of weighted unit Gaussians centred on the nodes.

    Args:
        nodes: ``[probes, steps]``.
        weights: ``[probes, steps]``.
        grid: ``[G]`` evaluation points.
        sigma: Gaussian width.

    Returns:
        ``[G]`` the density :math:`\\hat\\phi` on ``grid``.
    """
    z = (grid[:, None] - nodes.reshape(-1)[None, :]) / sigma
    kernel = np.exp(-0.5 * z**2) / (np.sqrt(2.0 * np.pi) * sigma)
    return kernel @ weights.reshape(-1) / nodes.shape[0]


def spectral_density(
    matvec: Callable[[jax.Array], jax.Array],
    dim: int,
    *,
    key: jax.Array,
    num_probes: int = 8,
    num_steps: int = 64,
    grid: Any = None,
    num_grid: int = 512,
    sigma: float | None = None,
    dtype: Any = jnp.float32,
) -> SpectralDensity:
    """Stochastic Lanczos quadrature estimate of an operator's spectral density.

    Args:
        matvec: symmetric operator on flat vectors, ``[dim] -> [dim]``.
        dim: dimension of the operator.
        key: PRNG key of the probes.
        num_probes: number of random probes :math:`n_v`.
        num_steps: Lanczos steps per probe (clipped to ``dim``); one probe
            costs this many matvecs.
        grid: ``[G]`` evaluation points; default ``num_grid`` points spanning
            all nodes with a margin of ``6 sigma`` on each side.
        num_grid: size of the default grid.
        sigma: Gaussian broadening width; default 1 % of the spread of the
            nodes, ``(max - min) / 100`` (or ``1e-3 * max(1, |node|)`` if all
            nodes coincide).
        dtype: float dtype of the Lanczos recursion.

    Returns:
        :class:`SpectralDensity`.

    Raises:
        ValueError: ``num_probes``, ``num_steps`` or ``num_grid`` < 1, a
            non-positive ``sigma``, a non-finite or non-1-D ``grid``.
    """
    dim = require_positive_int("dim", dim)
    num_probes = require_positive_int("num_probes", num_probes)
    steps = min(require_positive_int("num_steps", num_steps), dim)
    num_grid = require_positive_int("num_grid", num_grid)
    if sigma is not None:
        sigma = float(require_positive("sigma", sigma))
    if grid is not None:
        grid = np.asarray(require_finite("grid", grid), dtype=np.float64)
        if grid.ndim != 1 or grid.size < 1:
            raise ValueError(f"grid must be a non-empty 1-D array, got {grid.shape}")
    dtype = resolve_dtype(dtype)

    nodes = np.empty((num_probes, steps))
    weights = np.empty((num_probes, steps))
    effective = np.empty(num_probes, dtype=np.int64)
    for i, sub in enumerate(jax.random.split(key, num_probes)):
        probe_key, run_key = jax.random.split(sub)
        z = jax.random.rademacher(probe_key, (dim,), dtype=dtype)
        result = lanczos(matvec, dim, steps, run_key, dtype=dtype, v0=z)
        nodes[i], weights[i] = _probe_quadrature(result, steps)
        effective[i] = result.num_steps

    if sigma is None:
        spread = float(nodes.max() - nodes.min())
        scale = max(1.0, float(np.abs(nodes).max()))
        sigma = spread / 100.0 if spread > 1e-12 * scale else 1e-3 * scale
    if grid is None:
        grid = np.linspace(nodes.min() - 6 * sigma, nodes.max() + 6 * sigma, num_grid)
    density = gaussian_broadening(nodes, weights, grid, sigma)
    logger.debug(
        "SLQ: %d probes x %d steps, nodes in [%.4g, %.4g], sigma %.3g",
        num_probes,
        steps,
        nodes.min(),
        nodes.max(),
        sigma,
    )
    return SpectralDensity(nodes, weights, grid, density, sigma, effective)
