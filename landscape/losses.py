"""Dynamical (cyclic) losses that emphasise one class at a time.

The class weights :math:`\\Gamma_i(t)` oscillate so that each class in turn is
weighted up to ``amplitude`` times the others, one class per period of
``period`` optimisation steps. Weighting a loss by them tilts the landscape
periodically; with ``amplitude = 1`` every loss here is exactly its static
counterpart.

References:
    Ruiz-Garcia, Zhang, Schoenholz & Liu, "Tilting the playing field:
    Dynamical loss functions for machine learning", ICML 2021,
    arXiv:2102.03793.

    Lavin & Ruiz-Garcia, "Dynamical loss functions shape landscape topography
    and improve learning in artificial neural networks", arXiv:2410.10690
    (the MSE variants).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Literal

import jax
import jax.numpy as jnp
import pydantic
from jaxtyping import Array, ArrayLike, Float, Int

from landscape.config import FrozenConfig
from landscape.validate import require_positive_int

logger = logging.getLogger(__name__)

__all__ = [
    "LossConfig",
    "LossKind",
    "class_weights_at",
    "cyclic_class_weights",
    "cyclic_cross_entropy",
    "cyclic_mse_component",
    "cyclic_mse_sample",
    "loss_function",
    "triangle_wave",
]

LossKind = Literal["cross_entropy", "mse_sample", "mse_component"]


def _check_schedule(num_classes: int, period: int, amplitude: float) -> None:
    require_positive_int("period", period)
    if isinstance(num_classes, bool) or int(num_classes) != num_classes:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if not (amplitude >= 1.0) or not math.isfinite(amplitude):
        raise ValueError(f"amplitude must be a finite number >= 1, got {amplitude!r}")


def triangle_wave(
    step: ArrayLike, period: int, amplitude: float, dtype=None
) -> Float[Array, ""]:
    """The emphasis factor w(t) inside one period.

    .. math::

        w(t) = 1 + (A - 1)\\,\\bigl(1 - |2\\phi - 1|\\bigr),
        \\qquad \\phi = (t \\bmod T) / T

    so w = 1 at the start of a period, A at T/2 and back to 1 at T.

    Args:
        step: optimisation step t (may be traced).
        period: T in steps (>= 1).
        amplitude: A (>= 1).
        dtype: float dtype of the result (default: JAX's default float).

    Returns:
        Scalar w(t).
    """
    dtype = jnp.result_type(float) if dtype is None else dtype
    phase = jnp.mod(jnp.asarray(step), period).astype(dtype) / period
    return 1.0 + (amplitude - 1.0) * (1.0 - jnp.abs(2.0 * phase - 1.0))


def cyclic_class_weights(
    step: ArrayLike, num_classes: int, period: int, amplitude: float, dtype=None
) -> Float[Array, " classes"]:
    """Class weights Gamma_i(t) of the dynamical loss at step ``step``.

    The emphasised class is :math:`c = \\lfloor t / T \\rfloor \\bmod C`;
    with the triangle wave w(t) of :func:`triangle_wave`,

    .. math::

        \\Gamma_c = \\frac{C\\,w}{C - 1 + w}, \\qquad
        \\Gamma_{i \\neq c} = \\frac{C}{C - 1 + w},

    so the weights always sum to C and their ratio is w. For C = 3, A = 70
    the peak weights are 2.917 and 0.042.

    Args:
        step: optimisation step (an int or a traced integer; jit-friendly).
        num_classes: C >= 2 (static).
        period: T >= 1 in steps (static).
        amplitude: A >= 1 (static).
        dtype: float dtype of the weights.

    Returns:
        ``[classes]`` weights.

    Raises:
        ValueError: for a bad ``num_classes``, ``period`` or ``amplitude``.
    """
    _check_schedule(num_classes, period, amplitude)
    dtype = jnp.result_type(float) if dtype is None else dtype
    step = jnp.asarray(step)
    w = triangle_wave(step, period, amplitude, dtype)
    emphasised = jnp.mod(step // period, num_classes)
    norm = num_classes - 1.0 + w
    is_emph = jnp.arange(num_classes) == emphasised
    return jnp.where(is_emph, num_classes * w / norm, num_classes / norm).astype(dtype)


def _check_batch(logits: jax.Array, labels: jax.Array, weights: jax.Array) -> None:
    if logits.ndim != 2:
        raise ValueError(
            f"logits must have shape [batch, classes], got {tuple(logits.shape)}"
        )
    if labels.shape != logits.shape[:1]:
        raise ValueError(
            f"labels must have shape [batch] = {logits.shape[:1]}, "
            f"got {tuple(labels.shape)}"
        )
    if weights.shape != logits.shape[1:]:
        raise ValueError(
            f"class_weights must have shape [classes] = {logits.shape[1:]}, "
            f"got {tuple(weights.shape)}"
        )


def cyclic_cross_entropy(
    logits: Float[Array, "batch classes"],
    labels: Int[Array, " batch"],
    class_weights: Float[Array, " classes"],
) -> Float[Array, ""]:
    """Class-weighted softmax cross-entropy.

    .. math::

        F(\\theta, t) = -\\frac{1}{N} \\sum_\\mu \\Gamma_{y_\\mu}(t)
        \\log \\operatorname{softmax}(f(x_\\mu; \\theta))_{y_\\mu}

    With all weights equal to 1 this is the mean softmax cross-entropy.

    Args:
        logits: ``[batch, classes]`` network outputs.
        labels: ``[batch]`` integer labels.
        class_weights: ``[classes]`` weights Gamma.

    Returns:
        Scalar loss (nats per sample).
    """
    labels = jnp.asarray(labels)
    class_weights = jnp.asarray(class_weights, logits.dtype)
    _check_batch(logits, labels, class_weights)
    log_p = jax.nn.log_softmax(logits, axis=-1)
    picked = jnp.take_along_axis(log_p, labels[:, None], axis=-1)[:, 0]
    return -jnp.mean(class_weights[labels] * picked)


def cyclic_mse_sample(
    logits: Float[Array, "batch classes"],
    labels: Int[Array, " batch"],
    class_weights: Float[Array, " classes"],
) -> Float[Array, ""]:
    """Squared error of each sample weighted by its class weight.

    .. math::

        L = \\frac{1}{N} \\sum_\\mu \\Gamma_{y_\\mu}
        \\sum_k \\bigl(f_k(x_\\mu) - \\delta_{k y_\\mu}\\bigr)^2

    Targets are one-hot; the squared error is summed over the outputs and
    averaged over samples. This variant follows the follow-up paper
    (Lavin & Ruiz-Garcia, arXiv:2410.10690); the normalisation is our choice
    *(unverified against the paper's code)*.

    Args:
        logits: ``[batch, classes]`` network outputs.
        labels: ``[batch]`` integer labels.
        class_weights: ``[classes]`` weights Gamma.

    Returns:
        Scalar loss.
    """
    labels = jnp.asarray(labels)
    class_weights = jnp.asarray(class_weights, logits.dtype)
    _check_batch(logits, labels, class_weights)
    targets = jax.nn.one_hot(labels, logits.shape[1], dtype=logits.dtype)
    per_sample = jnp.sum((logits - targets) ** 2, axis=-1)
    return jnp.mean(class_weights[labels] * per_sample)


def cyclic_mse_component(
    logits: Float[Array, "batch classes"],
    labels: Int[Array, " batch"],
    class_weights: Float[Array, " classes"],
) -> Float[Array, ""]:
    """Squared error of each output component weighted by its class weight.

    .. math::

        L = \\frac{1}{N} \\sum_\\mu \\sum_k \\Gamma_k
        \\bigl(f_k(x_\\mu) - \\delta_{k y_\\mu}\\bigr)^2

    Follows the follow-up paper (Lavin & Ruiz-Garcia, arXiv:2410.10690); the
    normalisation (sum over outputs, mean over samples) is our choice
    *(unverified against the paper's code)*.

    Args:
        logits: ``[batch, classes]`` network outputs.
        labels: ``[batch]`` integer labels.
        class_weights: ``[classes]`` weights Gamma.

    Returns:
        Scalar loss.
    """
    labels = jnp.asarray(labels)
    class_weights = jnp.asarray(class_weights, logits.dtype)
    _check_batch(logits, labels, class_weights)
    targets = jax.nn.one_hot(labels, logits.shape[1], dtype=logits.dtype)
    return jnp.mean(jnp.sum(class_weights * (logits - targets) ** 2, axis=-1))


_LOSSES: dict[str, Callable[..., jax.Array]] = {
    "cross_entropy": cyclic_cross_entropy,
    "mse_sample": cyclic_mse_sample,
    "mse_component": cyclic_mse_component,
}


def loss_function(kind: LossKind) -> Callable[..., jax.Array]:
    """The loss ``fn(logits, labels, class_weights)`` named by ``kind``."""
    if kind not in _LOSSES:
        raise ValueError(f"loss kind must be one of {sorted(_LOSSES)}, got {kind!r}")
    return _LOSSES[kind]


class LossConfig(FrozenConfig):
    """Which loss to train with and its cyclic schedule.

    Attributes:
        kind: ``"cross_entropy"``, ``"mse_sample"`` or ``"mse_component"``.
        amplitude: A >= 1 (1 is the static loss).
        period: T in optimisation steps.
        final_static_periods: the last ``final_static_periods * period``
            steps of a run use A = 1 (the papers' common protocol ends with
            one such period).
    """

    kind: LossKind = "cross_entropy"
    amplitude: float = pydantic.Field(default=1.0, ge=1.0, allow_inf_nan=False)
    period: int = pydantic.Field(default=5000, ge=1)
    final_static_periods: int = pydantic.Field(default=1, ge=0)


def class_weights_at(
    config: LossConfig,
    step: ArrayLike,
    num_classes: int,
    num_steps: int,
    dtype=None,
) -> Float[Array, " classes"]:
    """Class weights of a training run at ``step``, final static periods included.

    Args:
        config: the loss schedule.
        step: optimisation step (may be traced).
        num_classes: C.
        num_steps: total steps of the run; steps at or after
            ``num_steps - final_static_periods * period`` get uniform weights.
        dtype: float dtype.

    Returns:
        ``[classes]`` weights.
    """
    dtype = jnp.result_type(float) if dtype is None else dtype
    cyclic = cyclic_class_weights(
        step, num_classes, config.period, config.amplitude, dtype
    )
    static_from = num_steps - config.final_static_periods * config.period
    return jnp.where(jnp.asarray(step) >= static_from, jnp.ones_like(cyclic), cyclic)
