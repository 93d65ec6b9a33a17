"""Lanczos and Ritz pairs against numpy.linalg.eigh."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from landscape.eigen import hessian_eigenvalues, top_eigenvalues
from landscape.hvp import hessian_vector_product
from landscape.lanczos import lanczos, tridiagonal

DIM = 40
_jitted_hvp = jax.jit(hessian_vector_product, static_argnums=0)


def symmetric_with_spectrum(eigenvalues, seed=0):
    """Q diag(eigenvalues) Q^T with a random orthogonal Q (NumPy float64)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(len(eigenvalues), len(eigenvalues))))
    return (q * np.asarray(eigenvalues)) @ q.T


def as_matvec(matrix):
    matrix = jnp.asarray(matrix)
    return jax.jit(lambda v: matrix @ v)


@pytest.fixture
def generic(x64):
    spectrum = np.random.default_rng(1).normal(size=DIM)
    matrix = symmetric_with_spectrum(spectrum)
    return matrix, as_matvec(matrix), np.sort(spectrum)


def test_lanczos_relation_and_orthonormal_basis(generic, key):
    matrix, matvec, _ = generic
    result = lanczos(matvec, DIM, 25, key, dtype=jnp.float64)

    assert result.num_steps == 25
    assert result.alphas.shape == (25,) and result.betas.shape == (24,)
    q = np.asarray(result.basis)
    np.testing.assert_allclose(q @ q.T, np.eye(25), atol=1e-13)
    np.testing.assert_allclose(
        q @ matrix @ q.T, tridiagonal(result.alphas, result.betas), atol=1e-12
    )


@pytest.mark.parametrize("which", ["largest", "smallest", "both"])
def test_extreme_eigenpairs_match_eigh(generic, key, which):
    matrix, matvec, exact = generic
    k = 4
    pairs = top_eigenvalues(
        matvec, DIM, k, key=key, which=which, num_steps=DIM, dtype=jnp.float64
    )
    expected = {
        "largest": exact[::-1][:k],
        "smallest": exact[:k],
        "both": np.concatenate([exact[::-1][:k], exact[:k][::-1]]),
    }[which]

    np.testing.assert_allclose(pairs.values, expected, rtol=1e-12, atol=1e-12)
    vectors = np.asarray(pairs.vectors)
    residual = matrix @ vectors.T - vectors.T * np.asarray(pairs.values)
    np.testing.assert_allclose(np.linalg.norm(residual, axis=0), 0.0, atol=1e-10)
    np.testing.assert_allclose(
        pairs.residuals, np.linalg.norm(residual, axis=0), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-12)


def test_default_steps_converge_top_values(generic, key):
    """With the default number of steps (< dim) the top values are converged."""
    _, matvec, exact = generic
    pairs = top_eigenvalues(matvec, DIM, 3, key=key, dtype=jnp.float64)
    assert pairs.num_matvecs == 26 + 3  # min(dim, 2k + 20) steps + residuals
    np.testing.assert_allclose(pairs.values, exact[::-1][:3], rtol=1e-6)


def test_float32_accuracy(key):
    spectrum = np.linspace(-1.0, 3.0, DIM)
    matvec = as_matvec(symmetric_with_spectrum(spectrum).astype(np.float32))
    pairs = top_eigenvalues(matvec, DIM, 2, key=key, num_steps=DIM)
    assert pairs.values.dtype == jnp.float32
    np.testing.assert_allclose(pairs.values, spectrum[::-1][:2], rtol=1e-5)


def test_breakdown_with_few_distinct_eigenvalues(x64, key):
    """3 distinct eigenvalues: the Krylov space is invariant after 3 steps."""
    spectrum = np.repeat([2.0, 1.0, 0.5], [10, 10, 20])
    matvec = as_matvec(symmetric_with_spectrum(spectrum, seed=4))

    result = lanczos(matvec, DIM, 20, key, dtype=jnp.float64)
    assert result.num_steps == 3
    assert result.basis.shape == (3, DIM) and result.betas.shape == (2,)
    assert np.all(np.isfinite(result.alphas)) and np.all(np.isfinite(result.basis))
    ritz = np.linalg.eigvalsh(tridiagonal(result.alphas, result.betas))
    np.testing.assert_allclose(ritz, [0.5, 1.0, 2.0], rtol=1e-12)

    # restarts on fresh orthogonal vectors recover the multiplicity
    pairs = top_eigenvalues(matvec, DIM, 5, key=key, num_steps=15, dtype=jnp.float64)
    np.testing.assert_allclose(pairs.values, np.full(5, 2.0), rtol=1e-12)
    np.testing.assert_allclose(pairs.residuals, 0.0, atol=1e-12)
    gram = np.asarray(pairs.vectors) @ np.asarray(pairs.vectors).T
    np.testing.assert_allclose(gram, np.eye(5), atol=1e-12)


def test_repeated_eigenvalues_full_decomposition(x64, key):
    spectrum = np.concatenate(
        [np.full(6, 3.0), np.linspace(-2.0, 1.0, DIM - 9), [-4.0] * 3]
    )
    matvec = as_matvec(symmetric_with_spectrum(spectrum, seed=5))
    pairs = top_eigenvalues(
        matvec, DIM, 7, key=key, num_steps=DIM, which="both", dtype=jnp.float64
    )
    exact = np.sort(spectrum)
    np.testing.assert_allclose(
        pairs.values, np.concatenate([exact[::-1][:7], exact[:7][::-1]]), atol=1e-11
    )


def quadratic_energy(params, a, b):
    """0.5 x^T A x + 0.5 y^T B y + sum(x) y[0]^2 / 10 on a pytree {x, y}."""
    x, y = params["x"], params["y"]
    return 0.5 * x @ a @ x + 0.5 * y @ b @ y + jnp.sum(x) * y[0] ** 2 / 10


def test_hessian_eigenpairs_as_pytrees(x64, key):
    rng = np.random.default_rng(6)
    a = jnp.asarray(symmetric_with_spectrum(rng.normal(size=5), seed=7))
    b = jnp.asarray(symmetric_with_spectrum(rng.normal(size=3), seed=8))
    params = {
        "x": jnp.asarray(rng.normal(size=5)),
        "y": jnp.asarray(rng.normal(size=3)),
    }
    flat, unravel = ravel_pytree(params)
    dense = jax.jit(jax.hessian(lambda f: quadratic_energy(unravel(f), a, b)))(flat)

    pairs = hessian_eigenvalues(quadratic_energy, params, 3, a, b, key=key, num_steps=8)
    np.testing.assert_allclose(
        pairs.values, np.linalg.eigvalsh(dense)[::-1][:3], rtol=1e-11
    )
    assert len(pairs.vectors) == 3
    for value, vector in zip(pairs.values, pairs.vectors, strict=True):
        assert jax.tree.structure(vector) == jax.tree.structure(params)
        hv = _jitted_hvp(quadratic_energy, params, vector, a, b)
        residual = jax.tree.map(lambda h, v, lam=value: h - lam * v, hv, vector)
        assert np.linalg.norm(ravel_pytree(residual)[0]) < 1e-10


def test_bad_arguments_raise(generic, key):
    _, matvec, _ = generic
    with pytest.raises(ValueError, match="k must be .* dim=40.*k=41"):
        top_eigenvalues(matvec, DIM, 41, key=key, dtype=jnp.float64)
    with pytest.raises(ValueError, match="k=0"):
        top_eigenvalues(matvec, DIM, 0, key=key, dtype=jnp.float64)
    with pytest.raises(ValueError, match="2k <= dim"):
        top_eigenvalues(matvec, DIM, 21, key=key, which="both", dtype=jnp.float64)
    with pytest.raises(ValueError, match="which"):
        top_eigenvalues(matvec, DIM, 2, key=key, which="top", dtype=jnp.float64)
    with pytest.raises(ValueError, match="num_steps"):
        top_eigenvalues(matvec, DIM, 5, key=key, num_steps=3, dtype=jnp.float64)
    with pytest.raises(ValueError, match="num_steps"):
        lanczos(matvec, DIM, 0, key, dtype=jnp.float64)
    with pytest.raises(ValueError, match="v0 must have shape"):
        lanczos(matvec, DIM, 3, key, dtype=jnp.float64, v0=jnp.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        lanczos(matvec, DIM, 3, key, dtype=jnp.float64, v0=jnp.full(DIM, jnp.nan))
    with pytest.raises(ValueError, match="non-zero"):
        lanczos(matvec, DIM, 3, key, dtype=jnp.float64, v0=jnp.zeros(DIM))


def test_float64_without_x64_is_a_clear_error(key):
    with pytest.raises(ValueError, match="x64"):
        lanczos(lambda v: v, 4, 2, key, dtype=jnp.float64)


def test_nan_operator_is_reported(x64, key):
    with pytest.raises(FloatingPointError, match="non-finite"):
        lanczos(lambda v: v * jnp.nan, 4, 3, key, dtype=jnp.float64)
