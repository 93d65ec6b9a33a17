"""Exact Hessian-vector products of any scalar function of a pytree.

The Hessian of a scalar function :math:`f(\\theta)` is never formed. Its
product with a tangent :math:`v` is the directional derivative of the
gradient, computed forward-over-reverse (Pearlmutter 1994),

.. math::

    H v = \\frac{d}{d\\epsilon} \\nabla f(\\theta + \\epsilon v)
    \\Big|_{\\epsilon = 0},

which costs a small constant times one gradient and is exact to rounding
(unlike finite differences of the gradient, which are badly wrong for
piecewise-linear networks whose activation pattern changes inside the step).

The same code serves a network's loss of its parameters and a liquid's
potential energy of its positions ``[particles, dim]``: both are scalar
functions of a pytree.

Reference: B. A. Pearlmutter, "Fast exact multiplication by the Hessian",
Neural Computation 6, 147 (1994).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

logger = logging.getLogger(__name__)

__all__ = [
    "batched_hessian_matvec",
    "batched_hessian_vector_product",
    "hessian_matvec",
    "hessian_vector_product",
]

PyTree = Any


def check_same_structure(name: str, tree: PyTree, like: PyTree, like_name: str):
    """Raise ``ValueError`` unless ``tree`` has the structure and shapes of ``like``.

    Works on tracers too: only tree structure and static shapes are read.
    """
    tree_def, like_def = jax.tree.structure(tree), jax.tree.structure(like)
    if tree_def != like_def:
        raise ValueError(
            f"{name} must have the pytree structure of {like_name}: "
            f"got {tree_def}, expected {like_def}"
        )
    for leaf, ref in zip(jax.tree.leaves(tree), jax.tree.leaves(like), strict=True):
        if jnp.shape(leaf) != jnp.shape(ref):
            raise ValueError(
                f"{name} must have the leaf shapes of {like_name}: got a leaf of "
                f"shape {jnp.shape(leaf)} where {like_name} has {jnp.shape(ref)}"
            )


def hessian_vector_product(
    fn: Callable[..., jax.Array], params: PyTree, v: PyTree, *args: Any
) -> PyTree:
    """Product of the Hessian of ``fn`` at ``params`` with the tangent ``v``.

    .. math::

        (H v)_i = \\sum_j \\frac{\\partial^2 f}{\\partial \\theta_i
        \\partial \\theta_j}(\\theta) \\, v_j

    Args:
        fn: scalar function ``fn(params, *args) -> []``, differentiable in
            ``params`` (a loss, a potential energy, ...).
        params: the point :math:`\\theta`, any pytree of float arrays.
        v: tangent with the same pytree structure and leaf shapes as
            ``params``.
        *args: further arguments of ``fn`` (data, labels); not differentiated.

    Returns:
        :math:`H v`, a pytree like ``params``. Exact (forward-over-reverse
        autodiff), jit- and vmap-compatible.

    Raises:
        ValueError: ``v`` does not match ``params`` in structure or shapes.
    """
    check_same_structure("v", v, params, "params")
    grad_fn = jax.grad(lambda p: fn(p, *args))
    return jax.jvp(grad_fn, (params,), (v,))[1]


@functools.partial(jax.jit, static_argnums=0)
def _scan_hvp(loss_fn, params, v, batches):
    """Mean over the leading (batch-index) axis of per-batch HVPs, one at a time."""
    num_batches = jax.tree.leaves(batches)[0].shape[0]

    def body(total, batch):
        hv = hessian_vector_product(loss_fn, params, v, batch)
        return jax.tree.map(jnp.add, total, hv), None

    zeros = jax.tree.map(jnp.zeros_like, params)
    total, _ = jax.lax.scan(body, zeros, batches)
    return jax.tree.map(lambda t: t / num_batches, total)


@functools.partial(jax.jit, static_argnums=0)
def _one_batch_hvp(loss_fn, params, v, batch):
    return hessian_vector_product(loss_fn, params, v, batch)


def _batch_size(batch: PyTree, name: str) -> int:
    leaves = jax.tree.leaves(batch)
    if not leaves:
        raise ValueError(f"{name} has no array leaves")
    sizes = {jnp.shape(leaf)[0] if jnp.ndim(leaf) else None for leaf in leaves}
    if len(sizes) != 1 or None in sizes:
        raise ValueError(
            f"every leaf of {name} must share one leading axis, got leading "
            f"sizes {sorted(s for s in sizes if s is not None)}"
            + (" and scalar leaves" if None in sizes else "")
        )
    return int(sizes.pop())


def batched_hessian_vector_product(
    loss_fn: Callable[[PyTree, PyTree], jax.Array],
    params: PyTree,
    v: PyTree,
    batches: PyTree | list[PyTree],
) -> PyTree:
    """Full-batch Hessian-vector product accumulated over minibatches.

    For a loss that is a mean over samples, the full-batch Hessian is the
    size-weighted mean of the minibatch Hessians,

    .. math::

        H v = \\sum_b \\frac{n_b}{\\sum_c n_c} H_b v,

    so the product is accumulated one minibatch at a time and never holds
    the intermediate values of the whole data set at once.

    Args:
        loss_fn: ``loss_fn(params, batch) -> []``, the *mean* loss over the
            samples of ``batch``.
        params: pytree of parameters.
        v: tangent like ``params``.
        batches: either a pytree (tuple, dict, array, ...) whose leaves all
            have a leading ``[num_batches, batch_size, ...]`` layout, scanned
            with :func:`jax.lax.scan` (equal sizes, plain mean); or a Python
            ``list`` of batch pytrees whose leaves have a leading
            ``[batch_size, ...]`` axis, possibly of different sizes (a smaller
            last batch), weighted by size. Only a ``list`` is read as a
            sequence of batches: a tuple ``(x, y)`` is one stacked pytree.

    Returns:
        :math:`H v` of the full-batch loss, a pytree like ``params``.

    Raises:
        ValueError: ``v`` does not match ``params``; batches are empty or
            their leaves disagree on the leading axes.
    """
    check_same_structure("v", v, params, "params")
    if isinstance(batches, list):
        if not batches:
            raise ValueError("batches is an empty list; give at least one batch")
        sizes = [_batch_size(b, f"batches[{i}]") for i, b in enumerate(batches)]
        total = sum(sizes)
        result = jax.tree.map(jnp.zeros_like, params)
        for size, batch in zip(sizes, batches, strict=True):
            hv = _one_batch_hvp(loss_fn, params, v, batch)
            result = jax.tree.map(lambda r, h, w=size / total: r + w * h, result, hv)
        return result

    leaves = jax.tree.leaves(batches)
    if not leaves or any(jnp.ndim(leaf) < 2 for leaf in leaves):
        raise ValueError(
            "stacked batches need leaves of shape [num_batches, batch_size, ...]; "
            f"got leaf shapes {[jnp.shape(leaf) for leaf in leaves]}"
        )
    leading = {jnp.shape(leaf)[:2] for leaf in leaves}
    if len(leading) != 1:
        raise ValueError(
            "every leaf of batches must share [num_batches, batch_size], got "
            f"{sorted(leading)}"
        )
    return _scan_hvp(loss_fn, params, v, batches)


@functools.partial(jax.jit, static_argnums=0)
def _flat_hvp(fn, params, args, v_flat):
    _, unravel = ravel_pytree(params)
    hv = hessian_vector_product(fn, params, unravel(v_flat), *args)
    return ravel_pytree(hv)[0]


def hessian_matvec(
    fn: Callable[..., jax.Array], params: PyTree, *args: Any
) -> tuple[Callable[[jax.Array], jax.Array], int, Callable[[jax.Array], PyTree]]:
    """The Hessian of ``fn`` at ``params`` as a jitted matvec on flat vectors.

    The flat layout is that of :func:`jax.flatten_util.ravel_pytree`.

    Args:
        fn: scalar function ``fn(params, *args) -> []``. Compilation is cached
            per ``fn`` object and argument shapes: pass the *same* function
            object on every call (not a fresh lambda) to reuse it.
        params: the point at which the Hessian is taken.
        *args: further, non-differentiated arguments of ``fn``.

    Returns:
        ``(matvec, dim, unravel)``: ``matvec(v[dim]) -> [dim]`` computes
        :math:`H v`; ``dim`` is the number of scalar parameters; ``unravel``
        maps a flat ``[dim]`` vector back to a pytree like ``params``.
    """
    flat, unravel = ravel_pytree(params)
    dim = int(flat.size)

    def matvec(v: jax.Array) -> jax.Array:
        if jnp.shape(v) != (dim,):
            raise ValueError(f"v must have shape ({dim},), got {jnp.shape(v)}")
        return _flat_hvp(fn, params, args, v)

    return matvec, dim, unravel


def batched_hessian_matvec(
    loss_fn: Callable[[PyTree, PyTree], jax.Array],
    params: PyTree,
    batches: PyTree | list[PyTree],
) -> tuple[Callable[[jax.Array], jax.Array], int, Callable[[jax.Array], PyTree]]:
    """The full-batch Hessian over minibatches as a matvec on flat vectors.

    Like :func:`hessian_matvec`, but every product goes through
    :func:`batched_hessian_vector_product` (same ``batches`` forms), so the
    whole data set is never processed in one pass.

    Returns:
        ``(matvec, dim, unravel)`` as in :func:`hessian_matvec`.
    """
    flat, unravel = ravel_pytree(params)
    dim = int(flat.size)

    def matvec(v: jax.Array) -> jax.Array:
        if jnp.shape(v) != (dim,):
            raise ValueError(f"v must have shape ({dim},), got {jnp.shape(v)}")
        hv = batched_hessian_vector_product(loss_fn, params, unravel(v), batches)
        return ravel_pytree(hv)[0]

    return matvec, dim, unravel
