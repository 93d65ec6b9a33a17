"""Training on the digital model: backpropagation, in-silico, noise-aware.

All three differentiate the digital model f_m only and spend no physical
evaluations while training:

* ``backprop``: exact gradients of f_m. Judged on f_m, its accuracy is the
  upper bound of what the model class can reach.
* ``in_silico``: the same training, then deployed on the physical system;
  its headline number is the physical accuracy, which falls as the reality
  gap compounds with depth (Momeni et al. 2024, arXiv 2406.03372, Fig. 2).
* ``noise_aware``: the forward pass adds Gaussian noise to every layer's
  output (scaled by the layer's RMS); the backward pass is the ideal one,
  since additive noise does not change the Jacobian. The trained network
  tolerates noise it was shown.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from pnn.methods.interface import Method, MethodConfig, cross_entropy, register
from pnn.network import Network
from pnn.substrate import standard_normal

__all__ = ["Backprop", "InSilico", "NoiseAware", "noisy_model"]

Params = Any


class _DigitalGradient(Method):
    evaluations_per_sample = 0

    def gradient(self, network, config, params, aux, x, y, key):
        loss_fn = lambda p: cross_entropy(network.model(p, x), y)
        loss, grads = jax.value_and_grad(loss_fn)(params)
        return grads, loss


@register
class Backprop(_DigitalGradient):
    """Exact backpropagation through the digital model (the upper bound)."""

    name = "backprop"


@register
class InSilico(_DigitalGradient):
    """Backpropagation through the digital model, deployed on f_p."""

    name = "in_silico"


def noisy_model(
    network: Network, params: Params, x: jax.Array, key: jax.Array, std: float
) -> jax.Array:
    """The digital model with Gaussian noise added after every layer.

    .. math::

        h_l = f_m^l(h_{l-1}) + \\sigma \\,\\mathrm{rms}(h_l)\\, \\xi_l,
        \\qquad \\xi_l \\sim \\mathcal N(0, 1)

    The RMS is taken over the batch and held constant under differentiation,
    so the backward pass is that of the noiseless model at the noisy states.
    """
    keys = jax.random.split(key, network.depth)
    for layer, p, k in zip(network.layers, params, keys, strict=True):
        x = layer.model(p, x)
        rms = jax.lax.stop_gradient(jnp.sqrt(jnp.mean(x**2)) + 1e-12)
        x = x + std * rms * standard_normal(k, x.shape, x.dtype)
    return x


@register
class NoiseAware(Method):
    """Noisy digital forward pass, ideal backward pass."""

    name = "noise_aware"
    evaluations_per_sample = 0

    def gradient(self, network, config: MethodConfig, params, aux, x, y, key):
        loss_fn = lambda p: cross_entropy(
            noisy_model(network, p, x, key, config.noise_std), y
        )
        loss, grads = jax.value_and_grad(loss_fn)(params)
        return grads, loss
