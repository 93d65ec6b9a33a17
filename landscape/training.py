"""Training with a (cyclic) loss while recording Hessian and NTK spectra.

:func:`train` runs jitted optax steps in chunks of ``record_every`` steps
(one ``lax.scan`` per chunk, so Python overhead is paid once per chunk) and
records after each chunk: the weighted and the plain loss, accuracies, the
class weights, the top Hessian eigenvalues of the current weighted
full-batch loss (Lanczos with full reorthogonalisation, as in Ruiz-Garcia et
al. 2021: 10 steps every 25 optimisation steps) and the top eigenvalues of
the full empirical NTK on a fixed subset of training inputs (50 in the
papers). Everything goes to one HDF5 run file (layout in
:mod:`landscape.recording`); a checkpoint ``RUN.ckpt`` beside it lets an
interrupted run resume and produce exactly the records of an uninterrupted
one.

Reference: Ruiz-Garcia, Zhang, Schoenholz & Liu, ICML 2021, arXiv:2102.03793.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from landscape.datasets import Dataset
from landscape.eigen import top_eigenvalues
from landscape.hvp import hessian_matvec
from landscape.losses import LossConfig, class_weights_at, loss_function
from landscape.models import build_model, init_params, make_apply_fn
from landscape.ntk import ntk_eigenvalues
from landscape.recording import RunRecords
from landscape.records import load_checkpoint, save_checkpoint
from landscape.run_config import DatasetConfig, OptimizerConfig, TrainConfig

logger = logging.getLogger(__name__)

__all__ = [
    "DatasetConfig",
    "OptimizerConfig",
    "Problem",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "build_problem",
    "checkpoint_path",
    "train",
]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; ``step`` says at which step."""

    def __init__(self, step: int, path: Path):
        self.step = int(step)
        self.path = Path(path)
        super().__init__(
            f"training diverged: the loss became non-finite at step {step}; "
            f"records up to the last finite record are in {path}"
        )


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        path: the HDF5 run file.
        records: stacked record arrays (see :mod:`landscape.recording`).
        params: final parameters (a pytree, host arrays).
        num_params: number of scalar parameters.
        resumed_from: checkpoint step the run resumed from (``None``: fresh).
    """

    path: Path
    records: dict[str, np.ndarray]
    params: Any
    num_params: int
    resumed_from: int | None

    def __repr__(self) -> str:
        steps = self.records.get("step", np.zeros(0))
        acc = [
            float(self.records[k][-1]) if len(steps) else float("nan")
            for k in ("train_accuracy", "test_accuracy")
        ]
        return (
            f"TrainResult({self.path}, {len(steps)} records to step "
            f"{int(steps[-1]) if len(steps) else 0}, {self.num_params} params, "
            f"final train/test accuracy {acc[0]:.3f}/{acc[1]:.3f}, "
            f"resumed_from={self.resumed_from})"
        )


def checkpoint_path(out_path: str | os.PathLike) -> Path:
    """The checkpoint file beside a run file: ``RUN.h5 -> RUN.ckpt``."""
    return Path(out_path).with_suffix(".ckpt")


@functools.lru_cache(maxsize=32)
def _objective(module: nn.Module, kind: str) -> Callable[..., jax.Array]:
    """``loss(params, x, y, weights)``: one object per (module, kind), so the
    jitted Hessian-vector products of :mod:`landscape.hvp` are reused."""
    apply_fn = make_apply_fn(module)
    loss = loss_function(kind)

    def objective(params, x, y, weights):
        return loss(apply_fn(params, x), y, weights)

    return objective


@functools.lru_cache(maxsize=32)
def _apply(module: nn.Module) -> Callable[..., jax.Array]:
    return make_apply_fn(module)


@functools.lru_cache(maxsize=32)
def _metrics(module: nn.Module, kind: str) -> Callable[..., dict]:
    apply_fn = _apply(module)
    loss = loss_function(kind)
    ce = loss_function("cross_entropy")

    @jax.jit
    def metrics(params, x, y, x_test, y_test, weights):
        logits, logits_test = apply_fn(params, x), apply_fn(params, x_test)
        ones = jnp.ones_like(weights)
        return {
            "loss": loss(logits, y, weights),
            "cross_entropy": ce(logits, y, ones),
            "test_cross_entropy": ce(logits_test, y_test, ones),
            "train_accuracy": jnp.mean(jnp.argmax(logits, -1) == y, dtype=x.dtype),
            "test_accuracy": jnp.mean(
                jnp.argmax(logits_test, -1) == y_test, dtype=x.dtype
            ),
        }

    return metrics


@functools.lru_cache(maxsize=32)
def _make_chunk(
    module: nn.Module,
    loss: LossConfig,
    opt: OptimizerConfig,
    chunk_steps: int,
    full_batch: bool,
    num_classes: int,
    dtype: Any,
):
    """Jitted ``chunk(params, opt_state, start, num_steps, x, y, batches)``
    doing ``chunk_steps`` steps; returns the new state and the first step
    whose loss was not finite (-1 if none). Cached, so runs that differ only
    in seeds, data values or ``num_steps`` share one compilation."""
    objective = _objective(module, loss.kind)
    grad_fn = jax.value_and_grad(objective)
    optimizer = opt.build()

    def body(carry, inputs):
        params, opt_state, bad, start, num_steps, x, y = carry
        i, batch = inputs
        step = start + i
        weights = class_weights_at(loss, step, num_classes, num_steps, dtype)
        xb, yb = (x, y) if full_batch else (x[batch], y[batch])
        value, grads = grad_fn(params, xb, yb, weights)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        bad = jnp.where((bad < 0) & ~jnp.isfinite(value), step, bad)
        return (params, opt_state, bad, start, num_steps, x, y), None

    @jax.jit
    def chunk(params, opt_state, start, num_steps, x, y, batches):
        steps = jnp.arange(chunk_steps)
        bad = jnp.asarray(-1, steps.dtype)
        init = (params, opt_state, bad, start, num_steps, x, y)
        (params, opt_state, bad, *_), _ = jax.lax.scan(body, init, (steps, batches))
        return params, opt_state, bad

    return chunk


def _batches(config: TrainConfig, start: int, num_train: int) -> np.ndarray:
    """Minibatch indices ``[record_every, batch]`` of the chunk at ``start``,
    a pure function of (seed, start) so resumed runs see the same batches."""
    if config.batch_size is None:
        return np.zeros((config.record_every, 0), np.int32)
    rng = np.random.default_rng([config.seed, start])
    return np.stack(
        [
            rng.permutation(num_train)[: config.batch_size]
            for _ in range(config.record_every)
        ]
    ).astype(np.int32)


def _check_against_data(config: TrainConfig, data: Dataset) -> None:
    n = data.x_train.shape[0]
    if config.batch_size is not None and config.batch_size > n:
        raise ValueError(
            f"batch_size={config.batch_size} exceeds the {n} training samples"
        )
    if config.ntk_k and config.ntk_subset > n:
        raise ValueError(f"ntk_subset={config.ntk_subset} exceeds the {n} samples")
    if config.ntk_k > config.ntk_subset * data.num_classes:
        raise ValueError(
            f"ntk_k={config.ntk_k} exceeds the NTK size "
            f"{config.ntk_subset} x {data.num_classes}"
        )
    if config.model.kind == "cnn" and data.num_features != 64:
        raise ValueError(
            f"model.kind='cnn' expects 8x8 images (64 features), the "
            f"{data.name!r} data set has {data.num_features}"
        )


def _resume_config(saved: dict, config: TrainConfig) -> None:
    now = config.to_dict()
    differ = sorted(k for k in now if k != "num_steps" and saved.get(k) != now[k])
    if differ:
        raise ValueError(
            f"the checkpoint beside this run file was made with a different "
            f"config (fields {differ}); use another output path or delete it"
        )
    if saved["num_steps"] != now["num_steps"] and config.loss.final_static_periods:
        raise ValueError(
            "changing num_steps when resuming moves the final static period "
            "(loss.final_static_periods > 0); start a new run instead"
        )


class _Recorder:
    """Computes one record: metrics, Hessian and NTK top eigenvalues."""

    def __init__(self, module, config: TrainConfig, data, arrays, dtype):
        self.config, self.data, self.arrays, self.dtype = config, data, arrays, dtype
        self.objective = _objective(module, config.loss.kind)
        self.metrics = _metrics(module, config.loss.kind)
        self.apply_fn = _apply(module)
        self.key = jax.random.key(config.seed, impl="rbg")
        rng = np.random.default_rng([config.seed, 7])
        n = data.x_train.shape[0]
        self.subset = np.sort(rng.choice(n, min(config.ntk_subset, n), replace=False))
        self.x_ntk = arrays[0][self.subset]

    def __call__(self, params, step: int) -> dict[str, Any]:
        config, (x, y) = self.config, self.arrays[:2]
        weights = class_weights_at(
            config.loss, step, self.data.num_classes, config.num_steps, self.dtype
        )
        row = {
            k: float(v) for k, v in self.metrics(params, *self.arrays, weights).items()
        }
        row["step"] = step
        row["class_weights"] = np.asarray(weights, np.float64)
        key = jax.random.fold_in(self.key, step)
        top, resid = np.zeros(0), np.zeros(0)
        if config.hessian_k:
            matvec, dim, _ = hessian_matvec(self.objective, params, x, y, weights)
            pairs = top_eigenvalues(
                matvec,
                dim,
                min(config.hessian_k, dim),
                key=key,
                num_steps=min(config.hessian_lanczos_steps, dim),
                dtype=self.dtype,
            )
            top, resid = np.asarray(pairs.values), np.asarray(pairs.residuals)
        row["hessian_top"], row["hessian_residual"] = top, resid
        row["ntk_top"] = np.zeros(0)
        if config.ntk_k:
            row["ntk_top"] = np.asarray(
                ntk_eigenvalues(
                    self.apply_fn,
                    params,
                    self.x_ntk,
                    config.ntk_k,
                    key=jax.random.fold_in(key, 1),
                )
            )
        return row


def train(
    config: TrainConfig,
    out_path: str | os.PathLike,
    *,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    resume: bool = True,
) -> TrainResult:
    """Train ``config`` and record its spectra to the HDF5 file ``out_path``.

    Args:
        config: the run.
        out_path: the run file (``.h5``); the checkpoint goes to
            :func:`checkpoint_path` of it.
        on_record: called with each new record (a dict of floats/arrays), e.g.
            to advance a progress bar; an exception raised there interrupts
            the run like a kill would.
        resume: continue from the checkpoint beside ``out_path`` if there is
            one (the config may differ only in ``num_steps``).

    Returns:
        :class:`TrainResult`.

    Raises:
        ValueError: a config that does not fit the data (before compilation).
        TrainingDiverged: the loss became non-finite (records so far are
            written, with ``status = "diverged"``).
    """
    x64 = config.dtype == "float64"
    scope = jax.enable_x64(True) if x64 else contextlib.nullcontext()
    with scope:
        return _train(config, Path(out_path), on_record, resume)


@dataclasses.dataclass(frozen=True)
class Problem:
    """The pieces of a run rebuilt from its config (data, network, loss).

    Attributes:
        data: the data set.
        module: the flax network.
        arrays: ``(x_train, y_train, x_test, y_test)`` as JAX arrays.
        dtype: float dtype of the run.
        params: initial parameters (also the template to unravel snapshots).
        objective: ``objective(params, x, y, class_weights) -> loss``, one
            object per network and loss kind so compiled Hessian-vector
            products are reused.
        apply_fn: ``apply_fn(params, x) -> logits``.
    """

    data: Dataset
    module: nn.Module
    arrays: tuple[jax.Array, ...]
    dtype: Any
    params: Any
    objective: Callable[..., jax.Array]
    apply_fn: Callable[..., jax.Array]


def build_problem(config: TrainConfig) -> Problem:
    """Load the data, check the config against it and build the network.

    Call inside ``jax.enable_x64(True)`` for a float64 config.

    Raises:
        ValueError: a config that does not fit the data.
    """
    dtype = jnp.float64 if config.dtype == "float64" else jnp.float32
    data = config.dataset.load()
    _check_against_data(config, data)
    arrays = tuple(
        jnp.asarray(a, dtype if a.dtype.kind == "f" else jnp.int32)
        for a in (data.x_train, data.y_train, data.x_test, data.y_test)
    )
    module = build_model(config.model, data.num_classes, dtype=dtype)
    params = init_params(module, config.seed, arrays[0])
    return Problem(
        data,
        module,
        arrays,
        dtype,
        params,
        _objective(module, config.loss.kind),
        _apply(module),
    )


def _train(config, out_path, on_record, resume) -> TrainResult:
    problem = build_problem(config)
    data, module, arrays, dtype = (
        problem.data,
        problem.module,
        problem.arrays,
        problem.dtype,
    )
    params = problem.params
    optimizer = config.optimizer.build()
    opt_state = optimizer.init(params)
    flat, _ = ravel_pytree(params)
    recorder = _Recorder(module, config, data, arrays, dtype)
    records = RunRecords(ntk_subset=recorder.subset)
    attrs = {
        "num_params": int(flat.size),
        "num_classes": data.num_classes,
        "dataset_repr": repr(data),
        "diverged_step": -1,
    }
    logger.info("training %s, %d parameters, on %r", config.model.kind, flat.size, data)

    start, resumed_from = 0, None
    ckpt = checkpoint_path(out_path)
    if resume and ckpt.exists() and out_path.exists():
        state, meta = load_checkpoint(ckpt, {"params": params, "opt_state": opt_state})
        _resume_config(meta["config"], config)
        params, opt_state = state["params"], state["opt_state"]
        start = resumed_from = int(meta["step"])
        records = RunRecords.read(out_path)
        records.truncate(start)
        logger.info("resuming %s from step %d", out_path, start)
    elif ckpt.exists():  # a stale checkpoint must not be resumed later
        ckpt.unlink()

    def write(status: str, step: int) -> None:
        extra = dict(attrs, status=status, completed_steps=step)
        records.write(out_path, config.to_dict(), extra)

    def checkpoint(step: int) -> None:
        write("complete" if step == config.num_steps else "running", step)
        save_checkpoint(
            ckpt,
            {"params": params, "opt_state": opt_state},
            {"step": step, "config": config.to_dict()},
        )

    def snapshot(step: int) -> None:
        every = config.snapshot_every
        if (every and step % every == 0) or step in (0, config.num_steps):
            records.snapshot_steps.append(step)
            records.snapshots.append(np.asarray(ravel_pytree(params)[0]))

    if start == 0:
        _record(records, recorder(params, 0), on_record)
        snapshot(0)
    chunk = _make_chunk(
        module,
        config.loss,
        config.optimizer,
        config.record_every,
        config.batch_size is None,
        data.num_classes,
        dtype,
    )
    step = start
    while step < config.num_steps:
        batches = jnp.asarray(_batches(config, step, data.x_train.shape[0]))
        params, opt_state, bad = chunk(
            params,
            opt_state,
            jnp.asarray(step),
            jnp.asarray(config.num_steps),
            arrays[0],
            arrays[1],
            batches,
        )
        if int(bad) >= 0:
            attrs["diverged_step"] = int(bad)
            write("diverged", step)
            raise TrainingDiverged(int(bad), out_path)
        step += config.record_every
        _record(records, recorder(params, step), on_record)
        snapshot(step)
        due = config.checkpoint_every and step % config.checkpoint_every == 0
        if due and step < config.num_steps:
            checkpoint(step)
    checkpoint(step)
    return TrainResult(
        out_path,
        records.arrays(),
        jax.tree_util.tree_map(np.asarray, params),
        int(flat.size),
        resumed_from,
    )


def _record(records: RunRecords, row: dict, on_record) -> None:
    records.append(**row)
    logger.debug("step %d: loss %.4g", row["step"], row["loss"])
    if on_record is not None:
        on_record(row)
