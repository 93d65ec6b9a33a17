"""Coupled learning for networks that settle by minimising an energy.

Stern, Hexner, Rocks & Liu, "Supervised learning in physical networks: from
machine learning to learning machines", Phys. Rev. X 11, 021045 (2021). The
network is measured twice: in its free state, and with the outputs clamped a
fraction ``eta`` of the way from the free outputs to the targets,
``p_O^C = p_O^F + eta (y - p_O^F)``. Each element then changes using only its
own two measurements. For a flow (or resistor) network with conductances
``k_j`` and pressure (voltage) drops ``dp_j`` the rule is

.. math::

    \\Delta k_j = \\frac{\\alpha}{\\eta}
    \\big[(\\Delta p_j^{F})^2 - (\\Delta p_j^{C})^2\\big]

after which conductances are clipped to the devices' range (the substrate's
``project``). For any other energy-based substrate the general form
``Delta theta = -(alpha / eta) [dE/dth(s^C) - dE/dth(s^F)]`` is used. Two
physical settlings per sample per step; the update always follows the plain
rule (``learning_rate`` is ``alpha``, no Adam).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from pnn.methods.equilibrium import ENERGY_REQUIREMENT
from pnn.methods.interface import Method, MethodConfig, register
from pnn.network import Network

__all__ = ["CoupledLearning", "coupled_update", "flow_rule"]

Params = Any


def flow_rule(substrate, free: jax.Array, clamped: jax.Array, eta: float) -> jax.Array:
    """``[(dp^F)^2 - (dp^C)^2] / eta`` per edge, averaged over the batch.

    Args:
        substrate: a flow/resistor network (has ``edge_drops``).
        free, clamped: measured states ``[batch, num_nodes]``.
        eta: the clamping fraction.

    Returns:
        ``[num_edges]``: the conductance change per unit ``alpha``.
    """
    drop_free = substrate.edge_drops(free)
    drop_clamped = substrate.edge_drops(clamped)
    return jnp.mean(drop_free**2 - drop_clamped**2, axis=0) / eta


def _conductance_leaf(substrate, params: Params) -> str | None:
    """The params key holding one conductance per edge, if there is one."""
    if not isinstance(params, dict):
        return None
    for name in ("conductance", "conductances", "k"):
        leaf = params.get(name)
        if leaf is not None and jnp.shape(leaf) == (substrate.num_edges,):
            return name
    return None


def coupled_update(
    substrate,
    params: Params,
    x: jax.Array,
    target: jax.Array,
    eta: float,
    key: jax.Array | None = None,
) -> tuple[Params, jax.Array]:
    """Coupled-learning change of the parameters per unit ``alpha``.

    Args:
        substrate: an energy-based substrate.
        params: its parameters.
        x: inputs ``[batch, in_dim]``; target: ``[batch, out_dim]``.
        eta: clamping fraction in (0, 1].
        key: measure on the physical network (``None``: ideal model).

    Returns:
        ``(delta, free cost)``: add ``alpha * delta`` to the parameters.
    """
    if key is None:
        free = substrate.free_state(params, x)
        clamped = substrate.clamped_state(params, x, target, eta)
    else:
        key_free, key_clamped = jax.random.split(key)
        free = substrate.physical_free_state(params, x, key_free)
        clamped = substrate.physical_clamped_state(params, x, target, eta, key_clamped)
    cost = substrate.cost(free, target).mean()
    leaf = _conductance_leaf(substrate, params)
    if leaf is not None:
        delta = jax.tree_util.tree_map(jnp.zeros_like, params)
        delta = {**delta, leaf: flow_rule(substrate, free, clamped, eta)}
        return delta, cost
    grad_clamped = substrate.energy_grad(params, clamped, x)
    grad_free = substrate.energy_grad(params, free, x)
    delta = jax.tree_util.tree_map(lambda c, f: -(c - f) / eta, grad_clamped, grad_free)
    return delta, cost


@register
class CoupledLearning(Method):
    """Coupled learning on a single energy-based layer."""

    name = "coupled_learning"
    evaluations_per_sample = 2
    requirement = ENERGY_REQUIREMENT

    def supports(self, network: Network) -> bool:
        return network.energy_based

    def optimizer(self, config: MethodConfig) -> optax.GradientTransformation:
        return optax.sgd(config.learning_rate)

    def gradient(self, network, config: MethodConfig, params, aux, x, y, key):
        layer = network.layers[0]
        target = jax.nn.one_hot(y, layer.out_dim, dtype=x.dtype)
        delta, cost = coupled_update(layer, params[0], x, target, config.cl_eta, key)
        # the optimiser descends, so hand it minus the update
        return (jax.tree_util.tree_map(jnp.negative, delta),), cost
