"""Pair structure: ideal-gas normalisation, lattices, and a NumPy cross-check."""

import jax.numpy as jnp
import numpy as np
import pytest

from liquids.scattering import structure_factor
from liquids.structure import pair_correlation
from liquids.trajectory import Trajectory


def numpy_pair_counts(pos, species, box, edges):
    """Ordered pair histogram ``[S, S, bins]`` by brute force, minimum image."""
    num_species = int(species.max()) + 1
    counts = np.zeros((num_species, num_species, len(edges) - 1), np.int64)
    for frame in pos:
        dr = frame[None, :, :] - frame[:, None, :]
        dr -= box * np.round(dr / box)
        dist = np.sqrt((dr**2).sum(-1))
        off_diagonal = ~np.eye(len(frame), dtype=bool)
        for a in range(num_species):
            for b in range(num_species):
                mask = off_diagonal & (species[:, None] == a) & (species[None] == b)
                counts[a, b] += np.histogram(dist[mask], bins=edges)[0]
    return counts


def random_points(rng, frames, n, box):
    return rng.uniform(0, 1, (frames, n, len(box))) * np.asarray(box)


@pytest.mark.parametrize("n, frames", [(12, 600), (400, 6)])
def test_random_points_give_g_equal_one(n, frames):
    # N_a (N_a - 1) pairs: with N_A = 8, N_B = 4 the wrong N_a^2 would give
    # g = 0.875 and 0.75; (N-1)/N or 1/(N_a N_b) slips are just as visible.
    rng = np.random.default_rng(1)
    box = np.array([4.0, 4.0, 4.0])
    species = (np.arange(n) % 3 == 2).astype(np.int32)
    gr = pair_correlation(
        random_points(rng, frames, n, box), species, box, r_max=2.0, num_bins=8
    )
    ideal = gr.pair_counts / gr.g  # expected counts per bin for g = 1
    for a in range(2):
        for b in range(2):
            observed = gr.pair_counts[a, b].sum()
            expected = ideal[a, b].sum()
            sigma = np.sqrt(expected)
            assert abs(observed - expected) < 4 * sigma + 1, (a, b, observed, expected)
            assert abs(observed / expected - 1) < 0.04
    assert gr.pair_counts.dtype == np.int64
    np.testing.assert_array_equal(gr.pair_counts, gr.pair_counts.transpose(1, 0, 2))
    assert abs(gr.total[-4:].mean() - 1) < 0.05


def test_matches_numpy_all_pairs_in_elongated_box(x64):
    # elongated box: a cell grid along x, all pairs along y and z
    rng = np.random.default_rng(2)
    box = np.array([13.0, 6.0, 5.0])
    species = rng.integers(0, 3, 300).astype(np.int32)
    pos = random_points(rng, 2, 300, box)
    pos[1] -= box / 2  # unwrapped input is wrapped internally
    gr = pair_correlation(pos, species, box, r_max=2.4, num_bins=24, dtype=jnp.float64)
    reference = numpy_pair_counts(np.mod(pos, box), species, box, gr.edges)
    np.testing.assert_array_equal(gr.pair_counts, reference)
    # float32 differs from float64 only for pairs within rounding of an edge
    gr32 = pair_correlation(pos, species, box, r_max=2.4, num_bins=24)
    assert np.abs(gr32.pair_counts - reference).sum() <= 4


def test_frame_batches_count_every_frame_once(x64):
    # 67 frames run as 2 compiled batches of 34 with one masked padding frame
    rng = np.random.default_rng(6)
    box = np.array([4.0, 4.0, 4.0])
    species = (np.arange(20) % 2).astype(np.int32)
    pos = random_points(rng, 67, 20, box)
    gr = pair_correlation(pos, species, box, r_max=2.0, num_bins=5, dtype=jnp.float64)
    reference = numpy_pair_counts(pos, species, box, gr.edges)
    np.testing.assert_array_equal(gr.pair_counts, reference)
    assert gr.num_frames == 67


def test_cell_list_path_matches_numpy_in_2d(x64):
    rng = np.random.default_rng(3)
    box = np.array([20.0, 14.0])
    species = (rng.uniform(size=500) < 0.2).astype(np.int32)
    pos = random_points(rng, 1, 500, box)
    gr = pair_correlation(pos[0], species, box, r_max=2.5, num_bins=10)
    reference = numpy_pair_counts(pos, species, box, gr.edges)
    # float32 distances: a pair may land in the neighbouring bin at an edge
    assert np.abs(gr.pair_counts - reference).sum() <= 4
    assert gr.pair_counts.sum() == reference.sum()
    assert gr.dimension == 2


def lattice(basis, cells, a=1.0):
    grid = np.stack(np.meshgrid(*[np.arange(cells)] * 3, indexing="ij"), -1)
    points = grid.reshape(-1, 1, 3) + np.asarray(basis)[None]
    return a * points.reshape(-1, 3)


@pytest.mark.parametrize(
    "basis, shells",
    [
        ([[0, 0, 0]], [(1.0, 6), (np.sqrt(2), 12)]),
        (
            [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
            [(np.sqrt(0.5), 12), (1.0, 6), (np.sqrt(1.5), 24), (np.sqrt(2), 12)],
        ),
    ],
    ids=["simple-cubic", "fcc"],
)
def test_lattice_peaks_and_coordination(basis, shells):
    cells = 4
    pos = lattice(basis, cells) + 0.123  # away from cell and bin edges
    gr = pair_correlation(pos, None, [cells] * 3, r_max=1.5, num_bins=150)
    nonzero = gr.r[gr.pair_counts[0, 0] > 0]
    expected = [r for r, _ in shells]
    for r in nonzero:  # every peak sits at a lattice shell (bin width 0.01)
        assert np.min(np.abs(np.array(expected) - r)) < 0.01
    total = 0
    for (r, z), (r_next, _) in zip(shells, shells[1:] + [(1.5, 0)], strict=True):
        total += z
        assert gr.coordination_number(0, 0, 0.5 * (r + r_next)) == pytest.approx(total)


def test_trajectory_input_and_pair_density():
    rng = np.random.default_rng(4)
    box = np.array([5.0, 5.0, 5.0])
    species = np.array([0] * 40 + [1] * 10, np.int32)
    pos = random_points(rng, 3, 50, box)
    traj = Trajectory(
        positions=pos,
        images=np.zeros(pos.shape, np.int32),
        species=species,
        box=box,
        times=np.arange(3.0),
    )
    gr = pair_correlation(traj, r_max=2.5, num_bins=10, frames=slice(1, 3))
    direct = pair_correlation(pos[1:], species, box, r_max=2.5, num_bins=10)
    np.testing.assert_array_equal(gr.pair_counts, direct.pair_counts)
    assert gr.num_frames == 2
    assert gr.pair_density(0, 0) == pytest.approx(39 / 125)
    assert gr.pair_density(1, 0) == pytest.approx(40 / 125)
    # coordination number = pair_density * integral of g dV, to rounding
    dv = gr.shell_volumes
    integral = gr.pair_density(0, 1) * np.sum(gr.partial(0, 1) * dv)
    assert gr.coordination_number(0, 1, 2.5) == pytest.approx(integral)


def test_bad_input_is_named():
    pos = np.zeros((10, 3))
    with pytest.raises(ValueError, match="r_max must be <= min"):
        pair_correlation(pos, None, [4.0, 4.0, 3.0], r_max=1.6)
    with pytest.raises(ValueError, match="species must be integers"):
        pair_correlation(pos, np.zeros(9, int), [4.0] * 3, r_max=1.0)
    with pytest.raises(ValueError, match="box is required"):
        pair_correlation(pos, None, None, r_max=1.0)
    gr = pair_correlation(
        np.random.default_rng(0).uniform(0, 4, (10, 3)), None, [4.0] * 3, r_max=1.0
    )
    with pytest.raises(ValueError, match="r_cut must lie"):
        gr.coordination_number(0, 0, 1.5)
    with pytest.raises(ValueError, match="species b"):
        gr.partial(0, 1)


def numpy_structure_factor(pos, box, q_max, shell_width):
    """``<|rho(q)|^2> / N`` over all commensurate q (both signs) by shell."""
    n_max = np.floor(q_max * box / (2 * np.pi)).astype(int)
    ints = np.stack(
        np.meshgrid(*[np.arange(-m, m + 1) for m in n_max], indexing="ij"), -1
    ).reshape(-1, len(box))
    q = 2 * np.pi * ints / box
    norm = np.linalg.norm(q, axis=1)
    keep = (norm > 0) & (norm <= q_max)
    q, norm = q[keep], norm[keep]
    rho = np.exp(-1j * np.einsum("fnd,qd->fqn", pos, q)).sum(-1)
    power = (np.abs(rho) ** 2).mean(0) / pos.shape[1]
    shell = np.floor(norm / shell_width).astype(int)
    out = {}
    for s in np.unique(shell):
        out[s] = (norm[shell == s].mean(), power[shell == s].mean())
    return np.array(list(out.values()))


def test_structure_factor_matches_numpy_and_random_is_one():
    rng = np.random.default_rng(5)
    box = np.array([6.0, 6.0, 7.0])
    pos = random_points(rng, 4, 300, box)
    species = (np.arange(300) % 4 == 0).astype(np.int32)
    sq = structure_factor(pos, species, box, q_max=6.0, max_vectors_per_shell=10**6)
    reference = numpy_structure_factor(pos, box, 6.0, 2 * np.pi / 6.0)
    np.testing.assert_allclose(sq.q, reference[:, 0], rtol=1e-6)
    np.testing.assert_allclose(sq.number_number, reference[:, 1], rtol=2e-3)
    # random points: S -> 1, S_AA, S_BB -> 1 and S_AB -> 0 within noise
    weights = sq.num_vectors / sq.num_vectors.sum()
    assert abs(np.sum(weights * sq.number_number) - 1) < 0.05
    assert abs(np.sum(weights * sq.partial[0, 0]) - 1) < 0.05
    assert abs(np.sum(weights * sq.partial[1, 1]) - 1) < 0.05
    assert abs(np.sum(weights * sq.partial[0, 1])) < 0.05
    # the number-number S(q) is the concentration-weighted sum of partials
    x = sq.species_counts / sq.species_counts.sum()
    combined = np.einsum("a,b,abk->k", np.sqrt(x), np.sqrt(x), sq.partial)
    np.testing.assert_allclose(combined, sq.number_number, rtol=1e-5, atol=1e-6)


def test_structure_factor_bragg_peak_of_a_lattice():
    pos = lattice([[0, 0, 0]], 5) + 0.2
    sq = structure_factor(pos, None, [5.0] * 3, q_max=7.0)
    bragg = np.argmin(np.abs(sq.q - 2 * np.pi))
    # the six vectors (+-2pi, 0, 0)... give S = N; the others in the shell 0
    assert sq.number_number.max() == pytest.approx(sq.number_number[bragg])
    assert sq.number_number[0] == pytest.approx(0, abs=1e-4)


def test_plots_draw_the_results():
    from liquids.plots import plot_pair_correlation, plot_structure_factor

    pos = lattice([[0, 0, 0]], 4) + 0.123
    species = np.arange(64) % 2
    gr = pair_correlation(pos, species, [4.0] * 3, r_max=1.5, num_bins=150)
    ax = plot_pair_correlation(gr)
    assert [line.get_label() for line in ax.lines[:3]] == ["AA", "AB", "BB"]
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), gr.g[0, 1])
    sq = structure_factor(pos, species, [4.0] * 3, q_max=7.0)
    ax = plot_structure_factor(sq, partial=True)
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), sq.partial[1, 1])
