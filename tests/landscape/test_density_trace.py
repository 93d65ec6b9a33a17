"""Stochastic Lanczos quadrature and Hutchinson's trace against exact spectra."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landscape.density import spectral_density
from landscape.trace import hutchinson_trace

DIM = 30


def symmetric_with_spectrum(eigenvalues, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(len(eigenvalues), len(eigenvalues))))
    return (q * np.asarray(eigenvalues)) @ q.T


def as_matvec(matrix):
    matrix = jnp.asarray(matrix)
    return jax.jit(lambda v: matrix @ v)


def test_quadrature_weights_and_exact_nodes(x64, key):
    """5 distinct eigenvalues: nodes are exact after 5 steps, weights sum to 1."""
    distinct = np.array([-1.0, 0.5, 1.0, 2.0, 4.0])
    spectrum = np.repeat(distinct, 6)
    matvec = as_matvec(symmetric_with_spectrum(spectrum, seed=1))

    sd = spectral_density(
        matvec, DIM, key=key, num_probes=4, num_steps=12, dtype=jnp.float64
    )
    assert sd.nodes.shape == sd.weights.shape == (4, 12)
    assert np.all(sd.weights >= 0)
    np.testing.assert_allclose(sd.weights.sum(axis=1), 1.0, rtol=1e-13)
    np.testing.assert_array_equal(sd.num_steps, 5)
    weighted = sd.weights > 0
    assert np.all(weighted.sum(axis=1) == 5)
    np.testing.assert_allclose(
        np.sort(sd.nodes[weighted].reshape(4, 5), axis=1),
        np.tile(distinct, (4, 1)),
        atol=1e-12,
    )


def test_diagonal_operator_weights_are_multiplicities(x64, key):
    """Unit Rademacher probes give node weights = multiplicity / dim exactly,
    and every moment tr(A^p) / dim exactly while p <= 2m - 1."""
    spectrum = np.repeat([0.2, 1.0, 3.0], [15, 10, 5])
    diag = jnp.asarray(spectrum)
    sd = spectral_density(
        lambda v: diag * v, DIM, key=key, num_probes=3, num_steps=8, dtype=jnp.float64
    )

    for probe in range(3):
        for value, count in [(0.2, 15), (1.0, 10), (3.0, 5)]:
            near = np.isclose(sd.nodes[probe], value, atol=1e-10)
            np.testing.assert_allclose(sd.weights[probe][near].sum(), count / DIM)
    for power in range(1, 6):
        np.testing.assert_allclose(sd.moment(power), np.mean(spectrum**power))


def test_density_integrates_to_one_with_matching_moments(x64, key):
    spectrum = np.random.default_rng(2).gamma(2.0, size=DIM)
    matvec = as_matvec(symmetric_with_spectrum(spectrum, seed=3))
    sd = spectral_density(
        matvec, DIM, key=key, num_probes=6, num_steps=10, dtype=jnp.float64
    )

    assert sd.grid.shape == sd.density.shape == (512,)
    assert np.all(sd.density >= 0)
    np.testing.assert_allclose(np.trapezoid(sd.density, sd.grid), 1.0, atol=1e-8)
    mean = np.trapezoid(sd.grid * sd.density, sd.grid)
    np.testing.assert_allclose(mean, sd.moment(1), rtol=1e-8)
    # broadening adds sigma^2 to the second moment
    second = np.trapezoid(sd.grid**2 * sd.density, sd.grid)
    np.testing.assert_allclose(second, sd.moment(2) + sd.sigma**2, rtol=1e-8)
    # the first moment is an unbiased estimate of tr(A) / dim
    per_probe = np.sum(sd.weights * sd.nodes, axis=1)
    stderr = per_probe.std(ddof=1) / np.sqrt(len(per_probe))
    assert abs(sd.moment(1) - spectrum.mean()) < 4 * stderr + 1e-12
    # Gauss quadrature is exact up to degree 2m - 1 = 19 for each probe's form,
    # so the spread of estimates of tr(A^2)/dim is sampling noise only
    assert abs(sd.moment(2) - np.mean(spectrum**2)) < 0.2 * np.mean(spectrum**2)


def test_density_on_given_grid_and_sigma(x64, key):
    diag = jnp.asarray(np.repeat([1.0, 2.0], 15))
    grid = np.linspace(0.0, 3.0, 3001)
    sd = spectral_density(
        lambda v: diag * v,
        DIM,
        key=key,
        grid=grid,
        sigma=0.05,
        num_steps=4,
        dtype=jnp.float64,
    )
    assert sd.sigma == 0.05
    np.testing.assert_array_equal(sd.grid, grid)
    peak = np.exp(0.0) / (np.sqrt(2 * np.pi) * 0.05) * 0.5  # half the mass at 1
    np.testing.assert_allclose(sd.density[1000], peak, rtol=1e-8)


def test_density_bad_arguments(key):
    matvec = lambda v: v
    with pytest.raises(ValueError, match="num_steps"):
        spectral_density(matvec, 4, key=key, num_steps=0)
    with pytest.raises(ValueError, match="sigma"):
        spectral_density(matvec, 4, key=key, sigma=-1.0)
    with pytest.raises(ValueError, match="grid"):
        spectral_density(matvec, 4, key=key, grid=[0.0, np.nan])


def test_hutchinson_is_exact_on_diagonal(x64, key):
    diag = jnp.asarray(np.random.default_rng(4).normal(size=DIM))
    estimate = hutchinson_trace(
        lambda v: diag * v, DIM, key=key, num_probes=5, dtype=jnp.float64
    )
    np.testing.assert_allclose(estimate.samples, float(diag.sum()), rtol=1e-13)
    assert estimate.stderr < 1e-12


def test_hutchinson_is_unbiased_on_dense(x64, key):
    matrix = symmetric_with_spectrum(np.random.default_rng(5).normal(size=DIM), seed=6)
    estimate = hutchinson_trace(
        as_matvec(matrix), DIM, key=key, num_probes=200, dtype=jnp.float64
    )
    assert abs(estimate.mean - np.trace(matrix)) < 4 * estimate.stderr
    # the Rademacher variance of one sample is 2 sum_{i != j} A_ij^2
    off = matrix - np.diag(np.diag(matrix))
    predicted = np.sqrt(2 * np.sum(off**2) / 200)
    np.testing.assert_allclose(estimate.stderr, predicted, rtol=0.25)


def test_hutchinson_bad_arguments(key):
    with pytest.raises(ValueError, match="num_probes"):
        hutchinson_trace(lambda v: v, 3, key=key, num_probes=0)
    with pytest.raises(ValueError, match="dim"):
        hutchinson_trace(lambda v: v, 0, key=key)
