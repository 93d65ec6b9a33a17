"""The forward-forward algorithm on a stack of physical layers.

Hinton, "The forward-forward algorithm: some preliminary investigations",
arXiv 2212.13345 (2022). Every layer learns locally to give high *goodness*
to positive data (an input with its true label embedded) and low goodness to
negative data (the same input with a wrong label):

.. math::

    G_l = \\sum_i h_{l,i}^2, \\qquad
    L_l = \\mathrm{softplus}(\\theta_l - G_l^{+})
        + \\mathrm{softplus}(G_l^{-} - \\theta_l)

with threshold ``theta_l = ff_threshold * width_l``. Choices made here:

* the label is embedded by *adding* ``ff_label_scale * E[y]`` to the input,
  with ``E`` a fixed random ``[classes, in_dim]`` matrix of unit-RMS rows, so
  the input width is unchanged. The embedding must not swamp the input: with
  inputs in [0, 1] (the study's scaling) ``ff_label_scale = 1`` makes the
  label twice as large as a typical pixel and the first layer's goodness
  mostly a function of the label. Measured on digits (crossbar MLP
  64-32-10, 6 epochs, seed 0; physical test accuracy): scale 1.0 -> 0.68,
  0.3 -> 0.86, 0.2 -> 0.83, 0.1 -> 0.72, 3.0 -> 0.36; the threshold (0.1,
  0.5, 2 per unit) and the learning rate (0.003-0.03) moved it less. The
  study sets 0.3 (``pnn.compare``); ``MethodConfig``'s default stays 1.0;
* each layer's output is divided by its RMS before it enters the next layer
  (so the next layer cannot read the goodness off the length);
* forward passes run on the physical system; each layer's local gradient uses
  the digital model at the measured physical input (as in physics-aware
  training), with no gradient flowing between layers.

Training costs two physical evaluations per sample per step (the positive and
the negative pass). Prediction embeds every label in turn and picks the one
with the largest total goodness, which costs ``classes`` evaluations per test
sample (not counted as training cost).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from pnn.methods.interface import Method, MethodConfig, register
from pnn.methods.physics_aware import physics_aware_layer
from pnn.network import Network
from pnn.substrate import standard_normal

__all__ = ["ForwardForward", "embed_label", "goodness", "normalise"]

Params = Any


def embed_label(x: jax.Array, labels: jax.Array, embedding: jax.Array, scale: float):
    """``x + scale * embedding[labels]`` (``[batch, in_dim]``)."""
    return x + scale * embedding[labels]


def goodness(h: jax.Array) -> jax.Array:
    """``sum_i h_i^2`` per sample, ``[batch]``."""
    return jnp.sum(h**2, axis=-1)


def normalise(h: jax.Array) -> jax.Array:
    """Divide each row by its RMS (unit mean square)."""
    return h / (jnp.sqrt(jnp.mean(h**2, axis=-1, keepdims=True)) + 1e-8)


def _layer_loss(g_pos, g_neg, threshold):
    return jnp.mean(
        jax.nn.softplus(threshold - g_pos) + jax.nn.softplus(g_neg - threshold)
    )


@register
class ForwardForward(Method):
    """Forward-forward with physical forward passes and local model gradients."""

    name = "forward_forward"
    evaluations_per_sample = 2
    requirement = "a network of at least one non-energy-based layer"

    def supports(self, network: Network) -> bool:
        return not network.energy_based

    def init_aux(self, network, params, config: MethodConfig, key, num_classes):
        return standard_normal(key, (num_classes, network.in_dim), jnp.float32)

    def gradient(self, network, config: MethodConfig, params, aux, x, y, key):
        num_classes = aux.shape[0]
        label_key, key = jax.random.split(key)
        shift = jax.random.randint(label_key, y.shape, 1, num_classes)
        wrong = (y + shift) % num_classes
        h_pos = embed_label(x, y, aux, config.ff_label_scale)
        h_neg = embed_label(x, wrong, aux, config.ff_label_scale)
        blocks = network.blocks()
        keys = jax.random.split(key, (len(blocks), 2))
        grads: list = []
        losses = []
        for (start, stop), (k_pos, k_neg) in zip(blocks, keys, strict=True):
            threshold = config.ff_threshold * network.layers[stop - 1].out_dim
            forward = functools.partial(_physics_aware_block, network, (start, stop))
            loss_fn = functools.partial(
                _block_loss, forward, h_pos, h_neg, k_pos, k_neg, threshold
            )
            (loss, (out_pos, out_neg)), grad = jax.value_and_grad(
                loss_fn, has_aux=True
            )(params[start:stop])
            grads.extend(grad)
            losses.append(loss)
            h_pos, h_neg = normalise(out_pos), normalise(out_neg)
        return tuple(grads), jnp.mean(jnp.stack(losses))

    def scores(self, network, config, params, aux, x, key):
        """Total goodness of every block for each embedded label."""
        num_classes = aux.shape[0]
        blocks = network.blocks()

        def total_goodness(label, k):
            labels = jnp.full(x.shape[:1], label)
            h = embed_label(x, labels, aux, config.ff_label_scale)
            keys = jax.random.split(k, network.depth)
            total = jnp.zeros(x.shape[0], x.dtype)
            for start, stop in blocks:
                for i in range(start, stop):
                    layer, p = network.layers[i], params[i]
                    h = (
                        layer.model(p, h)
                        if key is None
                        else layer.physical(p, h, keys[i])
                    )
                total = total + goodness(h)
                h = normalise(h)
            return total

        base = jax.random.PRNGKey(0) if key is None else key
        keys = jax.random.split(base, num_classes)
        return jax.vmap(total_goodness, out_axes=1)(jnp.arange(num_classes), keys)


def _physics_aware_block(network, block, params, x, key):
    start, stop = block
    keys = jax.random.split(key, stop - start)
    for layer, p, k in zip(network.layers[start:stop], params, keys, strict=True):
        x = physics_aware_layer(layer)(p, x, k)
    return x


def _block_loss(forward, h_pos, h_neg, key_pos, key_neg, threshold, params):
    out_pos = forward(params, jax.lax.stop_gradient(h_pos), key_pos)
    out_neg = forward(params, jax.lax.stop_gradient(h_neg), key_neg)
    loss = _layer_loss(goodness(out_pos), goodness(out_neg), threshold)
    return loss, (out_pos, out_neg)
