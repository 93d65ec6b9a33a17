"""Per-particle structure functions: the inputs of softness.

Each particle is described by how many neighbours of each species sit at each
distance from it, counted softly with Gaussians on a grid of shells
(Behler & Parrinello, PRL 98, 146401 (2007); Cubuk et al., PRL 114, 108001
(2015)). The radial functions are

.. math::

    G_b(i; \\mu) = \\sum_{j \\in b,\\, j \\neq i,\\, r_{ij} < r_c}
        \\exp\\!\\left(-\\frac{(r_{ij} - \\mu)^2}{2 \\delta^2}\\right),

with :math:`\\delta` the **standard deviation** of the Gaussian (some public
codes write :math:`\\exp(-(r-\\mu)^2/\\delta^2)` or use :math:`\\delta` as a
full width: this module does not). Pairs beyond the neighbour cutoff
:math:`r_c` do not count; a grid with :math:`\\mu_{max} + 3 \\delta > r_c` is
rejected so that the truncation never cuts a Gaussian near its centre.

Optional angular functions (not species resolved) are

.. math::

    \\Psi(i; \\xi, \\lambda, \\zeta) = \\sum_{j < k}
        e^{-(r_{ij}^2 + r_{ik}^2 + r_{jk}^2)/\\xi^2}
        (1 + \\lambda \\cos\\theta_{jik})^\\zeta,

over neighbour pairs ``j, k`` of ``i`` inside the cutoff.

Neighbours come from a dense neighbour list rebuilt for every frame inside one
jitted ``lax.map`` over frames (all-pairs candidates, O(N^2) per frame: fine
up to a few thousand particles). Its capacity is fixed per call; an overflow
is detected outside jit from the returned occupancy and the batch rerun with
a larger list. (jax-md's ``partition.neighbor_list`` is not used: its
allocation runs op by op, slow for many small calls, and its dense pruning
warns under float64.)
"""

from __future__ import annotations

import functools
import logging
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import pydantic

from landscape.config import FrozenConfig
from landscape.validate import require_positive_int

logger = logging.getLogger(__name__)

__all__ = [
    "AngularTerm",
    "FeatureGrid",
    "StructureFunctions",
    "structure_functions",
]


class AngularTerm(FrozenConfig):
    """One angular structure function :math:`\\Psi(i; \\xi, \\lambda, \\zeta)`."""

    xi: float = pydantic.Field(gt=0)
    lam: Literal[-1, 1] = 1
    zeta: int = pydantic.Field(default=1, ge=1)


class FeatureGrid(FrozenConfig):
    """The shells on which structure functions are evaluated.

    Attributes:
        mu: shell centres, increasing, in units of sigma_AA.
        delta: Gaussian standard deviation (sigma_AA units).
        cutoff: neighbour cutoff r_c; needs ``max(mu) + 3 delta <= cutoff``.
        num_species: number of neighbour species (2 for Kob-Andersen).
        angular: optional angular terms appended after the radial features.
    """

    mu: tuple[float, ...]
    delta: float = pydantic.Field(gt=0)
    cutoff: float = pydantic.Field(gt=0)
    num_species: int = pydantic.Field(default=2, ge=1)
    angular: tuple[AngularTerm, ...] = ()

    @pydantic.model_validator(mode="after")
    def _check_shells(self) -> FeatureGrid:
        mu = np.asarray(self.mu, dtype=float)
        if mu.size == 0:
            raise ValueError("mu must hold at least one shell centre")
        if np.any(mu < 0) or np.any(np.diff(mu) <= 0):
            raise ValueError(f"mu must be non-negative and increasing, got {self.mu}")
        reach = float(mu[-1]) + 3 * self.delta
        if reach > self.cutoff + 1e-12:
            raise ValueError(
                f"the feature grid runs past the neighbour cutoff: max(mu) + 3 delta"
                f" = {mu[-1]:g} + 3*{self.delta:g} = {reach:g} > cutoff = "
                f"{self.cutoff:g}; raise cutoff to >= {reach:g} or lower max(mu)"
            )
        return self

    @classmethod
    def uniform(
        cls,
        mu_min: float,
        mu_max: float,
        step: float,
        *,
        delta: float | None = None,
        cutoff: float | None = None,
        num_species: int = 2,
        angular: tuple[AngularTerm, ...] = (),
    ) -> FeatureGrid:
        """Evenly spaced shells; ``delta`` defaults to ``step`` and ``cutoff``
        to ``mu_max + 3 delta``."""
        count = int(round((mu_max - mu_min) / step)) + 1
        if count < 1:
            raise ValueError(
                f"mu_max ({mu_max}) must be >= mu_min ({mu_min}) for a uniform grid"
            )
        mu = tuple(float(m) for m in np.round(mu_min + step * np.arange(count), 10))
        delta = step if delta is None else delta
        cutoff = mu[-1] + 3 * delta if cutoff is None else cutoff
        return cls(
            mu=mu, delta=delta, cutoff=cutoff, num_species=num_species, angular=angular
        )

    @property
    def num_shells(self) -> int:
        return len(self.mu)

    @property
    def num_radial(self) -> int:
        return self.num_species * self.num_shells

    @property
    def num_features(self) -> int:
        return self.num_radial + len(self.angular)

    def feature_names(self) -> list[str]:
        """Readable names: ``G_b(mu)`` then ``Psi(xi,lam,zeta)``."""
        names = [f"G_{b}({m:g})" for b in range(self.num_species) for m in self.mu]
        names += [f"Psi({a.xi:g},{a.lam},{a.zeta})" for a in self.angular]
        return names


class StructureFunctions(pydantic.BaseModel):
    """Structure functions of a batch of frames.

    Attributes:
        radial: ``[frames, particles, species, shells]`` values of G_b(i; mu).
        angular: ``[frames, particles, terms]`` values of Psi (terms may be 0).
        grid: the grid they were computed on.
    """

    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True, frozen=True)

    radial: np.ndarray
    angular: np.ndarray
    grid: FeatureGrid

    def flat(self) -> np.ndarray:
        """``[frames, particles, features]``: radial (species-major) then angular."""
        frames, particles = self.radial.shape[:2]
        radial = self.radial.reshape(frames, particles, -1)
        return np.concatenate([radial, self.angular], axis=-1)


def _displacement(box):
    def displacement(ri, rj):
        d = ri - rj
        return d - box * jnp.round(d / box)

    return displacement


def _neighbour_list(position, box, cutoff: float, capacity: int):
    """Dense neighbour list ``[particles, capacity]`` (padding index = N).

    Candidates are all pairs (O(N^2) per frame, cheap below a few thousand
    particles); the first ``capacity`` neighbours (by index) inside the cutoff
    are kept, compacted with a running count and one scatter, and
    ``occupancy`` reports the largest true count, so an overflow
    (``occupancy > capacity``) is detected by the caller.
    """
    n = position.shape[0]
    d = jax.vmap(jax.vmap(_displacement(box), (None, 0)), (0, None))(position, position)
    inside = (jnp.sum(d**2, axis=-1) < cutoff**2) & ~jnp.eye(n, dtype=bool)
    slot = jnp.cumsum(inside, axis=1) - 1
    slot = jnp.where(inside & (slot < capacity), slot, capacity)  # spill column
    rows = jnp.arange(n)[:, None]
    idx = (
        jnp.full((n, capacity + 1), n)
        .at[rows, slot]
        .set(jnp.broadcast_to(jnp.arange(n), (n, n)))
    )
    return idx[:, :capacity], jnp.max(jnp.sum(inside, axis=1))


def _frame_features(position, idx, onehot, grid: FeatureGrid, box):
    """Features of one frame from its neighbour list ``idx``."""
    n = position.shape[0]
    valid = idx < n
    safe = jnp.where(valid, idx, 0)
    dR = jax.vmap(jax.vmap(_displacement(box), (None, 0)))(position, position[safe])
    r = jnp.sqrt(jnp.sum(dR**2, axis=-1) + jnp.where(valid, 0.0, 1.0))
    inside = valid & (r < grid.cutoff)
    mu = jnp.asarray(grid.mu, position.dtype)
    gauss = jnp.exp(-((r[..., None] - mu) ** 2) / (2 * grid.delta**2))
    gauss = gauss * inside[..., None]
    radial = jnp.einsum("nkm,nks->nsm", gauss, onehot[safe])
    if not grid.angular:
        return radial, jnp.zeros((n, 0), position.dtype)

    # Angle at i between neighbours j and k; each unordered pair once.
    pair = inside[:, :, None] & inside[:, None, :]
    k = idx.shape[1]
    pair = pair & (jnp.arange(k)[:, None] < jnp.arange(k)[None, :])
    r_jk = jnp.sqrt(jnp.sum((dR[:, :, None] - dR[:, None, :]) ** 2, axis=-1) + (~pair))
    cos = jnp.einsum("nkd,nld->nkl", dR, dR) / (r[:, :, None] * r[:, None, :])
    r2 = r[:, :, None] ** 2 + r[:, None, :] ** 2 + r_jk**2
    terms = []
    for term in grid.angular:
        value = jnp.exp(-r2 / term.xi**2) * (1 + term.lam * cos) ** term.zeta
        terms.append(jnp.sum(jnp.where(pair, value, 0.0), axis=(1, 2)))
    return radial, jnp.stack(terms, axis=-1)


@functools.partial(jax.jit, static_argnames=("grid", "capacity"))
def _batched(positions, onehot, box, grid: FeatureGrid, capacity: int):
    def one(position):
        idx, occupancy = _neighbour_list(position, box, grid.cutoff, capacity)
        radial, angular = _frame_features(position, idx, onehot, grid, box)
        return radial, angular, occupancy

    return jax.lax.map(one, positions)


@functools.partial(jax.jit, static_argnames=("cutoff",))
def _occupancy(position, box, cutoff: float):
    return _neighbour_list(position, box, cutoff, 1)[1]


def structure_functions(
    positions: np.ndarray,
    species: np.ndarray,
    box: np.ndarray,
    grid: FeatureGrid,
    *,
    dtype=jnp.float32,
) -> StructureFunctions:
    """Radial (and optional angular) structure functions of every particle.

    Args:
        positions: ``[frames, particles, dim]`` (or ``[particles, dim]``)
            positions, wrapped or not (the box is periodic).
        species: ``[particles]`` integer species labels in
            ``[0, grid.num_species)``.
        box: ``[dim]`` side lengths of the orthorhombic periodic box.
        grid: the shells; its cutoff must be at most half the shortest side.
        dtype: float dtype of the computation.

    Returns:
        :class:`StructureFunctions` with ``radial [frames, particles, species,
        shells]`` and ``angular [frames, particles, terms]`` (NumPy arrays).
    """
    positions = np.asarray(positions)
    if positions.ndim == 2:
        positions = positions[None]
    if positions.ndim != 3:
        raise ValueError(
            f"positions must be [frames, particles, dim], got shape {positions.shape}"
        )
    species = np.asarray(species)
    box = np.asarray(box, dtype=float)
    n = positions.shape[1]
    if species.shape != (n,):
        raise ValueError(f"species must have shape ({n},), got {species.shape}")
    if species.min() < 0 or species.max() >= grid.num_species:
        raise ValueError(
            f"species labels must lie in [0, {grid.num_species}) for this grid, got "
            f"range [{species.min()}, {species.max()}]"
        )
    if box.shape != (positions.shape[2],):
        raise ValueError(
            f"box must have shape ({positions.shape[2]},), got {box.shape}"
        )
    if grid.cutoff > 0.5 * box.min():
        raise ValueError(
            f"grid cutoff {grid.cutoff:g} exceeds half the shortest box side "
            f"{0.5 * box.min():g}; use a larger system or a smaller grid"
        )
    require_positive_int("frames", positions.shape[0])

    pos = jnp.asarray(np.mod(positions, box), dtype)
    box_j = jnp.asarray(box, dtype)
    onehot = jax.nn.one_hot(jnp.asarray(species), grid.num_species, dtype=dtype)
    n = positions.shape[1]
    capacity = min(n - 1, _capacity(int(_occupancy(pos[0], box_j, grid.cutoff))))
    radial, angular, occupancy = _batched(pos, onehot, box_j, grid, capacity)
    needed = int(jnp.max(occupancy))
    if needed > capacity:
        # The largest count over all frames is now known: one rerun suffices.
        logger.info("neighbour list of %d overflowed (%d needed)", capacity, needed)
        capacity = min(n - 1, _capacity(needed))
        radial, angular, _ = _batched(pos, onehot, box_j, grid, capacity)
    return StructureFunctions(
        radial=np.asarray(radial), angular=np.asarray(angular), grid=grid
    )


def _capacity(occupancy: int) -> int:
    """Neighbour-list capacity with head-room, rounded up to a multiple of 8
    so that nearby systems share one compiled function."""
    return max(8, -(-int(1.25 * occupancy + 4) // 8) * 8)
