"""The softness SVM on data with a known separating plane; HDF5 round trip."""

import numpy as np
import pytest

from liquids.features import FeatureGrid, StructureFunctions
from liquids.softness import (
    Hyperplane,
    fit_hyperplane,
    load_hyperplane,
    save_hyperplane,
    softness,
)

GRID = FeatureGrid.uniform(0.8, 1.2, 0.1, delta=0.1)  # 2 species x 5 shells
D = GRID.num_features


@pytest.fixture(scope="module")
def data():
    """Features of two species, each labelled by its own plane (with margin)."""
    rng = np.random.default_rng(0)
    n = 600
    species = (np.arange(n) >= 400).astype(int)
    x = 3.0 + rng.normal(size=(n, D)) * rng.uniform(0.2, 5.0, size=D)
    normals = rng.normal(size=(2, D))
    offsets = np.array([0.3, -0.2])
    z = (x - 3.0) / x.std(axis=0)
    margin = np.einsum("nd,nd->n", z, normals[species]) + offsets[species]
    keep = np.abs(margin) > 0.3
    labels = (margin > 0).astype(int)
    return x[keep], labels[keep], species[keep], normals


@pytest.fixture(scope="module")
def hyperplane(data):
    x, labels, species, _ = data
    return fit_hyperplane(x, labels, species, GRID, seed=1)


def as_features(x):
    radial = x.reshape(1, -1, GRID.num_species, GRID.num_shells)
    return StructureFunctions(
        radial=radial, angular=np.zeros((1, x.shape[0], 0)), grid=GRID
    )


def test_recovered_hyperplane_separates_known_planes(data, hyperplane):
    x, labels, species, _ = data
    s = softness(hyperplane, as_features(x), species)[0]
    assert np.mean((s > 0) == (labels == 1)) > 0.97
    for q in hyperplane.quality:
        assert q.test_accuracy > 0.93 and q.test_rearranging_positive > 0.9
        assert q.C in (1e-3, 1e-2, 1e-1, 1.0, 10.0)
    np.testing.assert_allclose(np.linalg.norm(hyperplane.weights, axis=1), 1.0)


def test_weights_point_along_the_true_normal(data, hyperplane):
    x, _, species, normals = data
    for row, s in enumerate(hyperplane.central):
        # Both live in standardised space up to the per-feature scale ratio.
        ratio = x[species == s].std(axis=0) / x.std(axis=0)
        truth = normals[s] * ratio
        w = hyperplane.weights[row]
        assert w @ truth / np.linalg.norm(truth) > 0.95


def test_softness_is_the_signed_distance_in_standardised_space(data, hyperplane):
    x, _, species, _ = data
    s = softness(hyperplane, as_features(x), species)[0]
    for row, c in enumerate(hyperplane.central):
        z = (x[species == c] - hyperplane.mean[row]) / hyperplane.scale[row]
        direct = z @ hyperplane.weights[row] + hyperplane.intercept[row]
        np.testing.assert_allclose(s[species == c], direct, rtol=1e-10, atol=1e-10)


def test_reloaded_hyperplane_gives_identical_softness(tmp_path, data, hyperplane):
    x, _, species, _ = data
    path = tmp_path / "weights.h5"
    save_hyperplane(path, hyperplane)
    loaded = load_hyperplane(path, grid=GRID)
    assert loaded.grid == GRID and loaded.quality == hyperplane.quality
    np.testing.assert_array_equal(
        softness(loaded, as_features(x), species),
        softness(hyperplane, as_features(x), species),
    )


def test_other_grid_is_a_clear_error(tmp_path, hyperplane):
    path = tmp_path / "weights.h5"
    save_hyperplane(path, hyperplane)
    other = FeatureGrid.uniform(0.8, 1.3, 0.1, delta=0.1)
    with pytest.raises(ValueError, match="different feature grid"):
        load_hyperplane(path, grid=other)
    features = StructureFunctions(
        radial=np.zeros((1, 3, 2, 6)), angular=np.zeros((1, 3, 0)), grid=other
    )
    with pytest.raises(ValueError, match="different feature grid"):
        softness(hyperplane, features, np.zeros(3, int))


def test_too_few_samples_and_bad_shapes():
    x = np.zeros((12, D))
    labels = np.array([0, 1] * 6)
    with pytest.raises(ValueError, match="need at least 10 of each"):
        fit_hyperplane(x, labels, np.zeros(12, int), GRID)
    with pytest.raises(ValueError, match="must have shape"):
        Hyperplane(
            grid=GRID,
            central=np.array([0]),
            mean=np.zeros((1, D)),
            scale=np.ones((1, D)),
            weights=np.zeros((1, D + 1)),
            intercept=np.zeros(1),
        )


def test_arrhenius_fit_recovers_barriers_of_exact_rates():
    from liquids.softness_study import _arrhenius

    temps = np.array([0.55, 0.65, 0.8, 1.0])
    delta_e = np.array([3.0, 2.0, 1.0])
    sigma = np.array([1.0, 0.5, 0.2])
    p_r = np.exp(sigma[None, :] - delta_e[None, :] / temps[:, None])
    p_r[0, 2] = np.nan  # an empty bin at one T is skipped
    fit_e, fit_sigma = _arrhenius(temps, p_r)
    np.testing.assert_allclose(fit_e, delta_e, rtol=1e-10)
    np.testing.assert_allclose(fit_sigma, sigma, rtol=1e-10)


def test_dead_shell_gets_zero_weight(data):
    x, labels, species, _ = data
    x = x.copy()
    x[:, 0] = 1e-9 * np.arange(len(x))  # a shell that no pair reaches
    hp = fit_hyperplane(x, labels, species, GRID, c_values=(1.0,), seed=1)
    np.testing.assert_array_equal(hp.weights[:, 0], 0.0)
    np.testing.assert_array_equal(hp.scale[:, 0], 1.0)
    assert np.all(np.abs(hp.raw_weights()) < 1e3)
