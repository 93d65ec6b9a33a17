"""Zeroth-order training by simultaneous perturbation (SPSA).

Spall, "Multivariate stochastic approximation using a simultaneous
perturbation gradient approximation", IEEE TAC 37, 332 (1992). Only the
physical loss is queried, twice per perturbation:

.. math::

    \\hat g = \\frac{L(\\theta + c\\Delta) - L(\\theta - c\\Delta)}{2c}\\,
    \\Delta, \\qquad \\Delta_i \\in \\{-1, +1\\} \\text{ uniformly}

For a quadratic loss the difference quotient is exactly ``g . Delta``, and
``E[Delta Delta^T] = I`` makes the estimate unbiased; its variance grows with
the number of parameters ``d``: the cosine between one estimate and the true
gradient is about ``1 / sqrt(d)``.

**Several perturbations per step at the same cost.** :class:`Spsa` splits the
minibatch into groups of :data:`SAMPLES_PER_PERTURBATION` samples and gives
every group its own ``Delta`` (and its own two device programmings): each
sample is still sent through the device twice, so the cost stays two physical
evaluations per sample, but the step averages ``batch / group`` independent
estimates, and the cosine with the true gradient grows by up to
``sqrt(batch / group)``. On the device this means reprogramming the
parameters once per group instead of once per batch (more programming
operations, not more evaluations).

**The perturbation size.** The two evaluations program the device anew
(independent programming and read noise), so the loss difference carries a
noise term that does not shrink with ``c`` while the signal ``2 c g . Delta``
does. On the default crossbar (programming noise 2 % of the window, i.e.
about 0.03 in weight units per cell) ``c = 0.01`` leaves the estimate mostly
noise (measured cosine with the true gradient 0.003-0.006 against 0.013-0.019
on the noiseless model); from ``c = 0.03`` the device's estimate is as good
as the model's. The study uses ``c = 0.05``, batch 16, Adam 0.01
(``pnn.compare``); docs/pnn-training.md has the measurements.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from pnn.methods.interface import Method, cross_entropy, register

__all__ = [
    "SAMPLES_PER_PERTURBATION",
    "Spsa",
    "grouped_spsa_gradient",
    "rademacher_like",
    "spsa_gradient",
]

Params = Any

#: samples of a minibatch that share one perturbation ``Delta`` (the batch is
#: split into ``batch // SAMPLES_PER_PERTURBATION`` groups; a batch that does
#: not divide evenly uses the largest group size <= this that divides it).
#: Read when an epoch is traced: compiled epochs are cached per (method,
#: network, config), so set it before the first training run. Measured on
#: the crossbar MLP (digits, batch 64, c = 0.05-0.1 on the device): cosine
#: with the true gradient 0.017 for one Delta per batch, 0.03 for one per 8
#: samples or one per sample.
SAMPLES_PER_PERTURBATION = 1


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


def group_size(batch: int, samples_per_perturbation: int) -> int:
    """The largest divisor of ``batch`` not above ``samples_per_perturbation``."""
    if batch < 1 or samples_per_perturbation < 1:
        raise ValueError(
            f"batch ({batch}) and samples_per_perturbation "
            f"({samples_per_perturbation}) must be positive integers"
        )
    limit = min(batch, samples_per_perturbation)
    return max(d for d in range(1, limit + 1) if batch % d == 0)


def grouped_spsa_gradient(
    loss_fn: Callable[[Params, jax.Array, jax.Array, jax.Array], jax.Array],
    params: Params,
    x: jax.Array,
    y: jax.Array,
    key: jax.Array,
    perturbation: float,
    samples_per_perturbation: int,
) -> tuple[Params, jax.Array]:
    """SPSA with one perturbation per group of samples, averaged over groups.

    The minibatch ``x [batch, ...]`` is split into groups of
    :func:`group_size` samples; group ``j`` gets its own ``Delta_j`` and its
    own two noisy evaluations of ``loss_fn(params, x_j, y_j, key)`` (the mean
    loss of the group), so every sample is still evaluated twice. Since the
    batch loss is the mean of the group losses, the mean of the group
    estimates is an estimate of the batch gradient with the same expectation
    as :func:`spsa_gradient` and a variance smaller by up to the number of
    groups.

    Returns:
        ``(estimate, mean loss over the groups' evaluations)``.
    """
    size = group_size(x.shape[0], samples_per_perturbation)
    groups = x.shape[0] // size
    xs = x.reshape(groups, size, *x.shape[1:])
    ys = y.reshape(groups, size, *y.shape[1:])
    keys = jax.random.split(key, groups)

    def one(group):
        xg, yg, k = group
        group_loss = lambda p, kk: loss_fn(p, xg, yg, kk)
        return spsa_gradient(group_loss, params, k, perturbation)

    # one group after the other, as the device would be reprogrammed (a
    # lax.map also keeps every group a separate query of the substrate)
    estimates, losses = jax.lax.map(one, (xs, ys, keys))
    mean = jax.tree_util.tree_map(lambda e: e.mean(0), estimates)
    return mean, losses.mean()


@register
class Spsa(Method):
    """SPSA on the physical loss (two physical queries per sample per step).

    Each group of :data:`SAMPLES_PER_PERTURBATION` samples of the minibatch
    gets its own perturbation; see the module docstring.
    """

    name = "spsa"
    evaluations_per_sample = 2

    def gradient(self, network, config, params, aux, x, y, key):
        loss_fn = lambda p, xg, yg, k: cross_entropy(network.physical(p, xg, k), yg)
        grads, loss = grouped_spsa_gradient(
            loss_fn,
            params,
            x,
            y,
            key,
            config.spsa_perturbation,
            SAMPLES_PER_PERTURBATION,
        )
        return grads, jnp.asarray(loss)
