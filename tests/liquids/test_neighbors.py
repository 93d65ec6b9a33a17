"""The cell-list Verlet builder against a brute-force pair search."""

import concurrent.futures

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from liquids import _ffi, _host_search
from liquids.neighbors import ROW_HEADROOM, _compact, verlet_builder
from liquids.potentials import KA_PARAMETERS, box_length, ka_species, kob_andersen


def brute_force_sets(R, species, side, radius):
    d = R[:, None] - R[None]
    d -= side * np.round(d / side)
    r2 = np.sum(d * d, -1)
    reach2 = radius[species[:, None], species[None]] ** 2
    mask = (r2 < reach2) & ~np.eye(len(R), dtype=bool)
    return [set(np.nonzero(row)[0]) for row in mask]


def list_sets(idx, n):
    return [set(row[row < n].tolist()) for row in np.asarray(idx)]


@pytest.mark.parametrize("search", ["host", "xla"])
@pytest.mark.parametrize(
    "n,dim,shuffle",
    [(2000, 3, False), (1000, 3, True), (400, 2, True), (120, 2, False)],
)
def test_lists_match_brute_force(n, dim, shuffle, search):
    rng = np.random.default_rng(n)
    side = np.full(dim, box_length(n, 1.2, dim))
    species = ka_species(n)
    if shuffle:  # species not in blocks: the gathered-species path
        species = rng.permutation(species)
    R = rng.uniform(0, side, (n, dim)).astype(np.float32)
    cut = KA_PARAMETERS["lj"].cutoff
    builder = verlet_builder(side, species, cut, 0.3, search=search)
    nbrs = builder.allocate(jnp.asarray(R))
    assert not nbrs.did_buffer_overflow
    assert list_sets(nbrs.idx, n) == brute_force_sets(R, species, side, cut + 0.3)
    if search == "xla" and n == 2000:
        assert builder.use_cells(nbrs.cell_list_capacity)  # 4^3 cells
    if search == "xla" and n == 120:
        assert not builder.use_cells(nbrs.cell_list_capacity)


@pytest.mark.parametrize(
    "side,dim,cells_per_reach,all_pairs",
    [
        ((6.0, 6.0, 6.0), 3, 2.0, True),  # no stencil fits: the all-pairs loop
        ((14.0, 7.0, 9.0), 3, 1.0, True),  # 2 cells along y: all pairs
        ((14.0, 7.0, 9.0), 3, 2.0, False),  # rectangular: 10 x 5 x 6 cells
        ((6.0, 6.0), 2, 1.0, True),
        ((16.0, 11.0), 2, 1.0, False),
        ((16.0, 11.0), 2, 2.0, False),
    ],
)
def test_host_search_matches_brute_force_and_reports_overflow(
    side, dim, cells_per_reach, all_pairs
):
    side = np.asarray(side)
    rng = np.random.default_rng(int(side.sum()))
    n = int(1.2 * np.prod(side))
    species = rng.permutation(ka_species(n))
    # positions outside [0, L) too: the search wraps them itself
    R = rng.uniform(-side, 2 * side, (n, dim))
    radius = KA_PARAMETERS["lj"].cutoff + 0.3
    grid = _host_search.stencil(side, radius.max(), cells_per_reach)
    assert (grid is None) == all_pairs
    expect = brute_force_sets(R, species, side, radius)

    def search(capacity):
        return _host_search.search(
            R, species, side, radius**2, capacity, cells_per_reach
        )

    idx, most = search(n - 1)
    assert list_sets(idx, n) == expect
    assert most == max(len(row) for row in expect)
    # too small a capacity: the true count is reported, rows are truncated
    small, count = search(most // 2)
    assert count == most and small.shape == (n, most // 2)
    for row, full in zip(list_sets(small, n), expect, strict=True):
        assert row <= full and len(row) == min(len(full), most // 2)


def test_host_search_is_the_same_in_any_number_of_chunks_and_threads():
    n = 2000  # 4^3 cells
    side = np.full(3, box_length(n))
    rng = np.random.default_rng(11)
    species = rng.permutation(ka_species(n))
    R = rng.uniform(0, side, (n, 3))
    radius2 = (KA_PARAMETERS["lj"].cutoff + 0.3) ** 2
    expect = brute_force_sets(R, species, side, np.sqrt(radius2))
    lists = [
        _host_search.search(R, species, side, radius2, 140, chunks=chunks)
        for chunks in (None, 1, 2, 7)
    ]
    assert list_sets(lists[0][0], n) == expect
    # each row lists its higher neighbours first: the host force kernel
    # reads a row's pairs up to the first lower (or padding) index
    idx = lists[0][0]
    higher = (idx > np.arange(n)[:, None]) & (idx < n)
    first_other = np.argmin(np.column_stack([higher, np.zeros(n, bool)]), axis=1)
    assert np.array_equal(first_other, higher.sum(axis=1))
    assert 0 < higher.sum() < (idx < n).sum()
    for idx, most in lists[1:]:
        assert np.array_equal(idx, lists[0][0]) and most == lists[0][1]
    # from XLA (eight runs on XLA's threads): the same list on any threads
    search = jax.jit(lambda x: _host_search.xla_search(x, species, side, radius2, 140))
    for count in (1, 3):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_ffi, "threads", lambda c=count: c)
            idx, most = search.lower(jnp.asarray(R, jnp.float32)).compile()(
                jnp.asarray(R, jnp.float32)
            )
        assert np.array_equal(idx, lists[0][0]) and int(most) == lists[0][1]
    # callers on several threads at once (a threaded dask worker, say) each
    # get their own list, from NumPy and from XLA
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        shifted = [R + shift for shift in range(4)]
        found = pool.map(
            lambda x: _host_search.search(x, species, side, radius2, 140, chunks=3),
            shifted,
        )
        from_xla = pool.map(lambda x: search(jnp.asarray(x, jnp.float32)), shifted)
        for x, (idx, _), (idx_xla, _) in zip(shifted, found, from_xla, strict=True):
            expect = brute_force_sets(x, species, side, np.sqrt(radius2))
            assert list_sets(idx, n) == expect
            assert list_sets(idx_xla, n) == expect


def test_host_search_from_xla_in_small_boxes_searches_all_pairs():
    side = np.array([6.0, 6.0, 6.0])  # two cells of the list radius: no stencil
    n = 260
    rng = np.random.default_rng(2)
    species = rng.permutation(ka_species(n))
    R = rng.uniform(-side, 2 * side, (n, 3))
    radius = KA_PARAMETERS["lj"].cutoff + 0.3
    assert _host_search.stencil(side, radius.max(), 1.0) is None
    idx, most = _host_search.xla_search(
        jnp.asarray(R, jnp.float32), species, side, radius**2, n - 1
    )
    expect = brute_force_sets(R, species, side, radius)
    assert list_sets(idx, n) == expect
    assert int(most) == max(len(row) for row in expect)


def test_host_search_under_jit_and_vmap():
    n = 300
    side = np.full(3, box_length(n))
    rng = np.random.default_rng(5)
    R = jnp.asarray(rng.uniform(0, side, (2, n, 3)), jnp.float32)
    cut = KA_PARAMETERS["lj"].cutoff
    builder = verlet_builder(side, ka_species(n), cut, 0.3, search="host")
    idx, most, _ = jax.jit(jax.vmap(lambda x: builder.build(x, 160, 0)))(R)
    for k in range(2):
        expect = brute_force_sets(np.asarray(R[k]), ka_species(n), side, cut + 0.3)
        assert list_sets(idx[k], n) == expect
        assert int(most[k]) == max(len(row) for row in expect)


def test_bad_search_is_refused():
    with pytest.raises(ValueError, match="search must be"):
        verlet_builder(
            np.full(3, 10.0), ka_species(10), np.ones((2, 2)), 0.3, search="gpu"
        )
    with pytest.raises(ValueError, match="neighbor_search"):
        kob_andersen("lj", 10.0, ka_species(1200), neighbor_search="gpu")
    xla = kob_andersen("lj", 10.0, ka_species(1200), neighbor_search="xla")
    assert xla.builder.search == "xla"


@pytest.mark.parametrize("search", ["host", "xla"])
def test_row_overflow_is_flagged(search):
    n = 2000
    side = np.full(3, box_length(n))
    rng = np.random.default_rng(0)
    R = jnp.asarray(rng.uniform(0, side, (n, 3)), jnp.float32)
    cut = KA_PARAMETERS["lj"].cutoff
    builder = verlet_builder(side, ka_species(n), cut, 0.3, search=search)
    good = builder.allocate(R)
    assert not good.did_buffer_overflow
    small = builder.allocate(R, capacity=good.max_occupancy // 2)
    assert small.did_buffer_overflow
    assert small.update(R + 0.2).did_buffer_overflow  # rebuilt, still too small


def test_short_rows_get_absolute_headroom():
    # KA-WCA rows hold ~17 pairs: 1.08 x the fullest row would leave one or
    # two slots, less than the fullest row moves between builds.
    n = 500
    side = np.full(3, box_length(n))
    R = jnp.asarray(np.random.default_rng(3).uniform(0, side, (n, 3)), jnp.float32)
    builder = verlet_builder(side, ka_species(n), KA_PARAMETERS["wca"].cutoff, 0.3)
    most = builder.max_neighbors(R)
    assert most < 40  # short rows, so the multiplier alone gives < 6 slots
    assert builder.allocate(R, capacity_multiplier=1.08).max_occupancy >= (
        most + ROW_HEADROOM
    )
    # a multiplier below 1 still asks for a short list (overflow tests)
    short = builder.allocate(R, capacity_multiplier=0.3)
    assert short.max_occupancy < most and short.did_buffer_overflow


def test_cell_overflow_is_flagged_not_silent():
    n = 2000
    side = np.full(3, box_length(n))
    rng = np.random.default_rng(0)
    R = jnp.asarray(rng.uniform(0, side, (n, 3)), jnp.float32)
    builder = verlet_builder(
        side, ka_species(n), KA_PARAMETERS["lj"].cutoff, 0.3, search="xla"
    )
    good = builder.allocate(R)
    # All particles in one corner: the cells overflow.
    crowded = builder.allocate(
        R, capacity=good.max_occupancy, cell_capacity=good.cell_list_capacity
    )
    squeezed = crowded.update(R * 0.5 + 0.0)  # moved far: rebuilt, crowded
    assert squeezed.did_buffer_overflow
    assert not crowded.did_buffer_overflow


def test_update_rebuilds_only_after_half_skin():
    n = 500
    side = np.full(3, box_length(n))
    rng = np.random.default_rng(1)
    R = jnp.asarray(rng.uniform(0, side, (n, 3)))
    pot = kob_andersen("lj", side, ka_species(n), skin=0.4)
    nbrs = pot.allocate(R)
    small = R.at[0, 0].add(0.19)  # < skin / 2: list kept
    assert np.array_equal(nbrs.update(small).reference_position, R)
    big = R.at[0, 0].add(-0.21)  # > skin / 2 (minimum image): rebuilt
    assert np.array_equal(nbrs.update(big).reference_position, big)
    wrapped = R.at[0, 0].set(R[0, 0] + side[0])  # a whole box away: no move
    assert np.array_equal(nbrs.update(wrapped).reference_position, R)


def test_compact_finds_every_true_entry_in_order():
    rng = np.random.default_rng(3)
    keep = rng.random((50, 200)) < rng.random((50, 1)) * 0.4
    keep[0] = False
    keep[1] = True
    pos, count = jax.jit(_compact, static_argnums=1)(jnp.asarray(keep), 100)
    pos, count = np.asarray(pos), np.asarray(count)
    np.testing.assert_array_equal(count, keep.sum(1))
    for row, p, c in zip(keep, pos, count, strict=True):
        expect = np.nonzero(row)[0][:100]
        np.testing.assert_array_equal(p[: len(expect)], expect)
        assert np.all(p[min(c, 100) :] >= 200)


def test_compact_binary_search_path_agrees():
    rng = np.random.default_rng(4)
    keep = rng.random((20, 32 * 45 + 7)) < 0.05  # 46 words: the search path
    pos, count = jax.jit(_compact, static_argnums=1)(jnp.asarray(keep), 120)
    pos, count = np.asarray(pos), np.asarray(count)
    np.testing.assert_array_equal(count, keep.sum(1))
    for row, p in zip(keep, pos, strict=True):
        expect = np.nonzero(row)[0][:120]
        np.testing.assert_array_equal(p[: len(expect)], expect)
