"""The two faces of a simulated physical system.

A physical neural network layer is a piece of hardware whose behaviour we can
only *query* (``physical``: the black box f_p, with a seeded reality gap and
noise) and a differentiable digital model of it (``model``: f_m). Training
methods in :mod:`pnn.methods` see a substrate only through this interface, so
any method runs on any compatible substrate, and each method counts how many
times it called ``physical`` (the real cost on hardware).

Parameters are pytrees. ``x`` is a batch ``[batch, in_dim]``; outputs are
``[batch, out_dim]``. ``key`` seeds the noise of one physical query; the
*reality gap* (parameter mismatch, unmodelled nonlinearity) is fixed when the
substrate is built (from its own seed), so repeated queries see the same
device.
"""

from __future__ import annotations

import abc
from typing import Any

import jax

__all__ = ["Substrate"]

Params = Any


class Substrate(abc.ABC):
    """A physical layer: digital model f_m plus black-box physics f_p.

    Subclasses are frozen dataclasses holding their (validated) config.

    Attributes:
        name: short identifier used in configs and tables.
        energy_based: ``True`` when the layer settles by minimising an energy
            (resistor/flow networks), which equilibrium propagation and coupled
            learning need.
        in_dim, out_dim: the widths this layer was built for.
    """

    name: str = "substrate"
    energy_based: bool = False

    @abc.abstractmethod
    def init(self, key: jax.Array) -> Params:
        """Trainable parameters at initialisation."""

    @abc.abstractmethod
    def model(self, params: Params, x: jax.Array) -> jax.Array:
        """The ideal, differentiable digital model f_m(x; params)."""

    @abc.abstractmethod
    def physical(self, params: Params, x: jax.Array, key: jax.Array) -> jax.Array:
        """One query of the physical system f_p(x; params), with its reality gap
        and noise. Training methods must treat this as a black box."""
