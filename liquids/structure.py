"""Pair structure of a periodic liquid: partial g_ab(r) and coordination numbers.

The partial radial distribution function of species ``a`` around species ``b``
is estimated from a histogram of ordered pair distances, normalised by the
count an ideal gas with the same pair numbers would give:

.. math::

    g_{ab}(r_k) = \\frac{V\\, n_{ab}(k)}
        {F\\, N_a (N_b - \\delta_{ab})\\, \\Delta V_k},

with ``n_ab(k)`` the number of ordered pairs ``(i in a, j in b, j != i)`` whose
minimum-image distance falls in bin ``k``, summed over ``F`` frames, and
``Delta V_k`` the volume of the shell between the bin edges. With
``N_a (N_a - 1)`` for like pairs and ``N_a N_b`` for unlike pairs, ``g -> 1``
at large ``r`` for any ``N`` and uniformly random points give ``g = 1``
exactly in expectation: there is no ``(N - 1) / N`` bias, no self pair, and no
``1 / (N_a N_b)`` slip in the partials (bugs users hit in public codes; see
SCIENCE.md section 2). The histogram is an exact integer count.

Pairs are found with a cell list whose cells are at least ``r_max / k`` wide
(``k`` = 1 or 2, chosen per dimension from the measured cell occupancy to
minimise the number of candidate pairs) or, in a box too small for a stencil
of distinct cells, with blocked all-pairs. Work is done in fixed-size chunks
inside ``jax.lax.scan``, so memory stays bounded (N = 32000 fits easily) and
frames of one trajectory share one compiled function.

References:
    Allen & Tildesley, *Computer Simulation of Liquids*, 2nd ed. (2017),
    section 8.2; Kob & Andersen, PRE 51, 4626 (1995). S(q) is in
    :mod:`liquids.scattering`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from landscape.validate import require_positive, require_positive_int
from liquids.trajectory import Trajectory

logger = logging.getLogger(__name__)

__all__ = ["PairCorrelation", "pair_correlation"]

# Candidate pairs handled in one step of the scan. Small enough that a step's
# temporaries stay in cache (measured: 2^17 is 3x faster on CPU than 2^21),
# large enough to amortise the step overhead; bounds the memory too.
_PAIRS_PER_STEP = 1 << 17
_INT32_MAX = 2**31 - 1


@dataclasses.dataclass(frozen=True)
class PairCorrelation:
    """Partial radial distribution functions of a multi-species system.

    Attributes:
        r: ``[bins]`` bin centres (length units).
        edges: ``[bins + 1]`` bin edges; ``edges[-1]`` is ``r_max``.
        g: ``[S, S, bins]`` partial ``g_ab(r)``; ``g[a, b]`` counts ``b``
            particles around ``a`` particles (symmetric in ``a, b``).
        pair_counts: ``[S, S, bins]`` int64 ordered pair counts summed over
            frames (``pair_counts[a, a]`` counts each like pair twice).
        species_counts: ``[S]`` number of particles ``N_a`` of each species.
        volume: box volume ``V``.
        num_frames: number of frames ``F`` averaged over.
        dimension: spatial dimension ``d``.
    """

    r: np.ndarray
    edges: np.ndarray
    g: np.ndarray
    pair_counts: np.ndarray
    species_counts: np.ndarray
    volume: float
    num_frames: int
    dimension: int

    def __repr__(self) -> str:
        return (
            f"PairCorrelation(species counts={self.species_counts.tolist()}, "
            f"{self.r.size} bins to r_max={float(self.edges[-1]):.4g}, "
            f"frames={self.num_frames}, dim={self.dimension})"
        )

    @property
    def num_species(self) -> int:
        return int(self.species_counts.shape[0])

    def partial(self, a: int, b: int) -> np.ndarray:
        """``[bins]`` partial ``g_ab(r)``."""
        self._check_species(a, b)
        return self.g[a, b]

    @property
    def total(self) -> np.ndarray:
        """``[bins]`` species-blind ``g(r)`` normalised with ``N (N - 1)``."""
        n = int(self.species_counts.sum())
        counts = self.pair_counts.sum(axis=(0, 1))
        ideal = self.num_frames * n * (n - 1) * self.shell_volumes / self.volume
        return counts / ideal

    @property
    def shell_volumes(self) -> np.ndarray:
        """``[bins]`` volume of each spherical shell between the bin edges."""
        return _ball_volume(self.edges[1:], self.dimension) - _ball_volume(
            self.edges[:-1], self.dimension
        )

    def pair_density(self, a: int, b: int) -> float:
        """Density of b partners seen by an a particle, ``(N_b - delta_ab) / V``.

        This is the prefactor that turns ``g_ab`` into a neighbour count:
        ``n_ab(r) = pair_density(a, b) * integral g_ab(r) dV``.
        """
        self._check_species(a, b)
        partners = self.species_counts[b] - (1 if a == b else 0)
        return float(partners) / self.volume

    def coordination_number(self, a: int, b: int, r_cut: float) -> float:
        """Mean number of ``b`` neighbours within ``r_cut`` of an ``a`` particle.

        .. math::

            n_{ab}(r_c) = \\rho_b' \\int_0^{r_c} g_{ab}(r)\\, dV(r),
            \\qquad \\rho_b' = (N_b - \\delta_{ab}) / V.

        Exact (from the integer pair counts) when ``r_cut`` is a bin edge;
        inside a bin the count is interpolated linearly in ``r^d``, i.e. as if
        pairs were spread uniformly in volume within the bin.

        Args:
            a: species of the central particle.
            b: species of the neighbours.
            r_cut: cut-off radius, ``0 < r_cut <= r_max``.
        """
        self._check_species(a, b)
        r_max = float(self.edges[-1])
        if not 0 < r_cut <= r_max:
            raise ValueError(f"r_cut must lie in (0, r_max = {r_max}], got {r_cut!r}")
        per_particle = self.pair_counts[a, b] / (
            self.num_frames * self.species_counts[a]
        )
        cumulative = np.concatenate([[0.0], np.cumsum(per_particle)])
        volumes = _ball_volume(self.edges, self.dimension)
        return float(
            np.interp(
                _ball_volume(np.asarray(r_cut), self.dimension), volumes, cumulative
            )
        )

    def _check_species(self, a: int, b: int) -> None:
        for name, value in (("a", a), ("b", b)):
            if not 0 <= value < self.num_species:
                raise ValueError(
                    f"species {name} must be in [0, {self.num_species}), got {value!r}"
                )


# --------------------------------------------------------------------------
# input handling


def _frames_species_box(
    positions: Any,
    species: Any,
    box: Any,
    frames: Any,
    dtype: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coerce the accepted inputs to ``[F, N, d]`` positions, species, box."""
    if isinstance(positions, Trajectory):
        traj = positions
        positions = np.asarray(traj.positions)
        species = traj.species if species is None else species
        box = traj.box if box is None else box
    if box is None:
        raise ValueError("box is required when positions is an array, got None")
    pos = np.asarray(positions)
    if pos.ndim == 2:
        pos = pos[None]
    if pos.ndim != 3:
        raise ValueError(
            "positions must have shape [particles, dim] or [frames, particles, dim], "
            f"got {pos.shape}"
        )
    if frames is not None:
        pos = pos[frames]
        if pos.ndim == 2:
            pos = pos[None]
    num_frames, n, dim = pos.shape
    if num_frames == 0 or n < 2:
        raise ValueError(
            f"need at least one frame and two particles, got shape {pos.shape}"
        )
    if dim not in (1, 2, 3):
        raise ValueError(f"dimension must be 1, 2 or 3, got {dim}")
    box = np.asarray(box, dtype=np.float64).reshape(-1)
    if box.shape == (1,) and dim > 1:
        box = np.repeat(box, dim)
    if box.shape != (dim,) or np.any(~np.isfinite(box)) or np.any(box <= 0):
        raise ValueError(f"box must hold {dim} positive lengths, got {box.tolist()}")
    species = np.zeros(n, np.int32) if species is None else np.asarray(species)
    if species.shape != (n,) or not np.issubdtype(species.dtype, np.integer):
        raise ValueError(
            f"species must be integers of shape ({n},), got {species.dtype} "
            f"{species.shape}"
        )
    if species.min() < 0:
        raise ValueError(f"species labels must be >= 0, got {int(species.min())}")
    if not np.all(np.isfinite(pos)):
        raise ValueError("positions contain NaN or infinite values")
    wrapped = np.mod(pos.astype(np.float64), box)
    return wrapped.astype(dtype), species.astype(np.int32), box


def _ball_volume(r: np.ndarray, dim: int) -> np.ndarray:
    """Volume of a ``dim``-ball of radius ``r``."""
    return math.pi ** (dim / 2) / math.gamma(dim / 2 + 1) * np.asarray(r) ** dim


# --------------------------------------------------------------------------
# cell lists


@dataclasses.dataclass(frozen=True)
class _CellGrid:
    """A periodic cell grid and the stencil of cells that can hold neighbours."""

    cells_per_dim: tuple[int, ...]
    stencil: np.ndarray  # [cells, stencil_size] neighbour cell of each cell
    occupancy: int  # maximum particles in one cell over all frames

    @property
    def num_cells(self) -> int:
        return int(np.prod(self.cells_per_dim))

    def candidate_pairs(self) -> int:
        return self.num_cells * self.occupancy**2 * self.stencil.shape[1]


def _cell_ids(pos: np.ndarray, box: np.ndarray, cells: tuple[int, ...]) -> np.ndarray:
    """``[F, N]`` flat cell index of each particle (row-major over dimensions)."""
    n_c = np.asarray(cells)
    side = box / n_c
    idx = np.clip(np.floor(pos.astype(np.float64) / side).astype(np.int64), 0, n_c - 1)
    flat = np.zeros(pos.shape[:2], np.int64)
    for d in range(pos.shape[2]):
        flat = flat * n_c[d] + idx[..., d]
    return flat.astype(np.int32)


def _stencil(cells: tuple[int, ...], reach: tuple[int, ...]) -> np.ndarray:
    """``[cells, stencil]`` neighbour cells of each cell: a half stencil.

    The cell itself comes first, then the offsets whose first non-zero
    component is positive, so each pair of distinct cells is visited once.
    This relies on ``cells[d] >= 2 * reach[d] + 1`` (no offset wraps onto
    another or onto its own negative).
    """
    grids = np.meshgrid(*[np.arange(c) for c in cells], indexing="ij")
    multi = np.stack([g.ravel() for g in grids], axis=-1)  # [cells, d]
    offsets = np.stack(
        np.meshgrid(*[np.arange(-k, k + 1) for k in reach], indexing="ij"), -1
    ).reshape(-1, len(cells))
    nonzero = offsets != 0
    first = np.argmax(nonzero, axis=1)
    lead = offsets[np.arange(len(offsets)), first]
    positive = nonzero.any(axis=1) & (lead > 0)
    offsets = np.concatenate([np.zeros((1, len(cells)), int), offsets[positive]])
    neighbour = np.mod(multi[:, None, :] + offsets[None], np.asarray(cells))
    flat = np.zeros(neighbour.shape[:2], np.int64)
    for d, c in enumerate(cells):
        flat = flat * c + neighbour[..., d]
    return flat.astype(np.int32)


def _choose_grid(pos: np.ndarray, box: np.ndarray, r_max: float) -> tuple:
    """The cell grid with the fewest candidate pairs, and each frame's cell ids."""
    best = None
    for reach_wanted in (1, 2):
        cells, reach = [], []
        for length in box:
            n_c = int(math.floor(length * reach_wanted / r_max * (1 - 1e-9)))
            if n_c >= 2 * reach_wanted + 1:
                cells.append(n_c)
                reach.append(reach_wanted)
            else:  # too few cells for distinct neighbours: all pairs along d
                cells.append(1)
                reach.append(0)
        cells = tuple(cells)
        ids = _cell_ids(pos, box, cells)
        occupancy = max(int(np.bincount(frame, minlength=1).max()) for frame in ids)
        grid = _CellGrid(cells, _stencil(cells, tuple(reach)), occupancy)
        if best is None or grid.candidate_pairs() < best[0].candidate_pairs():
            best = (grid, ids)
    return best


# --------------------------------------------------------------------------
# the jitted histogram


@functools.partial(
    jax.jit,
    static_argnames=("num_species", "num_bins", "occupancy", "rows", "chunk"),
)
def _pair_histogram(
    pos: jax.Array,
    cell_ids: jax.Array,
    frame_mask: jax.Array,
    species: jax.Array,
    box: jax.Array,
    stencil: jax.Array,
    items: jax.Array,
    bin_width: jax.Array,
    *,
    num_species: int,
    num_bins: int,
    occupancy: int,
    rows: int,
    chunk: int,
) -> jax.Array:
    """Integer histogram ``[S * S * bins]`` of unordered pairs in a frame batch.

    ``items`` is ``[steps, chunk, 2]`` (cell, row block) pairs; an item with
    cell ``-1`` is padding. Rows ``block * rows ... + rows`` of a cell's slots
    are paired with every slot of every stencil cell.
    """
    n = pos.shape[1]
    num_cells, stencil_size = stencil.shape
    overflow = num_species * num_species * num_bins
    r_max = bin_width * num_bins
    species_pad = jnp.concatenate([species, jnp.zeros((1,), species.dtype)])

    def frame_histogram(hist, inputs):
        x, ids, weight = inputs
        order = jnp.argsort(ids)
        sorted_ids = ids[order]
        counts = jnp.bincount(ids, length=num_cells)
        starts = jnp.cumsum(counts) - counts
        slot = jnp.arange(n) - starts[sorted_ids]
        table = jnp.full((num_cells, occupancy), n, jnp.int32)
        table = table.at[sorted_ids, slot].set(order.astype(jnp.int32))
        x_pad = jnp.concatenate([x, jnp.zeros((1, x.shape[1]), x.dtype)]).T
        own_cell = jnp.arange(stencil_size * occupancy) < occupancy

        def step(acc, item):
            cell = jnp.maximum(item[:, 0], 0)
            slots = item[:, 1:2] * rows + jnp.arange(rows)[None]  # [chunk, rows]
            i = jnp.where(
                (item[:, :1] >= 0) & (slots < occupancy),
                table[cell[:, None], jnp.minimum(slots, occupancy - 1)],
                n,
            )[:, :, None]
            j = table[stencil[cell]].reshape(cell.shape[0], 1, -1)  # [chunk, 1, SM]
            # gather once per particle, not once per pair inside the fusion
            xi, xj, si, sj = jax.lax.optimization_barrier(
                (x_pad[:, i], x_pad[:, j], species_pad[i], species_pad[j])
            )
            dist2 = jnp.zeros(jnp.broadcast_shapes(i.shape, j.shape), x.dtype)
            for d in range(x.shape[1]):
                dr = xj[d] - xi[d]
                dr = dr - box[d] * jnp.round(dr / box[d])
                dist2 = dist2 + dr * dr
            dist = jnp.sqrt(dist2)
            # each unordered pair once: i < j inside the own cell, any pair
            # between the own cell and a (distinct) half-stencil cell
            valid = (
                (i < n) & (j < n) & jnp.where(own_cell, i < j, True) & (dist < r_max)
            )
            k = jnp.minimum((dist / bin_width).astype(jnp.int32), num_bins - 1)
            pair = si * num_species + sj
            flat = jnp.where(valid, pair * num_bins + k, overflow)
            # materialise the bin indices: fused into the scatter they would be
            # computed element by element, several times slower on CPU
            flat = jax.lax.optimization_barrier(flat)
            hist = jnp.bincount(flat.ravel(), length=overflow + 1)
            return acc + hist.astype(jnp.int32), None

        init = jnp.zeros(overflow + 1, jnp.int32)
        frame_hist, _ = jax.lax.scan(step, init, items)
        return hist + weight * frame_hist, None

    hist0 = jnp.zeros(overflow + 1, jnp.int32)
    hist, _ = jax.lax.scan(frame_histogram, hist0, (pos, cell_ids, frame_mask))
    return hist[:overflow]


def pair_correlation(
    positions: Trajectory | Any,
    species: Any = None,
    box: Any = None,
    *,
    r_max: float,
    num_bins: int = 200,
    bin_width: float | None = None,
    frames: slice | np.ndarray | None = None,
    dtype: Any = jnp.float32,
) -> PairCorrelation:
    """Partial radial distribution functions ``g_ab(r)`` of a periodic system.

    .. math::

        g_{ab}(r) = \\frac{V}{F N_a (N_b - \\delta_{ab})}
            \\sum_{t} \\sum_{i \\in a} \\sum_{j \\in b, j \\neq i}
            \\frac{\\mathbb{1}[r \\le |r_{ij}(t)| < r + \\Delta r]}{\\Delta V(r)}

    Distances are minimum-image in an orthorhombic box, so ``r_max`` may not
    exceed half the shortest side (beyond it a pair has several images within
    range and the minimum image undercounts).

    Args:
        positions: a :class:`~liquids.trajectory.Trajectory`, or positions
            ``[particles, dim]`` or ``[frames, particles, dim]`` (wrapped or
            not: they are wrapped into the box here).
        species: ``[particles]`` integer labels ``0 .. S-1``; taken from the
            trajectory when omitted; a single species when ``None`` for arrays.
        box: ``[dim]`` box side lengths (or one number for a cube); taken from
            the trajectory when omitted.
        r_max: largest distance histogrammed, ``0 < r_max <= min(box) / 2``.
        num_bins: number of bins of width ``r_max / num_bins``.
        bin_width: if given, overrides ``num_bins``: the bins have this width
            and ``r_max`` is rounded down to a whole number of bins.
        frames: optional selection (slice or index array) of frames.
        dtype: floating dtype of the distance computation (float32 default).

    Returns:
        A :class:`PairCorrelation` with ``g`` of shape ``[S, S, bins]``.

    Example:
        >>> gr = pair_correlation(traj, r_max=4.0, num_bins=400)  # doctest: +SKIP
        >>> gr.coordination_number(0, 0, r_cut=1.4)  # doctest: +SKIP
    """
    pos, species, box = _frames_species_box(positions, species, box, frames, dtype)
    num_frames, n, dim = pos.shape
    require_positive("r_max", r_max)
    if r_max > box.min() / 2 * (1 + 1e-12):
        raise ValueError(
            f"r_max must be <= min(box) / 2 = {box.min() / 2:.6g} for minimum-image "
            f"distances, got {r_max!r}; use a larger box or a smaller r_max"
        )
    if bin_width is None:
        num_bins = require_positive_int("num_bins", num_bins)
        bin_width = r_max / num_bins
    else:
        require_positive("bin_width", bin_width)
        num_bins = int(math.floor(r_max / bin_width * (1 + 1e-12)))
        if num_bins < 1:
            raise ValueError(f"bin_width {bin_width!r} exceeds r_max {r_max!r}")
    num_species = int(species.max()) + 1

    grid, ids = _choose_grid(pos, box, r_max)
    # slots per cell, rounded up to a multiple of 4 so that frames of similar
    # systems (a temperature sweep) share one compiled histogram
    occupancy = -(-grid.occupancy // 4) * 4
    stencil_size = grid.stencil.shape[1]
    per_row = stencil_size * occupancy  # candidates of one row particle
    rows = min(occupancy, max(8, _PAIRS_PER_STEP // per_row))
    blocks = -(-occupancy // rows)
    items = np.stack(np.meshgrid(np.arange(grid.num_cells), np.arange(blocks)), -1)
    items = items.reshape(-1, 2)
    chunk = max(1, _PAIRS_PER_STEP // (rows * stencil_size * occupancy))
    chunk = min(chunk, len(items))
    pad = -len(items) % chunk
    items = np.concatenate([items, np.full((pad, 2), -1)]).astype(np.int32)
    items = items.reshape(-1, chunk, 2)
    logger.info(
        "pair_correlation: %d frames, N=%d, cells %s, occupancy %d, %d pair steps",
        num_frames,
        n,
        grid.cells_per_dim,
        occupancy,
        len(items),
    )

    # frames per compiled call, so that no int32 bin count can overflow (one
    # bin of one frame holds at most N_a N_b pairs)
    largest = int(max(1, min(num_frames, 64, _INT32_MAX // (n * n))))
    batch = -(-num_frames // -(-num_frames // largest))  # even batches, little padding
    counts = np.zeros(num_species * num_species * num_bins, np.int64)
    jbox = jnp.asarray(box, dtype)
    jitems = jnp.asarray(items)
    jstencil = jnp.asarray(grid.stencil)
    jspecies = jnp.asarray(species)
    for start in range(0, num_frames, batch):
        stop = min(start + batch, num_frames)
        mask = np.zeros(batch, np.int32)
        mask[: stop - start] = 1
        take = np.minimum(np.arange(start, start + batch), num_frames - 1)
        hist = _pair_histogram(
            jnp.asarray(pos[take]),
            jnp.asarray(ids[take]),
            jnp.asarray(mask),
            jspecies,
            jbox,
            jstencil,
            jitems,
            jnp.asarray(bin_width, dtype),
            num_species=num_species,
            num_bins=num_bins,
            occupancy=occupancy,
            rows=rows,
            chunk=chunk,
        )
        counts += np.asarray(hist, np.int64)

    unordered = counts.reshape(num_species, num_species, num_bins)
    counts = unordered + unordered.transpose(1, 0, 2)  # ordered pairs
    edges = np.arange(num_bins + 1) * float(bin_width)
    species_counts = np.bincount(species, minlength=num_species)
    volume = float(np.prod(box))
    shells = _ball_volume(edges[1:], dim) - _ball_volume(edges[:-1], dim)
    partners = species_counts[None, :] - np.eye(num_species, dtype=np.int64)
    ideal = num_frames * species_counts[:, None] * partners / volume
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(ideal[..., None] > 0, counts / (ideal[..., None] * shells), 0.0)
    return PairCorrelation(
        r=0.5 * (edges[1:] + edges[:-1]),
        edges=edges,
        g=g,
        pair_counts=counts,
        species_counts=species_counts,
        volume=volume,
        num_frames=num_frames,
        dimension=dim,
    )
