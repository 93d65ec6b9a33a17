"""Empirical neural tangent kernel: full kernel, matrix-free products, spectrum.

For a network :math:`f(x; \\theta) \\in \\mathbb{R}^k` the empirical NTK is

.. math::

    \\Theta_{(a, i), (b, j)} = \\sum_p
    \\frac{\\partial f_i(x_a)}{\\partial \\theta_p}
    \\frac{\\partial f_j(x_b)}{\\partial \\theta_p},
    \\qquad \\Theta = J_1 J_2^\\top,

with :math:`J` the ``[N k, P]`` Jacobian whose row index is
``sample * k + output`` (sample-major). This *full* kernel is the one tied to
the loss Hessian: for the mean squared error the Gauss-Newton matrix is
:math:`G = \\frac{2}{N} J^\\top J`, whose non-zero spectrum is
:math:`\\frac{2}{N}` times that of :math:`J J^\\top`.

Conventions. Nothing is averaged over outputs by default. With
``trace_outputs=True`` the ``[N1, N2]`` **sum** over the diagonal output
pairs, :math:`\\sum_i \\Theta_{(a,i),(b,i)}`, is returned. (neural-tangents
instead *averages* over its ``trace_axes`` by default, a factor ``k``
smaller.)

Memory. The kernel is built from blocks of ``chunk_size`` samples; at most
two chunk Jacobians ``[chunk_size * k, P]`` are alive at once, never the
Jacobian of all ``N`` samples. Per-sample Jacobians use reverse mode
(``k`` vector-Jacobian products per sample), good when ``k << P``.

Reference: A. Jacot, F. Gabriel & C. Hongler, "Neural tangent kernel",
NeurIPS 2018; R. Novak et al., "Fast finite width neural tangent kernel",
ICML 2022 (Jacobian contraction and NTK-vector products).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from landscape.eigen import top_eigenvalues
from landscape.validate import require_choice, require_finite, require_positive_int

logger = logging.getLogger(__name__)

__all__ = ["empirical_ntk", "ntk_eigenvalues", "ntk_vector_product"]

ApplyFn = Callable[[Any, jax.Array], jax.Array]
_HIGHEST = jax.lax.Precision.HIGHEST
DENSE_LIMIT = 4096  # method="auto" builds the dense kernel up to N * k this big


def _check_inputs(name: str, x: Any) -> None:
    if jnp.ndim(x) < 1 or jnp.shape(x)[0] < 1:
        raise ValueError(
            f"{name} must have a leading batch axis of size >= 1, got shape "
            f"{jnp.shape(x)}"
        )
    if not isinstance(x, jax.core.Tracer):
        require_finite(name, x)


def _num_outputs(apply_fn: ApplyFn, params: Any, x: jax.Array) -> int:
    out = jax.eval_shape(apply_fn, params, x[:1])
    if len(out.shape) != 2 or out.shape[0] != 1:
        raise ValueError(
            "apply_fn(params, x[batch, ...]) must return [batch, k]; for a batch "
            f"of 1 it returned shape {out.shape}"
        )
    return int(out.shape[1])


def _sample_jacobian(apply_fn, params, x):
    """Per-sample Jacobians as a pytree with leaves ``[batch, k, *leaf_shape]``."""

    def single(p, xi):
        return apply_fn(p, xi[None])[0]

    return jax.vmap(jax.jacrev(single), in_axes=(None, 0))(params, x)


def _contract(jac_a, jac_b):
    """``[a, k, b, k]`` sum over parameters of the Jacobian products."""
    blocks = [
        jnp.einsum(
            "ai...,bj...->aibj",
            la,
            lb,
            precision=_HIGHEST,
        )
        for la, lb in zip(jax.tree.leaves(jac_a), jax.tree.leaves(jac_b), strict=True)
    ]
    return functools.reduce(jnp.add, blocks)


_chunk_jacobian = jax.jit(_sample_jacobian, static_argnums=0)
_contract_jit = jax.jit(_contract)


@functools.partial(jax.jit, static_argnums=0)
def _ntk_block(apply_fn, params, xa, xb):
    return _contract(
        _sample_jacobian(apply_fn, params, xa), _sample_jacobian(apply_fn, params, xb)
    )


@functools.partial(jax.jit, static_argnums=0)
def _ntk_diagonal_block(apply_fn, params, xa):
    jac = _sample_jacobian(apply_fn, params, xa)
    return _contract(jac, jac)


def _pad(x: jax.Array, size: int) -> jax.Array:
    """Pad the batch axis to ``size`` by repeating the last sample."""
    extra = size - x.shape[0]
    if extra == 0:
        return x
    return jnp.concatenate([x, jnp.repeat(x[-1:], extra, axis=0)], axis=0)


def empirical_ntk(
    apply_fn: ApplyFn,
    params: Any,
    x1: jax.Array,
    x2: jax.Array | None = None,
    *,
    trace_outputs: bool = False,
    chunk_size: int | None = 64,
) -> Float[Array, "n1k n2k"]:
    """The full empirical NTK between two sets of inputs, in chunks.

    Args:
        apply_fn: ``apply_fn(params, x[batch, ...]) -> [batch, k]``; every
            sample's output must depend on that sample only (no batch
            statistics). Pass the same object on every call to reuse the
            compiled blocks.
        params: network parameters, any pytree.
        x1: ``[N1, ...]`` inputs.
        x2: ``[N2, ...]`` inputs with the feature shape of ``x1``; ``None``
            means ``x1`` (the symmetric kernel, only its upper blocks are
            computed).
        trace_outputs: return the ``[N1, N2]`` sum over outputs
            :math:`\\sum_i \\Theta_{(a,i),(b,i)}` instead of the full kernel.
        chunk_size: samples per block; ``None`` computes the whole Jacobian
            at once (fast for small problems, memory ``O(N k P)``).

    Returns:
        ``[N1 * k, N2 * k]`` with row ``a * k + i`` for sample ``a`` and
        output ``i``; or ``[N1, N2]`` with ``trace_outputs=True``.

    Raises:
        ValueError: inputs without a batch axis, NaN/inf in concrete inputs,
            different feature shapes of ``x1`` and ``x2``, ``chunk_size < 1``,
            ``apply_fn`` output not ``[batch, k]``.
    """
    _check_inputs("x1", x1)
    symmetric = x2 is None
    if not symmetric:
        _check_inputs("x2", x2)
        if jnp.shape(x1)[1:] != jnp.shape(x2)[1:]:
            raise ValueError(
                "x1 and x2 must share their feature shape, got "
                f"{jnp.shape(x1)[1:]} and {jnp.shape(x2)[1:]}"
            )
    x1 = jnp.asarray(x1)
    x2 = x1 if symmetric else jnp.asarray(x2)
    n1, n2 = x1.shape[0], x2.shape[0]
    k = _num_outputs(apply_fn, params, x1)
    chunk = (
        None if chunk_size is None else require_positive_int("chunk_size", chunk_size)
    )

    if chunk is None or chunk >= max(n1, n2):
        if symmetric:
            kernel = _ntk_diagonal_block(apply_fn, params, x1)
        else:
            kernel = _ntk_block(apply_fn, params, x1, x2)
    else:
        kernel = _chunked_kernel(apply_fn, params, x1, x2, chunk, symmetric, k)

    if trace_outputs:
        return jnp.einsum("aibi->ab", kernel)
    return kernel.reshape(n1 * k, n2 * k)


def _chunked_kernel(apply_fn, params, x1, x2, chunk, symmetric, k):
    """``[N1, k, N2, k]`` kernel assembled from fixed-size (padded) blocks.

    The Jacobian of a row chunk of ``x1`` is computed once and contracted with
    the Jacobian of each column chunk of ``x2`` in turn: at most two chunk
    Jacobians are alive at once. For the symmetric kernel only the blocks on
    and above the diagonal are computed.
    """
    n1, n2 = x1.shape[0], x2.shape[0]
    starts1, starts2 = range(0, n1, chunk), range(0, n2, chunk)
    blocks = {}
    for ii, i in enumerate(starts1):
        jac_a = _chunk_jacobian(apply_fn, params, _pad(x1[i : i + chunk], chunk))
        for jj, j in enumerate(starts2):
            if symmetric and jj < ii:
                continue
            if symmetric and jj == ii:
                jac_b = jac_a
            else:
                jac_b = _chunk_jacobian(
                    apply_fn, params, _pad(x2[j : j + chunk], chunk)
                )
            blocks[ii, jj] = _contract_jit(jac_a, jac_b)
            del jac_b
        del jac_a
    rows = []
    for ii in range(len(starts1)):
        row = [
            jnp.transpose(blocks.pop((jj, ii)), (2, 3, 0, 1))
            if symmetric and jj < ii
            else blocks[ii, jj]
            for jj in range(len(starts2))
        ]
        rows.append(jnp.concatenate(row, axis=2))
        if not symmetric:  # symmetric: (ii, jj > ii) is still needed by row jj
            for jj in range(len(starts2)):
                del blocks[ii, jj]
        del row
    kernel = jnp.concatenate(rows, axis=0)
    return kernel[:n1, :, :n2, :]


@functools.partial(jax.jit, static_argnums=0)
def _ntk_matvec(apply_fn, params, x, v):
    flat_fn = lambda p: apply_fn(p, x).reshape(-1)
    _, vjp_fn = jax.vjp(flat_fn, params)
    (cotangent,) = vjp_fn(v.astype(jnp.result_type(*jax.tree.leaves(params))))
    return jax.jvp(flat_fn, (params,), (cotangent,))[1]


def ntk_vector_product(
    apply_fn: ApplyFn, params: Any, x: jax.Array
) -> tuple[Callable[[jax.Array], jax.Array], int]:
    """The full NTK on ``x`` as a matrix-free operator, :math:`v \\mapsto J J^\\top v`.

    One vector-Jacobian product (reverse) then one Jacobian-vector product
    (forward) of the network on all of ``x``; the kernel is never formed.

    Args:
        apply_fn: ``apply_fn(params, x[batch, ...]) -> [batch, k]``.
        params: network parameters.
        x: ``[N, ...]`` inputs.

    Returns:
        ``(matvec, dim)`` with ``dim = N * k`` and ``matvec([N k]) -> [N k]``
        in the sample-major layout of :func:`empirical_ntk`.
    """
    _check_inputs("x", x)
    x = jnp.asarray(x)
    dim = x.shape[0] * _num_outputs(apply_fn, params, x)

    def matvec(v: jax.Array) -> jax.Array:
        if jnp.shape(v) != (dim,):
            raise ValueError(f"v must have shape ({dim},), got {jnp.shape(v)}")
        return _ntk_matvec(apply_fn, params, x, v)

    return matvec, dim


def ntk_eigenvalues(
    apply_fn: ApplyFn,
    params: Any,
    x: jax.Array,
    k: int,
    *,
    key: jax.Array,
    method: Literal["auto", "dense", "lanczos"] = "auto",
    num_steps: int | None = None,
    chunk_size: int | None = 64,
) -> Float[Array, " k"]:
    """The ``k`` largest eigenvalues of the full empirical NTK on ``x``, descending.

    Args:
        apply_fn: ``apply_fn(params, x[batch, ...]) -> [batch, k_out]``.
        params: network parameters.
        x: ``[N, ...]`` inputs.
        k: number of eigenvalues, ``1 <= k <= N * k_out``.
        key: PRNG key (Lanczos start vector).
        method: ``"dense"`` builds :func:`empirical_ntk` and calls ``eigh``;
            ``"lanczos"`` runs :func:`landscape.eigen.top_eigenvalues` on
            :func:`ntk_vector_product`; ``"auto"`` is dense when
            ``N * k_out <= 4096``.
        num_steps: Lanczos steps (default as in ``top_eigenvalues``).
        chunk_size: chunk size of the dense kernel.

    Returns:
        ``[k]`` eigenvalues, descending, in the dtype of the network output.

    Raises:
        ValueError: an unknown ``method``, ``k`` outside ``[1, N * k_out]``.
    """
    require_choice("method", method, ("auto", "dense", "lanczos"))
    _check_inputs("x", x)
    x = jnp.asarray(x)
    dim = x.shape[0] * _num_outputs(apply_fn, params, x)
    if isinstance(k, bool) or int(k) != k or not 1 <= k <= dim:
        raise ValueError(
            f"k must be an integer in [1, dim={dim}] (N * outputs), got k={k!r}"
        )
    if method == "auto":
        method = "dense" if dim <= DENSE_LIMIT else "lanczos"
    dtype = jax.eval_shape(apply_fn, params, x[:1]).dtype

    if method == "dense":
        kernel = empirical_ntk(apply_fn, params, x, chunk_size=chunk_size)
        values = np.linalg.eigvalsh(np.asarray(kernel, dtype=np.float64))[::-1][:k]
        return jnp.asarray(values.copy(), dtype=dtype)
    matvec, _ = ntk_vector_product(apply_fn, params, x)
    pairs = top_eigenvalues(
        matvec, dim, int(k), key=key, num_steps=num_steps, dtype=dtype
    )
    return pairs.values
