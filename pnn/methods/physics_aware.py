"""Physics-aware training: physical forward pass, digital backward pass.

Wright et al., "Deep physical neural networks trained with backpropagation",
Nature 601, 549 (2022). Each layer is wrapped in a ``jax.custom_vjp`` whose
forward pass queries the physical system and whose backward pass is the VJP of
the digital model evaluated at the *physical* input of that layer:

.. math::

    \\frac{\\partial L}{\\partial \\theta_l} \\approx
    \\Big(\\frac{\\partial L}{\\partial h_l}\\Big)^\\top
    \\frac{\\partial f_m^l}{\\partial \\theta_l}(h^{p}_{l-1}, \\theta_l),
    \\qquad h^{p}_l = f_p^l(h^{p}_{l-1}, \\theta_l)

The loss is computed on the physical output, so the reality gap of the
forward pass is seen by the optimiser; only the Jacobians are approximate.
With a perfect model (f_p = f_m, no noise) this is exact backpropagation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from pnn.methods.interface import Method, cross_entropy, register
from pnn.network import Network
from pnn.substrate import Substrate

__all__ = ["PhysicsAware", "physics_aware_forward", "physics_aware_layer"]

Params = Any


def physics_aware_layer(layer: Substrate) -> Callable:
    """``f(params, x, key)``: ``layer.physical`` forward, ``layer.model`` VJP.

    The key gets no cotangent. Differentiating ``f`` with respect to ``x``
    returns the digital model's input VJP at the physical input, which carries
    the error to the layer below.
    """

    @jax.custom_vjp
    def forward(params, x, key):
        return layer.physical(params, x, key)

    def forward_fwd(params, x, key):
        return layer.physical(params, x, key), (params, x)

    def forward_bwd(residuals, cotangent):
        params, x = residuals
        _, vjp = jax.vjp(layer.model, params, x)
        d_params, d_x = vjp(cotangent)
        return d_params, d_x, None

    forward.defvjp(forward_fwd, forward_bwd)
    return forward


def physics_aware_forward(
    network: Network, params: Params, x: jax.Array, key: jax.Array
) -> jax.Array:
    """One physical query of ``network`` that differentiates through f_m."""
    keys = jax.random.split(key, network.depth)
    for layer, p, k in zip(network.layers, params, keys, strict=True):
        x = physics_aware_layer(layer)(p, x, k)
    return x


@register
class PhysicsAware(Method):
    """Physics-aware training (one physical query per sample per step)."""

    name = "physics_aware"
    evaluations_per_sample = 1

    def gradient(self, network, config, params, aux, x, y, key):
        loss_fn = lambda p: cross_entropy(physics_aware_forward(network, p, x, key), y)
        loss, grads = jax.value_and_grad(loss_fn)(params)
        return grads, loss
