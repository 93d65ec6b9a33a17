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

What a training method may call
-------------------------------
On every :class:`Substrate`:

* ``init(key)``, ``model(params, x)`` (differentiate it freely),
  ``physical(params, x, key)`` (a black box: never differentiate it, count
  every call), ``project(params)`` (map parameters back into the devices'
  physical range after an update), ``name``, ``in_dim``, ``out_dim``,
  ``energy_based``.

On a :class:`CalibratedSubstrate` (every substrate of this package), for
fitting digital twins (:mod:`pnn.twin`):

* ``nominal_calibration()`` and ``calibrated_model(params, x, calibration)``:
  the model with its device constants (mismatch, coupling, imbalance) exposed
  as a differentiable pytree. The constants of the real device are private to
  ``physical``; a method must *fit* them from measurements, never read them.

On an :class:`EnergySubstrate` (``energy_based`` is ``True``), for equilibrium
propagation and coupled learning. A *state* is ``[batch, num_nodes]``: every
degree of freedom of the network, boundary (input) nodes included.

* ideal model: ``free_state``, ``nudged_state`` (EP: minimise ``E + beta C``),
  ``clamped_state`` (coupled learning: outputs held at
  ``free + eta (target - free)``), ``energy``, ``energy_grad`` (dE/dparams at a
  fixed state, batch mean), ``cost``, ``readout``, ``edge_drops``.
* physical system (each call is one physical evaluation per sample, noise from
  ``key``): ``physical_free_state``, ``physical_nudged_state``,
  ``physical_clamped_state``. ``edge_drops`` and ``energy_grad`` applied to a
  measured state give the local learning-rule quantities the hardware measures.
"""

from __future__ import annotations

import abc
import functools
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import pydantic

from landscape.config import FrozenConfig

__all__ = [
    "CalibratedSubstrate",
    "EnergySubstrate",
    "Substrate",
    "SubstrateConfig",
    "jit_method",
    "resolve_dtype",
    "standard_normal",
    "unit_interval",
]

Params = Any
Calibration = Any


class SubstrateConfig(FrozenConfig):
    """Fields every substrate config has.

    Attributes:
        kind: which substrate (the registry key of :func:`pnn.build_substrate`).
        in_dim, out_dim: widths of the layer.
        seed: seed of the device's fixed reality gap (mismatch), so two
            substrates built from the same config are the same device.
        dtype: floating dtype of parameters and computations; ``"float64"``
            needs ``jax.enable_x64(True)`` around its use.
    """

    kind: str
    in_dim: int = pydantic.Field(ge=1)
    out_dim: int = pydantic.Field(ge=1)
    seed: int = pydantic.Field(0, ge=0)
    dtype: Literal["float32", "float64"] = "float32"


#: Decorator that compiles a substrate method once per (substrate, shapes): the
#: substrate (``self``, a hashable frozen dataclass) is a static argument, so
#: eager calls reuse the compiled code and calls inside an outer ``jit`` inline.
jit_method = functools.partial(jax.jit, static_argnums=0)


def standard_normal(key: jax.Array, shape: tuple[int, ...], dtype: Any) -> jax.Array:
    """Gaussian noise of any shape, drawn flat and reshaped.

    Same distribution as ``jax.random.normal(key, shape, dtype)``, but XLA on
    CPU compiles the multi-axis version very slowly (minutes for a
    ``[256, 2, 65, 10]`` draw on jax 0.10), while the flat draw takes a second.
    """
    size = int(np.prod(shape, dtype=np.int64))
    return jax.random.normal(key, (size,), dtype).reshape(shape)


def unit_interval(default: float) -> Any:
    """A config field that must lie in [0, 1] (noise levels, fractions)."""
    return pydantic.Field(default, ge=0.0, le=1.0)


def resolve_dtype(name: str) -> jnp.dtype:
    """The JAX dtype of a config's ``dtype``, refusing silent downcasts.

    Raises:
        ValueError: for ``"float64"`` while x64 is disabled.
    """
    if name == "float64" and not jax.config.jax_enable_x64:
        raise ValueError(
            "dtype='float64' needs float64 enabled: run inside "
            "`with jax.enable_x64(True):` or use dtype='float32'"
        )
    return jnp.dtype(name)


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

    def project(self, params: Params) -> Params:
        """The nearest physically realisable parameters (identity by default)."""
        return params


class FromConfig:
    """Mixin: ``in_dim``, ``out_dim`` and ``dtype`` read from ``self.config``.

    For substrates built from a :class:`SubstrateConfig` held in a ``config``
    field.
    """

    config: SubstrateConfig

    @property
    def in_dim(self) -> int:
        return self.config.in_dim

    @property
    def out_dim(self) -> int:
        return self.config.out_dim

    @property
    def dtype(self) -> jnp.dtype:
        return resolve_dtype(self.config.dtype)


class CalibratedSubstrate(Substrate):
    """A substrate whose model has explicit, fittable device constants.

    ``model(params, x)`` is ``calibrated_model(params, x, nominal_calibration())``
    and ``physical`` uses the device's own (seeded, hidden) calibration plus
    unmodelled effects and noise. A digital twin fits the calibration from
    measured input/output pairs.
    """

    @abc.abstractmethod
    def nominal_calibration(self) -> Calibration:
        """The device constants the ideal model assumes (a pytree of arrays)."""

    @abc.abstractmethod
    def calibrated_model(
        self, params: Params, x: jax.Array, calibration: Calibration
    ) -> jax.Array:
        """The differentiable model with the given device constants."""

    def model(self, params: Params, x: jax.Array) -> jax.Array:
        return self.calibrated_model(params, x, self.nominal_calibration())


class EnergySubstrate(CalibratedSubstrate):
    """A network that settles into the minimum of an energy E(state; params, x).

    The output is a function of the settled (free) state:
    ``model(params, x) = readout(free_state(params, x))``. The cost used for
    nudging is :math:`C = \\tfrac12 \\lVert \\mathrm{readout}(s) - y\\rVert^2`.

    .. math::

        s_0 = \\arg\\min_s E(s), \\qquad
        s_\\beta = \\arg\\min_s \\, E(s) + \\beta C(s, y)

    References:
        Scellier & Bengio, Front. Comput. Neurosci. 11, 24 (2017);
        Stern, Hexner, Rocks & Liu, Phys. Rev. X 11, 021045 (2021).
    """

    energy_based: bool = True

    @property
    @abc.abstractmethod
    def num_nodes(self) -> int:
        """Width of a state (all node values, boundary nodes included)."""

    @property
    @abc.abstractmethod
    def num_edges(self) -> int:
        """Number of trainable elements (edges) of the network."""

    @abc.abstractmethod
    def energy(self, params: Params, state: jax.Array, x: jax.Array) -> jax.Array:
        """Energy of each sample, ``[batch]``, at ``state [batch, num_nodes]``."""

    @abc.abstractmethod
    def free_state(self, params: Params, x: jax.Array) -> jax.Array:
        """Ideal free equilibrium ``[batch, num_nodes]``."""

    @abc.abstractmethod
    def nudged_state(
        self, params: Params, x: jax.Array, target: jax.Array, beta: float
    ) -> jax.Array:
        """Ideal minimiser of ``E + beta C``.

        ``beta`` may be negative (centred EP) as long as ``E + beta C`` stays
        convex, i.e. ``|beta|`` below the output nodes' stiffness.
        """

    @abc.abstractmethod
    def clamped_state(
        self, params: Params, x: jax.Array, target: jax.Array, eta: float
    ) -> jax.Array:
        """Ideal equilibrium with outputs held at ``free + eta (target - free)``."""

    @abc.abstractmethod
    def readout(self, state: jax.Array) -> jax.Array:
        """Output values ``[batch, out_dim]`` of a state."""

    @abc.abstractmethod
    def edge_drops(self, state: jax.Array) -> jax.Array:
        """Drop across every edge, ``[batch, num_edges]`` (pressure or voltage)."""

    @abc.abstractmethod
    def physical_free_state(
        self, params: Params, x: jax.Array, key: jax.Array
    ) -> jax.Array:
        """Measured free state of the physical network (gap and read noise)."""

    @abc.abstractmethod
    def physical_nudged_state(
        self,
        params: Params,
        x: jax.Array,
        target: jax.Array,
        beta: float,
        key: jax.Array,
    ) -> jax.Array:
        """Measured nudged state of the physical network."""

    @abc.abstractmethod
    def physical_clamped_state(
        self,
        params: Params,
        x: jax.Array,
        target: jax.Array,
        eta: float,
        key: jax.Array,
    ) -> jax.Array:
        """Measured clamped state of the physical network."""

    def cost(self, state: jax.Array, target: jax.Array) -> jax.Array:
        """Squared output error ``[batch]``, half the squared distance."""
        return 0.5 * jnp.sum((self.readout(state) - target) ** 2, axis=-1)

    def energy_grad(self, params: Params, state: jax.Array, x: jax.Array) -> Params:
        """dE/dparams at a *fixed* state, averaged over the batch."""
        return jax.grad(lambda p: jnp.mean(self.energy(p, state, x)))(params)
