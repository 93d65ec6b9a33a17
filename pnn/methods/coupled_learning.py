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
physical settlings per sample per step.

**Centred coupled learning** (``centred=True``, the default) clamps the outputs
once towards and once away from the targets, ``p_O^pm = p_O^F pm eta (y -
p_O^F)``, and uses

.. math::

    \\Delta k_j = \\frac{\\alpha}{2\\eta}
    \\big[(\\Delta p_j^{-})^2 - (\\Delta p_j^{+})^2\\big],

the analogue of centred equilibrium propagation: the plain rule's error is
``O(eta)``, this one's ``O(eta^2)`` (both tend to the same ``eta -> 0``
limit). On digits the plain rule's ``O(eta)`` bias stopped learning at chance
at eta = 0.5, while the small eta that removes it drowns the clamp in read
noise. It costs three physical settlings per sample per step: the free state
(read to set the clamps) and the two clamped states.

The update is handed to the configured optimiser (``optimizer = "sgd"`` is the
plain rule with ``learning_rate = alpha``; the default Adam rescales each
edge's step by running averages of that edge's own updates, still local).
Plain SGD, exact gradients included, was too ill-conditioned on digits to
leave chance within six epochs.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from pnn.methods.equilibrium import ENERGY_REQUIREMENT, class_targets
from pnn.methods.interface import Method, MethodConfig, register
from pnn.network import Network

__all__ = ["CoupledLearning", "coupled_update", "flow_rule"]

Params = Any


def flow_rule(substrate, free: jax.Array, clamped: jax.Array, eta: float) -> jax.Array:
    """``[(dp^F)^2 - (dp^C)^2] / eta`` per edge, averaged over the batch.

    Args:
        substrate: a flow/resistor network (has ``edge_drops``).
        free, clamped: measured states ``[batch, num_nodes]`` (for the
            centred rule the ``-eta`` and the ``+eta`` clamped states).
        eta: the clamping fraction (``2 eta`` for the centred rule).

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
    *,
    centred: bool = False,
) -> tuple[Params, jax.Array]:
    """Coupled-learning change of the parameters per unit ``alpha``.

    Args:
        substrate: an energy-based substrate.
        params: its parameters.
        x: inputs ``[batch, in_dim]``; target: ``[batch, out_dim]``.
        eta: clamping fraction in (0, 1].
        key: measure on the physical network (``None``: ideal model).
        centred: compare the clamped states at ``+eta`` and ``-eta`` (error
            ``O(eta^2)``) instead of the clamped and the free state.

    Returns:
        ``(delta, free cost)``: add ``alpha * delta`` to the parameters.
    """
    if key is None:
        keys = (None, None, None)
        free = substrate.free_state(params, x)
        clamp = lambda e, k: substrate.clamped_state(params, x, target, e)
    else:
        keys = jax.random.split(key, 3)
        free = substrate.physical_free_state(params, x, keys[0])
        clamp = lambda e, k: substrate.physical_clamped_state(params, x, target, e, k)
    cost = substrate.cost(free, target).mean()
    upper = clamp(eta, keys[1])
    # the lower state: the free one, or the outputs pushed away by eta
    lower = clamp(-eta, keys[2]) if centred else free
    span = 2.0 * eta if centred else eta
    leaf = _conductance_leaf(substrate, params)
    if leaf is not None:
        delta = jax.tree_util.tree_map(jnp.zeros_like, params)
        delta = {**delta, leaf: flow_rule(substrate, lower, upper, span)}
        return delta, cost
    grad_upper = substrate.energy_grad(params, upper, x)
    grad_lower = substrate.energy_grad(params, lower, x)
    delta = jax.tree_util.tree_map(lambda c, f: -(c - f) / span, grad_upper, grad_lower)
    return delta, cost


@register
class CoupledLearning(Method):
    """Coupled learning on a single energy-based layer."""

    name = "coupled_learning"
    evaluations_per_sample = 2
    requirement = ENERGY_REQUIREMENT

    def evaluations(self, config: MethodConfig) -> int:
        # centred: the free state sets the clamps, then two clamped states
        return 3 if config.centred else 2

    def supports(self, network: Network) -> bool:
        return network.energy_based

    def gradient(self, network, config: MethodConfig, params, aux, x, y, key):
        layer = network.layers[0]
        target = class_targets(layer, y, x.dtype)
        delta, cost = coupled_update(
            layer, params[0], x, target, config.cl_eta, key, centred=config.centred
        )
        # the optimiser descends, so hand it minus the update
        return (jax.tree_util.tree_map(jnp.negative, delta),), cost
