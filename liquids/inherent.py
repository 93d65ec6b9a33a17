"""Inherent structures: FIRE quenches of chosen frames to the nearest minimum.

The inherent structure of a configuration is the local minimum of the
potential energy reached by steepest-descent-like minimisation from it
(Stillinger & Weber, PRA 25, 978 (1982)). Here each frame is minimised with
FIRE (Bitzek et al., PRL 97, 170201 (2006); jax-md's ``fire_descent``) inside
one jitted ``lax.while_loop`` that stops when the largest force component is
below ``force_tol`` or after ``max_steps``. The neighbour list is updated at
every step; an overflow stops the loop, and the frame is redone with a
reallocated list outside jit. This is the package's one FIRE minimiser:
:func:`liquids.simulation.minimize_fire` (the relaxation of an MD start) is a
thin call of :func:`quench`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging

import jax
import jax.numpy as jnp
import numpy as np
from jax_md import minimize

from landscape.validate import require_positive

logger = logging.getLogger(__name__)

__all__ = ["InherentStructures", "quench"]


@dataclasses.dataclass(frozen=True)
class InherentStructures:
    """Minimised frames.

    Attributes:
        positions: ``[frames, particles, dim]`` positions at the minima
            (wrapped into the box).
        energy: ``[frames]`` potential energy per particle at the minima.
        max_force: ``[frames]`` largest force component left.
        steps: ``[frames]`` FIRE steps taken.
        converged: ``[frames]`` ``max_force < force_tol``.
        neighbor_reallocations: neighbour-list overflows recovered from.
    """

    positions: np.ndarray
    energy: np.ndarray
    max_force: np.ndarray
    steps: np.ndarray
    converged: np.ndarray
    neighbor_reallocations: int = 0


@functools.partial(
    jax.jit, static_argnames=("potential", "max_steps", "dt_start", "dt_max")
)
def _fire(potential, position, neighbors, force_tol, *, max_steps, dt_start, dt_max):
    init_fn, apply_fn = minimize.fire_descent(
        potential.force, potential.shift, dt_start=dt_start, dt_max=dt_max
    )
    state = init_fn(position, neighbor=neighbors)

    def worst(state):
        return jnp.max(jnp.abs(state.force))

    def cond(carry):
        state, nbrs, step = carry
        overflow = nbrs.did_buffer_overflow.astype(bool)
        return (step < max_steps) & (worst(state) > force_tol) & ~overflow

    def body(carry):
        state, nbrs, step = carry
        nbrs = nbrs.update(state.position)
        return apply_fn(state, neighbor=nbrs), nbrs, step + 1

    state, nbrs, steps = jax.lax.while_loop(cond, body, (state, neighbors, 0))
    energy = potential.energy(state.position, nbrs)
    overflow = nbrs.did_buffer_overflow.astype(bool)
    return state.position, energy, worst(state), steps, overflow


def quench(
    potential,
    positions: np.ndarray,
    *,
    force_tol: float = 1e-5,
    max_steps: int = 20000,
    dt_start: float = 0.002,
    dt_max: float = 0.02,
    dtype=jnp.float32,
) -> InherentStructures:
    """FIRE-minimise every frame.

    Args:
        potential: a :class:`liquids.potentials.KAPotential` (anything with
            ``energy(R, neighbor)``, ``shift`` and ``neighbor_fn``).
        positions: ``[frames, particles, dim]`` or ``[particles, dim]``
            starting configurations (wrapped or unwrapped).
        force_tol: stop when every force component is below this (LJ units;
            float32 rarely gets below ~1e-4, use float64 for tight minima).
        max_steps: FIRE step limit per frame (0 only evaluates the start).
        dt_start: initial FIRE time step.
        dt_max: largest FIRE time step.
        dtype: float dtype of the minimisation.

    Returns:
        :class:`InherentStructures`; unconverged frames are flagged, not
        raised, and logged.
    """
    require_positive("force_tol", force_tol)
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)):
        raise TypeError(f"max_steps must be an int, got {max_steps!r}")
    if max_steps < 0:
        raise ValueError(f"max_steps must be >= 0, got {max_steps}")
    require_positive("dt_start", dt_start)
    require_positive("dt_max", dt_max)
    positions = np.asarray(positions)
    if positions.ndim == 2:
        positions = positions[None]
    if positions.ndim != 3 or positions.shape[1] != potential.num_particles:
        raise ValueError(
            f"positions must be [frames, {potential.num_particles}, dim], got "
            f"{positions.shape}"
        )
    box = np.asarray(potential.box)
    frames = jnp.asarray(np.mod(positions, box), dtype)
    options = dict(max_steps=max_steps, dt_start=dt_start, dt_max=dt_max)
    tol = jnp.asarray(force_tol, dtype)
    allocate = getattr(potential, "allocate", potential.neighbor_fn.allocate)
    neighbors = allocate(frames[0])
    out, reallocations = [], 0
    for t, start in enumerate(frames):
        for attempt in range(4):
            result = _fire(potential, start, neighbors, tol, **options)
            if not bool(result[-1]):
                break
            reallocations += 1
            neighbors = allocate(result[0], extra_capacity=16 * 2**attempt)
            logger.info("FIRE: neighbour list overflowed in frame %d; redone", t)
        else:
            raise RuntimeError(f"neighbour list kept overflowing in frame {t}")
        out.append([np.asarray(x) for x in result[:4]])
    pos = np.stack([o[0] for o in out])
    energy = np.array([float(o[1]) for o in out]) / potential.num_particles
    max_force = np.array([float(o[2]) for o in out])
    steps = np.array([int(o[3]) for o in out])
    converged = max_force < force_tol
    logger.info(
        "quenched %d frames: e_IS = %.4f +- %.4f, %d/%d converged, <steps> = %.0f",
        len(out),
        energy.mean(),
        energy.std(),
        converged.sum(),
        len(out),
        steps.mean(),
    )
    return InherentStructures(pos, energy, max_force, steps, converged, reallocations)
