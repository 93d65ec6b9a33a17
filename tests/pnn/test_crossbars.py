"""Memristor crossbar: exact without noise, drift law, 1/f read noise."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landscape.config import ConfigError
from pnn.crossbars import (
    Crossbar,
    CrossbarConfig,
    drifted_conductance,
    flicker_noise,
    quantize,
)
from pnn.registry import build_substrate

QUIET = dict(
    programming_noise=0.0,
    device_mismatch=0.0,
    drift_exponent=0.0,
    drift_exponent_spread=0.0,
    read_noise=0.0,
)


def make(**kw):
    base = dict(kind="crossbar", in_dim=5, out_dim=3, dtype="float64", seed=3)
    return build_substrate({**base, **kw})


def batch(n=6, dim=5, seed=1):
    return jax.random.uniform(jax.random.PRNGKey(seed), (n, dim), jnp.float64)


def test_noiseless_crossbar_is_the_matrix_product(x64):
    layer = make(**QUIET)
    params = layer.init(jax.random.PRNGKey(0))
    params["bias"] = jnp.linspace(-0.2, 0.3, 3)
    x = batch()
    expected = np.asarray(x) @ np.asarray(params["weight"]) + np.asarray(params["bias"])
    np.testing.assert_allclose(layer.model(params, x), expected, atol=1e-12)
    y = layer.physical(params, x, jax.random.PRNGKey(9))
    np.testing.assert_allclose(y, expected, atol=1e-12)


def test_gap_makes_physical_differ_and_programming_noise_is_per_query(x64):
    layer = make()
    params = layer.init(jax.random.PRNGKey(0))
    x = batch()
    y1 = layer.physical(params, x, jax.random.PRNGKey(1))
    y2 = layer.physical(params, x, jax.random.PRNGKey(2))
    assert float(jnp.abs(y1 - layer.model(params, x)).max()) > 1e-3
    assert float(jnp.abs(y1 - y2).max()) > 1e-4

    # Programming noise alone: one programming per query, shared by the batch.
    prog = make(**{**QUIET, "programming_noise": 0.05})
    same = jnp.tile(x[:1], (4, 1))
    y = prog.physical(params, same, jax.random.PRNGKey(3))
    np.testing.assert_allclose(y, jnp.broadcast_to(y[:1], y.shape), atol=1e-12)
    assert float(jnp.abs(y[0] - prog.model(params, same)[0]).max()) > 1e-4


def test_weights_clip_to_the_conductance_window(x64):
    layer = make(**QUIET, weight_max=0.5)
    params = {"weight": jnp.full((5, 3), 2.0), "bias": jnp.full(3, -3.0)}
    projected = layer.project(params)
    assert float(jnp.abs(projected["weight"]).max()) == 0.5
    np.testing.assert_allclose(
        layer.model(params, batch()), layer.model(projected, batch()), atol=1e-12
    )
    g_plus, g_minus = layer.conductances(params)
    c = layer.config
    for g in (g_plus, g_minus):
        assert float(g.min()) >= c.g_min and float(g.max()) <= c.g_max + 1e-12


def test_drift_follows_the_power_law(x64):
    t = np.logspace(0, 6, 7)
    g = np.asarray(drifted_conductance(jnp.asarray(20.0), t, 1.0, 0.07))
    slope = np.polyfit(np.log(t), np.log(g), 1)[0]
    np.testing.assert_allclose(slope, -0.07, rtol=1e-10)

    # Through the device: drift only, g_min = 0, no compensation.
    nu, read_time = 0.06, 1e4
    cfg = {
        **QUIET,
        "drift_exponent": nu,
        "g_min": 0.0,
        "read_time": read_time,
        "drift_compensation": False,
    }
    layer = make(**cfg)
    params = layer.init(jax.random.PRNGKey(0))
    x = batch()
    factor = read_time ** (-nu)
    y = layer.physical(params, x, jax.random.PRNGKey(4))
    np.testing.assert_allclose(y, factor * layer.model(params, x), rtol=1e-12)
    compensated = make(**{**cfg, "drift_compensation": True})
    y = compensated.physical(params, x, jax.random.PRNGKey(4))
    np.testing.assert_allclose(y, layer.model(params, x), rtol=1e-12)


@pytest.mark.parametrize("exponent", [1.0, 2.0])
def test_flicker_noise_spectrum_slope_and_variance(x64, exponent):
    n, series = 1024, 128
    noise = np.asarray(
        flicker_noise(jax.random.PRNGKey(5), n, (series,), exponent, jnp.float64)
    )
    np.testing.assert_allclose(noise.var(), 1.0, rtol=0.15)
    psd = np.mean(np.abs(np.fft.rfft(noise, axis=0)) ** 2, axis=1)
    freq = np.fft.rfftfreq(n)
    band = (freq > 4 / n) & (freq < 0.4)
    slope = np.polyfit(np.log(freq[band]), np.log(psd[band]), 1)[0]
    np.testing.assert_allclose(slope, -exponent, atol=0.08)


def test_read_noise_has_the_configured_size(x64):
    layer = make(**{**QUIET, "read_noise": 0.1, "bias": False, "g_min": 0.0})
    params = {"weight": jnp.zeros((5, 3)).at[0, 0].set(1.0)}
    x = jnp.zeros((2048, 5)).at[:, 0].set(1.0)
    y = np.asarray(layer.physical(params, x, jax.random.PRNGKey(6)))[:, 0]
    # One cell at the top of the window: y = 1 + 0.1 n(t), n of unit variance.
    np.testing.assert_allclose(y.mean(), 1.0, atol=0.05)
    np.testing.assert_allclose(y.std(), 0.1, rtol=0.2)


def test_quantize_levels_and_error():
    x = jnp.linspace(-1.5, 1.5, 1001)
    q = np.asarray(quantize(x, 3, 1.0))
    assert len(np.unique(q)) == 8
    inside = np.abs(np.asarray(x)) <= 1.0
    assert np.abs(q - np.asarray(x))[inside].max() <= 1.0 / 7 + 1e-6


def test_gradient_matches_finite_differences(x64):
    layer = make(**QUIET)
    params = jax.tree.map(lambda p: 0.3 * p, layer.init(jax.random.PRNGKey(0)))
    x = batch()
    f = lambda w: jnp.sum(jnp.sin(layer.model({**params, "weight": w}, x)))
    w = params["weight"]
    g = jax.grad(f)(w)
    direction = jax.random.normal(jax.random.PRNGKey(7), w.shape, jnp.float64)
    h = 1e-6
    fd = (f(w + h * direction) - f(w - h * direction)) / (2 * h)
    np.testing.assert_allclose(jnp.vdot(g, direction), fd, rtol=1e-7)
    fw = lambda w: layer.model({**params, "weight": w}, x)
    np.testing.assert_allclose(jax.jacfwd(fw)(w), jax.jacrev(fw)(w), atol=1e-12)


def test_bad_configs_say_what_is_valid():
    with pytest.raises(ConfigError, match="unknown key 'noise'"):
        build_substrate({"kind": "crossbar", "in_dim": 4, "out_dim": 2, "noise": 1})
    with pytest.raises(ConfigError, match="read_noise"):
        build_substrate(
            {"kind": "crossbar", "in_dim": 4, "out_dim": 2, "read_noise": 1.5}
        )
    with pytest.raises(ConfigError, match="kind must be one of"):
        build_substrate({"kind": "memristor", "in_dim": 4, "out_dim": 2})
    with pytest.raises(ValueError, match="g_max"):
        CrossbarConfig(in_dim=4, out_dim=2, g_min=5.0, g_max=1.0)
    with pytest.raises(ValueError, match="read_time"):
        CrossbarConfig(in_dim=4, out_dim=2, read_time=0.5, reference_time=1.0)
    with pytest.raises(ValueError, match="float64"):
        Crossbar(CrossbarConfig(in_dim=4, out_dim=2, dtype="float64")).init(
            jax.random.PRNGKey(0)
        )
