"""Coupled nonlinear oscillators: a chain of driven pendula as a layer.

The layer has ``N = out_dim`` pendula on a chain. The input sets a constant
drive on each, ``d = x W + b``; the chain starts at rest and evolves for a
time ``duration``:

.. math::

    \\ddot q_i = -\\omega_i^2 \\sin((1 + \\eta) q_i) - \\gamma \\dot q_i
        + \\kappa_{i-1} (q_{i-1} - q_i) + \\kappa_i (q_{i+1} - q_i) + d_i

integrated with classical fourth-order Runge-Kutta (``steps`` steps). The
readout is the final positions ``q(T)`` or the final energies
``\\tfrac12 \\dot q_i^2 + 1 - \\cos q_i``.

The ideal model has ``omega = 1``, ``eta = 0`` and bond couplings ``kappa``
(the calibration ``{"coupling", "nonlinearity", "frequency"}``). The device
differs, as in the physics-aware-training example of Wright et al.: every
bond carries ``extra_coupling`` more coupling, the nonlinearity is
``sin((1 + eta) q)`` with ``eta = nonlinearity_error``, the natural
frequencies scatter by ``frequency_mismatch`` (seeded), and each query sees
Gaussian input noise of std ``input_noise``.

References:
    Wright et al., "Deep physical neural networks trained with
    backpropagation", Nature 601, 549 (2022).
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
    CalibratedSubstrate,
    FromConfig,
    SubstrateConfig,
    jit_method,
    standard_normal,
    unit_interval,
)

logger = logging.getLogger(__name__)

__all__ = ["OscillatorConfig", "OscillatorLayer", "rk4_step"]

Params = Any


class OscillatorConfig(SubstrateConfig):
    """A driven chain of nonlinear oscillators.

    Attributes:
        coupling: nearest-neighbour coupling ``kappa`` of the model.
        damping: friction ``gamma``.
        duration: integration time ``T`` (natural units, period ``2 pi``).
        steps: RK4 steps.
        readout: ``"position"`` (``q(T)``) or ``"energy"``.
        init_scale: initial drive weights have std ``init_scale / sqrt(in_dim)``.
        extra_coupling: unmodelled extra bond coupling of the device, [0, 1].
        nonlinearity_error: ``eta`` of the device's ``sin((1 + eta) q)``, [0, 1].
        frequency_mismatch: relative std of the natural frequencies, [0, 1].
        input_noise: std of the Gaussian noise on the inputs per query, [0, 1].
    """

    kind: Literal["oscillator"] = "oscillator"
    coupling: float = pydantic.Field(0.3, ge=0.0)
    damping: float = pydantic.Field(0.1, ge=0.0)
    duration: float = pydantic.Field(4.0, gt=0.0)
    steps: int = pydantic.Field(40, ge=1, le=10_000)
    readout: Literal["position", "energy"] = "position"
    init_scale: float = pydantic.Field(1.0, gt=0.0)
    extra_coupling: float = unit_interval(0.2)
    nonlinearity_error: float = unit_interval(0.1)
    frequency_mismatch: float = unit_interval(0.02)
    input_noise: float = unit_interval(0.02)


def rk4_step(force, q: jax.Array, v: jax.Array, dt: float):
    """One classical Runge-Kutta step of ``q' = v, v' = force(q, v)``."""
    k1q, k1v = v, force(q, v)
    k2q, k2v = v + 0.5 * dt * k1v, force(q + 0.5 * dt * k1q, v + 0.5 * dt * k1v)
    k3q, k3v = v + 0.5 * dt * k2v, force(q + 0.5 * dt * k2q, v + 0.5 * dt * k2v)
    k4q, k4v = v + dt * k3v, force(q + dt * k3q, v + dt * k3v)
    q = q + dt / 6 * (k1q + 2 * k2q + 2 * k3q + k4q)
    v = v + dt / 6 * (k1v + 2 * k2v + 2 * k3v + k4v)
    return q, v


@dataclasses.dataclass(frozen=True)
class OscillatorLayer(FromConfig, CalibratedSubstrate):
    """Oscillator-chain layer ``[batch, in_dim] -> [batch, out_dim]``.

    Parameters are ``{"weight": [in_dim, N], "bias": [N]}`` (the drive).

    Args:
        config: a validated :class:`OscillatorConfig`.
    """

    config: OscillatorConfig
    name = "oscillator"

    @functools.cached_property
    def _device(self) -> dict[str, np.ndarray]:
        c = self.config
        rng = np.random.default_rng([c.seed, 0x05C1])
        n = self.out_dim
        frequency = 1.0 + c.frequency_mismatch * rng.standard_normal(n)
        return {
            "coupling": np.full(max(n - 1, 0), c.coupling + c.extra_coupling),
            "nonlinearity": np.asarray(c.nonlinearity_error),
            "frequency": np.clip(frequency, 0.0, None),
        }

    def init(self, key: jax.Array) -> Params:
        std = self.config.init_scale / np.sqrt(self.in_dim)
        shape = (self.in_dim, self.out_dim)
        return {
            "weight": std * standard_normal(key, shape, self.dtype),
            "bias": jnp.zeros(self.out_dim, self.dtype),
        }

    def nominal_calibration(self) -> dict[str, jax.Array]:
        n = self.out_dim
        return {
            "coupling": jnp.full(max(n - 1, 0), self.config.coupling, self.dtype),
            "nonlinearity": jnp.zeros((), self.dtype),
            "frequency": jnp.ones(n, self.dtype),
        }

    def evolve(
        self, drive: jax.Array, calibration: dict[str, jax.Array]
    ) -> tuple[jax.Array, jax.Array]:
        """Final ``(q, v)``, each ``[batch, N]``, of the chain under ``drive``."""
        c = self.config
        kappa = calibration["coupling"]
        eta = calibration["nonlinearity"]
        omega2 = calibration["frequency"] ** 2
        dt = c.duration / c.steps

        def force(q, v):
            bond = kappa * (q[:, 1:] - q[:, :-1])
            pad = jnp.zeros_like(q[:, :1])
            springs = jnp.concatenate([bond, pad], 1) - jnp.concatenate([pad, bond], 1)
            return -omega2 * jnp.sin((1 + eta) * q) - c.damping * v + springs + drive

        def step(state, _):
            return rk4_step(force, *state, dt), None

        start = (jnp.zeros_like(drive), jnp.zeros_like(drive))
        (q, v), _ = jax.lax.scan(step, start, None, length=c.steps)
        return q, v

    def _observe(self, q: jax.Array, v: jax.Array) -> jax.Array:
        if self.config.readout == "position":
            return q
        return 0.5 * v**2 + 1.0 - jnp.cos(q)

    @jit_method
    def calibrated_model(
        self, params: Params, x: jax.Array, calibration: dict[str, jax.Array]
    ) -> jax.Array:
        drive = x @ params["weight"] + params["bias"]
        return self._observe(*self.evolve(drive, calibration))

    @jit_method
    def physical(self, params: Params, x: jax.Array, key: jax.Array) -> jax.Array:
        noisy = x + self.config.input_noise * standard_normal(key, x.shape, x.dtype)
        device = jax.tree.map(lambda a: jnp.asarray(a, x.dtype), self._device)
        return self.calibrated_model(params, noisy, device)
