"""A fast dense Verlet list for binary mixtures, built from a cell list.

jax-md's cell-list neighbour builder is general (any box, any metric, masks),
but on CPU a rebuild of an N = 1000 Kob-Andersen liquid takes about 0.3 s,
some 400 times longer than one force evaluation: with a rebuild every 10-30
steps it is most of the run time. This builder does one job for cubic or
rectangular periodic boxes, with two interchangeable searches:

``"host"`` (the default when JAX runs on the CPU)
    A compiled loop (:mod:`liquids._host_search`, numba) over cells one
    list radius wide, called from jitted code as an XLA FFI handler:
    about 1 ms at N = 1000 and 29-32 ms at N = 32000 on one core, like
    LAMMPS's binned build, and in parallel on XLA's threads over the cores
    the process may use (0.55 ms at N = 1000 on two). The list is integer
    data without a gradient, so nothing is lost by leaving XLA for it. Each
    row holds its higher neighbours (``j > i``) first and its lower ones
    last, padding between: the host force kernel
    (:mod:`liquids._host_force`) reads only the front, each pair once.

``"xla"`` (any device)
    The same search as dense array operations:

    1. Bin particles into cells at least as large as the list radius (for
       small boxes, where 3^d cells would hold more candidates than there
       are particles, every particle is a candidate of every other).
    2. Sort particles by cell (``argsort``) and read each cell's members
       from the sorted order with ``searchsorted``: a ``[cells,
       cell_capacity]`` table, no scatter.
    3. For every particle, the members of its 3^d neighbour cells are its
       candidates.
    4. Compact each row to ``capacity`` slots from the mask packed into
       32-bit words (popcounts, a small matrix-product prefix sum; no
       cumsum, sort or scatter, see :func:`_compact`); cell-path rows in two
       stages.

Both keep a candidate when it is within the list radius of *its species
pair*, :math:`r^c_{ab} + \\mathrm{skin}` (so a cut-at-2.0 A-B pair does not
carry the 2.5 A-A reach).

The result is stored in a jax-md :class:`~jax_md.partition.NeighborList` of
``Dense`` format: ``idx[i]`` lists the neighbours of particle ``i``, padded
with ``N`` (the XLA search pads at the end of a row, the host search between
the higher and the lower neighbours), every pair appearing in both rows.
Anything that reads a jax-md dense list reads this one. Overflow of a cell or
of a row sets jax-md's sticky error bits (``did_buffer_overflow``), never
silently drops a pair.

``update`` rebuilds only when some particle has moved more than ``skin / 2``
(minimum image) since the last build, like jax-md and LAMMPS's
``neigh_modify check yes``.
"""

from __future__ import annotations

import itertools
import logging

import jax
import jax.numpy as jnp
import numpy as np
from jax_md import partition

from landscape.validate import require_choice
from liquids import _host_search

logger = logging.getLogger(__name__)

__all__ = ["SEARCHES", "VerletBuilder", "bucket", "verlet_builder"]

_PEC = partition.PartitionErrorCode

SEARCHES = ("auto", "host", "xla")
"""Neighbour searches of :class:`VerletBuilder`."""

ROW_HEADROOM = 6
"""Slots a new list keeps beyond its fullest row, whatever the multiplier.

The fullest row moves by a few pairs between builds: over 16-19 pairs for
KA-WCA (N = 500-4000, T = 0.8 and 2), where a multiplier of 1.08 or 1.15
(both round up to 20 slots) leaves three slots at a fullest row of 17, and
over 107-115 for KA-LJ, where 1.08 leaves nine.
"""


def bucket(capacity: int, per_octave: int = 4) -> int:
    """Round up to one of ``per_octave`` (a power of two) sizes per octave."""
    capacity = max(int(capacity), 1)
    shift = per_octave.bit_length() - 1
    step = 2 ** max(capacity.bit_length() - 1 - shift, 0)
    return -(-capacity // step) * step


class VerletBuilder:
    """Builds and updates dense Verlet lists for one box, species and radii.

    Made by :func:`verlet_builder`; the lists it makes carry it as their
    ``update_fn``, so ``neighbor.update(R)`` calls :meth:`update`.

    Attributes:
        box: ``[dim]`` periodic side lengths.
        species: ``[particles]`` int32 labels (0 or 1).
        list_radius: ``[2, 2]`` per-pair list radii ``cutoff_ab + skin``.
        skin: the skin; a rebuild is due after a displacement of ``skin / 2``.
        cells: ``[dim]`` number of cells per axis, or ``None`` when every
            particle is a candidate of every other (small boxes).
        row_block: particles processed at once while building (bounds memory).
        search: ``"host"`` (a compiled loop on the CPU, called from jitted
            code as an XLA FFI handler) or ``"xla"`` (the search as
            dense array operations, which runs on any device).
    """

    def __init__(
        self,
        box,
        species,
        list_radius,
        skin,
        row_block: int = 4096,
        search: str = "auto",
    ):
        require_choice("search", search, SEARCHES)
        if search == "auto":
            search = "host" if jax.default_backend() == "cpu" else "xla"
        self.search = search
        self.box = np.asarray(box, np.float64)
        self.species = jnp.asarray(species, jnp.int32)
        self.list_radius = np.asarray(list_radius, np.float64)
        self.skin = float(skin)
        self.row_block = int(row_block)
        self.num_particles = int(self.species.shape[0])
        self.dimension = int(self.box.shape[0])
        reach = float(self.list_radius.max())
        cells = np.floor(self.box / reach).astype(int)
        self.cells = cells if np.all(cells >= 3) else None
        self._offsets = np.array(
            list(itertools.product((-1, 0, 1), repeat=self.dimension)), np.int32
        )
        self._species_np = np.asarray(species)
        self._count_neighbors = jax.jit(self._count_neighbors_impl)
        sorted_species = bool(np.all(np.diff(self._species_np) >= 0))
        # Contiguous species blocks (ka_species) let a neighbour's species be
        # computed from its index instead of gathered.
        self.first_b = (
            int(np.searchsorted(self._species_np, 1)) if sorted_species else None
        )

    # -- sizes -------------------------------------------------------------
    @property
    def num_cells(self) -> int:
        return 0 if self.cells is None else int(np.prod(self.cells))

    def cell_capacity_for(self, R: jax.Array) -> int:
        """Cell capacity for configuration ``R``.

        The larger of 1.1 times the fullest cell at ``R`` plus 2, and the
        mean occupancy plus two ideal-gas standard deviations (a lattice
        start fills cells evenly; the liquid that forms from it fluctuates,
        less than an ideal gas). Eight sizes per octave. A cell that later
        overflows sets the sticky flag and the caller reallocates. The host
        search keeps no cell table: 0.
        """
        if self.cells is None or self.search == "host":
            return 0
        mean = self.num_particles / self.num_cells
        coord = np.floor(np.asarray(R, np.float64) / self.box * self.cells)
        flat = self._flat(np.clip(coord, 0, self.cells - 1).astype(np.int64))
        fullest = int(np.bincount(flat, minlength=self.num_cells).max())
        need = max(1.1 * fullest + 2, mean + 2 * np.sqrt(mean))
        return bucket(int(np.ceil(need)), per_octave=8)

    def use_cells(self, cell_capacity: int) -> bool:
        """Whether the cell path has fewer candidates than all particles."""
        return (
            self.cells is not None
            and 0 < len(self._offsets) * cell_capacity < self.num_particles
        )

    def neighbor_species(self, idx: jax.Array) -> jax.Array:
        """Species of the particles ``idx`` (padding ``N`` gives a valid label)."""
        if self.first_b is not None:
            return (idx >= self.first_b).astype(jnp.int32)
        return jnp.take(self.species, idx, mode="clip")

    # -- building ------------------------------------------------------------
    def _minimum_image(self, d, axis):
        L = jnp.asarray(self.box[axis], d.dtype)
        return d - L * jnp.round(d / L)

    def _cell_table(self, R, cell_capacity):
        """Members of every cell and where each particle sits in the table.

        Returns ``(table, cell, slot, overflow)``: ``table`` is ``[cells,
        cell_capacity]`` particle indices padded with N, particle ``p`` is
        ``table[cell[p], slot[p]]``, and ``overflow`` flags a cell with more
        members than ``cell_capacity``.
        """
        n = self.num_particles
        cells = jnp.asarray(self.cells, jnp.int32)
        box = jnp.asarray(self.box, R.dtype)
        coord = jnp.floor(R / box * cells.astype(R.dtype)).astype(jnp.int32)
        coord = jnp.clip(coord, 0, cells - 1)  # R == L after rounding
        strides = jnp.asarray(np.cumprod([1, *self.cells[:-1]]), jnp.int32)
        flat = jnp.sum(coord * strides, axis=1)
        order = jnp.argsort(flat).astype(jnp.int32)
        sorted_cells = flat[order]
        edges = jnp.searchsorted(
            sorted_cells, jnp.arange(self.num_cells + 1, dtype=jnp.int32)
        ).astype(jnp.int32)
        start, count = edges[:-1], edges[1:] - edges[:-1]
        member = jnp.arange(cell_capacity, dtype=jnp.int32)
        pos = jnp.minimum(start[:, None] + member, n - 1)
        table = jnp.where(member < count[:, None], order[pos], n)
        rank = jnp.zeros(n, jnp.int32).at[order].set(jnp.arange(n, dtype=jnp.int32))
        slot = rank - start[flat]
        return table, flat, slot, jnp.max(count) > cell_capacity

    def _neighbor_cells(self) -> np.ndarray:
        """``[cells, 3^d]`` flat indices of each cell's periodic neighbours."""
        grid = np.stack(
            np.meshgrid(*[np.arange(c) for c in self.cells], indexing="ij"), -1
        ).reshape(-1, self.dimension)
        # flat index = sum(coord * strides) with the first axis fastest
        grid = grid[np.argsort(self._flat(grid))]
        near = np.mod(grid[:, None, :] + self._offsets[None], self.cells)
        return self._flat(near).astype(np.int32)

    def _flat(self, coord: np.ndarray) -> np.ndarray:
        strides = np.cumprod([1, *self.cells[:-1]])
        return np.sum(coord * strides, axis=-1)

    def _keep(self, R, rows, candidates, rl2):
        """``[..., rows, candidates]`` mask of pairs within their list radius.

        ``rows`` is ``[..., r]`` and ``candidates`` ``[..., c]``, both padded
        with N.
        """
        n = self.num_particles
        i = jnp.minimum(rows, n - 1)[..., :, None]
        j = jnp.minimum(candidates, n - 1)[..., None, :]
        # Gather once, then broadcast: without the barrier XLA fuses the
        # gathers into the [rows, candidates] loop and repeats them per pair.
        xi, xj, si, sj = jax.lax.optimization_barrier(
            (R[i], R[j], self.neighbor_species(i), self.neighbor_species(j))
        )
        r2 = 0.0
        for a in range(self.dimension):
            d = self._minimum_image(xi[..., a] - xj[..., a], a)
            r2 = r2 + d * d
        radius2 = jnp.asarray(rl2, R.dtype)[si * 2 + sj]
        valid = (rows < n)[..., :, None] & (candidates < n)[..., None, :]
        return valid & (i != j) & (r2 < radius2)

    def build(
        self, R: jax.Array, capacity: int, cell_capacity: int
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``(idx [N, capacity], max occupancy, cell overflow)`` at ``R``.

        Jittable; ``capacity`` and ``cell_capacity`` are static (the host
        search sizes its own cells and never overflows them).
        """
        n = self.num_particles
        if self.search == "host":
            idx, occupancy = _host_search.xla_search(
                R, self._species_np, self.box, self.list_radius**2, capacity
            )
            return idx, occupancy, jnp.zeros((), bool)
        rl2 = (self.list_radius**2).reshape(-1)
        if not self.use_cells(cell_capacity):
            everyone = jnp.arange(n, dtype=jnp.int32)
            block = _divisor_at_most(n, max(1, self.row_block * 1024 // n))

            def rows_of(rows):
                keep = self._keep(R, rows, everyone, rl2)
                pos, count = _compact(keep, capacity)
                return jnp.where(pos < n, pos, n), count

            idx, count = _blocked(rows_of, everyone, block)
            return idx, jnp.max(count), jnp.zeros((), bool)

        table, cell, slot, cell_overflow = self._cell_table(R, cell_capacity)
        near = jnp.asarray(self._neighbor_cells())
        width = near.shape[1] * cell_capacity
        block = _divisor_at_most(
            self.num_cells, max(1, self.row_block * 1024 // (cell_capacity * width))
        )

        # Two-stage compaction: each third of the stencil (the 3^(d-1) cells
        # at one x offset) is compacted on its own into ``part`` slots, then
        # the three parts into ``capacity``. Rows of a few words use the fast
        # compare-and-sum path of _compact; one pass over all 27 cells would
        # need the slower binary search.
        part = min(capacity, bucket(int(np.ceil(PART_FRACTION * capacity)), 8))
        group = width // 3

        def cells_of(c):
            b = c.shape[0]
            members = table[c]  # [b, cap]
            candidates = table[near[c]].reshape(b, width)
            keep = self._keep(R, members, candidates, rl2)  # [b, cap, width]
            pos, count = _compact(keep.reshape(-1, group), part)
            pos = pos.reshape(-1, 3, part) + group * jnp.arange(3)[:, None]
            count = count.reshape(-1, 3)
            filled = jnp.arange(part) < count[..., None]
            merged, total = _compact(filled.reshape(-1, 3 * part), capacity)
            pos = jnp.take_along_axis(
                pos.reshape(-1, 3 * part), jnp.minimum(merged, 3 * part - 1), axis=1
            )
            picked = jnp.take_along_axis(
                candidates, jnp.minimum(pos, width - 1).reshape(b, -1), axis=1
            )
            rows = jnp.where(
                jnp.arange(capacity) < total.reshape(-1, cell_capacity, 1),
                picked.reshape(b, cell_capacity, capacity),
                n,
            )
            # A full part drops pairs even when the row has room: report it
            # as a row overflow so the caller reallocates.
            need = jnp.sum(count, axis=1)
            need = jnp.where(jnp.max(count, axis=1) > part, capacity + 1, need)
            return rows, need

        cell_ids = jnp.arange(self.num_cells, dtype=jnp.int32)
        rows, count = _blocked(cells_of, cell_ids, block)
        idx = rows[cell, slot]
        return idx.astype(jnp.int32), jnp.max(count), cell_overflow

    def _host(self, R, capacity: int):
        idx, most = _host_search.search(
            np.asarray(R), self._species_np, self.box, self.list_radius**2, capacity
        )
        return idx, np.int32(most)

    def _make(self, R, capacity, cell_capacity, error):
        idx, occupancy, cell_overflow = self.build(R, capacity, cell_capacity)
        error = error.update(_PEC.NEIGHBOR_LIST_OVERFLOW, occupancy > capacity)
        error = error.update(_PEC.CELL_LIST_OVERFLOW, cell_overflow)
        return partition.NeighborList(
            idx,
            R,
            error,
            cell_capacity,
            capacity,
            partition.NeighborListFormat.Dense,
            None,
            None,
            self.update,
        )

    def allocate(
        self,
        R: jax.Array,
        *,
        capacity: int | None = None,
        cell_capacity: int | None = None,
        capacity_multiplier: float = 1.25,
        minimum_capacity: float = 0.0,
        extra_capacity: int = 0,
    ) -> partition.NeighborList:
        """A list at ``R`` with room for ``capacity`` neighbours per particle.

        Without ``capacity``, the list is sized from the largest row at ``R``
        (times ``capacity_multiplier``, plus ``extra_capacity``, at least
        :data:`ROW_HEADROOM` slots more than that row unless the multiplier
        is below 1, which asks for a short list on purpose, and at least
        ``minimum_capacity``) rounded up to one of eight sizes per octave, so
        jitted code taking the list is rarely recompiled.
        """
        n = self.num_particles
        if cell_capacity is None:
            cell_capacity = self.cell_capacity_for(R)
        if capacity is None:
            most = self.max_neighbors(R)
            need = max(
                capacity_multiplier * most + extra_capacity,
                most + ROW_HEADROOM if capacity_multiplier >= 1 else 0,
                minimum_capacity,
            )
            capacity = min(bucket(int(np.ceil(need)), per_octave=8), n - 1)
        capacity, cell_capacity = int(capacity), int(cell_capacity)
        logger.debug(
            "Verlet list: N=%d, capacity %d, cells %s x %d",
            n,
            capacity,
            None if self.cells is None else self.cells.tolist(),
            cell_capacity,
        )
        error = partition.PartitionError(jnp.zeros((), jnp.uint8))
        return self._make(R, capacity, cell_capacity, error)

    def max_neighbors(self, R: jax.Array) -> int:
        """The largest number of particles within list radius of one particle.

        Used only to size a new list: the host search run with no room, or
        (``"xla"``) a block-by-block count over all pairs (O(N^2) work).
        """
        if self.search == "host":
            return int(self._host(R, 0)[1])
        return int(self._count_neighbors(R))

    def _count_neighbors_impl(self, R):
        n = self.num_particles
        rl2 = (self.list_radius**2).reshape(-1)
        everyone = jnp.arange(n, dtype=jnp.int32)
        block = max(1, min(n, 2**20 // n))
        padded = jnp.pad(everyone, (0, (-n) % block), constant_values=n)
        counts = jax.lax.map(
            lambda rows: jnp.sum(self._keep(R, rows, everyone, rl2), axis=1),
            padded.reshape(-1, block),
        )
        return jnp.max(counts)

    def needs_rebuild(self, R: jax.Array, reference: jax.Array) -> jax.Array:
        """Whether a particle moved more than ``skin / 2`` since ``reference``."""
        d2 = 0.0
        for a in range(self.dimension):
            d = self._minimum_image(R[:, a] - reference[:, a], a)
            d2 = d2 + d * d
        return jnp.max(d2) > (0.5 * self.skin) ** 2

    def update(
        self, R: jax.Array, neighbor: partition.NeighborList, **unused
    ) -> partition.NeighborList:
        """``neighbor`` rebuilt at ``R`` if a rebuild is due, else unchanged."""

        def rebuild(nb):
            return self._make(R, nb.max_occupancy, nb.cell_list_capacity, nb.error)

        return jax.lax.cond(
            self.needs_rebuild(R, neighbor.reference_position),
            rebuild,
            lambda nb: nb,
            neighbor,
        )


def _divisor_at_most(n: int, limit: int) -> int:
    """The largest divisor of ``n`` that is at most ``limit`` (>= 1)."""
    for b in range(min(n, max(limit, 1)), 0, -1):
        if n % b == 0:
            return b
    return 1


def _blocked(fn, items, block: int):
    """``fn`` over ``items`` in blocks of ``block`` (one call if it is all)."""
    if block >= items.shape[0]:
        return fn(items)
    out = jax.lax.map(fn, items.reshape(-1, block))
    return jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), out)


def _select_bit(word: jax.Array, r: jax.Array) -> jax.Array:
    """Position of the ``r``-th (0-based) set bit of each uint32 ``word``."""
    pos = jnp.zeros_like(r)
    for width in (16, 8, 4, 2, 1):
        low = word & jnp.uint32((1 << width) - 1)
        below = jax.lax.population_count(low).astype(jnp.int32)
        up = r >= below
        r = jnp.where(up, r - below, r)
        word = jnp.where(up, word >> width, low)
        pos = pos + jnp.where(up, width, 0)
    return pos


PART_FRACTION = 0.75
"""Slots of one stencil third, as a fraction of the row capacity."""

_COMPARE_ALL_WORDS = 40
"""Rows of at most this many 32-bit words find slots by compare-and-sum."""


def _compact(keep: jax.Array, capacity: int) -> tuple[jax.Array, jax.Array]:
    """Column positions of the first ``capacity`` True entries of every row.

    ``keep`` is ``[rows, width]``. Returns ``(positions [rows, capacity],
    counts [rows])``; slots past a row's count hold ``width`` or more.

    XLA's CPU cumulative sum, sort, scatter and loop-carried binary searches
    are all slow, so this is done with small dense reductions: each row is
    packed into 32-bit words, the words are counted with
    ``population_count`` and prefix-summed by a triangular matrix product
    (exact, counts < 2^24); slot ``k`` finds its word as the number of words
    whose inclusive count is <= k (a compare-and-sum over the few words of a
    row), and its bit by halving that word five times.
    """
    rows, width = keep.shape
    keep = jnp.pad(keep, ((0, 0), (0, (-width) % 32)))
    per_row = keep.shape[1] // 32
    shifted = keep.reshape(rows, per_row, 32).astype(jnp.uint32) << jnp.arange(
        32, dtype=jnp.uint32
    )
    words = jnp.sum(shifted, axis=-1, dtype=jnp.uint32)  # disjoint bits: sum = or
    counts = jax.lax.population_count(words).astype(jnp.int32)
    upper = jnp.triu(jnp.ones((per_row, per_row), jnp.float32))
    inclusive = jnp.round(counts.astype(jnp.float32) @ upper).astype(jnp.int32)
    slots = jnp.arange(capacity, dtype=jnp.int32)
    if per_row <= _COMPARE_ALL_WORDS:
        done = inclusive[:, None, :] <= slots[None, :, None]  # [rows, slots, words]
        word = jnp.sum(done, axis=-1, dtype=jnp.int32)
        before = jnp.sum(jnp.where(done, counts[:, None, :], 0), axis=-1)
        this = jnp.arange(per_row, dtype=jnp.int32) == word[..., None]
        bits = jnp.sum(jnp.where(this, words[:, None, :], jnp.uint32(0)), axis=-1)
    else:  # many words: an unrolled binary search (log2(words) gathers)
        word = jnp.zeros((rows, capacity), jnp.int32)
        step = 1 << (per_row - 1).bit_length()
        while step:
            probe = word + step
            seen = jnp.take_along_axis(
                inclusive, jnp.minimum(probe, per_row) - 1, axis=1
            )
            word = jnp.where((probe <= per_row) & (seen <= slots), probe, word)
            step //= 2
        at = jnp.minimum(word, per_row - 1)
        before = jnp.take_along_axis(inclusive - counts, at, axis=1)
        bits = jnp.take_along_axis(words, at, axis=1)
    bit = _select_bit(bits.astype(jnp.uint32), slots - before)
    total = inclusive[:, -1]
    positions = jnp.where(slots < total[:, None], word * 32 + bit, keep.shape[1])
    return positions, total


def verlet_builder(
    box,
    species,
    cutoff: np.ndarray,
    skin: float,
    row_block: int = 4096,
    search: str = "auto",
) -> VerletBuilder:
    """A :class:`VerletBuilder` with per-pair list radii ``cutoff + skin``.

    Args:
        box: ``[dim]`` periodic side lengths.
        species: ``[particles]`` labels 0 or 1.
        cutoff: ``[2, 2]`` per-pair interaction cutoffs.
        skin: list skin.
        row_block: particles processed at once while building (``"xla"``).
        search: ``"auto"`` (``"host"`` when JAX runs on the CPU, else
            ``"xla"``), ``"host"`` or ``"xla"``; see :class:`VerletBuilder`.
    """
    return VerletBuilder(
        box, species, np.asarray(cutoff) + skin, skin, row_block, search
    )
