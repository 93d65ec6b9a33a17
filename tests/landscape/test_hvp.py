"""Hessian-vector products against dense Hessians and analytic Hessians."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from landscape.hvp import (
    batched_hessian_matvec,
    batched_hessian_vector_product,
    hessian_matvec,
    hessian_vector_product,
)


def mlp_init(rng, sizes):
    """Plain-JAX MLP parameters: a list of {"w", "b"} dicts (float64 NumPy)."""
    return [
        {"w": rng.normal(size=(m, n)) / np.sqrt(m), "b": np.full(n, 0.1)}
        for m, n in zip(sizes[:-1], sizes[1:], strict=True)
    ]


def mlp_apply(params, x):
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def mse_loss(params, batch):
    x, y = batch
    return jnp.mean(jnp.sum((mlp_apply(params, x) - y) ** 2, axis=-1))


_jitted_hvp = jax.jit(hessian_vector_product, static_argnums=0)


def dense_hessian(fn, params, *args):
    flat, unravel = ravel_pytree(params)
    return jax.jit(jax.hessian(lambda f: fn(unravel(f), *args)))(flat)


@pytest.fixture
def problem(x64):
    rng = np.random.default_rng(1)
    params = jax.tree.map(jnp.asarray, mlp_init(rng, [3, 5, 2]))
    x, y = jnp.asarray(rng.normal(size=(12, 3))), jnp.asarray(rng.normal(size=(12, 2)))
    flat, unravel = ravel_pytree(params)
    v = unravel(jnp.asarray(rng.normal(size=flat.shape)))
    return params, x, y, v


def test_hvp_matches_dense_hessian(problem):
    params, x, y, v = problem
    hessian = dense_hessian(mse_loss, params, (x, y))
    expected = hessian @ ravel_pytree(v)[0]

    got = ravel_pytree(_jitted_hvp(mse_loss, params, v, (x, y)))[0]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)

    matvec, dim, unravel = hessian_matvec(mse_loss, params, (x, y))
    assert dim == hessian.shape[0]
    np.testing.assert_allclose(matvec(ravel_pytree(v)[0]), expected, rtol=1e-12)
    # the flat matvec reproduces the dense Hessian column by column
    columns = jnp.stack([matvec(e) for e in jnp.eye(dim)], axis=1)
    np.testing.assert_allclose(columns, hessian, rtol=1e-11, atol=1e-12)
    assert jax.tree.structure(unravel(columns[:, 0])) == jax.tree.structure(params)


def test_batched_hvp_equals_full_batch(problem):
    params, x, y, v = problem
    full = ravel_pytree(_jitted_hvp(mse_loss, params, v, (x, y)))[0]

    stacked = (x.reshape(3, 4, 3), y.reshape(3, 4, 2))
    got = batched_hessian_vector_product(mse_loss, params, v, stacked)
    np.testing.assert_allclose(ravel_pytree(got)[0], full, rtol=1e-12)

    # unequal sizes (5 + 5 + 2) are weighted by size
    uneven = [(x[:5], y[:5]), (x[5:10], y[5:10]), (x[10:], y[10:])]
    got = batched_hessian_vector_product(mse_loss, params, v, uneven)
    np.testing.assert_allclose(ravel_pytree(got)[0], full, rtol=1e-12)

    matvec, dim, _ = batched_hessian_matvec(mse_loss, params, uneven)
    np.testing.assert_allclose(matvec(ravel_pytree(v)[0]), full, rtol=1e-12)


def test_linear_regression_hessian(x64):
    """MSE of a linear model: H = (2/N) X^T X."""
    x = jnp.asarray(np.random.default_rng(2).normal(size=(20, 4)))
    y = jnp.arange(20.0)
    loss = lambda w, x, y: jnp.mean((x @ w - y) ** 2)
    matvec, dim, _ = hessian_matvec(loss, jnp.zeros(4), x, y)
    hessian = jnp.stack([matvec(e) for e in jnp.eye(dim)], axis=1)
    np.testing.assert_allclose(hessian, 2.0 / 20 * x.T @ x, rtol=1e-12)


def weighted_cross_entropy(w, x, labels, gamma):
    """-(1/N) sum_mu Gamma_{y_mu} log softmax(x_mu W)_{y_mu}, linear model."""
    log_p = jax.nn.log_softmax(x @ w, axis=-1)
    picked = jnp.take_along_axis(log_p, labels[:, None], axis=1)[:, 0]
    return -jnp.mean(gamma[labels] * picked)


def test_softmax_cross_entropy_linear_model_hessian(x64):
    """H = (1/N) sum_mu Gamma_{y_mu} (diag p - p p^T) kron x x^T, W flat [d, C]."""
    num, d, c = 9, 3, 4
    rng = np.random.default_rng(3)
    x_np, w_np = rng.normal(size=(num, d)), rng.normal(size=(d, c))
    labels_np = rng.integers(0, c, size=num)
    gamma_np = np.array([2.5, 0.5, 0.5, 0.5])  # sums to C, as cyclic weights do
    x, w, labels, gamma = map(jnp.asarray, (x_np, w_np, labels_np, gamma_np))

    logits = x_np @ w_np
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g_np = gamma_np[labels_np]
    expected = (
        sum(
            g_np[mu]
            * np.kron(
                np.outer(x_np[mu], x_np[mu]), np.diag(p[mu]) - np.outer(p[mu], p[mu])
            )
            for mu in range(num)
        )
        / num
    )

    matvec, dim, _ = hessian_matvec(weighted_cross_entropy, w, x, labels, gamma)
    hessian = np.stack([matvec(e) for e in jnp.eye(dim)], axis=1)
    np.testing.assert_allclose(hessian, expected, rtol=1e-11, atol=1e-14)

    # linear in Gamma: H(Gamma) = sum_c Gamma_c H(e_c)
    parts = [
        np.stack(
            [
                hessian_matvec(weighted_cross_entropy, w, x, labels, e)[0](u)
                for u in jnp.eye(dim)
            ],
            axis=1,
        )
        for e in jnp.eye(c)
    ]
    np.testing.assert_allclose(
        hessian, sum(g * h for g, h in zip(gamma, parts, strict=True)), atol=1e-13
    )


def test_bad_tangent_raises(problem):
    params, x, y, v = problem
    with pytest.raises(ValueError, match="structure"):
        hessian_vector_product(mse_loss, params, v[:1], (x, y))
    wrong = jax.tree.map(lambda a: jnp.zeros(a.shape + (1,)), params)
    with pytest.raises(ValueError, match="shape"):
        hessian_vector_product(mse_loss, params, wrong, (x, y))
    matvec, dim, _ = hessian_matvec(mse_loss, params, (x, y))
    with pytest.raises(ValueError, match=f"\\({dim},\\)"):
        matvec(jnp.zeros(dim + 1))


def test_bad_batches_raise(problem):
    params, x, y, v = problem
    with pytest.raises(ValueError, match="empty"):
        batched_hessian_vector_product(mse_loss, params, v, [])
    with pytest.raises(ValueError, match="num_batches, batch_size"):
        batched_hessian_vector_product(
            mse_loss, params, v, (x.reshape(3, 4, 3), y.reshape(4, 3, 2))
        )
    with pytest.raises(ValueError, match="leading"):
        batched_hessian_vector_product(mse_loss, params, v, [(x[:5], y[:4])])
