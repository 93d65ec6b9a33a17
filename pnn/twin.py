"""Digital twins fitted from measurements of the physical system.

A twin is a digital model f_m of a device, learnt only from what the device
shows: input/output pairs ``(x, f_p(x; theta))`` measured at a few parameter
settings ``theta``. Two parts can be fitted, by gradient descent (Adam) on the
mean squared error:

* the substrate's own *calibration* (mismatch, coupling, imbalance: whatever
  :meth:`~pnn.substrate.CalibratedSubstrate.nominal_calibration` exposes),
  starting from the nominal values;
* optionally a small *residual* MLP on the calibrated output,
  ``y = g + W_2 tanh(W_1 g + b_1) + b_2`` with ``g`` the calibrated model's
  output, for effects the physics model lacks (its last layer starts at 0).

**Held-out validation.** A full-size crossbar has a gain per cell (about
4,000 constants for 64 -> 32) and each query programs the array with fresh
noise, so a fit to a few settings learns that noise and the twin can end up
*worse* than the nominal model on new settings. :func:`fit_twin` therefore
holds out a fraction of the measured parameter settings (``validation_fraction``),
evaluates the relative error on them every ``eval_every`` steps, keeps the
fit with the lowest held-out error (step 0, the starting point, included,
so the twin is never worse than its start on held-out data) and stops after
``patience`` evaluations without improvement. An optional L2 penalty
``calibration_l2`` pulls the calibration toward its nominal values.

The fitted :class:`DigitalTwin` is itself a substrate: its ``model`` is the
twin and its ``physical`` is the device's, so any training method (in-silico,
physics-aware) can use it in place of the nominal model.

References:
    Wright et al., Nature 601, 549 (2022) (fitted digital models of each
    physical layer); Momeni et al., arXiv:2406.03372 (2024), section on
    digital twins.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pydantic

from landscape.config import FrozenConfig
from pnn.substrate import CalibratedSubstrate, standard_normal

logger = logging.getLogger(__name__)

__all__ = [
    "DigitalTwin",
    "Measurements",
    "TwinConfig",
    "TwinFit",
    "fit_twin",
    "measure",
    "split_measurements",
    "twin_error",
]

Params = Any


@dataclasses.dataclass(frozen=True)
class Measurements:
    """Input/output pairs measured on a device at several parameter settings.

    Attributes:
        params: the parameter settings, stacked along a leading axis ``[M, ...]``.
        x: inputs ``[M, batch, in_dim]``.
        y: measured outputs ``[M, batch, out_dim]``.
    """

    params: Params
    x: jax.Array
    y: jax.Array

    @property
    def physical_evaluations(self) -> int:
        """Samples sent through the device to take these measurements."""
        return int(self.x.shape[0] * self.x.shape[1])


def measure(
    substrate: CalibratedSubstrate,
    params: Sequence[Params],
    x: jax.Array,
    key: jax.Array,
) -> Measurements:
    """Query the device at each parameter setting on the same inputs.

    Args:
        substrate: the device.
        params: parameter settings (a sequence of pytrees).
        x: inputs ``[batch, in_dim]`` (or ``[M, batch, in_dim]``, one set each).
        key: noise of the queries.
    """
    if len(params) == 0:
        raise ValueError("params must hold at least one parameter setting, got 0")
    stacked = jax.tree.map(lambda *p: jnp.stack(p), *params)
    xs = jnp.broadcast_to(x, (len(params), *x.shape[-2:])) if x.ndim == 2 else x
    if xs.shape[0] != len(params):
        raise ValueError(
            f"x has {xs.shape[0]} input sets but params has {len(params)} settings"
        )
    keys = jax.random.split(key, len(params))
    # One query per setting (reuses the substrate's compiled physical face).
    y = jnp.stack([substrate.physical(p, xs[i], keys[i]) for i, p in enumerate(params)])
    return Measurements(stacked, xs, y)


class TwinConfig(FrozenConfig):
    """How to fit a twin.

    Attributes:
        steps: most Adam steps (full batch).
        learning_rate: Adam step size.
        fit_calibration: fit the substrate's calibration constants.
        residual_hidden: width of the residual MLP (0: no residual).
        seed: initialisation of the residual MLP and the validation split.
        validation_fraction: fraction of the parameter settings held out for
            model selection, in [0, 0.9); at least one setting is held out
            when it is positive and there are two or more settings. With a
            single setting the fraction applies to its samples instead. 0
            fits on everything and returns the last step.
        eval_every: steps between two held-out evaluations.
        patience: stop after this many evaluations without a new best
            held-out error (``None``: run all ``steps``).
        calibration_l2: weight of ``mean((cal - nominal)^2)`` in the loss,
            relative to the mean square of the measured outputs.
    """

    steps: int = pydantic.Field(300, ge=1)
    learning_rate: float = pydantic.Field(1e-2, gt=0.0)
    fit_calibration: bool = True
    residual_hidden: int = pydantic.Field(0, ge=0)
    seed: int = pydantic.Field(0, ge=0)
    validation_fraction: float = pydantic.Field(0.25, ge=0.0, lt=0.9)
    eval_every: int = pydantic.Field(10, ge=1)
    patience: int | None = pydantic.Field(10, ge=1)
    calibration_l2: float = pydantic.Field(0.0, ge=0.0)


def _residual(residual: Params | None, g: jax.Array) -> jax.Array:
    if residual is None:
        return g
    h = jnp.tanh(g @ residual["w1"] + residual["b1"])
    return g + h @ residual["w2"] + residual["b2"]


@dataclasses.dataclass(frozen=True, eq=False)
class DigitalTwin(CalibratedSubstrate):
    """A substrate whose model is a fitted twin of ``base``'s device.

    Attributes:
        base: the substrate the twin was fitted to (its ``physical`` is used).
        calibration: fitted device constants.
        residual: residual-MLP parameters, or ``None``.
    """

    base: CalibratedSubstrate
    calibration: Any
    residual: Any = None

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.base.name}_twin"

    @property
    def in_dim(self) -> int:
        return self.base.in_dim

    @property
    def out_dim(self) -> int:
        return self.base.out_dim

    @property
    def energy_based(self) -> bool:  # type: ignore[override]
        return False

    def init(self, key: jax.Array) -> Params:
        return self.base.init(key)

    def project(self, params: Params) -> Params:
        return self.base.project(params)

    def nominal_calibration(self) -> Any:
        return self.calibration

    def calibrated_model(self, params: Params, x: jax.Array, calibration) -> jax.Array:
        g = self.base.calibrated_model(params, x, calibration)
        return _residual(self.residual, g)

    def physical(self, params: Params, x: jax.Array, key: jax.Array) -> jax.Array:
        return self.base.physical(params, x, key)


@dataclasses.dataclass(frozen=True)
class TwinFit:
    """A fitted twin and how well it matches the device.

    Attributes:
        twin: the fitted :class:`DigitalTwin` (the selected step's fit).
        error_before: relative RMS error of the nominal model on the fitting
            (training) measurements (see :func:`twin_error`).
        error_after: the same for the twin.
        loss: training mean squared error at every step taken, ``[steps]``.
        validation_error_before: relative error of the nominal model on the
            held-out measurements (``nan`` without a validation split).
        validation_error_after: the same for the twin.
        validation_error: held-out relative error at steps
            ``validation_steps`` (step 0 first).
        validation_steps: the steps of ``validation_error``.
        best_step: the step whose fit was kept.
    """

    twin: DigitalTwin
    error_before: float
    error_after: float
    loss: np.ndarray
    validation_error_before: float = float("nan")
    validation_error_after: float = float("nan")
    validation_error: np.ndarray = dataclasses.field(
        default_factory=lambda: np.zeros(0)
    )
    validation_steps: np.ndarray = dataclasses.field(
        default_factory=lambda: np.zeros(0, int)
    )
    best_step: int = 0


def twin_error(substrate: CalibratedSubstrate, measurements: Measurements) -> float:
    """Relative RMS error of a model on measurements.

    .. math:: \\epsilon = \\sqrt{\\langle (f_m - y)^2 \\rangle / \\langle y^2 \\rangle}
    """
    m = measurements
    settings = m.x.shape[0]
    pred = jnp.stack(
        [
            substrate.model(jax.tree.map(lambda a, i=i: a[i], m.params), m.x[i])
            for i in range(settings)
        ]
    )
    return float(jnp.sqrt(jnp.mean((pred - m.y) ** 2) / jnp.mean(m.y**2)))


def split_measurements(
    measurements: Measurements, fraction: float, seed: int = 0
) -> tuple[Measurements, Measurements | None]:
    """Split measurements into fitting and held-out parts.

    Whole parameter settings are held out (a random ``round(fraction * M)``
    of them, at least one, at most ``M - 1``), so the held-out error measures
    how the twin does on settings it has not seen (fresh programming noise);
    with a single setting its samples are split instead.

    Raises:
        ValueError: when ``fraction`` is outside [0, 1) or leaves nothing to fit.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must lie in [0, 1), got {fraction}")
    if fraction == 0.0:
        return measurements, None
    m = measurements
    settings, samples = m.x.shape[0], m.x.shape[1]
    rng = np.random.default_rng(seed)
    if settings >= 2:
        held = min(max(1, round(fraction * settings)), settings - 1)
        order = rng.permutation(settings)
        pick = lambda idx: Measurements(
            jax.tree.map(lambda a: a[idx], m.params), m.x[idx], m.y[idx]
        )
        return pick(np.sort(order[held:])), pick(np.sort(order[:held]))
    held = min(max(1, round(fraction * samples)), samples - 1)
    if samples < 2:
        raise ValueError(
            "validation needs two or more settings or samples, got one setting "
            "with one sample; set validation_fraction=0"
        )
    order = rng.permutation(samples)
    pick = lambda idx: Measurements(m.params, m.x[:, idx], m.y[:, idx])
    return pick(np.sort(order[held:])), pick(np.sort(order[:held]))


def fit_twin(
    substrate: CalibratedSubstrate,
    measurements: Measurements,
    config: TwinConfig | None = None,
) -> TwinFit:
    """Fit a digital twin of ``substrate``'s device to measurements.

    Args:
        substrate: the device and its physics model (any
            :class:`~pnn.substrate.CalibratedSubstrate`).
        measurements: pairs from :func:`measure`.
        config: fitting options (defaults: calibration only, at most 300
            Adam steps, a quarter of the settings held out for selection).

    Returns:
        The twin (the fit with the lowest held-out error) with its errors
        before and after fitting on the fitting and the held-out parts.

    Raises:
        TypeError: when ``substrate`` has no calibration to fit.
        ValueError: when there is nothing to fit.
    """
    config = config or TwinConfig()
    if not isinstance(substrate, CalibratedSubstrate):
        raise TypeError(
            "fit_twin needs a CalibratedSubstrate (crossbar, interferometer, "
            f"oscillator, resistor_network), got {type(substrate).__name__}"
        )
    if not config.fit_calibration and config.residual_hidden == 0:
        raise ValueError(
            "nothing to fit: set fit_calibration=True or residual_hidden > 0"
        )
    calibration = substrate.nominal_calibration()
    residual = None
    if config.residual_hidden:
        n, h = substrate.out_dim, config.residual_hidden
        key = jax.random.PRNGKey(config.seed)
        dtype = measurements.y.dtype
        residual = {
            "w1": standard_normal(key, (n, h), dtype) / np.sqrt(n),
            "b1": jnp.zeros(h, dtype),
            "w2": jnp.zeros((h, n), dtype),
            "b2": jnp.zeros(n, dtype),
        }
    fitted = {"calibration": calibration, "residual": residual}
    m, held_out = split_measurements(
        measurements, config.validation_fraction, config.seed
    )
    scale = jnp.mean(m.y**2)

    def make_twin(fit):
        cal = fit["calibration"] if config.fit_calibration else calibration
        return DigitalTwin(substrate, cal, fit["residual"])

    def mse(fit, data):
        pred = jax.vmap(make_twin(fit).model)(data.params, data.x)
        return jnp.mean((pred - data.y) ** 2)

    def loss(fit):
        value = mse(fit, m)
        if config.calibration_l2 and config.fit_calibration:
            drift = jax.tree.map(
                lambda c, c0: jnp.mean((c - c0) ** 2), fit["calibration"], calibration
            )
            value = value + config.calibration_l2 * scale * sum(jax.tree.leaves(drift))
        return value

    optimizer = optax.adam(config.learning_rate)

    @jax.jit
    def step(fit, state):
        value, grad = jax.value_and_grad(loss)(fit)
        updates, state = optimizer.update(grad, state)
        return optax.apply_updates(fit, updates), state, value

    held_error = None
    if held_out is not None:
        held_scale = jnp.mean(held_out.y**2)
        held_error = jax.jit(lambda fit: jnp.sqrt(mse(fit, held_out) / held_scale))

    state = optimizer.init(fitted)
    history = []
    best, best_step, best_error = fitted, 0, np.inf
    checks, check_steps, since_best = [], [], 0
    if held_error is not None:
        best_error = float(held_error(fitted))
        checks.append(best_error)
        check_steps.append(0)
    for i in range(1, config.steps + 1):
        fitted, state, value = step(fitted, state)
        history.append(value)
        if held_error is None or (i % config.eval_every and i != config.steps):
            continue
        error = float(held_error(fitted))
        checks.append(error)
        check_steps.append(i)
        if error < best_error:
            best, best_step, best_error, since_best = fitted, i, error, 0
        else:
            since_best += 1
            if config.patience is not None and since_best >= config.patience:
                break
    history = np.asarray(jax.device_get(history))
    if held_error is None:
        best, best_step = fitted, len(history)

    twin = make_twin(best)
    before, after = twin_error(substrate, m), twin_error(twin, m)
    val_before = val_after = float("nan")
    if held_out is not None:
        val_before = twin_error(substrate, held_out)
        val_after = twin_error(twin, held_out)
    logger.info(
        "twin of %s: relative error %.4g -> %.4g on the fit, %.4g -> %.4g held "
        "out (step %d of %d kept)",
        substrate.name,
        before,
        after,
        val_before,
        val_after,
        best_step,
        len(history),
    )
    return TwinFit(
        twin,
        before,
        after,
        history,
        validation_error_before=val_before,
        validation_error_after=val_after,
        validation_error=np.asarray(checks),
        validation_steps=np.asarray(check_steps, int),
        best_step=best_step,
    )
