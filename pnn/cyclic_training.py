"""A physical network's digital model under the cyclic loss, with its Hessian.

The link to the shared core: the digital model f_m of a PNN is trained by
full-batch gradient descent on the dynamical (cyclic) cross-entropy of
:mod:`landscape.losses`, and every ``record_every`` steps the top eigenvalue
of the Hessian of the current weighted loss is computed with
:func:`landscape.eigen.top_eigenvalues` over
:func:`landscape.hvp.hessian_matvec` (Lanczos, as in Ruiz-Garcia et al.,
ICML 2021, arXiv 2102.03793). :func:`landscape.training.train` is built
around flax modules, so this small loop of its own reuses the core's losses
and spectra instead. The run is repeated with amplitude 1 (plain
cross-entropy) for comparison; the edge of stability is ``2 / lr``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import pydantic
from jax.flatten_util import ravel_pytree

from landscape.config import FrozenConfig
from landscape.eigen import top_eigenvalues
from landscape.hvp import hessian_matvec
from landscape.losses import cyclic_class_weights, cyclic_cross_entropy
from pnn.network import Network, NetworkSpec, build_network

logger = logging.getLogger(__name__)

__all__ = ["CyclicHessianConfig", "run_cyclic_hessian", "train_cyclic"]

Params = Any


class CyclicHessianConfig(FrozenConfig):
    """Cyclic-loss training of a PNN's digital model with spectra.

    Attributes:
        enabled: run it within the study.
        dataset: ``"digits"`` or ``"mnist1d"``.
        network: the PNN (its digital model is trained).
        steps: full-batch gradient-descent steps.
        learning_rate: step size (edge of stability at ``2 / lr``).
        period: ``T`` of the cyclic weights, in steps.
        amplitude: ``A`` of the cyclic weights (also run at ``A = 1``).
        record_every: steps between Hessian measurements.
        lanczos_steps: Lanczos iterations per measurement.
        seed: initialisation and Lanczos seed.
    """

    enabled: bool = True
    dataset: Literal["digits", "mnist1d"] = "digits"
    network: NetworkSpec = NetworkSpec(
        name="crossbar_cyclic", substrate={"kind": "crossbar"}, hidden=[16]
    )
    steps: pydantic.PositiveInt = 200
    learning_rate: float = pydantic.Field(0.5, gt=0)
    period: pydantic.PositiveInt = 40
    amplitude: float = pydantic.Field(10.0, ge=1)
    record_every: pydantic.PositiveInt = 20
    lanczos_steps: pydantic.PositiveInt = 10
    seed: int = pydantic.Field(0, ge=0)


@functools.lru_cache(maxsize=8)
def _weighted_loss(network: Network) -> Callable:
    def loss(params, x, y, weights):
        return cyclic_cross_entropy(network.model(params, x), y, weights)

    return loss


@functools.lru_cache(maxsize=8)
def _gd_step(network: Network, learning_rate: float) -> Callable:
    loss = _weighted_loss(network)

    @jax.jit
    def step(params, x, y, weights):
        value, grads = jax.value_and_grad(loss)(params, x, y, weights)
        params = jax.tree_util.tree_map(
            lambda p, g: p - learning_rate * g, params, grads
        )
        return network.project(params), value

    return step


def train_cyclic(
    network: Network,
    x: jax.Array,
    y: jax.Array,
    config: CyclicHessianConfig,
    amplitude: float,
) -> dict[str, np.ndarray]:
    """Full-batch gradient descent on the cyclic loss with Hessian records.

    Args:
        network: the PNN; its digital model ``network.model`` is trained.
        x: inputs ``[samples, in_dim]``; y: labels ``[samples]``.
        config: schedule and recording settings.
        amplitude: ``A`` of the cyclic weights for this run.

    Returns:
        ``step [R]``, ``loss [R]`` (weighted, at the recorded step),
        ``top_eigenvalue [R]`` and the final ``params`` flattened.
    """
    key = jax.random.PRNGKey(config.seed)
    params = network.init(key)
    num_classes = network.out_dim
    step_fn = _gd_step(network, config.learning_rate)
    loss = _weighted_loss(network)
    steps, losses, eigenvalues = [], [], []
    for t in range(config.steps + 1):
        weights = cyclic_class_weights(t, num_classes, config.period, amplitude)
        if t % config.record_every == 0:
            matvec, dim, _ = hessian_matvec(loss, params, x, y, weights)
            pairs = top_eigenvalues(
                matvec, dim, 1, key=key, num_steps=min(config.lanczos_steps, dim)
            )
            steps.append(t)
            losses.append(float(loss(params, x, y, weights)))
            eigenvalues.append(float(pairs.values[0]))
        if t < config.steps:
            params, _ = step_fn(params, x, y, weights)
    logger.info(
        "cyclic A=%g: final loss %.4f, top eigenvalue %.3f (2/lr = %.3f)",
        amplitude,
        losses[-1],
        eigenvalues[-1],
        2.0 / config.learning_rate,
    )
    return {
        "step": np.asarray(steps),
        "loss": np.asarray(losses),
        "top_eigenvalue": np.asarray(eigenvalues),
        "params": np.asarray(ravel_pytree(params)[0]),
    }


def run_cyclic_hessian(
    config: CyclicHessianConfig, load: Callable[[str], Any]
) -> dict[str, np.ndarray]:
    """Train at ``A = 1`` and at ``config.amplitude``; records side by side.

    Args:
        config: the run.
        load: ``load(dataset_name)`` returning a dataset with ``x_train``,
            ``y_train``, ``x_test``, ``y_test``, ``num_classes``.

    Returns:
        ``step [R]``, ``top_eigenvalue [2, R]``, ``loss [2, R]``,
        ``amplitude [2]``, ``test_accuracy_model [2]``,
        ``test_accuracy_physical [2]`` and ``edge_of_stability`` (``2/lr``).
    """
    data = load(config.dataset)
    network = build_network(config.network, data.x_train.shape[1], data.num_classes)
    x = jnp.asarray(data.x_train, jnp.float32)
    y = jnp.asarray(data.y_train, jnp.int32)
    x_test = jnp.asarray(data.x_test, jnp.float32)
    runs, acc_model, acc_phys = [], [], []
    for amplitude in (1.0, config.amplitude):
        run = train_cyclic(network, x, y, config, amplitude)
        params = network.init(jax.random.PRNGKey(config.seed))
        params = ravel_pytree(params)[1](jnp.asarray(run["params"]))
        model = network.model(params, x_test)
        physical = network.physical(params, x_test, jax.random.PRNGKey(1))
        acc_model.append(float(np.mean(np.argmax(model, -1) == data.y_test)))
        acc_phys.append(float(np.mean(np.argmax(physical, -1) == data.y_test)))
        runs.append(run)
    return {
        "step": runs[0]["step"],
        "top_eigenvalue": np.stack([r["top_eigenvalue"] for r in runs]),
        "loss": np.stack([r["loss"] for r in runs]),
        "amplitude": np.asarray([1.0, config.amplitude]),
        "test_accuracy_model": np.asarray(acc_model),
        "test_accuracy_physical": np.asarray(acc_phys),
        "edge_of_stability": np.asarray(2.0 / config.learning_rate),
    }
