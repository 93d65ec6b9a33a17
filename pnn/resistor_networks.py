"""Resistor / flow networks that compute by settling: weighted Laplacians.

Nodes carry pressures (voltages) ``p``, edges carry conductances ``k``. The
input nodes, a ground node (pressure 0) and a supply node (pressure
``supply``) are held fixed (Dirichlet); all other nodes settle where the
currents balance (Kirchhoff), which is the minimum of the dissipated power.
The output nodes are read out.

Each edge is a linear resistor, optionally in parallel with a fixed diode (a
Shockley-like element), which makes the network a *nonlinear* energy-based
system for equilibrium propagation. With drop ``v = p_src - p_dst``:

.. math::

    i_e(v) = k_e v + g_d s\\,(e^{v/s} - 1), \\qquad
    E(p) = \\sum_e \\tfrac12 k_e v_e^2 + g_d s^2 (e^{v_e/s} - 1 - v_e/s)

``E`` is the co-content (half the dissipated power for linear edges); it is
convex, so the free state is unique and Newton's method finds it. For a
linear network one Newton step is the exact Laplacian solve
``L_II p_I = -L_IB p_B``. Conductances are clipped to the devices' range
``[conductance_min, conductance_max]``.

Topology (``hidden`` > 0): every input connects to every hidden node, every
hidden node to every output; ground and supply connect to every hidden and
output node. With ``hidden = 0`` inputs connect straight to the outputs.

Reality gap of the physical face: a fixed per-edge conductance mismatch
(relative std ``conductance_mismatch``, from the seed) and Gaussian read noise
of std ``read_noise`` on every measured pressure (every node but the
imposed inputs, ground and supply; clamped outputs are read like free ones).

References:
    Stern, Hexner, Rocks & Liu, "Supervised learning in physical networks:
    from machine learning to learning machines", Phys. Rev. X 11, 021045
    (2021); Dillavou et al., "Demonstration of decentralized physics-driven
    learning", Phys. Rev. Applied 18, 014040 (2022); Scellier & Bengio (2017).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import pydantic

from pnn.substrate import (
    EnergySubstrate,
    FromConfig,
    SubstrateConfig,
    jit_method,
    standard_normal,
    unit_interval,
)

logger = logging.getLogger(__name__)

__all__ = ["ResistorNetwork", "ResistorNetworkConfig"]

Params = Any


class ResistorNetworkConfig(SubstrateConfig):
    """A flow / resistor network.

    Attributes:
        hidden: number of hidden nodes (0: inputs wired straight to outputs).
        conductance_min, conductance_max: physical range of one edge.
        diode_conductance: ``g_d`` of the diode in parallel with each edge
            (0: a linear network).
        diode_scale: ``s``, the diode's voltage scale (like ``n V_T``).
        input_scale: input node pressure is ``input_scale * x``.
        supply: pressure of the supply node (the ground node is at 0).
        conductance_mismatch: relative std of each edge's fixed gain on the
            device, in [0, 1].
        read_noise: std of each measured pressure, in [0, 1].
        newton_steps: Newton iterations of the nonlinear solve.
        target_low, target_high: class targets of equilibrium propagation
            and coupled learning, as fractions of ``supply``: the output node
            of the true class should settle at ``target_high * supply``, the
            others at ``target_low * supply`` (see
            :meth:`ResistorNetwork.class_targets`).
    """

    kind: Literal["resistor_network"] = "resistor_network"
    hidden: int = pydantic.Field(16, ge=0)
    conductance_min: float = pydantic.Field(1e-3, gt=0.0)
    conductance_max: float = pydantic.Field(1.0, gt=0.0)
    diode_conductance: float = pydantic.Field(0.0, ge=0.0)
    diode_scale: float = pydantic.Field(0.5, gt=0.0)
    input_scale: float = pydantic.Field(1.0, gt=0.0)
    supply: float = 1.0
    conductance_mismatch: float = unit_interval(0.05)
    read_noise: float = unit_interval(0.01)
    newton_steps: int = pydantic.Field(12, ge=1, le=100)
    target_low: float = unit_interval(0.3)
    target_high: float = unit_interval(0.7)

    @pydantic.model_validator(mode="after")
    def _check_range(self) -> ResistorNetworkConfig:
        if self.conductance_max <= self.conductance_min:
            raise ValueError(
                f"conductance_max ({self.conductance_max}) must exceed "
                f"conductance_min ({self.conductance_min})"
            )
        if self.target_high <= self.target_low:
            raise ValueError(
                f"target_high ({self.target_high}) must exceed "
                f"target_low ({self.target_low})"
            )
        return self


def _layered_edges(
    in_dim: int, hidden: int, out_dim: int
) -> tuple[np.ndarray, np.ndarray]:
    """Edge endpoints ``(src, dst)`` of the layered topology.

    Node order: inputs, ground, supply, hidden, outputs.
    """
    inputs = np.arange(in_dim)
    ground, supply = in_dim, in_dim + 1
    hid = in_dim + 2 + np.arange(hidden)
    out = in_dim + 2 + hidden + np.arange(out_dim)
    first = hid if hidden else out
    pairs = [np.stack(np.meshgrid(inputs, first, indexing="ij"), -1).reshape(-1, 2)]
    if hidden:
        pairs.append(np.stack(np.meshgrid(hid, out, indexing="ij"), -1).reshape(-1, 2))
    settling = np.concatenate([hid, out])
    for rail in (ground, supply):
        pairs.append(np.stack([np.full_like(settling, rail), settling], -1))
    edges = np.concatenate(pairs)
    return edges[:, 0], edges[:, 1]


@dataclasses.dataclass(frozen=True)
class ResistorNetwork(FromConfig, EnergySubstrate):
    """A flow network layer ``[batch, in_dim] -> [batch, out_dim]``.

    Parameters are ``{"conductance": [num_edges]}``; the calibration is the
    per-edge gain ``{"gain": [num_edges]}`` (1 in the ideal model). States are
    node pressures ``[batch, num_nodes]``.

    Args:
        config: a validated :class:`ResistorNetworkConfig`.
    """

    config: ResistorNetworkConfig
    name = "resistor_network"

    @functools.cached_property
    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """Edge endpoints ``(src, dst)``, each ``[num_edges]`` node indices."""
        c = self.config
        return _layered_edges(c.in_dim, c.hidden, c.out_dim)

    @property
    def num_nodes(self) -> int:
        c = self.config
        return c.in_dim + 2 + c.hidden + c.out_dim

    @property
    def num_edges(self) -> int:
        return len(self.edges[0])

    @property
    def output_nodes(self) -> np.ndarray:
        """Indices of the output nodes in a state."""
        return np.arange(self.num_nodes - self.out_dim, self.num_nodes)

    @property
    def hidden_nodes(self) -> np.ndarray:
        """Indices of the hidden nodes in a state."""
        start = self.in_dim + 2
        return np.arange(start, start + self.config.hidden)

    @property
    def boundary_nodes(self) -> np.ndarray:
        """Nodes held fixed in the free state: inputs, ground, supply."""
        return np.arange(self.in_dim + 2)

    @functools.cached_property
    def _device_gain(self) -> np.ndarray:
        rng = np.random.default_rng([self.config.seed, 0xF10E])
        gain = 1.0 + self.config.conductance_mismatch * rng.standard_normal(
            self.num_edges
        )
        return np.clip(gain, 0.0, None)

    def init(self, key: jax.Array) -> Params:
        c = self.config
        k = jax.random.uniform(
            key,
            (self.num_edges,),
            self.dtype,
            c.conductance_min,
            c.conductance_max,
        )
        return {"conductance": k}

    def project(self, params: Params) -> Params:
        c = self.config
        k = jnp.clip(params["conductance"], c.conductance_min, c.conductance_max)
        return {"conductance": k}

    def nominal_calibration(self) -> dict[str, jax.Array]:
        return {"gain": jnp.ones(self.num_edges, self.dtype)}

    def _conductance(self, params: Params, calibration: dict) -> jax.Array:
        return self.project(params)["conductance"] * calibration["gain"]

    def boundary_state(self, x: jax.Array) -> jax.Array:
        """State with the boundary nodes set and all others at 0."""
        c = self.config
        rails = jnp.broadcast_to(jnp.asarray([0.0, c.supply], x.dtype), (x.shape[0], 2))
        rest = jnp.zeros((x.shape[0], self.num_nodes - self.in_dim - 2), x.dtype)
        return jnp.concatenate([c.input_scale * x, rails, rest], axis=1)

    def edge_drops(self, state: jax.Array) -> jax.Array:
        src, dst = self.edges
        return state[:, src] - state[:, dst]

    def edge_currents(self, params: Params, state: jax.Array) -> jax.Array:
        """Current through each edge ``[batch, num_edges]`` (src to dst)."""
        return self._currents(
            self._conductance(params, self.nominal_calibration()),
            self.edge_drops(state),
        )

    def kirchhoff_residual(self, params: Params, state: jax.Array) -> jax.Array:
        """Largest current imbalance at a hidden node, ``[batch]``.

        Zero (to rounding) at a converged free or clamped state; check it
        outside ``jit`` when driving the diodes hard (large ``g_d / s``).
        """
        src, dst = self.edges
        i = self.edge_currents(params, state).T
        net = jax.ops.segment_sum(
            jnp.concatenate([i, -i]), np.concatenate([src, dst]), self.num_nodes
        ).T
        return jnp.max(jnp.abs(net[:, self.hidden_nodes]), axis=-1, initial=0.0)

    def _currents(self, k: jax.Array, v: jax.Array) -> jax.Array:
        c = self.config
        s = c.diode_scale
        return k * v + c.diode_conductance * s * jnp.expm1(v / s)

    def _energy_from_drops(self, k: jax.Array, v: jax.Array) -> jax.Array:
        c = self.config
        s = c.diode_scale
        diode = s**2 * (jnp.expm1(v / s) - v / s)
        return jnp.sum(0.5 * k * v**2 + c.diode_conductance * diode, axis=-1)

    @jit_method
    def energy(self, params: Params, state: jax.Array, x: jax.Array) -> jax.Array:
        """Co-content of the network (half the power for linear edges), ``[batch]``.

        ``x`` is unused: the boundary values are part of ``state``.
        """
        del x
        k = self._conductance(params, self.nominal_calibration())
        return self._energy_from_drops(k, self.edge_drops(state))

    def _assembly(self, free: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, int]:
        """Where each edge's Hessian entries land in the free-node block.

        Returns flat indices into the ``[n_free, n_free]`` block for the four
        entries ``(src,src), (dst,dst), (src,dst), (dst,src)`` of every edge
        (entries that touch a fixed node go to a discarded extra bin), the
        position of each node among the free nodes (-1 if fixed) and n_free.
        """
        src, dst = self.edges
        local = np.full(self.num_nodes, -1)
        local[list(free)] = np.arange(len(free))
        n_free = len(free)
        dump = n_free * n_free

        def flat(a, b):
            la, lb = local[a], local[b]
            return np.where((la >= 0) & (lb >= 0), la * n_free + lb, dump)

        index = np.concatenate(
            [flat(src, src), flat(dst, dst), flat(src, dst), flat(dst, src)]
        )
        return index, local, n_free

    def _settle(
        self,
        k: jax.Array,
        state: jax.Array,
        free: np.ndarray,
        beta: jax.Array | float = 0.0,
        target: jax.Array | None = None,
    ) -> jax.Array:
        """Newton's method for ``min_p E + beta C`` over the ``free`` nodes.

        The Hessian of the energy is the weighted Laplacian
        ``D^T diag(dI/dv) D``, assembled by segment sums over edges.
        """
        src, dst = self.edges
        index, local, n_free = self._assembly(tuple(int(i) for i in free))
        out_local = local[self.output_nodes]
        n = self.num_nodes
        steps = self.config.newton_steps if self.config.diode_conductance else 1
        s = self.config.diode_scale
        g_d = self.config.diode_conductance

        def newton(_, p):
            v = p[:, src] - p[:, dst]
            i = self._currents(k, v).T
            grad = jax.ops.segment_sum(
                jnp.concatenate([i, -i]), np.concatenate([src, dst]), n
            ).T
            grad = grad[:, free]
            if target is not None:
                grad = grad.at[:, out_local].add(
                    beta * (p[:, self.output_nodes] - target)
                )
            if not g_d:
                # Linear edges: one Laplacian shared by the whole batch, one
                # factorisation for all right-hand sides.
                hess = jax.ops.segment_sum(
                    jnp.concatenate([k, k, -k, -k]), index, n_free * n_free + 1
                )[:-1].reshape(n_free, n_free)
                if target is not None:
                    hess = hess.at[out_local, out_local].add(beta)
                return p.at[:, free].add(-jnp.linalg.solve(hess, grad.T).T)
            c = jnp.broadcast_to(k + g_d * jnp.exp(v / s), v.shape).T
            hess = jax.ops.segment_sum(
                jnp.concatenate([c, c, -c, -c]), index, n_free * n_free + 1
            )
            hess = hess[:-1].T.reshape(-1, n_free, n_free)
            if target is not None:
                hess = hess.at[:, out_local, out_local].add(beta)
            step = jnp.linalg.solve(hess, grad[..., None])[..., 0]
            # Guard against exponential overshoot far from the solution; the
            # clip is inactive once Newton converges.
            step = jnp.clip(step, -4 * s, 4 * s)
            return p.at[:, free].add(-step)

        return jax.lax.fori_loop(0, steps, newton, state)

    def _free_nodes(self) -> np.ndarray:
        return np.arange(self.in_dim + 2, self.num_nodes)

    def _free(self, k: jax.Array, x: jax.Array) -> jax.Array:
        return self._settle(k, self.boundary_state(x), self._free_nodes())

    def _nudged(self, k, x, target, beta) -> jax.Array:
        free = self._free(k, x)
        return self._settle(k, free, self._free_nodes(), beta, target)

    def _clamped(self, k, x, target, eta) -> jax.Array:
        free = self._free(k, x)
        y = free[:, self.output_nodes]
        clamped = free.at[:, self.output_nodes].set(y + eta * (target - y))
        return self._settle(k, clamped, self.hidden_nodes)

    def readout(self, state: jax.Array) -> jax.Array:
        return state[:, self.output_nodes]

    def class_targets(self, labels: jax.Array, dtype=None) -> jax.Array:
        """Target output pressures ``[batch, out_dim]`` for integer labels.

        The true class's output node should sit at ``target_high * supply``,
        every other output at ``target_low * supply``. A linear network's
        settled pressures are weighted averages of its boundary pressures, so
        one-hot targets (1 and 0, the two rails) are reachable only by
        driving *every* output to a rail; their squared error is dominated by
        pulling all outputs towards ground (exact gradient descent on it
        stayed near chance on digits), whereas a window inside the rails
        leaves the gradient the class contrast.
        """
        c = self.config
        onehot = jax.nn.one_hot(labels, self.out_dim, dtype=dtype or self.dtype)
        return c.supply * (c.target_low + (c.target_high - c.target_low) * onehot)

    @jit_method
    def calibrated_model(
        self, params: Params, x: jax.Array, calibration: dict[str, jax.Array]
    ) -> jax.Array:
        return self.readout(self._free(self._conductance(params, calibration), x))

    @jit_method
    def free_state(self, params: Params, x: jax.Array) -> jax.Array:
        k = self._conductance(params, self.nominal_calibration())
        return self._free(k, x)

    @jit_method
    def nudged_state(self, params, x, target, beta) -> jax.Array:
        k = self._conductance(params, self.nominal_calibration())
        return self._nudged(k, x, target, beta)

    @jit_method
    def clamped_state(self, params, x, target, eta) -> jax.Array:
        k = self._conductance(params, self.nominal_calibration())
        return self._clamped(k, x, target, eta)

    # -- the physical network: mismatched conductances, noisy read-out --

    def _device_conductance(self, params: Params) -> jax.Array:
        gain = {"gain": jnp.asarray(self._device_gain, params["conductance"].dtype)}
        return self._conductance(params, gain)

    def _measure(self, state: jax.Array, key: jax.Array) -> jax.Array:
        noise = standard_normal(key, state.shape, state.dtype)
        measured = state + self.config.read_noise * noise
        # Boundary pressures are imposed, not measured.
        boundary = self.boundary_nodes
        return measured.at[:, boundary].set(state[:, boundary])

    @jit_method
    def physical_free_state(self, params, x, key) -> jax.Array:
        return self._measure(self._free(self._device_conductance(params), x), key)

    @jit_method
    def physical_nudged_state(self, params, x, target, beta, key) -> jax.Array:
        k = self._device_conductance(params)
        return self._measure(self._nudged(k, x, target, beta), key)

    @jit_method
    def physical_clamped_state(self, params, x, target, eta, key) -> jax.Array:
        # The clamped outputs are imposed, but coupled learning reads every
        # edge's drop with the same instrument in both phases, so they carry
        # the same read noise as the free outputs; exact clamped values
        # against noisy free ones would bias the squared drops by
        # read_noise**2 / eta on every edge at an output node.
        k = self._device_conductance(params)
        return self._measure(self._clamped(k, x, target, eta), key)

    @jit_method
    def physical(self, params: Params, x: jax.Array, key: jax.Array) -> jax.Array:
        return self.readout(self.physical_free_state(params, x, key))
