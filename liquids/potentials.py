"""Kob-Andersen binary mixtures: the attractive (KA-LJ) and repulsive (KA-WCA) liquid.

Both liquids share the Lennard-Jones pair interaction of the Kob-Andersen 80:20
mixture and differ only in where it is cut:

.. math::

    V_{ab}(r) = 4\\epsilon_{ab}\\left[\\left(\\frac{\\sigma_{ab}}{r}\\right)^{12}
        - \\left(\\frac{\\sigma_{ab}}{r}\\right)^{6}\\right] - V^{LJ}_{ab}(r^c_{ab}),
    \\qquad r < r^c_{ab},

and zero beyond. KA-LJ cuts every pair at :math:`r^c_{ab} = 2.5\\sigma_{ab}`
(2.5, 2.0, 2.2 for AA, AB, BB) and shifts so that :math:`V(r^c) = 0`. KA-WCA cuts
at the minimum :math:`r^c_{ab} = 2^{1/6}\\sigma_{ab}` where
:math:`V^{LJ}(r^c) = -\\epsilon_{ab}`, i.e. shifts up by :math:`\\epsilon_{ab}`:
purely repulsive, same repulsion. The cutoff is per pair of species, which is
why jax-md's ``energy.lennard_jones_neighbor_list`` (one cutoff scaled by the
largest sigma, plus a smooth switch) is used for neither model.

Parameters (Kob & Andersen, PRE 51, 4626 (1995)):
:math:`\\epsilon_{AA}=1, \\epsilon_{AB}=1.5, \\epsilon_{BB}=0.5`;
:math:`\\sigma_{AA}=1, \\sigma_{AB}=0.8, \\sigma_{BB}=0.88`; masses 1. The WCA
variant follows Berthier & Tarjus, PRL 103, 170601 (2009).

Everything is in LJ units of species A (:math:`\\sigma_{AA}`,
:math:`\\epsilon_{AA}`, :math:`m`, time :math:`\\sqrt{m\\sigma^2/\\epsilon}`).

Example:
    >>> import jax, jax.numpy as jnp
    >>> n = 500
    >>> box = box_length(n, density=1.2)
    >>> pot = kob_andersen("lj", box, ka_species(n))
    >>> R = jax.random.uniform(jax.random.PRNGKey(0), (n, 3)) * box
    >>> nbrs = pot.neighbor_fn.allocate(R)  # doctest: +SKIP
    >>> u = pot.energy(R, nbrs)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax_md import partition, space
from jaxtyping import Array, Float

from landscape.validate import require_choice, require_positive, require_positive_int
from liquids import _host_force
from liquids.neighbors import SEARCHES, VerletBuilder, bucket, verlet_builder

logger = logging.getLogger(__name__)

__all__ = [
    "FORCE_KERNELS",
    "KA_PARAMETERS",
    "KAParameters",
    "KAPotential",
    "NeighborFormat",
    "box_length",
    "ka_species",
    "kob_andersen",
    "pair_potential",
    "rebuild_neighbors",
]

Model = Literal["lj", "wca"]

DENSE_BLOCK_SLOTS = 2**18
"""Neighbour slots per block of the dense force kernel (fits in L2 cache)."""

FORCE_KERNELS = ("auto", "host", "xla")
"""Force kernels of :func:`kob_andersen` (see its ``force_kernel``)."""

NeighborFormat = Literal["verlet", "dense", "sparse", "ordered_sparse"]

_FORMATS = {
    "verlet": partition.NeighborListFormat.Dense,
    "dense": partition.NeighborListFormat.Dense,
    "sparse": partition.NeighborListFormat.Sparse,
    "ordered_sparse": partition.NeighborListFormat.OrderedSparse,
}


@dataclasses.dataclass(frozen=True, eq=False)
class KAParameters:
    """Pair parameters of one model, ``[species, species]`` matrices (LJ units).

    Attributes:
        epsilon: energy scales :math:`\\epsilon_{ab}`.
        sigma: length scales :math:`\\sigma_{ab}`.
        cutoff: absolute cutoff radii :math:`r^c_{ab}`.
        shift: :math:`V^{LJ}_{ab}(r^c_{ab})`, subtracted inside the cutoff.
    """

    epsilon: np.ndarray
    sigma: np.ndarray
    cutoff: np.ndarray
    shift: np.ndarray

    @property
    def max_cutoff(self) -> float:
        return float(np.max(self.cutoff))


def _lj(r: np.ndarray, eps: np.ndarray, sig: np.ndarray) -> np.ndarray:
    x6 = (sig / r) ** 6
    return 4.0 * eps * (x6 * x6 - x6)


def _parameters(cutoff_in_sigma: np.ndarray) -> KAParameters:
    eps = np.array([[1.0, 1.5], [1.5, 0.5]])
    sig = np.array([[1.0, 0.8], [0.8, 0.88]])
    cutoff = cutoff_in_sigma * sig
    return KAParameters(eps, sig, cutoff, _lj(cutoff, eps, sig))


KA_PARAMETERS: dict[str, KAParameters] = {
    "lj": _parameters(np.full((2, 2), 2.5)),
    "wca": _parameters(np.full((2, 2), 2.0 ** (1.0 / 6.0))),
}
"""Pair parameters per model: ``"lj"`` (cut at 2.5 sigma_ab) and ``"wca"``."""


def pair_potential(
    model: Model, r: Float[Array, "*pairs"], a: int, b: int
) -> Float[Array, "*pairs"]:
    """The truncated-and-shifted pair energy :math:`V_{ab}(r)` of one species pair.

    Args:
        model: ``"lj"`` or ``"wca"``.
        r: distances (LJ units), any shape.
        a, b: species labels (0 = A, 1 = B).

    Returns:
        Pair energies, same shape as ``r``; zero at and beyond the cutoff.
    """
    require_choice("model", model, KA_PARAMETERS)
    p = KA_PARAMETERS[model]
    r = jnp.asarray(r)
    r2 = r * r
    return _pair_energy(
        r2,
        p.epsilon[a, b],
        p.sigma[a, b] ** 2,
        p.cutoff[a, b] ** 2,
        p.shift[a, b],
        jnp.ones(r.shape, bool),
    )


def _pair_energy(dr2, eps, sig2, rc2, shift, valid):
    """Truncated-and-shifted LJ from squared distances; NaN-free gradients."""
    inside = valid & (dr2 < rc2)
    safe = jnp.where(inside, dr2, rc2)
    x3 = (sig2 / safe) ** 3
    return jnp.where(inside, 4.0 * eps * (x3 * x3 - x3) - shift, 0.0)


def _gather_components(R: jax.Array, j: jax.Array) -> list[jax.Array]:
    """``[R[j, 0], R[j, 1], ...]``, two coordinates per gather.

    XLA:CPU gathers cost about a nanosecond per element whatever its size, so
    x and y travel together as one complex number: two gathers instead of
    three in 3D (a fifth of the force evaluation), one instead of two in 2D.
    """
    packed = jax.lax.complex(R[:, 0], R[:, 1])[j]
    out = [jnp.real(packed), jnp.imag(packed)]
    return out + [R[:, a][j] for a in range(2, R.shape[1])]


def box_length(num_particles: int, density: float = 1.2, dim: int = 3) -> float:
    """Side of the cubic (square) box holding ``num_particles`` at ``density``.

    .. math:: L = (N / \\rho)^{1/d}

    For N = 1000, rho = 1.2, d = 3: L = 9.4104.
    """
    require_positive_int("num_particles", num_particles)
    require_positive("density", density)
    require_choice("dim", dim, (2, 3))
    return float((num_particles / density) ** (1.0 / dim))


def ka_species(num_particles: int, fraction_a: float = 0.8) -> np.ndarray:
    """``[particles]`` int32 labels: the first ``round(fraction_a N)`` are A (0).

    The B particles (1) follow. The order is irrelevant for the physics; it
    keeps species blocks contiguous for analysis.
    """
    require_positive_int("num_particles", num_particles)
    if not 0.0 <= fraction_a <= 1.0:
        raise ValueError(f"fraction_a must lie in [0, 1], got {fraction_a!r}")
    n_a = int(round(fraction_a * num_particles))
    return np.concatenate(
        [np.zeros(n_a, np.int32), np.ones(num_particles - n_a, np.int32)]
    )


@dataclasses.dataclass(frozen=True, eq=False)
class KAPotential:
    """A Kob-Andersen potential bound to a box, species and neighbour-list setup.

    Built by :func:`kob_andersen`. All energies are totals in units of
    :math:`\\epsilon_{AA}`; forces are ``-jax.grad(energy)``.

    Attributes:
        model: ``"lj"`` or ``"wca"``.
        parameters: the :class:`KAParameters` of the model.
        box: ``[dim]`` side lengths.
        species: ``[particles]`` int32 labels.
        displacement: jax-md periodic displacement (minimum image).
        shift: jax-md periodic shift (wraps into [0, L)).
        neighbor_fn: jax-md ``NeighborListFns`` (``allocate``/``update``) with
            list radius ``max_cutoff + skin``.
        neighbor_format: ``"verlet"`` (this package's cell-list Verlet list,
            the fast default), ``"dense"``, ``"sparse"`` or
            ``"ordered_sparse"`` (jax-md's builders).
        skin: neighbour-list skin (the list is rebuilt when a particle moved
            more than ``skin / 2``).
        capacity_multiplier: head-room of a freshly allocated neighbour list.
        builder: the :class:`~liquids.neighbors.VerletBuilder` of the
            ``"verlet"`` format, else ``None``.
        force_kernel: ``"host"`` (:mod:`liquids._host_force`, compiled
            for the CPU, each pair once) or ``"xla"`` (any device, each pair
            in both of its rows); both give the same forces up to rounding.
    """

    model: Model
    parameters: KAParameters
    box: np.ndarray
    species: jax.Array
    displacement: Callable
    shift: Callable
    neighbor_fn: partition.NeighborListFns
    neighbor_format: NeighborFormat
    skin: float
    capacity_multiplier: float
    builder: VerletBuilder | None = None
    force_kernel: Literal["host", "xla"] = "xla"
    _shared: dict = dataclasses.field(default_factory=dict, repr=False)

    def allocate(
        self,
        R: Float[Array, "particles dim"],
        extra_capacity: int = 0,
        *,
        capacity: int | None = None,
        cell_capacity: int | None = None,
    ) -> partition.NeighborList:
        """A neighbour list at ``R`` whose shapes are reused between calls.

        Wraps ``neighbor_fn.allocate``: the capacity is at least
        ``capacity_multiplier`` times the neighbour count of a uniform liquid
        at this density (so starts from a lattice do not overflow as soon as
        the liquid forms) and is rounded up to one of four (jax-md's formats)
        or eight (``"verlet"``) sizes per factor of two (padding the list),
        and every list shares one cell-list function, so jitted code taking
        the list is not recompiled each time a list is allocated (jax-md
        makes both part of the pytree structure).

        Args:
            R: ``[particles, dim]`` positions.
            extra_capacity: extra neighbours per particle beyond
                ``capacity_multiplier`` times the current need.
            capacity, cell_capacity: exact list and cell capacities (to
                rebuild the list of a checkpointed run with its old shapes).
        """
        if self.builder is not None:
            return self.builder.allocate(
                R,
                capacity=capacity,
                cell_capacity=cell_capacity,
                capacity_multiplier=self.capacity_multiplier,
                minimum_capacity=self.capacity_multiplier * self._expected_neighbors(),
                extra_capacity=extra_capacity,
            )
        neighbor = self.neighbor_fn.allocate(R, extra_capacity=extra_capacity)
        n = self.num_particles
        limit = {
            "dense": n - 1,
            "sparse": n * (n - 1),
            "ordered_sparse": n * (n - 1) // 2,
        }[self.neighbor_format]
        expected = self._expected_neighbors()
        floor = (
            self.capacity_multiplier
            * {
                "dense": expected,
                "sparse": n * expected,
                "ordered_sparse": 0.5 * n * expected,
            }[self.neighbor_format]
        )
        width = min(bucket(max(neighbor.max_occupancy, floor)), limit)
        width = max(width, neighbor.idx.shape[-1])
        cells = neighbor.cell_list_capacity
        if cells is not None and self.capacity_multiplier >= 1:
            cells = max(cells, self._expected_cell_occupancy())
        cells = None if cells is None else bucket(cells)
        if capacity is not None:
            width, cells = int(capacity), cell_capacity
        idx = neighbor.idx[:, :width]
        pad = [(0, 0), (0, width - idx.shape[-1])]
        neighbor = neighbor.set(
            idx=jnp.pad(idx, pad, constant_values=n),
            max_occupancy=width,
            cell_list_capacity=cells,
            cell_list_fn=self._shared.setdefault("cell_list_fn", neighbor.cell_list_fn),
            # jax-md flagged overflow against its own, smaller capacity;
            # the rebuild below sets the flag against the final one.
            error=partition.PartitionError(jnp.zeros((), jnp.uint8)),
        )
        return rebuild_neighbors(neighbor, R, self.skin)

    def _expected_neighbors(self) -> float:
        """Mean number of particles within the list radius at uniform density."""
        reach = self.max_cutoff + self.skin
        ball = np.pi * reach**2 if self.dimension == 2 else 4 / 3 * np.pi * reach**3
        return self.num_particles / self.volume * ball

    def _expected_cell_occupancy(self) -> int:
        """Generous cell capacity: 1.5 times the mean cell occupancy plus 4.

        Lattice starts fill cells evenly, so jax-md's estimate from the first
        configuration overflows as soon as the liquid forms.
        """
        cells = np.floor(self.box / (self.max_cutoff + self.skin))
        return int(np.ceil(1.5 * self.num_particles / np.prod(cells) + 4))

    @property
    def max_cutoff(self) -> float:
        return self.parameters.max_cutoff

    @property
    def dimension(self) -> int:
        return int(self.box.shape[0])

    @property
    def num_particles(self) -> int:
        return int(self.species.shape[0])

    @property
    def volume(self) -> float:
        return float(np.prod(self.box))

    def _tables(self, dtype):
        p = self.parameters
        return [
            jnp.asarray(x.reshape(-1), dtype)
            for x in (p.epsilon, p.sigma**2, p.cutoff**2, p.shift)
        ]

    def _pairs_energy(self, Ri, Rj, si, sj, valid, scale):
        box = jnp.asarray(self.box, Ri.dtype)
        dR = space.periodic_displacement(box, Ri - Rj) * scale
        dr2 = jnp.sum(dR * dR, axis=-1)
        eps, sig2, rc2, shift = self._tables(Ri.dtype)
        k = si * 2 + sj
        return _pair_energy(dr2, eps[k], sig2[k], rc2[k], shift[k], valid)

    def _energy(self, R, neighbor, scale):
        n = R.shape[0]
        s = self.species
        idx = neighbor.idx
        if self._is_dense:
            if scale == 1.0:
                return 0.5 * jnp.sum(self._dense_rows(R, idx, "energy"))
            valid = idx < n
            Rj = jnp.take(R, idx, axis=0, mode="clip")
            sj = jnp.take(s, idx, axis=0, mode="clip")
            e = self._pairs_energy(R[:, None, :], Rj, s[:, None], sj, valid, scale)
            return 0.5 * jnp.sum(e)
        i, j = idx[0], idx[1]
        valid = (i < n) & (j < n)
        Ri = jnp.take(R, i, axis=0, mode="clip")
        Rj = jnp.take(R, j, axis=0, mode="clip")
        si = jnp.take(s, i, mode="clip")
        sj = jnp.take(s, j, mode="clip")
        e = jnp.sum(self._pairs_energy(Ri, Rj, si, sj, valid, scale))
        return 0.5 * e if self.neighbor_format == "sparse" else e

    @property
    def _is_dense(self) -> bool:
        return self.neighbor_format in ("dense", "verlet")

    def _neighbor_species(self, idx):
        if self.builder is not None:
            return self.builder.neighbor_species(idx)
        return jnp.take(self.species, idx, mode="clip")

    def _dense_rows(self, R, idx, quantity: str):
        """Per-particle sums over a dense list, in cache-sized row blocks.

        ``quantity`` is ``"force"`` (``[N, dim]``), ``"energy"`` or
        ``"virial"`` (``[N]``, each pair counted in both of its rows). Rows
        are processed about ``DENSE_BLOCK_SLOTS / K`` at a time: at N = 8000 one
        pass over the whole ``[N, K]`` list spills out of cache and runs
        two to three times slower per pair than at N = 1000.
        """
        n, width = idx.shape
        # as few blocks as fit the budget, equal in size
        blocks = max(1, -(-n * width // DENSE_BLOCK_SLOTS))
        block = -(-n // blocks)
        blocks = -(-n // block)  # no block that would only repeat the last

        def one(rows, ix):
            energy, fm, separations = self._dense_terms(R, rows, ix)
            if quantity == "force":
                return jnp.stack([jnp.sum(fm * d, axis=1) for d in separations], -1)
            if quantity == "energy":
                return jnp.sum(energy, axis=1)
            return jnp.sum(fm * sum(d * d for d in separations), axis=1)

        if blocks == 1:
            return one(jnp.arange(n, dtype=jnp.int32), idx)

        # Each block slices the list in place. The last block starts at
        # n - block and overlaps its neighbour, whose rows it recomputes to
        # the same values: padding the list instead would copy all of it
        # (18 MB at N = 32000) on every call.
        def body(b, out):
            start = jnp.minimum(b * block, n - block)
            ix = jax.lax.dynamic_slice_in_dim(idx, start, block, axis=0)
            rows = start + jnp.arange(block, dtype=jnp.int32)
            return jax.lax.dynamic_update_slice_in_dim(out, one(rows, ix), start, 0)

        shape = (n, R.shape[1]) if quantity == "force" else (n,)
        return jax.lax.fori_loop(0, blocks, body, jnp.zeros(shape, R.dtype))

    def _dense_terms(self, R, rows, idx):
        """Pair energies, ``-V'(r)/r`` and separations of ``rows`` of a list.

        Written out instead of differentiated: the gradient of a gather is a
        scatter-add, which XLA runs serially on CPU. Each pair appears in both
        rows of a dense list; the row sums below give the force on the row's
        particle directly (Newton's third law is not used, so no scatter).

        Returns:
            ``(energy [N, K], fm [N, K], separations [dim] of [N, K])`` with
            zeros on padding and beyond the cutoff; ``fm * r_ij`` is the force
            on ``i`` from ``j``.
        """
        n = R.shape[0]
        j = jnp.minimum(idx, n - 1)
        pair = self._neighbor_species(rows)[:, None] + self._neighbor_species(idx)
        p = self.parameters

        def per_pair(table):
            aa, ab, bb = (float(table[0, 0]), float(table[0, 1]), float(table[1, 1]))
            return jnp.where(pair == 0, aa, jnp.where(pair == 1, ab, bb)).astype(
                R.dtype
            )

        eps, sig2 = per_pair(p.epsilon), per_pair(p.sigma**2)
        rc2, shift = per_pair(p.cutoff**2), per_pair(p.shift)
        separations = []
        r2 = jnp.zeros(idx.shape, R.dtype)
        for a, xj in enumerate(_gather_components(R, j)):
            d = R[rows, a][:, None] - xj
            side = float(self.box[a])
            d = d - side * jnp.round(d * (1.0 / side))
            separations.append(d)
            r2 = r2 + d * d
        valid = idx < n
        energy = _pair_energy(r2, eps, sig2, rc2, shift, valid)
        inside = valid & (r2 < rc2)
        inv_r2 = 1.0 / jnp.where(inside, r2, 1.0)
        x6 = (sig2 * inv_r2) ** 3
        fm = jnp.where(inside, 24.0 * eps * (2.0 * x6 * x6 - x6) * inv_r2, 0.0)
        return energy, fm, separations

    def energy(
        self, R: Float[Array, "particles dim"], neighbor: partition.NeighborList
    ) -> Float[Array, ""]:
        """Total potential energy from a neighbour list built by ``neighbor_fn``.

        Args:
            R: ``[particles, dim]`` positions (any image; minimum image is used).
            neighbor: a current neighbour list (check ``did_buffer_overflow``).
        """
        return self._energy(R, neighbor, 1.0)

    def force(
        self, R: Float[Array, "particles dim"], neighbor: partition.NeighborList
    ) -> Float[Array, "particles dim"]:
        """``[particles, dim]`` forces :math:`-\\partial U / \\partial R`.

        Written out analytically for dense lists (``"verlet"``, ``"dense"``),
        ``-jax.grad(energy)`` for the sparse formats. With
        ``force_kernel="host"`` the compiled kernel computes them (each pair
        once); ``neighbor`` must then come from this potential's host search.
        """
        if self.force_kernel == "host":
            return _host_forces(self, R, neighbor.idx)
        if self._is_dense:
            return self._dense_rows(R, neighbor.idx, "force")
        return -jax.grad(self._energy)(R, neighbor, 1.0)

    def energy_dense(self, R: Float[Array, "particles dim"]) -> Float[Array, ""]:
        """Total potential energy summed over all pairs, no neighbour list.

        Cost and memory grow as N^2: meant for small systems, FIRE quenches of
        a few hundred particles, and Hessians (``jax.hessian(pot.energy_dense)``).
        """
        n = R.shape[0]
        valid = ~jnp.eye(n, dtype=bool)
        s = self.species
        e = self._pairs_energy(R[:, None, :], R[None, :, :], s[:, None], s, valid, 1.0)
        return 0.5 * jnp.sum(e)

    def virial(
        self, R: Float[Array, "particles dim"], neighbor: partition.NeighborList
    ) -> Float[Array, ""]:
        """:math:`W = -\\sum_{i<j} r_{ij} V'(r_{ij})` from an affine dilation.

        Computed as :math:`-\\mathrm{d}U(\\lambda R)/\\mathrm{d}\\lambda` at
        :math:`\\lambda = 1`, so it is exact for the truncated potential.
        """
        if self._is_dense:
            return 0.5 * jnp.sum(self._dense_rows(R, neighbor.idx, "virial"))
        return -jax.grad(lambda lam: self._energy(R, neighbor, lam))(
            jnp.asarray(1.0, R.dtype)
        )

    def pressure(
        self,
        R: Float[Array, "particles dim"],
        neighbor: partition.NeighborList,
        kinetic_temperature: Float[Array, ""] | float,
    ) -> Float[Array, ""]:
        """Virial pressure (LJ units :math:`\\epsilon/\\sigma^3`).

        .. math:: P = \\frac{N k_B T}{V} + \\frac{W}{d V},
            \\qquad W = -\\sum_{i<j} r_{ij} V'(r_{ij}),

        with :math:`T` the kinetic temperature (pass the thermostat temperature
        for the configurational estimate at equilibrium). The truncated
        potential has no tail correction (RUMD's reference values have none).
        """
        volume = self.volume
        n = R.shape[0]
        return n * kinetic_temperature / volume + self.virial(R, neighbor) / (
            self.dimension * volume
        )


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _host_forces(potential: KAPotential, R: jax.Array, idx: jax.Array) -> jax.Array:
    """Forces by the compiled kernel (:mod:`liquids._host_force`).

    Its derivatives (Hessian-vector products of the energy, say) are those of
    the XLA kernel: the compiled one has none of its own.
    """
    p = potential.parameters
    constants = _host_force.table(potential.box, p.epsilon, p.sigma, p.cutoff, R.dtype)
    return _host_force.xla_forces(R, potential.species, idx, constants)


@_host_forces.defjvp
def _host_forces_jvp(potential, primals, tangents):
    R, idx = primals
    _, dF = jax.jvp(
        lambda r: potential._dense_rows(r, idx, "force"), (R,), (tangents[0],)
    )
    return _host_forces(potential, R, idx), dF


def rebuild_neighbors(
    neighbor: partition.NeighborList, R: jax.Array, skin: float
) -> partition.NeighborList:
    """Rebuild ``neighbor`` at ``R`` now, keeping its capacity.

    jax-md rebuilds only after a displacement of ``skin / 2``; moving the
    reference positions by ``skin`` forces it. Starting every chunk of a run
    from a freshly built list makes a resumed run step for step identical to
    an uninterrupted one.
    """
    return neighbor.set(reference_position=R + skin).update(R)


def _as_box(box, dim: int) -> np.ndarray:
    require_choice("dim", dim, (2, 3))
    arr = np.asarray(box, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(dim, float(arr))
    if arr.shape != (dim,):
        raise ValueError(
            f"box must be a scalar side or have shape ({dim},) for dim={dim}, "
            f"got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"box side lengths must be positive, got {arr.tolist()}")
    return arr


def _as_species(species) -> np.ndarray:
    arr = np.asarray(species)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"species must be a non-empty 1-d array of labels, got shape {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"species must hold integer labels, got dtype {arr.dtype}")
    bad = np.setdiff1d(np.unique(arr), [0, 1])
    if bad.size:
        raise ValueError(f"species labels must be 0 (A) or 1 (B), got {bad.tolist()}")
    return arr.astype(np.int32)


def kob_andersen(
    model: Model,
    box: float | np.ndarray,
    species: np.ndarray,
    *,
    dim: int = 3,
    skin: float = 0.3,
    neighbor_format: NeighborFormat = "verlet",
    capacity_multiplier: float = 1.08,
    neighbor_search: str = "auto",
    force_kernel: str = "auto",
) -> KAPotential:
    """Build the KA-LJ or KA-WCA potential for a periodic box.

    Args:
        model: ``"lj"`` (attractive, cut at 2.5 sigma_ab) or ``"wca"``
            (repulsive, cut at 2^(1/6) sigma_ab and shifted up by eps_ab).
        box: side length (cubic/square box) or ``[dim]`` side lengths.
        species: ``[particles]`` integer labels, 0 = A, 1 = B; any composition
            (:func:`ka_species` gives the 80:20 mixture).
        dim: spatial dimension, 2 or 3 (inferred check against ``box``).
        skin: neighbour-list skin (LJ length units); the list radius is
            ``max_cutoff + skin`` and it is rebuilt after a displacement of
            ``skin / 2``.
        neighbor_format: ``"verlet"`` (default: :mod:`liquids.neighbors`,
            a cell-list-built dense list with per-pair radii, several times
            faster on CPU) or one of jax-md's formats ``"dense"``,
            ``"sparse"``, ``"ordered_sparse"``.
        capacity_multiplier: head-room of a newly allocated neighbour list:
            its rows hold at least this times the larger of the fullest row
            and the count of a uniform liquid (and, for ``"verlet"`` lists,
            :data:`~liquids.neighbors.ROW_HEADROOM` slots beyond the fullest
            row), rounded up to one of eight sizes per octave. Padded slots
            cost force time like real ones; the fullest row of a liquid
            moves by a few pairs between builds (112-115 of 128 slots over
            30000 steps at N = 1000), and a row that outgrows its list is
            caught and the chunk redone.
        neighbor_search: ``"verlet"`` only: ``"auto"`` (the compiled host
            search when JAX runs on the CPU, else the XLA one), ``"host"`` or
            ``"xla"``; see :class:`liquids.neighbors.VerletBuilder`.
        force_kernel: ``"auto"`` (``"host"`` whenever the list comes from
            the host search, else ``"xla"``), ``"host"`` (compiled for the
            CPU, each pair computed once: 1.6-2 times faster than ``"xla"``
            on one core; needs the ``"verlet"`` format's host search, whose
            rows list each pair's higher index first) or ``"xla"`` (any
            device; each pair computed in both of its rows, no scatter).

    Returns:
        A :class:`KAPotential`.

    Raises:
        ValueError: unknown model, species labels other than 0/1, non-positive
            box, or a box side shorter than ``2 (max_cutoff + skin)`` (the
            minimum-image convention would then miss or double-count pairs).
    """
    require_choice("model", model, KA_PARAMETERS)
    require_choice("neighbor_format", neighbor_format, _FORMATS)
    require_choice("neighbor_search", neighbor_search, SEARCHES)
    require_choice("force_kernel", force_kernel, FORCE_KERNELS)
    if isinstance(skin, bool) or not np.isfinite(skin) or skin < 0:
        raise ValueError(f"skin must be a number >= 0, got {skin!r}")
    require_positive("capacity_multiplier", capacity_multiplier)
    side = _as_box(box, dim)
    labels = _as_species(species)
    params = KA_PARAMETERS[model]

    reach = params.max_cutoff + skin
    if np.any(side < 2.0 * reach):
        raise ValueError(
            f"box sides {side.round(4).tolist()} are too short for model {model!r}: "
            f"each must be >= 2 * (max cutoff {params.max_cutoff:.4g} + skin "
            f"{skin:.4g}) = {2 * reach:.4g}; use more particles or a smaller skin"
        )

    displacement, shift = space.periodic(side)
    builder = None
    if neighbor_format == "verlet":
        builder = verlet_builder(
            side, labels, params.cutoff, skin, search=neighbor_search
        )
        neighbor_fn = partition.NeighborListFns(
            lambda R, extra_capacity=0, **kw: builder.allocate(
                R, extra_capacity=extra_capacity, **kw
            ),
            lambda R, neighbor, **kw: builder.update(R, neighbor),
        )
    else:
        neighbor_fn = partition.neighbor_list(
            displacement,
            side,
            params.max_cutoff,
            dr_threshold=skin,
            capacity_multiplier=capacity_multiplier,
            format=_FORMATS[neighbor_format],
        )
    host_list = builder is not None and builder.search == "host"
    if force_kernel == "auto":
        force_kernel = "host" if host_list else "xla"
    elif force_kernel == "host" and not host_list:
        raise ValueError(
            "force_kernel='host' needs the lists of the host search "
            "(neighbor_format='verlet' with neighbor_search 'host', or 'auto' on "
            f"the CPU), got neighbor_format={neighbor_format!r}"
            + (f", neighbor_search={builder.search!r}" if builder is not None else "")
            + "; use force_kernel='xla' or 'auto'"
        )
    logger.debug(
        "KA-%s potential: N=%d, box=%s, list radius %.3f (%s, %s forces)",
        model.upper(),
        labels.size,
        side.tolist(),
        reach,
        neighbor_format,
        force_kernel,
    )
    return KAPotential(
        model=model,
        parameters=params,
        box=side,
        species=jnp.asarray(labels),
        displacement=displacement,
        shift=shift,
        neighbor_fn=neighbor_fn,
        neighbor_format=neighbor_format,
        skin=float(skin),
        capacity_multiplier=float(capacity_multiplier),
        builder=builder,
        force_kernel=force_kernel,
    )
