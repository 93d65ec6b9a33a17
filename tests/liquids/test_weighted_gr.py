"""Mean softness from g(r) equals the mean of per-particle softness."""

import numpy as np
import pytest
from scipy import integrate

from liquids.features import AngularTerm, FeatureGrid, structure_functions
from liquids.softness import Hyperplane, softness
from liquids.structure import PairCorrelation, pair_correlation
from liquids.weighted_gr import (
    mean_softness_from_pairs,
    weight_function,
    weighted_integral,
)

N = 150
BOX = np.full(3, (N / 1.2) ** (1 / 3))
GRID = FeatureGrid.uniform(0.7, 1.8, 0.1, delta=0.1, cutoff=2.4)


@pytest.fixture(scope="module")
def case():
    """Four frames of random points and a random unit-norm hyperplane."""
    import jax

    rng = np.random.default_rng(0)
    positions = rng.uniform(0, BOX[0], (4, N, 3))
    species = (np.arange(N) >= 120).astype(int)
    with jax.enable_x64(True):
        features = structure_functions(positions, species, BOX, GRID, dtype=np.float64)
    x = features.flat().reshape(-1, GRID.num_features)
    w = rng.normal(size=(2, GRID.num_features))
    hyperplane = Hyperplane(
        grid=GRID,
        central=np.array([0, 1]),
        mean=np.tile(x.mean(axis=0), (2, 1)),
        scale=np.tile(x.std(axis=0) + 1e-3, (2, 1)),
        weights=w / np.linalg.norm(w, axis=1, keepdims=True),
        intercept=np.array([0.1, -0.2]),
    )
    s = softness(hyperplane, features, species)
    per_particle = np.array([s[:, species == a].mean() for a in (0, 1)])
    return positions, species, hyperplane, per_particle


def test_pair_form_equals_mean_per_particle_softness_exactly(case):
    positions, species, hyperplane, per_particle = case
    from_pairs = mean_softness_from_pairs(hyperplane, positions, species, BOX)
    np.testing.assert_allclose(from_pairs, per_particle, rtol=1e-12, atol=1e-12)


def test_histogram_integral_converges_with_bin_width(case):
    positions, species, hyperplane, per_particle = case
    errors, scale = [], None
    for bins in (120, 2400, 48000):
        gr = pair_correlation(positions, species, BOX, r_max=2.4, num_bins=bins)
        result = weighted_integral(hyperplane, gr)
        errors.append(np.abs(result.mean_softness - per_particle))
        scale = np.abs(result.contributions).sum(axis=1)
    errors = np.array(errors)
    assert np.all(errors[-1] < errors[0] / 30)
    # Within-bin positions are lost, so the rest is sampling noise ~ bin / sqrt(pairs).
    assert np.all(errors[-1] / scale < 1e-4)


def test_ideal_gas_g_gives_the_plain_integral_of_w(case):
    _, _, hyperplane, _ = case
    edges = np.linspace(0, 2.5, 2501)
    counts = np.array([120, 30])
    volume = float(np.prod(BOX))
    gr = PairCorrelation(
        r=0.5 * (edges[1:] + edges[:-1]),
        edges=edges,
        g=np.ones((2, 2, 2500)),
        pair_counts=np.zeros((2, 2, 2500), np.int64),
        species_counts=counts,
        volume=volume,
        num_frames=1,
        dimension=3,
    )
    result = weighted_integral(hyperplane, gr)
    for row, a in enumerate((0, 1)):
        expected = hyperplane.raw_intercept()[row]
        for b in (0, 1):
            rho = (counts[b] - (a == b)) / volume
            value, _ = integrate.quad(
                lambda r, a=row, b=b: (
                    4
                    * np.pi
                    * r**2
                    * weight_function(hyperplane, np.array([r]))[a, b, 0]
                ),
                0,
                GRID.cutoff,
                limit=200,
            )
            expected += rho * value
        assert result.mean_softness[row] == pytest.approx(expected, rel=1e-10)


def test_inputs_the_identity_cannot_use(case):
    positions, species, hyperplane, _ = case
    short = pair_correlation(positions[:1], species, BOX, r_max=2.0, num_bins=20)
    with pytest.raises(ValueError, match="short of the feature cutoff"):
        weighted_integral(hyperplane, short)
    grid = GRID.model_copy(update={"angular": (AngularTerm(xi=1.0),)})
    angular = Hyperplane(
        grid=grid,
        central=np.array([0]),
        mean=np.zeros((1, grid.num_features)),
        scale=np.ones((1, grid.num_features)),
        weights=np.ones((1, grid.num_features)),
        intercept=np.zeros(1),
    )
    with pytest.raises(ValueError, match="radial features only"):
        weight_function(angular, np.linspace(0, 1, 5))
