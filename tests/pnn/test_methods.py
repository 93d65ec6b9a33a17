"""Training methods: exactness limits, unbiasedness, convergence orders, costs."""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landscape.config import ConfigError, parse_config
from pnn.methods import (
    MethodConfig,
    check_compatible,
    compatible_methods,
    coupled_update,
    equilibrium_gradient,
    get_method,
    spsa_gradient,
    train,
)
from pnn.methods.equilibrium import class_targets
from pnn.methods.zeroth_order import group_size, grouped_spsa_gradient
from pnn.network import AffineReadout, DigitalActivation, Network
from pnn.registry import build_substrate
from tests.pnn.toy_substrates import CountingLayer, TanhLayer

RNG = np.random.default_rng(0)


def toy_data(n_train=96, n_test=32, dim=6, classes=3):
    """Gaussian blobs: linearly separable enough to learn in a few epochs."""
    centres = 2.0 * RNG.standard_normal((classes, dim))
    y = RNG.integers(0, classes, n_train + n_test)
    x = centres[y] + 0.5 * RNG.standard_normal((y.size, dim))
    return split_data(x, y, n_train, classes)


def split_data(x, y, n_train, classes):
    """The first ``n_train`` samples for training, the rest for testing."""
    return SimpleNamespace(
        x_train=x[:n_train].astype(np.float32),
        y_train=y[:n_train],
        x_test=x[n_train:].astype(np.float32),
        y_test=y[n_train:],
        num_classes=classes,
    )


DATA = toy_data()
PERFECT = Network([TanhLayer(6, 5), AffineReadout(5, 3)])
GAPPED = Network(
    [TanhLayer(6, 5, mismatch=0.2, cubic=0.1, noise=0.05), AffineReadout(5, 3)]
)


def config(method, **kw):
    return MethodConfig(method=method, epochs=kw.pop("epochs", 3), batch_size=16, **kw)


def test_physics_aware_with_a_perfect_twin_is_backprop():
    params = PERFECT.init(jax.random.PRNGKey(1))
    x, y = jnp.asarray(DATA.x_train[:16]), jnp.asarray(DATA.y_train[:16])
    key = jax.random.PRNGKey(2)
    cfg = config("physics_aware")
    g_pat, l_pat = get_method("physics_aware").gradient(
        PERFECT, cfg, params, (), x, y, key
    )
    g_bp, l_bp = get_method("backprop").gradient(PERFECT, cfg, params, (), x, y, key)
    for a, b in zip(jax.tree.leaves(g_pat), jax.tree.leaves(g_bp), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(l_pat, l_bp, rtol=1e-6)

    # same parameters after several optimiser steps
    res_pat = train(PERFECT, DATA, config("physics_aware", epochs=2), key)
    res_bp = train(PERFECT, DATA, config("backprop", epochs=2), key)
    for a, b in zip(
        jax.tree.leaves(res_pat.params), jax.tree.leaves(res_bp.params), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_physics_aware_sees_the_reality_gap():
    """With a gap the loss is the physical one, so it differs from backprop's."""
    params = GAPPED.init(jax.random.PRNGKey(1))
    x, y = jnp.asarray(DATA.x_train[:16]), jnp.asarray(DATA.y_train[:16])
    key = jax.random.PRNGKey(2)
    cfg = config("physics_aware")
    _, l_pat = get_method("physics_aware").gradient(GAPPED, cfg, params, (), x, y, key)
    _, l_bp = get_method("backprop").gradient(GAPPED, cfg, params, (), x, y, key)
    logits = GAPPED.physical(params, x, jax.random.split(key, 2)[0])
    assert abs(float(l_pat) - float(l_bp)) > 1e-3
    assert np.isfinite(float(l_pat)) and logits.shape == (16, 3)


def test_spsa_is_unbiased_on_a_quadratic():
    a = jnp.asarray(RNG.standard_normal((4, 4)), jnp.float32)
    hess = a @ a.T + jnp.eye(4)
    b = jnp.asarray(RNG.standard_normal(4), jnp.float32)
    theta = {"w": jnp.asarray(RNG.standard_normal(4), jnp.float32)}
    loss = lambda p, key: 0.5 * p["w"] @ hess @ p["w"] + b @ p["w"]
    true = np.asarray(hess @ theta["w"] + b)

    keys = jax.random.split(jax.random.PRNGKey(3), 4000)
    estimates = jax.vmap(lambda k: spsa_gradient(loss, theta, k, 0.1)[0]["w"])(keys)
    estimates = np.asarray(estimates, np.float64)
    mean = estimates.mean(0)
    stderr = estimates.std(0) / np.sqrt(len(estimates))
    assert np.all(np.abs(mean - true) < 4 * stderr)
    # on a quadratic the central difference is exact: each estimate is (g.D) D
    one, _ = spsa_gradient(loss, theta, keys[0], 0.1)
    delta = one["w"] / (true @ np.sign(np.asarray(one["w"])))
    np.testing.assert_allclose(np.abs(delta), 1.0, rtol=1e-4)


def test_one_perturbation_per_sample_is_unbiased_and_points_closer():
    """Grouped SPSA (one Delta per sample, same two evaluations per sample)
    estimates the batch gradient without bias and with a larger cosine to it
    than one Delta for the whole batch."""
    dim, batch = 50, 16
    anchors = jnp.asarray(1.0 + 0.1 * RNG.standard_normal((batch, dim)), jnp.float32)
    theta = {"w": jnp.zeros(dim, jnp.float32)}

    def loss(p, a, _y, _key):  # mean over the group of 0.5 |w - a_i|^2
        return 0.5 * jnp.mean(jnp.sum((p["w"] - a) ** 2, axis=-1))

    true = np.asarray(theta["w"] - anchors.mean(0))
    y = jnp.zeros(batch, jnp.int32)
    keys = jax.random.split(jax.random.PRNGKey(5), 2000)

    def estimates(per_group):
        one = lambda k: grouped_spsa_gradient(
            loss, theta, anchors, y, k, 0.1, per_group
        )[0]["w"]
        return np.asarray(jax.vmap(one)(keys), np.float64)

    cosine = lambda e: (
        np.mean(e @ true / np.linalg.norm(e, axis=1)) / np.linalg.norm(true)
    )
    per_sample, whole = estimates(1), estimates(batch)
    for e in (per_sample, whole):
        stderr = e.std(0) / np.sqrt(len(e))
        assert np.all(np.abs(e.mean(0) - true) < 4 * stderr)
    # one Delta: E cos = E|g.D| / (sqrt(d)|g|) ~ sqrt(2 / (pi d)) = 0.11;
    # 16 nearly parallel per-sample gradients average 16 directions
    assert 0.07 < cosine(whole) < 0.16
    assert cosine(per_sample) > 2.5 * cosine(whole)
    assert group_size(16, 5) == 4 and group_size(16, 64) == 16


@pytest.mark.parametrize(
    ("method", "per_sample"),
    [("backprop", 0), ("physics_aware", 1), ("spsa", 2), ("feedback_alignment", 1)],
)
def test_physical_evaluations_are_counted_exactly(method, per_sample):
    layer = CountingLayer(6, 3)
    network = Network([layer])
    cfg = config(method, epochs=2)
    layer.reset()
    result = train(network, DATA, cfg, jax.random.PRNGKey(0))
    n_batches = len(DATA.x_train) // cfg.batch_size
    expected = per_sample * cfg.epochs * n_batches * cfg.batch_size
    assert result.physical_evaluations == expected
    # the layer itself saw the training queries plus one test pass per epoch
    assert layer.count() == expected + cfg.epochs * len(DATA.x_test)
    np.testing.assert_array_equal(
        result.history["physical_evaluations"],
        expected // cfg.epochs * np.arange(1, cfg.epochs + 1),
    )


@pytest.mark.parametrize("method", ["feedback_alignment", "forward_forward", "spsa"])
def test_local_and_zeroth_order_methods_reduce_the_training_loss(method):
    network = Network(
        [TanhLayer(6, 8), DigitalActivation(8, "tanh"), AffineReadout(8, 3)]
    )
    kw = {"spsa": dict(learning_rate=3e-2)}.get(method, {})
    result = train(
        network, DATA, config(method, epochs=10, **kw), jax.random.PRNGKey(4)
    )
    loss = result.history["train_loss"]
    assert loss[-1] < 0.8 * loss[0]
    assert result.accuracy_physical > 1.0 / DATA.num_classes + 0.15


def test_in_silico_and_noise_aware_spend_no_physical_evaluations():
    for method in ("in_silico", "noise_aware"):
        result = train(GAPPED, DATA, config(method), jax.random.PRNGKey(0))
        assert result.physical_evaluations == 0
        assert result.accuracy_model > 0.6


@pytest.fixture(scope="module")
def flow_network():
    with jax.enable_x64(True):
        net = build_substrate(
            dict(
                kind="resistor_network",
                in_dim=3,
                out_dim=2,
                hidden=3,
                diode_conductance=0.3,
                conductance_mismatch=0.0,
                read_noise=0.0,
                dtype="float64",
                seed=1,
            )
        )
        params = net.init(jax.random.PRNGKey(0))
        x = jax.random.uniform(jax.random.PRNGKey(1), (5, 3), jnp.float64)
        target = jax.random.uniform(jax.random.PRNGKey(2), (5, 2), jnp.float64)
    return net, params, x, target


def test_centred_equilibrium_propagation_error_shrinks_like_beta_squared(
    x64, flow_network
):
    net, params, x, target = flow_network
    cost = lambda p: net.cost(net.free_state(p, x), target).mean()
    true = np.asarray(jax.grad(cost)(params)["conductance"])
    betas = [0.2, 0.1, 0.05]
    errors = {}
    for centred in (True, False):
        errors[centred] = [
            np.linalg.norm(
                equilibrium_gradient(net, params, x, target, b, centred=centred)[0][
                    "conductance"
                ]
                - true
            )
            for b in betas
        ]
    rate = lambda e: (np.log2(e[0] / e[1]), np.log2(e[1] / e[2]))
    assert all(1.7 < r < 2.3 for r in rate(errors[True])), errors
    assert all(0.8 < r < 1.2 for r in rate(errors[False])), errors
    assert errors[True][-1] < 1e-2 * np.linalg.norm(true)


def test_coupled_learning_decreases_the_cost(x64, flow_network):
    net, params, x, target = flow_network
    target = 0.3 + 0.4 * target  # pressures between the rails
    update = jax.jit(lambda p: coupled_update(net, p, x, target, 0.5))
    costs = []
    for _ in range(40):
        delta, c = update(params)
        costs.append(float(c))
        params = net.project(jax.tree.map(lambda p, d: p + 4.0 * d, params, delta))
    # five random targets are beyond this tiny network: it plateaus near half
    assert costs[-1] < 0.6 * costs[0]
    assert np.all(np.diff(costs) < 1e-12)
    k = np.asarray(params["conductance"])
    assert (
        k.min() >= net.config.conductance_min and k.max() <= net.config.conductance_max
    )


def test_centred_coupled_learning_error_shrinks_like_eta_squared(x64, flow_network):
    """Plain and centred rules share the eta -> 0 limit; the plain rule's error
    is O(eta), the centred one's O(eta^2)."""
    net, params, x, target = flow_network
    update = lambda eta, centred: np.asarray(
        coupled_update(net, params, x, target, eta, centred=centred)[0]["conductance"]
    )
    limit = update(1e-4, True)
    etas = [0.2, 0.1, 0.05]
    rate = lambda e: (np.log2(e[0] / e[1]), np.log2(e[1] / e[2]))
    errors = {
        c: [np.linalg.norm(update(eta, c) - limit) for eta in etas]
        for c in (True, False)
    }
    assert all(1.7 < r < 2.3 for r in rate(errors[True])), errors
    assert all(0.8 < r < 1.2 for r in rate(errors[False])), errors


def test_coupled_learning_rule_is_the_local_energy_difference(x64, flow_network):
    """For a flow network (dp_F^2 - dp_C^2)/eta is -2/eta times the change of
    dE/dk between the clamped and the free state."""
    net, params, x, target = flow_network
    eta = 0.3
    delta, _ = coupled_update(net, params, x, target, eta)
    free = net.free_state(params, x)
    clamped = net.clamped_state(params, x, target, eta)
    general = jax.tree.map(
        lambda c, f: -(c - f) / eta,
        net.energy_grad(params, clamped, x),
        net.energy_grad(params, free, x),
    )
    np.testing.assert_allclose(
        delta["conductance"], 2 * general["conductance"], rtol=1e-10, atol=1e-14
    )


def flow_classes(n_train=96, n_test=48, dim=6, classes=3, seed=5):
    """Separable blobs with features in [0, 1] (input pressures between the rails)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.0, 1.0, (classes, dim))
    y = rng.integers(0, classes, n_train + n_test)
    x = np.clip(centres[y] + 0.1 * rng.standard_normal((y.size, dim)), 0.0, 1.0)
    return split_data(x, y, n_train, classes)


FLOW_DATA = flow_classes()
#: a resistor network with the default device gap (mismatch 0.05, read noise 0.01)
FLOW = dict(kind="resistor_network", in_dim=6, out_dim=3, hidden=4, seed=3)


@pytest.mark.parametrize("method", ["equilibrium", "coupled_learning"])
def test_energy_methods_learn_a_separable_task_on_the_noisy_device(method):
    """Default method settings and the default device gap: the physical
    accuracy must clearly beat chance (one-hot targets at the rails, the old
    setting, left the digits accuracy at chance)."""
    network = Network([build_substrate(FLOW)])
    result = train(
        network,
        FLOW_DATA,
        config(method, epochs=10, learning_rate=0.05),
        jax.random.PRNGKey(0),
    )
    loss = result.history["train_loss"]
    assert loss[-1] < 0.7 * loss[0], loss
    assert result.accuracy_physical > 1.0 / FLOW_DATA.num_classes + 0.15


def test_default_ep_and_cl_updates_point_downhill_under_read_noise(x64):
    """With the default beta, eta and read noise, one physical estimate on a
    batch has a clearly positive cosine with the exact gradient of the cost
    the methods nudge (class targets inside the rails)."""
    net = build_substrate({**FLOW, "conductance_mismatch": 0.0, "dtype": "float64"})
    defaults = MethodConfig(method="equilibrium")
    params = net.init(jax.random.PRNGKey(1))
    x = jnp.asarray(FLOW_DATA.x_train[:64], jnp.float64)
    target = class_targets(net, jnp.asarray(FLOW_DATA.y_train[:64]), jnp.float64)
    cost = lambda p: net.cost(net.free_state(p, x), target).mean()
    true = np.asarray(jax.grad(cost)(params)["conductance"])
    cos = lambda a: float(a @ true / np.linalg.norm(a) / np.linalg.norm(true))
    keys = jax.random.split(jax.random.PRNGKey(2), 8)
    ep = [
        cos(
            np.asarray(
                equilibrium_gradient(net, params, x, target, defaults.ep_beta, key=k)[
                    0
                ]["conductance"]
            )
        )
        for k in keys
    ]
    cl = [
        coupled_update(
            net, params, x, target, defaults.cl_eta, k, centred=defaults.centred
        )[0]["conductance"]
        for k in keys
    ]
    cl = [cos(-np.asarray(d)) for d in cl]
    assert min(ep) > 0.5, ep
    assert min(cl) > 0.5, cl


def test_bad_combinations_and_configs_give_clear_errors():
    with pytest.raises(ValueError, match="equilibrium cannot train .* energy-based"):
        check_compatible("equilibrium", GAPPED)
    with pytest.raises(ValueError, match="coupled_learning"):
        train(GAPPED, DATA, config("coupled_learning"), jax.random.PRNGKey(0))
    assert "coupled_learning" not in compatible_methods(GAPPED)
    with pytest.raises(ConfigError, match="unknown key 'learning_rat'"):
        parse_config(MethodConfig, {"method": "spsa", "learning_rat": 0.1})
    with pytest.raises(ConfigError, match="noise_std"):
        parse_config(MethodConfig, {"method": "noise_aware", "noise_std": 1.5})
    with pytest.raises(ConfigError, match="method"):
        parse_config(MethodConfig, {"method": "hebbian"})
    with pytest.raises(ValueError, match="out_dim 5 but layers\\[1\\].*in_dim 4"):
        Network([TanhLayer(6, 5), AffineReadout(4, 3)])
    with pytest.raises(ValueError, match="x_train must be"):
        train(
            Network([TanhLayer(5, 3)]), DATA, config("backprop"), jax.random.PRNGKey(0)
        )
