"""Digital twins fitted from measured pairs close the model-device gap."""

import jax
import jax.numpy as jnp
import pytest

from pnn.network import AffineReadout
from pnn.registry import build_substrate
from pnn.twin import TwinConfig, fit_twin, measure, twin_error


def settings(layer, count, seed):
    return [layer.init(k) for k in jax.random.split(jax.random.PRNGKey(seed), count)]


def inputs(layer, seed):
    return jax.random.uniform(jax.random.PRNGKey(seed), (32, layer.in_dim))


@pytest.mark.parametrize(
    "config",
    [
        dict(
            kind="crossbar",
            in_dim=4,
            out_dim=3,
            read_noise=0.002,
            programming_noise=0.002,
            device_mismatch=0.1,
        ),
        dict(kind="oscillator", in_dim=3, out_dim=4, input_noise=0.0),
    ],
    ids=["crossbar", "oscillator"],
)
def test_fitted_calibration_reduces_the_gap_on_new_settings(config):
    layer = build_substrate(config)
    train = measure(
        layer, settings(layer, 4, 0), inputs(layer, 1), jax.random.PRNGKey(2)
    )
    fit = fit_twin(layer, train, TwinConfig(steps=150, learning_rate=3e-2))
    assert fit.loss[-1] < fit.loss[0]
    assert fit.error_after < 0.5 * fit.error_before

    held_out = measure(
        layer, settings(layer, 2, 7), inputs(layer, 8), jax.random.PRNGKey(9)
    )
    assert twin_error(fit.twin, held_out) < 0.5 * twin_error(layer, held_out)
    assert train.physical_evaluations == 4 * 32

    # The twin is a substrate: same device, new model.
    params = layer.init(jax.random.PRNGKey(3))
    x = inputs(layer, 4)
    key = jax.random.PRNGKey(5)
    assert jnp.array_equal(
        fit.twin.physical(params, x, key), layer.physical(params, x, key)
    )


def test_residual_network_fits_what_calibration_cannot():
    layer = build_substrate(
        dict(kind="oscillator", in_dim=3, out_dim=4, input_noise=0.0)
    )
    train = measure(
        layer, settings(layer, 4, 0), inputs(layer, 1), jax.random.PRNGKey(2)
    )
    config = TwinConfig(steps=100, fit_calibration=False, residual_hidden=16)
    fit = fit_twin(layer, train, config)
    assert fit.error_after < fit.error_before


def test_twin_needs_a_calibrated_substrate_and_something_to_fit():
    readout = AffineReadout(3, 2)
    with pytest.raises(TypeError, match="CalibratedSubstrate"):
        fit_twin(readout, None)
    layer = build_substrate(dict(kind="crossbar", in_dim=4, out_dim=3))
    with pytest.raises(ValueError, match="nothing to fit"):
        fit_twin(layer, None, TwinConfig(fit_calibration=False))
