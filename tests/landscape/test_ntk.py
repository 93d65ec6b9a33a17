"""Empirical NTK against explicit Jacobians, the Gauss-Newton matrix and the
infinite-width arc-cosine kernel."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from landscape.hvp import hessian_matvec
from landscape.ntk import empirical_ntk, ntk_eigenvalues, ntk_vector_product

NUM, FEATURES, OUTPUTS = 7, 3, 2


def mlp_apply(params, x):
    """Two-layer tanh MLP, [batch, 3] -> [batch, 2]."""
    h = jnp.tanh(x @ params["w1"] + params["b1"])
    return h @ params["w2"] + params["b2"]


def mlp_params(rng, hidden=6):
    return {
        "w1": jnp.asarray(rng.normal(size=(FEATURES, hidden)) / np.sqrt(FEATURES)),
        "b1": jnp.asarray(rng.normal(size=hidden) * 0.1),
        "w2": jnp.asarray(rng.normal(size=(hidden, OUTPUTS)) / np.sqrt(hidden)),
        "b2": jnp.zeros(OUTPUTS),
    }


@jax.jit
def full_jacobian(params, x):
    """[N * k, P] Jacobian, rows sample-major, columns in ravel_pytree order."""
    flat, unravel = ravel_pytree(params)
    return jax.jacrev(lambda f: mlp_apply(unravel(f), x).reshape(-1))(flat)


@pytest.fixture
def net(x64):
    rng = np.random.default_rng(0)
    x1 = jnp.asarray(rng.normal(size=(NUM, FEATURES)))
    x2 = jnp.asarray(rng.normal(size=(4, FEATURES)))
    return mlp_params(rng), x1, x2


@pytest.mark.parametrize("chunk_size", [None, 3])
def test_ntk_equals_jacobian_product(net, chunk_size):
    params, x1, x2 = net
    j1, j2 = full_jacobian(params, x1), full_jacobian(params, x2)

    cross = empirical_ntk(mlp_apply, params, x1, x2, chunk_size=chunk_size)
    assert cross.shape == (NUM * OUTPUTS, 4 * OUTPUTS)
    np.testing.assert_allclose(cross, j1 @ j2.T, rtol=1e-12, atol=1e-13)

    same = empirical_ntk(mlp_apply, params, x1, chunk_size=chunk_size)
    np.testing.assert_allclose(same, j1 @ j1.T, rtol=1e-12, atol=1e-13)

    traced = empirical_ntk(
        mlp_apply, params, x1, x2, trace_outputs=True, chunk_size=chunk_size
    )
    full = np.asarray(j1 @ j2.T).reshape(NUM, OUTPUTS, 4, OUTPUTS)
    np.testing.assert_allclose(traced, np.einsum("aibi->ab", full), rtol=1e-12)


def test_ntk_vector_product_and_eigenvalues(net, key):
    params, x1, _ = net
    kernel = np.asarray(empirical_ntk(mlp_apply, params, x1))
    matvec, dim = ntk_vector_product(mlp_apply, params, x1)
    assert dim == NUM * OUTPUTS
    v = np.random.default_rng(1).normal(size=dim)
    np.testing.assert_allclose(matvec(jnp.asarray(v)), kernel @ v, rtol=1e-12)

    dense = ntk_eigenvalues(mlp_apply, params, x1, 4, key=key, method="dense")
    lanczos = ntk_eigenvalues(
        mlp_apply, params, x1, 4, key=key, method="lanczos", num_steps=dim
    )
    np.testing.assert_allclose(dense, np.linalg.eigvalsh(kernel)[::-1][:4], rtol=1e-12)
    np.testing.assert_allclose(lanczos, dense, rtol=1e-10)
    auto = ntk_eigenvalues(mlp_apply, params, x1, 4, key=key)
    np.testing.assert_allclose(auto, dense, rtol=1e-12)


def mse_loss(params, x, y):
    """(1/N) sum_a |f(x_a) - y_a|^2: summed over outputs, mean over samples."""
    return jnp.mean(jnp.sum((mlp_apply(params, x) - y) ** 2, axis=-1))


def test_gauss_newton_and_ntk_spectra(net):
    """G = (2/N) J^T J; its non-zero spectrum is (2/N) spec(J J^T); H = G at an
    interpolating minimum, H != G away from it."""
    params, x, _ = net
    jac = np.asarray(full_jacobian(params, x))
    gauss_newton = 2.0 / NUM * jac.T @ jac
    kernel = np.asarray(empirical_ntk(mlp_apply, params, x))

    num_params = jac.shape[1]
    g_spec = np.linalg.eigvalsh(gauss_newton)[::-1]
    k_spec = np.linalg.eigvalsh(kernel)[::-1]
    np.testing.assert_allclose(g_spec[: NUM * OUTPUTS], 2.0 / NUM * k_spec, rtol=1e-10)
    np.testing.assert_allclose(g_spec[NUM * OUTPUTS :], 0.0, atol=1e-12)
    assert num_params > NUM * OUTPUTS

    def hessian_at(targets):
        matvec, dim, _ = hessian_matvec(mse_loss, params, x, targets)
        return np.stack([matvec(e) for e in jnp.eye(dim)], axis=1)

    interpolating = mlp_apply(params, x)  # residuals exactly zero
    np.testing.assert_allclose(hessian_at(interpolating), gauss_newton, atol=1e-12)
    off = hessian_at(interpolating + 1.0)
    assert np.abs(off - gauss_newton).max() > 1e-2


def relu_net(params, x):
    """f(x) = sqrt(2 / n) v . relu(sqrt(2 / d) W x), NTK parameterisation."""
    d, n = params["w"].shape
    h = jax.nn.relu(x @ params["w"] * np.sqrt(2.0 / d))
    return h @ params["v"] * np.sqrt(2.0 / n)


def arccos_ntk(x, y):
    """Infinite-width NTK of :func:`relu_net` (sigma_w^2 = sigma_v^2 = 2, no bias).

    With :math:`\\theta = \\arccos(x \\cdot y / |x||y|)` the two arc-cosine
    kernels of ReLU (Cho & Saul 2009) are
    :math:`E[\\phi(u)\\phi(u')] = \\frac{q}{2\\pi}(\\sin\\theta + (\\pi-\\theta)
    \\cos\\theta)` and :math:`E[\\phi'(u)\\phi'(u')] = \\frac{\\pi - \\theta}{2\\pi}`
    for pre-activations of covariance :math:`q = 2 |x||y| / d`. The NTK adds
    the readout term (first kernel) and the hidden term (second kernel times
    :math:`2 x \\cdot y / d`), both times :math:`\\sigma_v^2 = 2`:

    .. math::

        \\Theta(x, y) = \\frac{2 |x| |y|}{\\pi d}
        \\left[\\sin\\theta + 2 (\\pi - \\theta) \\cos\\theta\\right],

    so that :math:`\\Theta(x, x) = 4 |x|^2 / d`.
    """
    d = x.shape[-1]
    norms = np.linalg.norm(x) * np.linalg.norm(y)
    theta = np.arccos(np.clip(x @ y / norms, -1.0, 1.0))
    return (
        2 * norms / (np.pi * d) * (np.sin(theta) + 2 * (np.pi - theta) * np.cos(theta))
    )


def test_wide_relu_ntk_approaches_arccos_kernel(x64):
    d, width = 4, 8192
    rng = np.random.default_rng(3)
    params = {
        "w": jnp.asarray(rng.normal(size=(d, width))),
        "v": jnp.asarray(rng.normal(size=(width, 1))),
    }
    x = rng.normal(size=(4, d))
    x[1] = -0.8 * x[0] + 0.1 * x[1]  # include an obtuse pair
    kernel = np.asarray(empirical_ntk(relu_net, params, jnp.asarray(x)))
    expected = np.array([[arccos_ntk(a, b) for b in x] for a in x])
    np.testing.assert_allclose(np.diag(expected), 4 * np.sum(x**2, axis=1) / d)
    np.testing.assert_allclose(kernel, expected, rtol=0.03, atol=0.01 * expected.max())


def test_bad_inputs_raise(net, key):
    params, x1, x2 = net
    with pytest.raises(ValueError, match="feature shape"):
        empirical_ntk(mlp_apply, params, x1, x2[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        empirical_ntk(mlp_apply, params, x1.at[0, 0].set(jnp.nan))
    with pytest.raises(ValueError, match="chunk_size"):
        empirical_ntk(mlp_apply, params, x1, chunk_size=0)
    with pytest.raises(ValueError, match="k=15"):
        ntk_eigenvalues(mlp_apply, params, x1, 15, key=key)
    with pytest.raises(ValueError, match="method"):
        ntk_eigenvalues(mlp_apply, params, x1, 2, key=key, method="eigh")
    with pytest.raises(ValueError, match=r"\[batch, k\]"):
        empirical_ntk(lambda p, x: mlp_apply(p, x)[:, 0], params, x1)
