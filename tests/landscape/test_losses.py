"""Cyclic class weights and losses: invariants and independent NumPy checks."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from landscape.config import ConfigError, parse_config
from landscape.losses import (
    LossConfig,
    class_weights_at,
    cyclic_class_weights,
    cyclic_cross_entropy,
    cyclic_mse_component,
    cyclic_mse_sample,
    loss_function,
)

C, T, A = 3, 100, 70.0
STEPS = np.arange(0, 7 * T + 1)


@pytest.fixture(scope="module")
def weights():
    """Weights at every step of 7 periods, from one jitted vmap."""
    fn = jax.jit(jax.vmap(lambda s: cyclic_class_weights(s, C, T, A)))
    return np.asarray(fn(jnp.asarray(STEPS)))


def test_weights_sum_to_num_classes(weights):
    np.testing.assert_allclose(weights.sum(1), C, rtol=1e-6)


def test_weights_uniform_at_period_boundaries(weights):
    np.testing.assert_allclose(weights[STEPS % T == 0], 1.0, rtol=1e-6)


def test_peak_values_for_three_classes(weights):
    peak = weights[T // 2]
    np.testing.assert_allclose(np.sort(peak), [3 / 72, 3 / 72, 210 / 72], rtol=1e-6)
    np.testing.assert_allclose(peak.max(), 2.917, atol=5e-4)
    np.testing.assert_allclose(np.sort(peak)[0], 0.042, atol=5e-4)


def test_ratio_is_triangle_wave(weights):
    phase = (STEPS % T) / T
    w = 1 + (A - 1) * (1 - np.abs(2 * phase - 1))
    ratio = weights.max(1) / weights.min(1)
    np.testing.assert_allclose(ratio, w, rtol=1e-5)


def test_emphasised_class_advances(weights):
    mid = np.arange(7) * T + T // 2
    np.testing.assert_array_equal(weights[mid].argmax(1), np.arange(7) % C)


def test_amplitude_one_is_uniform():
    w = cyclic_class_weights(jnp.arange(0, 300, 7)[:, None], 4, 50, 1.0)
    np.testing.assert_array_equal(np.asarray(w), 1.0)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("num_classes", dict(num_classes=1, period=10, amplitude=2.0)),
        ("period", dict(num_classes=3, period=0, amplitude=2.0)),
        ("amplitude", dict(num_classes=3, period=10, amplitude=0.5)),
        ("amplitude", dict(num_classes=3, period=10, amplitude=float("nan"))),
    ],
)
def test_bad_schedule_raises(name, kwargs):
    with pytest.raises(ValueError, match=name):
        cyclic_class_weights(0, **kwargs)


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(17, 4)) * 3
    labels = rng.integers(0, 4, size=17)
    gamma = rng.uniform(0.1, 3.0, size=4)
    return logits, labels, gamma


def test_amplitude_one_equals_optax_cross_entropy(x64, batch):
    logits, labels, _ = batch
    ours = cyclic_cross_entropy(jnp.asarray(logits), labels, jnp.ones(4))
    ref = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    np.testing.assert_allclose(ours, ref, rtol=1e-14)


def test_cyclic_cross_entropy_matches_numpy(x64, batch):
    logits, labels, gamma = batch
    shifted = logits - logits.max(1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    ref = -np.mean(gamma[labels] * log_p[np.arange(len(labels)), labels])
    ours = cyclic_cross_entropy(jnp.asarray(logits), labels, gamma)
    np.testing.assert_allclose(ours, ref, rtol=1e-13)


def test_mse_variants_match_numpy(x64, batch):
    logits, labels, gamma = batch
    err2 = (logits - np.eye(4)[labels]) ** 2
    sample = np.mean(gamma[labels] * err2.sum(1))
    component = np.mean((gamma[None, :] * err2).sum(1))
    x = jnp.asarray(logits)
    np.testing.assert_allclose(cyclic_mse_sample(x, labels, gamma), sample, rtol=1e-13)
    np.testing.assert_allclose(
        cyclic_mse_component(x, labels, gamma), component, rtol=1e-13
    )
    plain = err2.sum(1).mean()
    for fn in (cyclic_mse_sample, cyclic_mse_component):
        np.testing.assert_allclose(fn(x, labels, jnp.ones(4)), plain, rtol=1e-13)


def test_cross_entropy_hessian_linear_in_gamma(x64, batch):
    """H of a linear softmax model is linear in Gamma (SCIENCE.md ground truth)."""
    logits, labels, gamma = batch
    x = jnp.asarray(np.random.default_rng(0).normal(size=(17, 3)))

    f = lambda w, g: cyclic_cross_entropy(x @ w.reshape(3, 4), labels, g)
    hessian = jax.jit(jax.hessian(f))

    def hess(g):
        return hessian(jnp.zeros(12) + 0.1, jnp.asarray(g))

    h1, h2 = hess(jnp.asarray(gamma)), hess(jnp.ones(4))
    np.testing.assert_allclose(hess(0.3 * gamma + 2.0), 0.3 * h1 + 2.0 * h2, atol=1e-12)


def test_shape_errors_name_argument(batch):
    logits, labels, _ = batch
    with pytest.raises(ValueError, match="class_weights"):
        cyclic_cross_entropy(jnp.asarray(logits), labels, jnp.ones(3))
    with pytest.raises(ValueError, match="labels"):
        cyclic_mse_sample(jnp.asarray(logits), labels[:-1], jnp.ones(4))
    with pytest.raises(ValueError, match="loss kind"):
        loss_function("hinge")


def test_final_static_period_and_config_validation():
    cfg = LossConfig(amplitude=70.0, period=10, final_static_periods=1)
    fn = jax.jit(lambda s: class_weights_at(cfg, s, 3, num_steps=40))
    assert float(jnp.max(fn(25))) > 1.5
    np.testing.assert_array_equal(np.asarray(fn(35)), 1.0)
    with pytest.raises(ConfigError, match="amplitude"):
        parse_config(LossConfig, {"amplitude": 0.5})
    with pytest.raises(ConfigError, match="unknown key 'ampltude'"):
        parse_config(LossConfig, {"ampltude": 2.0})
    with pytest.raises(ConfigError, match="kind"):
        parse_config(LossConfig, {"kind": "hinge"})
