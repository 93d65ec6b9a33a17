"""Digital twins fitted from measured pairs close the model-device gap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pnn.network import AffineReadout
from pnn.registry import build_substrate
from pnn.twin import TwinConfig, fit_twin, measure, split_measurements, twin_error


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


def fit_on_settings(layer, count, twin_config):
    """Fit to ``count`` settings; return the fit, the nominal model's error and
    the twin's error on four new settings with new inputs and fresh noise."""
    train = measure(
        layer, settings(layer, count, 0), inputs(layer, 1), jax.random.PRNGKey(2)
    )
    new = measure(layer, settings(layer, 4, 7), inputs(layer, 8), jax.random.PRNGKey(9))
    fit = fit_twin(layer, train, twin_config)
    return fit, twin_error(layer, new), twin_error(fit.twin, new)


def test_without_validation_a_full_calibration_over_fits_programming_noise():
    """Each query programs the crossbar anew: with one gain per cell and few
    settings the unvalidated fit learns that noise and is worse than the
    nominal model on new settings; the held-out selection is not."""
    layer = build_substrate(dict(kind="crossbar", in_dim=24, out_dim=12))
    old, nominal, old_new = fit_on_settings(
        layer, 3, TwinConfig(steps=200, validation_fraction=0.0)
    )
    assert old.error_after < 0.5 * old.error_before  # fits its own data
    assert old_new > 1.1 * nominal  # ... and generalises worse than no fit
    fit, _, fit_new = fit_on_settings(layer, 3, TwinConfig(steps=200))
    assert fit.validation_error_after <= fit.validation_error_before
    assert fit.validation_steps[0] == 0 and fit.best_step in fit.validation_steps
    assert fit_new < old_new
    assert fit_new < 1.02 * nominal


def test_validated_twin_of_an_interferometer_beats_the_nominal_model():
    """Enough settings: the selected twin's error on new settings is below the
    un-fitted model's (beamsplitter imbalance is learnable, noise is not)."""
    layer = build_substrate(
        dict(kind="interferometer", in_dim=6, out_dim=6, beamsplitter_imbalance=0.05)
    )
    fit, nominal, fit_new = fit_on_settings(
        layer, 12, TwinConfig(steps=200, learning_rate=3e-2)
    )
    assert fit.best_step > 0
    assert fit.validation_error_after < 0.8 * fit.validation_error_before
    assert fit_new < 0.8 * nominal


def test_split_holds_out_whole_settings():
    layer = build_substrate(dict(kind="crossbar", in_dim=4, out_dim=3))
    data = measure(
        layer, settings(layer, 8, 0), inputs(layer, 1), jax.random.PRNGKey(2)
    )
    fit_part, held = split_measurements(data, 0.25, seed=3)
    assert fit_part.x.shape[0] == 6 and held.x.shape[0] == 2
    rows = {tuple(np.asarray(w).ravel()) for w in data.params["weight"]}
    fit_rows = {tuple(np.asarray(w).ravel()) for w in fit_part.params["weight"]}
    held_rows = {tuple(np.asarray(w).ravel()) for w in held.params["weight"]}
    assert fit_rows | held_rows == rows and not fit_rows & held_rows
    one = measure(layer, settings(layer, 1, 0), inputs(layer, 1), jax.random.PRNGKey(2))
    fit_part, held = split_measurements(one, 0.25)
    assert fit_part.x.shape[1] + held.x.shape[1] == one.x.shape[1] == 32
    with pytest.raises(ValueError, match="fraction must lie in"):
        split_measurements(data, 1.0)
