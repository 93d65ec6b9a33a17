"""Data sets (shapes, determinism, geometry) and models (shapes, sizes)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landscape.datasets import Dataset, digits, load_dataset, mnist1d, spiral
from landscape.models import (
    MLP,
    ModelConfig,
    build_model,
    init_params,
    make_apply_fn,
    num_params,
)


def _check_split(data: Dataset, n_train, n_test, features, classes):
    assert data.x_train.shape == (n_train, features)
    assert data.x_test.shape == (n_test, features)
    assert data.y_train.shape == (n_train,) and data.y_test.shape == (n_test,)
    assert data.num_classes == classes
    assert np.all(np.isfinite(data.x_train)) and np.all(np.isfinite(data.x_test))
    assert set(np.unique(data.y_train)) == set(range(classes))


def test_spiral_shapes_balance_and_determinism():
    data = spiral(num_per_class=50, seed=1)
    _check_split(data, 150, 150, 2, 3)
    np.testing.assert_array_equal(np.bincount(data.y_train), [50, 50, 50])
    again = spiral(num_per_class=50, seed=1)
    np.testing.assert_array_equal(data.x_train, again.x_train)
    np.testing.assert_array_equal(data.x_test, again.x_test)
    assert not np.allclose(data.x_train, spiral(num_per_class=50, seed=2).x_train)
    assert not np.allclose(data.x_train, data.x_test)
    assert "spiral" in repr(data) and "train 150" in repr(data)


def test_spiral_geometry():
    """Radii evenly spaced in [0, 1]; without noise, angle = 2 pi j / 3 + 4 pi r."""
    data = spiral(num_per_class=40, noise=0.0)
    r = np.hypot(data.x_train[:, 0], data.x_train[:, 1])
    for j in range(3):
        rj = r[data.y_train == j]
        np.testing.assert_allclose(rj, np.linspace(0, 1, 40), atol=1e-12)
        pts = data.x_train[data.y_train == j][1:]
        angle = np.arctan2(pts[:, 0], pts[:, 1])  # x = r sin t, y = r cos t
        expected = 2 * np.pi * j / 3 + 4 * np.pi * rj[1:]
        np.testing.assert_allclose(np.cos(angle - expected), 1.0, atol=1e-9)
    noisy = spiral(num_per_class=2000, noise=0.2, seed=0)
    x, y = noisy.x_train, noisy.y_train
    rr = np.hypot(x[:, 0], x[:, 1])
    resid = np.angle(
        np.exp(1j * (np.arctan2(x[:, 0], x[:, 1]) - 2 * np.pi * y / 3 - 4 * np.pi * rr))
    )
    np.testing.assert_allclose(resid[rr > 0].std(), 0.2, rtol=0.05)


def test_digits_scaled_and_stratified():
    data = digits(seed=0)
    _check_split(data, 1437, 360, 64, 10)
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    frac = np.bincount(data.y_test) / np.bincount(data.y_train)
    np.testing.assert_allclose(frac, 0.25, atol=0.02)
    np.testing.assert_array_equal(data.y_test, digits(seed=0).y_test)


def test_mnist1d_generator_split_and_global_state():
    np.random.seed(123)  # noqa: NPY002 (the generator uses global state)
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    data = mnist1d()
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # noqa: NPY002
    _check_split(data, 4000, 1000, 40, 10)
    counts = np.bincount(np.concatenate([data.y_train, data.y_test]))
    np.testing.assert_array_equal(counts, 500)


def test_load_dataset_errors():
    with pytest.raises(ValueError, match="valid names: \\['digits', 'mnist1d'"):
        load_dataset("cifar")
    with pytest.raises(TypeError):
        load_dataset("spiral", num_per_klass=3)
    with pytest.raises(ValueError, match="noise"):
        load_dataset("spiral", noise=-1.0)
    bad = np.ones((4, 2))
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="x_train contains 1 NaN"):
        Dataset(bad, np.zeros(4, int), bad[1:], np.zeros(3, int), 2, "x")


def test_mlp_shapes_and_param_count():
    cfg = ModelConfig(kind="mlp", widths=(8, 5), activation="tanh")
    model = build_model(cfg, num_classes=3)
    params = init_params(model, 0, jnp.ones((4, 2)))
    assert num_params(params) == (2 * 8 + 8) + (8 * 5 + 5) + (5 * 3 + 3)
    out = make_apply_fn(model)(params, jnp.ones((7, 2)))
    assert out.shape == (7, 3)
    nobias = MLP(widths=(8,), num_classes=3, use_bias=False)
    assert num_params(init_params(nobias, 0, jnp.ones((1, 2)))) == (2 * 8 + 8 * 3)


def test_mlp_matches_numpy_forward():
    model = build_model(ModelConfig(widths=(6,)), num_classes=3)
    params = init_params(model, 1, jnp.ones((1, 2)))
    x = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    p = jax.tree_util.tree_map(np.asarray, params)
    h = np.maximum(x @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"], 0)
    ref = h @ p["Dense_1"]["kernel"] + p["Dense_1"]["bias"]
    np.testing.assert_allclose(make_apply_fn(model)(params, x), ref, rtol=1e-5)


def test_cnn_shapes_param_count_and_float64(x64):
    w = 4
    model = build_model(ModelConfig(kind="cnn", width=w), 10, dtype=jnp.float64)
    params = init_params(model, 0, jnp.ones((1, 64)))
    conv = lambda cin, cout: 9 * cin * cout + cout
    expected = (
        conv(1, w) + conv(w, w) + conv(w, 2 * w) + conv(2 * w, 4 * w) + 4 * w * 10 + 10
    )
    assert num_params(params) == expected
    out = make_apply_fn(model)(params, jnp.ones((3, 64)))
    assert out.shape == (3, 10) and out.dtype == jnp.float64
    assert all(p.dtype == jnp.float64 for p in jax.tree_util.tree_leaves(params))
