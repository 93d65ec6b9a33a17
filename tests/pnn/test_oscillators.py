"""Oscillator chains: RK4 order, the linear limit against expm, the two faces."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from landscape.config import ConfigError
from pnn.oscillators import rk4_step
from pnn.registry import build_substrate

EXACT = dict(
    extra_coupling=0.0, nonlinearity_error=0.0, frequency_mismatch=0.0, input_noise=0.0
)


def make(**kw):
    base = dict(kind="oscillator", in_dim=3, out_dim=4, seed=5, dtype="float64")
    return build_substrate({**base, **kw})


def test_rk4_is_fourth_order_on_the_harmonic_oscillator(x64):
    force = lambda q, v: -q

    def final(steps, duration=2.0):
        q, v = jnp.asarray(1.0), jnp.asarray(0.0)
        for _ in range(steps):
            q, v = rk4_step(force, q, v, duration / steps)
        return float(q)

    errors = [abs(final(n) - np.cos(2.0)) for n in (10, 20)]
    np.testing.assert_allclose(np.log2(errors[0] / errors[1]), 4.0, atol=0.15)


def test_small_drive_matches_the_linearised_chain(x64):
    layer = make(**EXACT)
    c = layer.config
    params = layer.init(jax.random.PRNGKey(0))
    params = jax.tree.map(lambda p: 1e-3 * p, params)
    params["bias"] = jnp.asarray([1e-3, -2e-3, 5e-4, 1e-3])
    x = jax.random.uniform(jax.random.PRNGKey(1), (2, 3), jnp.float64)
    q = np.asarray(layer.model(params, x))

    n = 4
    springs = np.zeros((n, n))
    for i in range(n - 1):
        springs[i, i] -= c.coupling
        springs[i + 1, i + 1] -= c.coupling
        springs[i, i + 1] += c.coupling
        springs[i + 1, i] += c.coupling
    flow = np.block(
        [[np.zeros((n, n)), np.eye(n)], [springs - np.eye(n), -c.damping * np.eye(n)]]
    )
    drive = np.asarray(x @ params["weight"] + params["bias"])
    for b in range(2):
        augmented = np.zeros((2 * n + 1, 2 * n + 1))
        augmented[: 2 * n, : 2 * n] = flow
        augmented[n : 2 * n, -1] = drive[b]
        z = scipy.linalg.expm(c.duration * augmented)[:, -1]
        np.testing.assert_allclose(q[b], z[:n], rtol=1e-4, atol=1e-10)


def test_gradient_against_finite_differences_and_jacfwd(x64):
    layer = make()
    params = layer.init(jax.random.PRNGKey(0))
    x = jax.random.uniform(jax.random.PRNGKey(1), (2, 3), jnp.float64)
    f = lambda w: layer.model({**params, "weight": w}, x)
    w = params["weight"]
    jac = jax.jacrev(f)(w)
    np.testing.assert_allclose(jac, jax.jacfwd(f)(w), atol=1e-12)
    d = jax.random.normal(jax.random.PRNGKey(2), w.shape, jnp.float64)
    h = 1e-6
    fd = (f(w + h * d) - f(w - h * d)) / (2 * h)
    np.testing.assert_allclose(jnp.tensordot(jac, d, 2), fd, atol=1e-8)


def test_reality_gap_on_and_off(x64):
    x = jax.random.uniform(jax.random.PRNGKey(1), (2, 3), jnp.float64)
    key = jax.random.PRNGKey(3)
    layer = make()
    params = layer.init(jax.random.PRNGKey(0))
    gap = layer.physical(params, x, key) - layer.model(params, x)
    assert float(jnp.abs(gap).max()) > 1e-3
    exact = make(**EXACT)
    np.testing.assert_allclose(
        exact.physical(params, x, key), exact.model(params, x), atol=1e-12
    )


def test_energy_readout_is_nonnegative(x64):
    layer = make(readout="energy")
    params = layer.init(jax.random.PRNGKey(0))
    x = jax.random.uniform(jax.random.PRNGKey(1), (2, 3), jnp.float64)
    energy = np.asarray(layer.model(params, x))
    assert energy.shape == (2, 4) and energy.min() >= 0.0


def test_bad_config():
    with pytest.raises(ConfigError, match="input_noise"):
        make(input_noise=1.5)
    with pytest.raises(ConfigError, match="readout"):
        make(readout="velocity")
