"""Extreme eigenpairs of a symmetric operator from Lanczos Ritz pairs.

After ``m`` Lanczos steps, the eigenpairs :math:`(\\theta_i, s_i)` of the
tridiagonal :math:`T_m` give Ritz pairs :math:`(\\theta_i, Q_m s_i)` of the
operator. The extreme Ritz values converge first and fast (Kaniel-Paige-Saad
bounds), which is why a few tens of Hessian-vector products give the top of a
network's Hessian spectrum to many digits. Each returned pair carries its true
residual :math:`\\lVert A v - \\theta v \\rVert`, which bounds the distance of
:math:`\\theta` to the spectrum (Bauer-Fike for symmetric operators).

This is what Ruiz-Garcia et al. (ICML 2021) measure: Lanczos with full
reorthogonalisation on the full-batch loss, top Ritz values.

Known limit: a single-vector Krylov space sees each *distinct* eigenvalue
once. A repeated eigenvalue shows up with its multiplicity only after the
Krylov space of the start vector is exhausted (a breakdown, then a restart on
a fresh orthogonal vector, which :func:`top_eigenvalues` does). With fewer
steps than distinct eigenvalues, a multiplicity can be under-counted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float

from landscape.hvp import hessian_matvec
from landscape.lanczos import lanczos, resolve_dtype, tridiagonal
from landscape.validate import require_choice, require_positive_int

logger = logging.getLogger(__name__)

__all__ = ["Eigenpairs", "hessian_eigenvalues", "top_eigenvalues"]

Which = Literal["largest", "smallest", "both"]
_WHICH = ("largest", "smallest", "both")


class Eigenpairs(NamedTuple):
    """Ritz pairs of a symmetric operator.

    Attributes:
        values: ``[n]`` eigenvalue estimates. ``which="largest"``: the ``k``
            largest, descending. ``"smallest"``: the ``k`` smallest,
            ascending. ``"both"``: ``n = 2k``, the ``k`` largest then the ``k``
            smallest, all descending (``values[0]`` the largest,
            ``values[-1]`` the smallest).
        vectors: ``[n, dim]`` unit eigenvector estimates, or a list of ``n``
            pytrees when an ``unravel`` was given.
        residuals: ``[n]`` residual norms :math:`\\lVert A v - \\theta v
            \\rVert` (computed with one extra matvec per pair).
        num_matvecs: operator applications used in total.
    """

    values: Float[Array, " n"]
    vectors: Float[Array, "n dim"] | list[Any]
    residuals: Float[Array, " n"]
    num_matvecs: int

    def __repr__(self) -> str:
        values = np.round(np.asarray(self.values, np.float64), 6).tolist()
        worst = float(np.max(np.asarray(self.residuals))) if len(values) else 0.0
        return (
            f"Eigenpairs(values={values}, max residual {worst:.2e}, "
            f"{self.num_matvecs} matvecs)"
        )


def default_num_steps(k: int, dim: int) -> int:
    """Lanczos steps used when none are given: ``min(dim, max(2k + 20, 3k))``."""
    return min(dim, max(2 * k + 20, 3 * k))


def top_eigenvalues(
    matvec: Callable[[jax.Array], jax.Array],
    dim: int,
    k: int,
    *,
    key: jax.Array,
    num_steps: int | None = None,
    which: Which = "largest",
    unravel: Callable[[jax.Array], Any] | None = None,
    dtype: Any = jnp.float32,
) -> Eigenpairs:
    """The ``k`` extreme eigenpairs of a symmetric operator, matrix-free.

    Args:
        matvec: symmetric operator on flat vectors, ``[dim] -> [dim]`` (for a
            Hessian, from :func:`landscape.hvp.hessian_matvec`).
        dim: dimension of the operator.
        k: number of eigenpairs (per end for ``which="both"``).
        key: PRNG key of the Lanczos start vector.
        num_steps: Lanczos steps; default :func:`default_num_steps` of ``k``
            (of ``2k`` for ``"both"``). Accuracy improves quickly with steps;
            check ``residuals``.
        which: ``"largest"``, ``"smallest"`` (most negative first) or
            ``"both"``.
        unravel: if given, eigenvectors are returned as a list of pytrees
            ``unravel(v)`` (e.g. the ``unravel`` of ``hessian_matvec``).
        dtype: float dtype of the recursion (``jnp.float64`` under x64).

    Returns:
        :class:`Eigenpairs`.

    Raises:
        ValueError: ``k < 1``, ``k > dim`` (``2k > dim`` for ``"both"``),
            ``num_steps < k`` or ``< 1``, an unknown ``which``, a bad
            ``dtype``.
    """
    dim = require_positive_int("dim", dim)
    require_choice("which", which, _WHICH)
    if isinstance(k, bool) or int(k) != k or k < 1 or k > dim:
        raise ValueError(f"k must be an integer in [1, dim={dim}], got k={k!r}")
    k = int(k)
    wanted = 2 * k if which == "both" else k
    if wanted > dim:
        raise ValueError(
            f"which='both' needs 2k <= dim, got k={k} and dim={dim}; use a smaller k"
        )
    if num_steps is None:
        num_steps = default_num_steps(wanted, dim)
    num_steps = require_positive_int("num_steps", num_steps)
    if num_steps < wanted:
        raise ValueError(
            f"num_steps must be >= the {wanted} eigenpairs requested, got "
            f"num_steps={num_steps}"
        )
    dtype = resolve_dtype(dtype)

    result = lanczos(
        matvec, dim, num_steps, key, dtype=dtype, restart_on_breakdown=True
    )
    theta, s = np.linalg.eigh(tridiagonal(result.alphas, result.betas))
    m = result.num_steps
    if m < wanted:  # only when dim itself is exhausted, which k <= dim rules out
        raise RuntimeError(f"Lanczos produced {m} Ritz pairs, fewer than {wanted}")
    if which == "largest":
        order = np.arange(m - 1, m - 1 - k, -1)
    elif which == "smallest":
        order = np.arange(k)
    else:
        order = np.concatenate([np.arange(m - 1, m - 1 - k, -1), np.arange(k)[::-1]])

    values = theta[order]
    coeffs = jnp.asarray(s[:, order].T, dtype=dtype)
    vectors = jnp.matmul(coeffs, result.basis, precision=jax.lax.Precision.HIGHEST)
    residuals = [
        float(jnp.linalg.norm(jnp.asarray(matvec(v), dtype=dtype) - value * v))
        for v, value in zip(vectors, values, strict=True)
    ]
    logger.debug(
        "Lanczos: %d steps, %s values %s, max residual %.3e",
        m,
        which,
        values,
        max(residuals),
    )
    return Eigenpairs(
        values=jnp.asarray(values, dtype=dtype),
        vectors=vectors if unravel is None else [unravel(v) for v in vectors],
        residuals=jnp.asarray(residuals, dtype=dtype),
        num_matvecs=result.num_matvecs + len(residuals),
    )


def hessian_eigenvalues(
    fn: Callable[..., jax.Array],
    params: Any,
    k: int,
    *args: Any,
    key: jax.Array,
    flat_vectors: bool = False,
    dtype: Any = None,
    **kw: Any,
) -> Eigenpairs:
    """Extreme Hessian eigenpairs of ``fn(params, *args)`` at ``params``.

    :func:`landscape.hvp.hessian_matvec` followed by :func:`top_eigenvalues`.

    Args:
        fn: scalar function ``fn(params, *args) -> []``; pass the same object
            on every call to reuse its compiled Hessian-vector product.
        params: the point at which the Hessian is taken (any pytree).
        k: number of eigenpairs (per end for ``which="both"``).
        *args: further, non-differentiated array arguments of ``fn``.
        key: PRNG key of the Lanczos start vector.
        flat_vectors: return eigenvectors as ``[n, dim]`` flat vectors
            instead of pytrees like ``params``.
        dtype: recursion dtype; default the dtype of the flattened params.
        **kw: ``num_steps``, ``which`` of :func:`top_eigenvalues`.

    Returns:
        :class:`Eigenpairs`; vectors are pytrees like ``params`` unless
        ``flat_vectors``.
    """
    matvec, dim, unravel = hessian_matvec(fn, params, *args)
    if dtype is None:
        dtype = ravel_pytree(params)[0].dtype
    return top_eigenvalues(
        matvec,
        dim,
        k,
        key=key,
        unravel=None if flat_vectors else unravel,
        dtype=dtype,
        **kw,
    )
