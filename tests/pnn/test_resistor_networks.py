"""Flow networks: Kirchhoff, a dense Laplacian solve, energy minima, EP limit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landscape.config import ConfigError
from pnn.registry import build_substrate

SMALL = dict(kind="resistor_network", in_dim=3, out_dim=2, hidden=3, seed=2)
EXACT = dict(conductance_mismatch=0.0, read_noise=0.0)


def make(**kw):
    return build_substrate({**SMALL, "dtype": "float64", **kw})


def inputs(n=4):
    return jax.random.uniform(jax.random.PRNGKey(1), (n, 3), jnp.float64)


def targets(n=4):
    return jax.random.uniform(jax.random.PRNGKey(2), (n, 2), jnp.float64)


def node_imbalance(net, params, state):
    """Net current out of every node, ``[batch, num_nodes]``."""
    src, dst = net.edges
    i = np.asarray(net.edge_currents(params, state))
    out = np.zeros(np.shape(state))
    np.add.at(out.T, src, i.T)
    np.add.at(out.T, dst, -i.T)
    return out


@pytest.mark.parametrize("diode", [0.0, 0.4])
def test_free_state_conserves_current_and_minimises_energy(x64, diode):
    net = make(diode_conductance=diode)
    params = net.init(jax.random.PRNGKey(0))
    x = inputs()
    state = net.free_state(params, x)
    settled = np.concatenate([net.hidden_nodes, net.output_nodes])
    imbalance = node_imbalance(net, params, state)
    np.testing.assert_allclose(imbalance[:, settled], 0.0, atol=1e-12)
    assert float(net.kirchhoff_residual(params, state).max()) < 1e-12
    # The current leaving through the boundary nodes sums to zero.
    np.testing.assert_allclose(imbalance.sum(axis=1), 0.0, atol=1e-12)
    grad = jax.grad(lambda s: net.energy(params, s, x).sum())(state)
    np.testing.assert_allclose(grad[:, settled], 0.0, atol=1e-12)
    # Maximum principle: settled pressures lie between the boundary values.
    assert float(state.min()) >= -1e-12 and float(state.max()) <= 1 + 1e-12


def test_linear_network_matches_a_dense_laplacian_solve(x64):
    net = make()
    params = net.init(jax.random.PRNGKey(0))
    x = np.asarray(inputs())
    src, dst = net.edges
    k = np.asarray(params["conductance"])
    n = net.num_nodes
    laplacian = np.zeros((n, n))
    for a, b, g in zip(src, dst, k, strict=True):
        laplacian[a, a] += g
        laplacian[b, b] += g
        laplacian[a, b] -= g
        laplacian[b, a] -= g
    fixed = net.boundary_nodes
    free = np.setdiff1d(np.arange(n), fixed)
    p_fixed = np.concatenate([x, np.zeros((4, 1)), np.ones((4, 1))], axis=1)
    rhs = -laplacian[np.ix_(free, fixed)] @ p_fixed.T
    p_free = np.linalg.solve(laplacian[np.ix_(free, free)], rhs).T
    expected = p_free[:, -2:]
    np.testing.assert_allclose(net.model(params, jnp.asarray(x)), expected, atol=1e-12)


def test_nudged_and_clamped_states(x64):
    net = make(diode_conductance=0.4)
    params = net.init(jax.random.PRNGKey(0))
    x, y = inputs(), targets()
    beta = 0.3
    nudged = net.nudged_state(params, x, y, beta)
    total = lambda s: jnp.sum(net.energy(params, s, x) + beta * net.cost(s, y))
    settled = np.concatenate([net.hidden_nodes, net.output_nodes])
    np.testing.assert_allclose(jax.grad(total)(nudged)[:, settled], 0, atol=1e-12)

    eta = 0.5
    free = net.free_state(params, x)
    clamped = net.clamped_state(params, x, y, eta)
    expect = net.readout(free) + eta * (y - net.readout(free))
    np.testing.assert_allclose(net.readout(clamped), expect, atol=1e-12)
    imbalance = node_imbalance(net, params, clamped)
    np.testing.assert_allclose(imbalance[:, net.hidden_nodes], 0, atol=1e-12)
    # Local rule quantities: free and clamped drops on every edge.
    assert net.edge_drops(clamped).shape == (4, net.num_edges)


def test_energy_gradient_is_the_local_rule_and_ep_limit(x64):
    net = make(diode_conductance=0.4)
    params = net.init(jax.random.PRNGKey(0))
    x, y = inputs(), targets()
    free = net.free_state(params, x)
    drops = np.asarray(net.edge_drops(free))
    rule = net.energy_grad(params, free, x)["conductance"]
    np.testing.assert_allclose(rule, 0.5 * np.mean(drops**2, axis=0), atol=1e-12)

    # Centred equilibrium propagation -> the true gradient of the cost.
    true = jax.grad(lambda p: jnp.mean(net.cost(net.free_state(p, x), y)))(params)
    beta = 1e-3
    plus = net.energy_grad(params, net.nudged_state(params, x, y, beta), x)
    minus = net.energy_grad(params, net.nudged_state(params, x, y, -beta), x)
    ep = (plus["conductance"] - minus["conductance"]) / (2 * beta)
    np.testing.assert_allclose(ep, true["conductance"], rtol=1e-4, atol=1e-10)


def test_conductances_are_clipped_to_the_physical_range(x64):
    net = make()
    c = net.config
    wild = {"conductance": jnp.linspace(-1.0, 3.0, net.num_edges)}
    projected = net.project(wild)["conductance"]
    assert float(projected.min()) == c.conductance_min
    assert float(projected.max()) == c.conductance_max
    np.testing.assert_allclose(
        net.model(wild, inputs()), net.model({"conductance": projected}, inputs())
    )


def test_gradient_against_finite_differences_and_jacfwd(x64):
    net = make(diode_conductance=0.4)
    params = net.init(jax.random.PRNGKey(0))
    x = inputs()
    f = lambda k: net.model({"conductance": k}, x)
    k = params["conductance"]
    jac = jax.jacrev(f)(k)
    np.testing.assert_allclose(jac, jax.jacfwd(f)(k), atol=1e-12)
    direction = jax.random.normal(jax.random.PRNGKey(3), k.shape, jnp.float64)
    h = 1e-6
    fd = (f(k + h * direction) - f(k - h * direction)) / (2 * h)
    np.testing.assert_allclose(jnp.tensordot(jac, direction, 1), fd, atol=1e-8)


def test_physical_face_gap_and_exactness(x64):
    x = inputs()
    net = make()
    params = net.init(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(4)
    gap = net.physical(params, x, key) - net.model(params, x)
    assert float(jnp.abs(gap).max()) > 1e-3
    exact = make(**EXACT)
    np.testing.assert_allclose(
        exact.physical(params, x, key), exact.model(params, x), atol=1e-12
    )
    state = exact.physical_clamped_state(params, x, targets(), 0.5, key)
    np.testing.assert_allclose(
        state, exact.clamped_state(params, x, targets(), 0.5), atol=1e-12
    )


def test_class_targets_lie_inside_the_rails(x64):
    net = make(supply=2.0)
    c = net.config
    labels = jnp.asarray([0, 1, 1])
    t = np.asarray(net.class_targets(labels))
    assert t.shape == (3, net.out_dim)
    np.testing.assert_allclose(t[np.arange(3), labels], c.target_high * c.supply)
    off = np.ones_like(t, bool)
    off[np.arange(3), labels] = False
    np.testing.assert_allclose(t[off], c.target_low * c.supply)
    # strictly between ground (0) and supply: reachable settled pressures
    assert 0.0 < t.min() and t.max() < c.supply


def test_bad_configs():
    with pytest.raises(ConfigError, match="read_noise"):
        build_substrate({**SMALL, "read_noise": -0.1})
    with pytest.raises(ConfigError, match="unknown key 'conductance'"):
        build_substrate({**SMALL, "conductance": 1.0})
    with pytest.raises(ConfigError, match="conductance_max"):
        build_substrate({**SMALL, "conductance_min": 2.0, "conductance_max": 1.0})
    with pytest.raises(ConfigError, match="target_high"):
        build_substrate({**SMALL, "target_low": 0.6, "target_high": 0.4})
