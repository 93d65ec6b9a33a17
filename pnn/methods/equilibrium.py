"""Equilibrium propagation for networks that settle by minimising an energy.

Scellier & Bengio, "Equilibrium propagation", Front. Comput. Neurosci. 11, 24
(2017); the centred (symmetric) estimate is from Laborieux et al., Front.
Neurosci. 15, 633674 (2021). With ``s_beta`` the minimiser of
``E + beta C`` (measured on the physical network), the gradient of the cost at
the free equilibrium is estimated from the energy's explicit parameter
derivative at two nudged states:

.. math::

    \\frac{dC}{d\\theta} \\approx \\frac{1}{2\\beta}\\Big[
    \\frac{\\partial E}{\\partial \\theta}(s_{\\beta})
    - \\frac{\\partial E}{\\partial \\theta}(s_{-\\beta})\\Big]
    \\quad\\text{(centred, error } O(\\beta^2))

and, uncentred, ``(1/beta)[dE/dth(s_beta) - dE/dth(s_0)]`` with error
``O(beta)``. Both need two physical settlings per sample per step. Targets
come from the substrate's ``class_targets(labels)`` when it has one (the
resistor network's target pressures inside its rails), else the one-hot
labels; the class score is the readout of the free state.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from pnn.methods.interface import Method, MethodConfig, register
from pnn.network import Network
from pnn.registry import SUBSTRATES
from pnn.substrate import EnergySubstrate, Substrate

__all__ = [
    "ENERGY_REQUIREMENT",
    "EquilibriumPropagation",
    "class_targets",
    "energy_layer",
    "equilibrium_gradient",
]

Params = Any

#: what EP and coupled learning need, with the substrate kinds that offer it
ENERGY_REQUIREMENT = (
    "an energy-based substrate (energy_based=True) as the network's only layer; "
    "valid substrates for it: "
    + str(
        sorted(k for k, (_, c) in SUBSTRATES.items() if issubclass(c, EnergySubstrate))
    )
)


def energy_layer(network: Network) -> Substrate:
    """The single energy-based layer of ``network`` (see ``supports``)."""
    return network.layers[0]


def class_targets(substrate, labels: jax.Array, dtype) -> jax.Array:
    """Targets ``[batch, out_dim]`` of the nudged/clamped outputs for ``labels``.

    The substrate's own ``class_targets`` when it defines one (target values
    its outputs can reach), otherwise one-hot vectors.
    """
    own = getattr(substrate, "class_targets", None)
    if own is not None:
        return own(labels, dtype)
    return jax.nn.one_hot(labels, substrate.out_dim, dtype=dtype)


def equilibrium_gradient(
    substrate,
    params: Params,
    x: jax.Array,
    target: jax.Array,
    beta: float,
    *,
    centred: bool = True,
    key: jax.Array | None = None,
) -> tuple[Params, jax.Array]:
    """Equilibrium-propagation estimate of ``d mean C / d params``.

    Args:
        substrate: an energy-based substrate (``pnn.substrate.EnergySubstrate``).
        params: its parameters.
        x: inputs ``[batch, in_dim]``.
        target: targets ``[batch, out_dim]``.
        beta: nudging strength (> 0).
        centred: use ``+beta`` and ``-beta`` (else ``+beta`` and free).
        key: when given, states are measured on the physical network (two
            physical settlings); ``None`` uses the ideal model.

    Returns:
        ``(gradient estimate, mean cost)``: the cost is averaged over the two
        measured states (exact for the uncentred pair's free state up to
        ``O(beta)``).
    """
    if key is None:
        key_a = key_b = None
        nudged = lambda b, k: substrate.nudged_state(params, x, target, b)
        free = lambda k: substrate.free_state(params, x)
    else:
        key_a, key_b = jax.random.split(key)
        nudged = lambda b, k: substrate.physical_nudged_state(params, x, target, b, k)
        free = lambda k: substrate.physical_free_state(params, x, k)
    upper = nudged(beta, key_a)
    lower = nudged(-beta, key_b) if centred else free(key_b)
    span = 2.0 * beta if centred else beta
    grad_upper = substrate.energy_grad(params, upper, x)
    grad_lower = substrate.energy_grad(params, lower, x)
    grads = jax.tree_util.tree_map(lambda a, b: (a - b) / span, grad_upper, grad_lower)
    cost = 0.5 * (
        substrate.cost(upper, target).mean() + substrate.cost(lower, target).mean()
    )
    return grads, cost


@register
class EquilibriumPropagation(Method):
    """Equilibrium propagation on a single energy-based layer."""

    name = "equilibrium"
    evaluations_per_sample = 2
    requirement = ENERGY_REQUIREMENT

    def supports(self, network: Network) -> bool:
        return network.energy_based

    def gradient(self, network, config: MethodConfig, params, aux, x, y, key):
        layer = energy_layer(network)
        target = class_targets(layer, y, x.dtype)
        grads, cost = equilibrium_gradient(
            layer,
            params[0],
            x,
            target,
            config.ep_beta,
            centred=config.centred,
            key=key,
        )
        return (grads,), jnp.asarray(cost)
