"""The training loop shared by every method.

:func:`train` shuffles the training set once per epoch, runs one compiled
``lax.scan`` over the minibatches of the epoch (so each method compiles once
per network and batch shape), and measures test accuracy on the digital model
and on the physical system after every epoch. The count of physical
evaluations follows the convention of :mod:`pnn.methods.interface`.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import optax

from pnn.methods.interface import (
    Method,
    MethodConfig,
    TrainResult,
    check_compatible,
    get_method,
)
from pnn.network import Network

logger = logging.getLogger(__name__)

__all__ = ["Data", "accuracy", "train"]

Params = Any


class Data(Protocol):
    """What :func:`train` reads from a dataset (``landscape.datasets`` style).

    ``x_*`` are ``[samples, features]`` floats; ``y_*`` integer labels.
    """

    x_train: Any
    y_train: Any
    x_test: Any
    y_test: Any
    num_classes: int


def _cache_key(*objects: Any) -> tuple | None:
    try:
        hash(objects)
    except TypeError:
        return None
    return objects


@functools.lru_cache(maxsize=64)
def _compiled_epoch(method: Method, network: Network, config: MethodConfig):
    return _build_epoch(method, network, config)


def _build_epoch(method: Method, network: Network, config: MethodConfig):
    optimizer = method.optimizer(config)

    def step(carry, batch):
        params, opt_state, aux = carry
        x, y, key = batch
        grads, loss = method.gradient(network, config, params, aux, x, y, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = network.project(optax.apply_updates(params, updates))
        return (params, opt_state, aux), loss

    @jax.jit
    def epoch(params, opt_state, aux, xs, ys, key):
        keys = jax.random.split(key, xs.shape[0])
        (params, opt_state, aux), losses = jax.lax.scan(
            step, (params, opt_state, aux), (xs, ys, keys)
        )
        return params, opt_state, losses.mean()

    return epoch, optimizer


@functools.lru_cache(maxsize=64)
def _compiled_scores(method: Method, network: Network, config: MethodConfig):
    return _build_scores(method, network, config)


_SCORING_CONFIG = MethodConfig(method="backprop")


#: test samples scored per call: the test set is scored in fixed-size chunks
#: by one compiled body (a whole 360-sample test set in one call compiled
#: slowly enough to trip XLA's slow-compile alarm on CPU)
SCORE_BATCH = 128


def _chunk_size(samples: int) -> int:
    """The largest divisor of ``samples`` not above :data:`SCORE_BATCH`."""
    return max(d for d in range(1, min(samples, SCORE_BATCH) + 1) if samples % d == 0)


def _build_scores(method: Method, network: Network, config: MethodConfig):
    def chunk(params, aux, x, key):
        model = method.scores(network, config, params, aux, x, None)
        physical = method.scores(network, config, params, aux, x, key)
        return model, physical

    @jax.jit
    def scores(params, aux, x, key):
        # no padding: every test sample is sent through the device once
        size = _chunk_size(x.shape[0])
        if size == x.shape[0]:
            return chunk(params, aux, x, key)
        xs = x.reshape(-1, size, x.shape[1])
        keys = jax.random.split(key, xs.shape[0])
        model, physical = jax.lax.map(
            lambda xk: chunk(params, aux, xk[0], xk[1]), (xs, keys)
        )
        flat = (-1, model.shape[-1])
        return model.reshape(flat), physical.reshape(flat)

    return scores


def accuracy(scores: jax.Array, labels: Any) -> float:
    """Fraction of rows whose largest score is the label."""
    return float(np.mean(np.argmax(np.asarray(scores), axis=-1) == np.asarray(labels)))


def train(
    network: Network,
    data: Data,
    config: MethodConfig,
    key: jax.Array,
    *,
    params: Params | None = None,
) -> TrainResult:
    """Train ``network`` on ``data`` with ``config.method``.

    Args:
        network: the physical network (its two faces).
        data: train and test arrays plus ``num_classes``.
        config: the method and its settings.
        key: seeds initialisation, shuffling and the physical noise.
        params: start from these parameters instead of ``network.init``.

    Returns:
        The trained parameters, per-epoch history, physical evaluations spent
        and wall time.

    Raises:
        ValueError: the method cannot train this network, or the data do not
            fit it (widths, classes, too few samples for one batch).
    """
    method = check_compatible(config.method, network)
    x_train = jnp.asarray(data.x_train, jnp.float32)
    y_train = jnp.asarray(data.y_train, jnp.int32)
    x_test = jnp.asarray(data.x_test, jnp.float32)
    y_test = np.asarray(data.y_test)
    _check_data(network, data, x_train, config)

    init_key, aux_key, loop_key = jax.random.split(key, 3)
    if params is None:
        params = network.init(init_key)
    aux = method.init_aux(network, params, config, aux_key, data.num_classes)
    cache = _cache_key(method, network, config)
    if cache is None:
        epoch_fn, optimizer = _build_epoch(method, network, config)
        scores_fn = _build_scores(method, network, config)
    else:
        epoch_fn, optimizer = _compiled_epoch(*cache)
        if type(method).scores is Method.scores:
            # the default scores ignore the method and its config: share them
            scorer = get_method("backprop")
            scores_fn = _compiled_scores(scorer, network, _SCORING_CONFIG)
        else:
            scores_fn = _compiled_scores(*cache)
    opt_state = optimizer.init(params)

    batch = config.batch_size
    n_batches = x_train.shape[0] // batch
    evaluations_per_epoch = method.evaluations(config) * n_batches * batch
    history: dict[str, list] = {
        "epoch": [],
        "train_loss": [],
        "accuracy_model": [],
        "accuracy_physical": [],
        "physical_evaluations": [],
        "samples_seen": [],
        "wall_time": [],
    }
    start = time.perf_counter()
    for epoch in range(config.epochs):
        loop_key, shuffle_key, step_key, test_key = jax.random.split(loop_key, 4)
        order = jax.random.permutation(shuffle_key, x_train.shape[0])
        order = order[: n_batches * batch].reshape(n_batches, batch)
        params, opt_state, loss = epoch_fn(
            params, opt_state, aux, x_train[order], y_train[order], step_key
        )
        model_scores, physical_scores = scores_fn(params, aux, x_test, test_key)
        history["epoch"].append(epoch + 1)
        history["train_loss"].append(float(loss))
        history["accuracy_model"].append(accuracy(model_scores, y_test))
        history["accuracy_physical"].append(accuracy(physical_scores, y_test))
        history["physical_evaluations"].append((epoch + 1) * evaluations_per_epoch)
        history["samples_seen"].append((epoch + 1) * n_batches * batch)
        history["wall_time"].append(time.perf_counter() - start)
        logger.info(
            "%s on %s: epoch %d loss %.4f acc model %.3f physical %.3f",
            method.name,
            network.name,
            epoch + 1,
            history["train_loss"][-1],
            history["accuracy_model"][-1],
            history["accuracy_physical"][-1],
        )
    wall = time.perf_counter() - start
    return TrainResult(
        params=params,
        history={k: np.asarray(v) for k, v in history.items()},
        physical_evaluations=int(history["physical_evaluations"][-1]),
        wall_time=wall,
        method=method.name,
    )


def _check_data(network: Network, data: Data, x_train, config: MethodConfig):
    if x_train.ndim != 2 or x_train.shape[1] != network.in_dim:
        raise ValueError(
            f"data.x_train must be [samples, {network.in_dim}] for network "
            f"{network.name!r}, got shape {tuple(x_train.shape)}"
        )
    if data.num_classes > network.out_dim:
        raise ValueError(
            f"network {network.name!r} has {network.out_dim} outputs but the data "
            f"have {data.num_classes} classes; the last layer needs out_dim >= "
            "num_classes"
        )
    if x_train.shape[0] < config.batch_size:
        raise ValueError(
            f"batch_size {config.batch_size} exceeds the {x_train.shape[0]} "
            "training samples"
        )
