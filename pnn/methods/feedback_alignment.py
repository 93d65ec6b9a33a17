"""Direct feedback alignment (DFA).

Nokland, "Direct feedback alignment provides learning in deep neural
networks", NeurIPS 2016. The output error reaches every hidden layer through
its own fixed random matrix instead of through the transposed forward
weights:

.. math::

    e = \\mathrm{softmax}(h_L) - \\mathrm{onehot}(y), \\qquad
    \\delta_l = (B_l e) \\odot f'(a_l)

For a physical layer the pre-activation ``a_l`` is not observable, so the
local factor is taken from the digital model. Signals are applied per *block*
(a layer with parameters plus the parameterless layers behind it, such as a
crossbar and its digital activation; see ``Network.blocks``): the update of
block ``l`` is the VJP of its digital model at its measured physical input
with cotangent ``B_l e`` at the block output, which for ``f(x W)`` is exactly
``delta_l`` times the input. The last block gets the true error (``B_L`` is
the identity). One physical query per sample per step supplies all block
inputs.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from pnn.methods.interface import Method, MethodConfig, cross_entropy, register
from pnn.network import Network
from pnn.substrate import standard_normal

__all__ = ["FeedbackAlignment", "feedback_matrices"]

Params = Any


def feedback_matrices(
    network: Network, key: jax.Array, scale: float
) -> tuple[jax.Array, ...]:
    """Fixed random ``B_l`` of shape ``[out_dim, width_l]``, one per hidden block.

    Entries are Gaussian with standard deviation ``scale / sqrt(out_dim)``;
    ``width_l`` is the output width of block ``l`` (see ``Network.blocks``).
    """
    hidden = network.blocks()[:-1]
    keys = jax.random.split(key, max(len(hidden), 1))
    std = scale / jnp.sqrt(network.out_dim)
    return tuple(
        std
        * standard_normal(
            k, (network.out_dim, network.layers[stop - 1].out_dim), jnp.float32
        )
        for (_, stop), k in zip(hidden, keys, strict=False)
    )


@register
class FeedbackAlignment(Method):
    """Direct feedback alignment through fixed random matrices."""

    name = "feedback_alignment"
    evaluations_per_sample = 1

    def init_aux(self, network, params, config: MethodConfig, key, num_classes):
        return feedback_matrices(network, key, config.feedback_scale)

    def gradient(self, network, config, params, aux, x, y, key):
        states = network.physical_activations(params, x, key)
        logits = states[-1]
        loss = cross_entropy(logits, y)
        # d(mean cross-entropy)/d(logits)
        error = jax.nn.softmax(logits) - jax.nn.one_hot(y, logits.shape[-1])
        error = error / x.shape[0]
        signals = [error @ b for b in aux] + [error]
        grads: list = []
        for block, signal in zip(network.blocks(), signals, strict=True):
            start, stop = block
            block_fn = lambda q, h=states[start], b=block: network.block_model(q, h, b)
            _, vjp = jax.vjp(block_fn, params[start:stop])
            grads.extend(vjp(signal)[0])
        return tuple(grads), loss
