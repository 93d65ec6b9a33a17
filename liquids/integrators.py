"""Molecular-dynamics steps with neighbour lists, image counters and blow-up flags.

An integrator is an ``(init, step)`` pair of pure functions over a frozen
:class:`MDState`. One ``step`` advances the jax-md integrator by ``dt``
(velocity Verlet; Nose-Hoover chain or BAOAB Langevin for NVT), updates the
neighbour list, wraps positions into the box and counts, per particle and
axis, how many times it crossed the box during the step. The counters make
unwrapped positions exact at any frame spacing:

.. math:: r^{\\mathrm{unwrapped}}_i = r_i + n_i L.

Failures inside jit are recorded, never raised: the neighbour list keeps
jax-md's sticky overflow flag, and ``blowup_step`` holds the first step at
which a position became non-finite or a particle moved by more than
``blowup_fraction`` of the shortest box side (the caller turns both into
exceptions, see :mod:`liquids.production`).

Thermostats: the Nose-Hoover chain of Martyna, Tuckerman & Klein (JCP 97,
2635 (1992)) as implemented by jax-md; its chain of length 1 reads
``p_xi[1]`` out of bounds, so chains shorter than 2 are rejected (default 3).
Langevin is jax-md's BAOAB (Leimkuhler & Matthews 2013). Temperatures are
kinetic, :math:`T = \\sum_i p_i^2 / (m_i d N)` (jax-md's convention).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
from jax_md import dataclasses as md_dataclasses
from jax_md import partition, simulate

from liquids.potentials import KAPotential

logger = logging.getLogger(__name__)

__all__ = [
    "Ensemble",
    "MDState",
    "kinetic_temperature",
    "md_integrator",
    "to_nve",
]

Ensemble = Literal["nve", "nhc", "langevin"]
ENSEMBLES = ("nve", "nhc", "langevin")


@md_dataclasses.dataclass
class MDState:
    """Everything that evolves during a run (a pytree; frozen, use ``.set``).

    Attributes:
        integrator: the jax-md state (``NVEState``, ``NVTNoseHooverState`` or
            ``NVTLangevinState``): wrapped positions, momenta, forces, masses
            and thermostat variables.
        neighbor: the jax-md neighbour list (check ``did_buffer_overflow``).
        images: ``[particles, dim]`` int32 box-crossing counters.
        step: int32 number of steps taken since the state was created.
        blowup_step: int32 first step that blew up, -1 while none did.
    """

    integrator: Any
    neighbor: partition.NeighborList
    images: jax.Array
    step: jax.Array
    blowup_step: jax.Array

    @property
    def position(self) -> jax.Array:
        return self.integrator.position


def kinetic_temperature(integrator_state: Any) -> jax.Array:
    """Kinetic temperature :math:`\\sum p^2/m / (d N)` of a jax-md state."""
    p = integrator_state.momentum
    return jnp.sum(p * p / _mass_column(integrator_state.mass)) / p.size


def md_integrator(
    potential: KAPotential,
    ensemble: Ensemble,
    dt: float,
    *,
    chain_length: int = 3,
    thermostat_tau: float = 0.5,
    langevin_gamma: float = 1.0,
    blowup_fraction: float = 0.25,
) -> tuple[Callable, Callable]:
    """``(init, step)`` of one integrator bound to ``potential``.

    Args:
        potential: a :class:`KAPotential` (box, species, neighbour list).
        ensemble: ``"nve"`` (velocity Verlet), ``"nhc"`` (Nose-Hoover chain)
            or ``"langevin"`` (BAOAB).
        dt: time step (LJ units; 0.005 is the standard KA step).
        chain_length: Nose-Hoover chain length, >= 2.
        thermostat_tau: Nose-Hoover coupling time (LJ units).
        langevin_gamma: Langevin friction (inverse LJ time).
        blowup_fraction: a step displacing a particle by more than this
            fraction of the shortest box side counts as a blow-up.

    Returns:
        ``init(key, R, neighbor, kT, momentum=None) -> MDState`` and
        ``step``, a :class:`Stepper`: ``step(state, kT) -> MDState`` takes
        one step and ``step.advance(state, count, kT)`` takes ``count``
        (the same trajectory, faster). ``kT`` is the thermostat temperature
        (ignored by NVE; ``init`` draws Maxwell-Boltzmann momenta at ``kT``
        with zero total momentum unless ``momentum`` is given).
    """
    if ensemble not in ENSEMBLES:
        raise ValueError(f"ensemble must be one of {list(ENSEMBLES)}, got {ensemble!r}")
    if isinstance(chain_length, bool) or int(chain_length) != chain_length:
        raise ValueError(f"chain_length must be an integer, got {chain_length!r}")
    if chain_length < 2:
        raise ValueError(
            f"chain_length must be >= 2 (jax-md's chain of length 1 indexes out of "
            f"bounds), got {chain_length}"
        )
    for name, value in (
        ("dt", dt),
        ("thermostat_tau", thermostat_tau),
        ("langevin_gamma", langevin_gamma),
        ("blowup_fraction", blowup_fraction),
    ):
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")

    def energy_fn(R, neighbor, **thermostat_kwargs):
        # jax-md accepts a force function in place of the energy (it checks
        # the output shape) and passes kT on to it; the force ignores kT.
        return potential.force(R, neighbor)

    shift_fn = potential.shift
    if ensemble == "nve":
        md_init, md_step = simulate.nve(energy_fn, shift_fn, dt)
    elif ensemble == "nhc":
        md_init, md_step = simulate.nvt_nose_hoover(
            energy_fn, shift_fn, dt, 1.0, chain_length=chain_length, tau=thermostat_tau
        )
    else:
        md_init, md_step = simulate.nvt_langevin(
            energy_fn, shift_fn, dt, 1.0, gamma=langevin_gamma
        )
    box = jnp.asarray(potential.box)
    max_move = blowup_fraction * float(potential.box.min())

    def init(key, R, neighbor, kT, momentum=None) -> MDState:
        with _quiet_float64_request():
            integ = md_init(key, R, kT=kT, neighbor=neighbor, momenta=momentum)
        return MDState(
            integrator=integ,
            neighbor=neighbor,
            images=jnp.zeros(R.shape, jnp.int32),
            step=jnp.zeros((), jnp.int32),
            blowup_step=jnp.full((), -1, jnp.int32),
        )

    def move(state: MDState, kT) -> MDState:
        """One step with the neighbour list left as it is."""
        old = state.integrator.position
        kwargs = {} if ensemble == "nve" else {"kT": kT}
        with _quiet_float64_request():
            integ = md_step(state.integrator, neighbor=state.neighbor, **kwargs)
        new = integ.position

        # A step moves a particle by far less than L/2, so the wrapped jump
        # new - old is a whole number of boxes away from the true move.
        L = box.astype(new.dtype)
        jump = new - old
        crossings = -jnp.round(jump / L).astype(jnp.int32)
        moved = jnp.abs(integ.momentum * dt / _mass_column(integ.mass))
        bad = ~jnp.all(jnp.isfinite(new)) | jnp.any(moved > max_move)
        blowup = jnp.where(
            (state.blowup_step < 0) & bad, state.step + 1, state.blowup_step
        )
        return MDState(
            integrator=integ,
            neighbor=state.neighbor,
            images=state.images + crossings,
            step=state.step + 1,
            blowup_step=blowup,
        )

    def updated(state: MDState) -> MDState:
        return state.set(neighbor=state.neighbor.update(state.integrator.position))

    return init, Stepper(move, updated, potential.builder)


class Stepper:
    """One integrator step, and many (:meth:`advance`), for :func:`md_integrator`.

    A step moves the particles, then updates the neighbour list (rebuilt only
    when some particle has moved half the skin).
    """

    def __init__(self, move, updated, builder):
        self._move = move
        self._updated = updated
        self._builder = builder

    def __call__(self, state: MDState, kT) -> MDState:
        """One step: move, then update the list."""
        return self._updated(self._move(state, kT))

    def advance(self, state: MDState, count, kT) -> MDState:
        """``count`` steps (jittable, ``count`` may be traced).

        The same trajectory as ``count`` calls of the step. With this
        package's ``"verlet"`` lists the steps run in segments between
        rebuilds: inside a segment the list is loop-invariant. A per-step
        ``lax.cond`` that may replace the list makes XLA copy the whole
        ``[N, K]`` list every step (16 MB at N = 32000, K = 128); here it is
        copied once per segment. Other formats take ``count`` plain steps.
        """
        if self._builder is None:
            return jax.lax.fori_loop(0, count, lambda _, s: self(s, kT), state)
        needs = self._builder.needs_rebuild
        target = state.step + count

        def valid(s):  # the list still holds every pair the next step needs
            return ~needs(s.integrator.position, s.neighbor.reference_position)

        def segment(s):
            s = self._updated(s)  # rebuilt if the last segment ended on it
            return jax.lax.while_loop(
                lambda x: (x.step < target) & valid(x),
                lambda x: self._move(x, kT),
                s,
            )

        state = jax.lax.while_loop(lambda x: x.step < target, segment, state)
        return self._updated(state)


@contextlib.contextmanager
def _quiet_float64_request():
    """Silence jax-md's float64 kinetic-energy sum request when x64 is off.

    jax-md asks for a float64 sum of the kinetic energy; without x64 JAX warns
    (at trace time) and sums in float32, which is what we want anyway.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Explicitly requested dtype float64", category=UserWarning
        )
        yield


def _mass_column(mass):
    return jnp.reshape(mass, (-1, 1)) if jnp.ndim(mass) else mass


def to_nve(state: MDState) -> MDState:
    """The same configuration and momenta as a velocity-Verlet (NVE) state."""
    i = state.integrator
    nve = simulate.NVEState(i.position, i.momentum, i.force, i.mass)
    return state.set(integrator=nve)
