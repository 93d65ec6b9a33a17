"""Zeroth-order training by simultaneous perturbation (SPSA).

Spall, "Multivariate stochastic approximation using a simultaneous
perturbation gradient approximation", IEEE TAC 37, 332 (1992). Only the
physical loss is queried, twice per step:

.. math::

    \\hat g = \\frac{L(\\theta + c\\Delta) - L(\\theta - c\\Delta)}{2c}\\,
    \\Delta, \\qquad \\Delta_i \\in \\{-1, +1\\} \\text{ uniformly}

For a quadratic loss the difference quotient is exactly ``g . Delta``, and
``E[Delta Delta^T] = I`` makes the estimate unbiased; its variance grows with
the number of parameters, which is why SPSA needs many more steps than
gradient methods.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from pnn.methods.interface import Method, cross_entropy, register

__all__ = ["Spsa", "rademacher_like", "spsa_gradient"]

Params = Any


def rademacher_like(key: jax.Array, tree: Params) -> Params:
    """Independent +-1 entries with the structure and dtypes of ``tree``."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    keys = jax.random.split(key, len(leaves))
    # drawn flat and reshaped, like pnn.substrate.standard_normal
    signs = [
        jax.random.rademacher(k, (leaf.size,), dtype=leaf.dtype).reshape(leaf.shape)
        for k, leaf in zip(keys, leaves, strict=True)
    ]
    return jax.tree_util.tree_unflatten(treedef, signs)


def spsa_gradient(
    loss_fn: Callable[[Params, jax.Array], jax.Array],
    params: Params,
    key: jax.Array,
    perturbation: float,
) -> tuple[Params, jax.Array]:
    """One SPSA estimate of the gradient of ``loss_fn(params, key)``.

    Args:
        loss_fn: the (black-box, possibly noisy) loss; its second argument
            seeds the noise of one evaluation.
        params: where to estimate the gradient.
        key: seeds the perturbation and the two evaluations' noise.
        perturbation: ``c``.

    Returns:
        ``(estimate, mean of the two losses)``.
    """
    delta_key, plus_key, minus_key = jax.random.split(key, 3)
    delta = rademacher_like(delta_key, params)
    shift = lambda sign: jax.tree_util.tree_map(
        lambda p, d: p + sign * perturbation * d, params, delta
    )
    loss_plus = loss_fn(shift(1.0), plus_key)
    loss_minus = loss_fn(shift(-1.0), minus_key)
    slope = (loss_plus - loss_minus) / (2.0 * perturbation)
    estimate = jax.tree_util.tree_map(lambda d: slope.astype(d.dtype) * d, delta)
    return estimate, 0.5 * (loss_plus + loss_minus)


@register
class Spsa(Method):
    """SPSA on the physical loss (two physical queries per sample per step)."""

    name = "spsa"
    evaluations_per_sample = 2

    def gradient(self, network, config, params, aux, x, y, key):
        loss_fn = lambda p, k: cross_entropy(network.physical(p, x, k), y)
        grads, loss = spsa_gradient(loss_fn, params, key, config.spsa_perturbation)
        return grads, jnp.asarray(loss)
