"""Clements MZI meshes: layout, unitarity, power, universality, the N = 2 case."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.stats

from landscape.config import ConfigError
from pnn.interferometers import clements_layout, mesh_unitary
from pnn.registry import build_substrate

QUIET = dict(
    phase_noise=0.0,
    crosstalk=0.0,
    shot_noise=0.0,
    thermal_noise=0.0,
    beamsplitter_imbalance=0.0,
)


@functools.partial(jax.jit, static_argnums=2)
def unitary(theta, phi, n, splitting=None, loss_db=0.0):
    return mesh_unitary(theta, phi, n, splitting, loss_db)


def make(**kw):
    base = dict(kind="interferometer", in_dim=3, out_dim=4, modes=4, seed=1)
    return build_substrate({**base, "dtype": "float64", **kw})


def random_phases(n, seed=0):
    m = n * (n - 1) // 2
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
    theta = jax.random.uniform(k1, (m,), jnp.float64, 0, 2 * np.pi)
    phi = jax.random.uniform(k2, (m,), jnp.float64, 0, 2 * np.pi)
    splitting = np.pi / 4 + 0.05 * jax.random.normal(k3, (2, m), jnp.float64)
    return theta, phi, splitting


@pytest.mark.parametrize("n", range(2, 9))
def test_layout_holds_n_choose_2_mzis(n):
    layout = clements_layout(n)
    assert len(layout) == n
    assert sum(col.size for col in layout) == n * (n - 1) // 2
    for col in layout:
        assert np.all(col + 1 < n) and len(set(col) | set(col + 1)) == 2 * col.size


@pytest.mark.parametrize("n", [2, 5])
def test_lossless_mesh_is_unitary_even_with_imbalance(x64, n):
    theta, phi, splitting = random_phases(n)
    for s in (None, splitting):
        u = np.asarray(unitary(theta, phi, n, s))
        np.testing.assert_allclose(u @ u.conj().T, np.eye(n), atol=1e-12)
    lossy = np.asarray(unitary(theta, phi, n, splitting, 0.5))
    singular = np.linalg.svd(lossy, compute_uv=False)
    assert singular.max() < 1.0


def test_single_mzi_matches_the_analytic_splitting(x64):
    layer = make(in_dim=2, out_dim=2, modes=2, **QUIET)
    assert layer.num_mzis == 1
    theta = jnp.linspace(0.1, 3.0, 5)
    x = jnp.asarray([[1.0, 0.0]])
    for t in np.asarray(theta):
        params = {"theta": jnp.asarray([t]), "phi": jnp.asarray([0.7])}
        y = np.asarray(layer.model(params, x))[0]
        np.testing.assert_allclose(y, [np.sin(t / 2) ** 2, np.cos(t / 2) ** 2])
        key = jax.random.PRNGKey(0)
        np.testing.assert_allclose(layer.physical(params, x, key)[0], y, atol=1e-12)


def test_intensities_conserve_power_without_loss(x64):
    layer = make(**QUIET)
    params = layer.init(jax.random.PRNGKey(0))
    x = jax.random.uniform(jax.random.PRNGKey(1), (5, 3), jnp.float64)
    power = np.sum(np.asarray(x) ** 2, axis=1)
    np.testing.assert_allclose(layer.model(params, x).sum(axis=1), power, rtol=1e-12)
    lossy = make(**QUIET, insertion_loss_db=0.3)
    assert np.all(np.asarray(lossy.model(params, x).sum(axis=1)) < power)


def test_mesh_represents_a_random_unitary(x64):
    n, m = 4, 6
    target = scipy.stats.unitary_group.rvs(n, random_state=3)

    def loss(v):
        out_phase = jnp.exp(1j * v[2 * m :])[:, None]
        u = out_phase * mesh_unitary(v[:m], v[m : 2 * m], n)
        return jnp.sum(jnp.abs(u - target) ** 2)

    value_and_grad = jax.jit(jax.value_and_grad(loss))
    fun = lambda v: tuple(np.asarray(a) for a in value_and_grad(jnp.asarray(v)))
    best = np.inf
    for restart in range(5):
        start = np.random.default_rng(restart).uniform(0, 2 * np.pi, 2 * m + n)
        result = scipy.optimize.minimize(
            fun, start, jac=True, method="BFGS", options={"gtol": 1e-12}
        )
        best = min(best, result.fun)
        if best < 1e-18:
            break
    assert best < 1e-18


def test_gradient_matches_finite_differences(x64):
    layer = make(**QUIET, out_dim=2)
    params = layer.init(jax.random.PRNGKey(0))
    x = jax.random.uniform(jax.random.PRNGKey(1), (3, 3), jnp.float64)
    f = lambda th: layer.model({**params, "theta": th}, x)
    theta = params["theta"]
    jac = jax.jacrev(f)(theta)
    np.testing.assert_allclose(jac, jax.jacfwd(f)(theta), atol=1e-12)
    d = jax.random.normal(jax.random.PRNGKey(2), theta.shape, jnp.float64)
    h = 1e-6
    fd = (f(theta + h * d) - f(theta - h * d)) / (2 * h)
    np.testing.assert_allclose(jnp.tensordot(jac, d, 1), fd, atol=1e-8)


def test_imperfections_open_a_gap_and_vanish_when_zero(x64):
    x = jax.random.uniform(jax.random.PRNGKey(1), (5, 3), jnp.float64)
    key = jax.random.PRNGKey(2)
    noisy = make()
    params = noisy.init(jax.random.PRNGKey(0))
    assert (
        float(jnp.abs(noisy.physical(params, x, key) - noisy.model(params, x)).max())
        > 1e-4
    )
    exact = make(**QUIET)
    np.testing.assert_allclose(
        exact.physical(params, x, key), exact.model(params, x), atol=1e-12
    )


def test_quantisation_and_crosstalk_of_the_drivers(x64):
    layer = make(**QUIET, phase_bits=3)
    phases = jnp.linspace(0.05, 2 * np.pi - 0.05, layer.num_mzis)
    realised = np.asarray(layer.driven_phases(phases))
    step = 2 * np.pi / 8
    np.testing.assert_allclose(realised / step, np.round(realised / step), atol=1e-12)
    assert np.abs(realised - np.asarray(phases)).max() <= step / 2 + 1e-12

    hot = make(**{**QUIET, "crosstalk": 0.1})
    realised = np.asarray(hot.driven_phases(phases))
    # Column 0 of a 4-mode mesh holds MZIs 0 and 1 (neighbours); column 1
    # holds MZI 2 alone.
    p = np.asarray(phases)
    np.testing.assert_allclose(realised[:3], p[:3] + 0.1 * np.array([p[1], p[0], 0]))


def test_a_mesh_too_small_for_the_input_is_refused():
    with pytest.raises(ConfigError, match="does not fit in_dim=64"):
        build_substrate(
            {"kind": "interferometer", "in_dim": 64, "out_dim": 10, "modes": 32}
        )
    with pytest.raises(ConfigError, match="crosstalk"):
        build_substrate(
            {"kind": "interferometer", "in_dim": 4, "out_dim": 2, "crosstalk": 2.0}
        )
