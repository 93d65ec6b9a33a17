"""Lanczos tridiagonalisation with full reorthogonalisation.

Starting from a unit vector :math:`q_1`, the Lanczos recursion builds an
orthonormal basis :math:`Q_m = [q_1, \\dots, q_m]` of the Krylov space
:math:`\\mathcal{K}_m(A, q_1)` in which the symmetric operator :math:`A` is
tridiagonal,

.. math::

    A q_j = \\beta_{j-1} q_{j-1} + \\alpha_j q_j + \\beta_j q_{j+1},
    \\qquad Q_m^\\top A Q_m = T_m = \\mathrm{tridiag}(\\beta, \\alpha, \\beta).

In floating point the :math:`q_j` lose orthogonality as Ritz values
converge, which produces spurious copies ("ghosts") of eigenvalues. Here each
new vector is orthogonalised against the whole basis twice ("twice is
enough", Parlett 1980; Giraud et al. 2005), which keeps :math:`Q_m`
orthonormal to rounding at :math:`O(m \\cdot \\mathrm{dim})` extra cost per
step.

When :math:`\\beta_j` falls to rounding level the Krylov space is an
invariant subspace (at most as many steps as the operator has distinct
eigenvalues along :math:`q_1`). The recursion then stops; the result records
the effective number of steps and :math:`T` restricted to them. With
``restart_on_breakdown=True`` it instead continues from a fresh random vector
orthogonal to the basis (the corresponding :math:`\\beta` is exactly 0), so
that eigenvalues of multiplicity > 1 can be resolved; this is used for
eigenpairs but must not be used for quadrature (see :mod:`landscape.density`).

The operator is a Python callable on flat vectors; it is called once per
step from Python, so the loop reuses a jitted ``matvec`` and a jitted
orthogonalisation step without recompiling for every new operator.

References: C. Lanczos, J. Res. Natl. Bur. Stand. 45, 255 (1950);
B. N. Parlett, *The Symmetric Eigenvalue Problem* (1980);
L. Giraud, J. Langou, M. Rozloznik, Comput. Math. Appl. 50, 1069 (2005).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from landscape.validate import require_finite, require_positive_int

logger = logging.getLogger(__name__)

__all__ = ["LanczosResult", "lanczos", "resolve_dtype", "tridiagonal"]

Matvec = Callable[[jax.Array], jax.Array]
_HIGHEST = jax.lax.Precision.HIGHEST


class LanczosResult(NamedTuple):
    """Output of :func:`lanczos`, restricted to the effective steps ``m``.

    Attributes:
        alphas: ``[m]`` diagonal of :math:`T_m`.
        betas: ``[m - 1]`` off-diagonal of :math:`T_m` (exact zeros where the
            recursion was restarted after a breakdown).
        basis: ``[m, dim]`` orthonormal Lanczos vectors, one per row.
        num_steps: ``m``, the effective number of steps (``<=`` the number
            requested; smaller after a breakdown).
        num_matvecs: number of operator applications used.
    """

    alphas: Float[Array, " m"]
    betas: Float[Array, " m_minus_1"]
    basis: Float[Array, "m dim"]
    num_steps: int
    num_matvecs: int


def resolve_dtype(dtype: Any) -> np.dtype:
    """``dtype`` as a NumPy dtype, checked to be a float type JAX can use now.

    Raises:
        ValueError: not a floating dtype, or float64 without x64 enabled.
    """
    try:
        requested = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype must be a float dtype, got {dtype!r}") from None
    if not np.issubdtype(requested, np.floating):
        raise ValueError(f"dtype must be a float dtype, got {requested}")
    if jax.dtypes.canonicalize_dtype(requested) != requested:
        raise ValueError(
            f"dtype {requested} is not available because x64 is disabled; run "
            "inside `with jax.enable_x64(True):` or use dtype=jnp.float32"
        )
    return requested


def tridiagonal(alphas: Any, betas: Any) -> np.ndarray:
    """Dense ``[m, m]`` symmetric tridiagonal matrix (NumPy, float64)."""
    alphas = np.asarray(alphas, dtype=np.float64)
    betas = np.asarray(betas, dtype=np.float64)
    return np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)


@jax.jit
def _orthogonalise(basis, w):
    """Remove from ``w`` its components along the rows of ``basis``, twice."""
    for _ in range(2):
        coeffs = jnp.matmul(basis, w, precision=_HIGHEST)
        w = w - jnp.matmul(coeffs, basis, precision=_HIGHEST)
    return w


@jax.jit
def _step(basis, j, w, beta_prev):
    """One Lanczos step: ``alpha_j``, the reorthogonalised residual, its norm."""
    q = basis[j]
    q_prev = basis[jnp.maximum(j - 1, 0)]  # beta_prev is 0 at j = 0
    alpha = jnp.vdot(q, w, precision=_HIGHEST)
    w = w - alpha * q - beta_prev * q_prev
    w = _orthogonalise(basis, w)
    return alpha, w, jnp.linalg.norm(w)


@jax.jit
def _place(basis, j, w, norm):
    return basis.at[j].set(w / norm)


def _random_unit(key, dim, dtype):
    v = jax.random.normal(key, (dim,), dtype=dtype)
    return v / jnp.linalg.norm(v)


def lanczos(
    matvec: Matvec,
    dim: int,
    num_steps: int,
    key: jax.Array,
    *,
    dtype: Any = jnp.float32,
    v0: jax.Array | None = None,
    restart_on_breakdown: bool = False,
    breakdown_tol: float | None = None,
) -> LanczosResult:
    """Lanczos tridiagonalisation of a symmetric operator.

    Args:
        matvec: symmetric linear operator, ``matvec(v[dim]) -> [dim]``.
        dim: dimension of the vectors ``matvec`` acts on.
        num_steps: requested number of steps ``m`` (clipped to ``dim``).
        key: PRNG key for the random start vector (and for restarts).
        dtype: float dtype of the basis and recursion; ``jnp.float64``
            requires x64 (``with jax.enable_x64(True):``).
        v0: optional ``[dim]`` start vector (normalised here); default a
            random Gaussian direction.
        restart_on_breakdown: after an invariant subspace is found, continue
            from a random vector orthogonal to the basis instead of stopping
            (eigenvalue multiplicities are then resolved; quadrature weights
            of the start vector are no longer meaningful).
        breakdown_tol: :math:`\\beta_j` at or below
            ``breakdown_tol * ||T||`` counts as a breakdown; default
            ``64 * sqrt(dim) * eps(dtype)``.

    Returns:
        A :class:`LanczosResult` restricted to the effective number of steps.
        ``T = tridiagonal(result.alphas, result.betas)`` satisfies
        :math:`Q^\\top A Q = T` with ``Q = result.basis.T``.

    Raises:
        ValueError: ``dim`` or ``num_steps`` < 1, a bad ``dtype``, or ``v0``
            of the wrong shape, non-finite, or zero.
    """
    dim = require_positive_int("dim", dim)
    num_steps = min(require_positive_int("num_steps", num_steps), dim)
    dtype = resolve_dtype(dtype)
    eps = float(np.finfo(dtype).eps)
    tol = 64.0 * np.sqrt(dim) * eps if breakdown_tol is None else breakdown_tol

    key, start_key = jax.random.split(key)
    if v0 is None:
        q = _random_unit(start_key, dim, dtype)
    else:
        if jnp.shape(v0) != (dim,):
            raise ValueError(f"v0 must have shape ({dim},), got {jnp.shape(v0)}")
        norm = float(np.linalg.norm(require_finite("v0", v0)))
        if norm == 0.0:
            raise ValueError("v0 must be a non-zero vector")
        q = jnp.asarray(v0, dtype=dtype) / norm

    basis = jnp.zeros((num_steps, dim), dtype=dtype).at[0].set(q)
    alphas, betas = [], []
    beta = jnp.zeros((), dtype=dtype)
    scale, num_matvecs, steps = 0.0, 0, 0
    for j in range(num_steps):
        w = jnp.asarray(matvec(basis[j]), dtype=dtype)
        num_matvecs += 1
        alpha, w, beta = _step(basis, j, w, beta)
        alpha_f, beta_f = float(alpha), float(beta)
        if not (np.isfinite(alpha_f) and np.isfinite(beta_f)):
            raise FloatingPointError(
                f"Lanczos step {j} produced a non-finite value (alpha={alpha_f}, "
                f"beta={beta_f}); the operator returned NaN or inf"
            )
        alphas.append(alpha_f)
        steps = j + 1
        if j == num_steps - 1:
            break
        scale = max(scale, abs(alpha_f), beta_f)
        if beta_f > tol * scale:
            betas.append(beta_f)
            basis = _place(basis, j + 1, w, beta)
            continue
        if not restart_on_breakdown:
            logger.debug("Lanczos breakdown at step %d (beta=%.3e)", j, beta_f)
            break
        key, sub = jax.random.split(key)
        fresh = _orthogonalise(basis, _random_unit(sub, dim, dtype))
        if float(jnp.linalg.norm(fresh)) <= 1e3 * eps:  # basis spans everything
            break
        fresh = _orthogonalise(basis, fresh / jnp.linalg.norm(fresh))
        betas.append(0.0)
        beta = jnp.zeros((), dtype=dtype)
        basis = _place(basis, j + 1, fresh, jnp.linalg.norm(fresh))

    return LanczosResult(
        alphas=jnp.asarray(alphas, dtype=dtype),
        betas=jnp.asarray(betas[: steps - 1], dtype=dtype),
        basis=basis[:steps],
        num_steps=steps,
        num_matvecs=num_matvecs,
    )
