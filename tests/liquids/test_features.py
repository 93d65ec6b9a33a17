"""Structure functions against plain NumPy sums and analytic pair values."""

import numpy as np
import pytest

from liquids.features import AngularTerm, FeatureGrid, structure_functions

N = 150
BOX = np.full(3, (N / 1.2) ** (1 / 3))
GRID = FeatureGrid.uniform(
    0.6, 1.8, 0.1, delta=0.1, cutoff=2.2, angular=(AngularTerm(xi=1.5, zeta=2),)
)


def numpy_radial(frame, species, box, grid):
    d = frame[:, None] - frame[None]
    d -= box * np.round(d / box)
    r = np.linalg.norm(d, axis=-1)
    np.fill_diagonal(r, np.inf)
    gauss = np.exp(-((r[..., None] - np.asarray(grid.mu)) ** 2) / (2 * grid.delta**2))
    gauss *= (r < grid.cutoff)[..., None]
    out = np.zeros((len(frame), grid.num_species, grid.num_shells))
    for b in range(grid.num_species):
        out[:, b] = gauss[:, species == b].sum(axis=1)
    return out, d, r


@pytest.fixture(scope="module")
def system():
    rng = np.random.default_rng(3)
    species = (np.arange(N) >= 120).astype(int)
    sparse = rng.uniform(0, BOX[0], (N, 3))
    # Frame 1 crowds a third of the particles into a small ball, so the list
    # allocated on frame 0 overflows and must be reallocated.
    crowded = sparse.copy()
    crowded[:50] = BOX / 2 + 0.35 * (crowded[:50] - BOX / 2)
    positions = np.stack([sparse, crowded, sparse + 7.3 * BOX])
    return positions, species


@pytest.fixture(scope="module")
def features(system):
    import jax

    positions, species = system
    with jax.enable_x64(True):
        return structure_functions(positions, species, BOX, GRID, dtype=np.float64)


def test_radial_matches_numpy_including_overflowing_frame(system, features):
    positions, species = system
    assert features.radial.shape == (3, N, 2, GRID.num_shells)
    for t in range(3):
        expected, _, _ = numpy_radial(positions[t], species, BOX, GRID)
        np.testing.assert_allclose(features.radial[t], expected, rtol=1e-12, atol=1e-12)


def test_periodic_images_do_not_change_features(features):
    np.testing.assert_allclose(features.radial[2], features.radial[0], atol=1e-10)


def test_angular_matches_direct_triple_loop(system, features):
    positions, _ = system
    _, d, r = numpy_radial(positions[0], system[1], BOX, GRID)
    term = GRID.angular[0]
    for i in (0, 77, 140):
        nb = np.nonzero(r[i] < GRID.cutoff)[0]
        total = 0.0
        for a, j in enumerate(nb):
            for k in nb[a + 1 :]:
                rij, rik = -d[i, j], -d[i, k]
                cos = rij @ rik / (np.linalg.norm(rij) * np.linalg.norm(rik))
                r2 = rij @ rij + rik @ rik + (rij - rik) @ (rij - rik)
                total += np.exp(-r2 / term.xi**2) * (1 + term.lam * cos) ** term.zeta
        assert features.angular[0, i, 0] == pytest.approx(total, rel=1e-10)


def test_isolated_pair_gives_one_gaussian_with_delta_as_std(x64):
    box = np.full(3, 10.0)
    grid = FeatureGrid(mu=(0.8, 1.0, 1.3), delta=0.15, cutoff=2.0)
    positions = np.array([[1.0, 1.0, 1.0], [2.1, 1.0, 1.0]])
    features = structure_functions(
        positions, np.array([0, 1]), box, grid, dtype=np.float64
    )
    expected = np.exp(-((1.1 - np.array(grid.mu)) ** 2) / (2 * 0.15**2))
    np.testing.assert_allclose(features.radial[0, 0, 1], expected, rtol=1e-12)
    np.testing.assert_allclose(features.radial[0, 1, 0], expected, rtol=1e-12)
    assert np.all(features.radial[0, 0, 0] == 0) and np.all(
        features.radial[0, 1, 1] == 0
    )
    assert features.flat().shape == (1, 2, 6)


def test_grid_past_cutoff_is_an_error():
    with pytest.raises(ValueError, match="runs past the neighbour cutoff"):
        FeatureGrid(mu=(1.0, 2.0), delta=0.2, cutoff=2.4)
    with pytest.raises(ValueError, match="increasing"):
        FeatureGrid(mu=(1.0, 0.5), delta=0.1, cutoff=2.0)


def test_bad_inputs_are_named():
    positions = np.zeros((1, N, 3))
    with pytest.raises(ValueError, match="half the shortest box side"):
        grid = FeatureGrid.uniform(0.5, 2.5, 0.1)
        structure_functions(positions, np.zeros(N, int), BOX, grid)
    with pytest.raises(ValueError, match="species labels"):
        structure_functions(positions, np.full(N, 2), BOX, GRID)
