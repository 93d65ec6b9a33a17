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
        steps: Adam steps (full batch).
        learning_rate: Adam step size.
        fit_calibration: fit the substrate's calibration constants.
        residual_hidden: width of the residual MLP (0: no residual).
        seed: initialisation of the residual MLP.
    """

    steps: int = pydantic.Field(300, ge=1)
    learning_rate: float = pydantic.Field(1e-2, gt=0.0)
    fit_calibration: bool = True
    residual_hidden: int = pydantic.Field(0, ge=0)
    seed: int = pydantic.Field(0, ge=0)


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
        twin: the fitted :class:`DigitalTwin`.
        error_before: relative RMS error of the nominal model on the fitting
            measurements (see :func:`twin_error`).
        error_after: the same for the twin.
        loss: mean squared error at every step, ``[steps]``.
    """

    twin: DigitalTwin
    error_before: float
    error_after: float
    loss: np.ndarray


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
        config: fitting options (defaults: calibration only, 300 Adam steps).

    Returns:
        The twin with its error before and after fitting.

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
    m = measurements

    def loss(fit):
        cal = fit["calibration"] if config.fit_calibration else calibration
        twin = DigitalTwin(substrate, cal, fit["residual"])
        pred = jax.vmap(twin.model)(m.params, m.x)
        return jnp.mean((pred - m.y) ** 2)

    optimizer = optax.adam(config.learning_rate)

    @jax.jit
    def step(fit, state):
        value, grad = jax.value_and_grad(loss)(fit)
        updates, state = optimizer.update(grad, state)
        return optax.apply_updates(fit, updates), state, value

    state = optimizer.init(fitted)
    history = []
    for _ in range(config.steps):
        fitted, state, value = step(fitted, state)
        history.append(value)
    history = np.asarray(jax.device_get(history))

    cal = fitted["calibration"] if config.fit_calibration else calibration
    twin = DigitalTwin(substrate, cal, fitted["residual"])
    before, after = twin_error(substrate, m), twin_error(twin, m)
    logger.info(
        "twin of %s: relative error %.4g -> %.4g (%d steps)",
        substrate.name,
        before,
        after,
        config.steps,
    )
    return TwinFit(twin, before, after, history)
