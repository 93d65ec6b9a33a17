"""The study: every compatible (network, method) pair on digits and MNIST-1D.

:func:`run_compare` trains each method on each network over several seeds
(independent jobs through :func:`landscape.jobs.run_jobs`), then runs a depth
sweep (in-silico against physics-aware training on stacks of 1..L layers with
a small model error) and a noise sweep (each method against the level of one
noise field of the substrate). Results go to one HDF5 file plus a CSV table;
:mod:`pnn.compare_figures` draws them.

Networks are described without their outer widths, which the study fills in
from the data set: the first layer takes the data's features (64 for digits,
40 for MNIST-1D), hidden layers have the widths in ``hidden``, and the last
layer (or the digital readout) has one output per class. A digital activation
sits between consecutive substrate layers. Inputs are divided by the largest
magnitude in the training set, so they lie in [-1, 1].

HDF5 layout (``compare.h5``)::

    /                      attrs: config_json, glassland_version
    /pairs/<dataset>/<network>/<method>/seed_<s>/
        attrs: accuracy_model, accuracy_physical, physical_evaluations,
               wall_time
        epoch, train_loss, accuracy_model, accuracy_physical,
        physical_evaluations           [epochs] per-epoch history
    /summary/              one row per (dataset, network, method):
        dataset, network, method       [rows] strings
        accuracy_physical_mean, accuracy_physical_std,
        accuracy_model_mean, accuracy_model_std, reality_gap,
        physical_evaluations, wall_time                        [rows]
    /depth_sweep/          depths [D], methods [M],
        accuracy_physical, accuracy_model                  [M, D, seeds]
    /noise_sweep/          levels [K], methods [M], attrs field,
        accuracy_physical, accuracy_model                  [M, K, seeds]
    /cyclic_hessian/       see :mod:`pnn.cyclic_training`
"""

from __future__ import annotations

import csv
import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import jax
import numpy as np
import pydantic

from landscape.config import FrozenConfig
from landscape.jobs import run_jobs
from landscape.records import atomic_h5, atomic_path, write_config_attrs
from pnn.cyclic_training import CyclicHessianConfig, run_cyclic_hessian
from pnn.methods import MethodConfig, compatible_methods, train
from pnn.methods.interface import METHOD_NAMES, MethodName
from pnn.network import NetworkSpec, build_network
from pnn.registry import substrate_config

logger = logging.getLogger(__name__)

__all__ = [
    "CompareConfig",
    "DepthSweepConfig",
    "NoiseSweepConfig",
    "demo_config",
    "run_compare",
    "train_pair",
]

#: input widths of the study's data sets
FEATURES = {"digits": 64, "mnist1d": 40}
NUM_CLASSES = 10
DatasetName = Literal["digits", "mnist1d"]


def _default_networks() -> list[NetworkSpec]:
    return [
        NetworkSpec(name="crossbar_mlp", substrate={"kind": "crossbar"}, hidden=[32]),
        NetworkSpec(
            name="resistor",
            substrate={"kind": "resistor_network", "hidden": 16, "supply": 1.0},
        ),
    ]


class DepthSweepConfig(FrozenConfig):
    """In-silico against physics-aware training as the stack deepens.

    Attributes:
        enabled: run the sweep.
        dataset: data set of the sweep.
        depths: numbers of substrate layers.
        width: width of every hidden layer.
        substrate: substrate table with a small model error.
        methods: methods compared.
        seeds: seeds per depth.
        epochs: epochs per run.
    """

    enabled: bool = True
    dataset: DatasetName = "digits"
    depths: list[pydantic.PositiveInt] = [1, 2, 4]
    width: pydantic.PositiveInt = 24
    substrate: dict[str, Any] = {
        "kind": "crossbar",
        "device_mismatch": 0.1,
        "programming_noise": 0.01,
    }
    methods: list[MethodName] = ["in_silico", "physics_aware"]
    seeds: pydantic.PositiveInt = 1
    epochs: pydantic.PositiveInt = 5

    def spec(self, depth: int) -> NetworkSpec:
        """The network of ``depth`` substrate layers."""
        return NetworkSpec(
            name=f"depth_{depth}",
            substrate=self.substrate,
            hidden=[self.width] * (depth - 1),
        )


class NoiseSweepConfig(FrozenConfig):
    """Each method against the level of one noise field of the substrate.

    Attributes:
        enabled: run the sweep.
        dataset: data set of the sweep.
        network: the network; ``field`` of its substrate table is swept.
        field: name of the substrate's noise option (a level in [0, 1]).
        levels: values of ``field``, each in [0, 1].
        methods: methods compared.
        seeds: seeds per level.
        epochs: epochs per run.
    """

    enabled: bool = True
    dataset: DatasetName = "digits"
    network: NetworkSpec = NetworkSpec(
        name="crossbar_noise", substrate={"kind": "crossbar"}, hidden=[24]
    )
    field: str = "read_noise"
    levels: list[float] = [0.0, 0.05, 0.2]
    methods: list[MethodName] = ["in_silico", "noise_aware", "physics_aware", "spsa"]
    seeds: pydantic.PositiveInt = 1
    epochs: pydantic.PositiveInt = 5

    @pydantic.field_validator("levels")
    @classmethod
    def _unit_levels(cls, levels: list[float]) -> list[float]:
        bad = [v for v in levels if not 0.0 <= v <= 1.0]
        if bad:
            raise ValueError(f"noise levels must lie in [0, 1], got {bad}")
        return levels

    def spec(self, level: float) -> NetworkSpec:
        """The network with ``field`` set to ``level``."""
        table = {**self.network.substrate, self.field: level}
        return self.network.model_copy(
            update={"substrate": table, "name": f"{self.field}_{level:g}"}
        )


class CompareConfig(FrozenConfig):
    """The whole study.

    Attributes:
        datasets: data sets of the main table.
        seeds: seeds per (network, method) pair.
        networks: the networks compared.
        methods: methods tried on every network they support.
        training: :class:`pnn.methods.MethodConfig` fields shared by all
            methods (``epochs``, ``batch_size``, ``learning_rate``...).
        method_overrides: per-method fields on top of ``training``.
        depth_sweep, noise_sweep, cyclic_hessian: the side studies.
        n_workers: Dask worker processes of the local cluster.
    """

    datasets: list[DatasetName] = ["digits", "mnist1d"]
    seeds: pydantic.PositiveInt = 2
    networks: list[NetworkSpec] = pydantic.Field(default_factory=_default_networks)
    methods: list[MethodName] = list(METHOD_NAMES)
    training: dict[str, Any] = {"epochs": 5, "batch_size": 64, "learning_rate": 1e-2}
    method_overrides: dict[MethodName, dict[str, Any]] = {
        # measured defaults (docs/pnn-training.md): SPSA with c above the
        # device's programming noise and more, smaller steps; a label
        # embedding for forward-forward that does not swamp inputs in [0, 1]
        "spsa": {"learning_rate": 1e-2, "batch_size": 16, "spsa_perturbation": 0.05},
        "forward_forward": {"ff_label_scale": 0.3},
        "coupled_learning": {"learning_rate": 5e-2, "cl_eta": 1.0},
        "equilibrium": {"learning_rate": 5e-2},
    }
    depth_sweep: DepthSweepConfig = DepthSweepConfig()
    noise_sweep: NoiseSweepConfig = NoiseSweepConfig()
    cyclic_hessian: CyclicHessianConfig = CyclicHessianConfig()
    n_workers: pydantic.PositiveInt = 2

    @pydantic.model_validator(mode="after")
    def _check_all(self) -> CompareConfig:
        # every method config and substrate table is validated here, so a bad
        # entry fails before any compilation
        for method in METHOD_NAMES:
            self.method_config(method)
        for dataset in FEATURES:
            for spec in self._all_specs():
                for table in spec.layer_tables(FEATURES[dataset], NUM_CLASSES):
                    substrate_config(table, source=f"network {spec.name!r}")
        for spec in self.networks:
            unknown = set(spec.methods or []) - set(METHOD_NAMES)
            if unknown:
                raise ValueError(
                    f"network {spec.name!r}: unknown methods {sorted(unknown)}; "
                    f"valid: {list(METHOD_NAMES)}"
                )
        names = [s.name for s in self.networks]
        if len(set(names)) != len(names):
            raise ValueError(f"network names must be unique, got {names}")
        return self

    def _all_specs(self) -> list[NetworkSpec]:
        specs = list(self.networks)
        specs += [self.depth_sweep.spec(d) for d in self.depth_sweep.depths]
        specs += [self.noise_sweep.spec(v) for v in self.noise_sweep.levels]
        return specs

    def method_config(self, method: str, **extra: Any) -> MethodConfig:
        """The :class:`MethodConfig` of ``method`` (raises on bad fields)."""
        fields = {**self.training, **self.method_overrides.get(method, {}), **extra}
        return MethodConfig.model_validate({**fields, "method": method})


#: methods of the demo: the upper bound, the two deployments of a digital
#: model, the hardware-in-the-loop methods with a backward pass and without
DEMO_METHODS: list[MethodName] = [
    "backprop",
    "in_silico",
    "noise_aware",
    "physics_aware",
    "feedback_alignment",
    "spsa",
]


def demo_config() -> CompareConfig:
    """A short version of the study for ``pnn demo`` (a few CPU minutes).

    Digits, one seed, three epochs; six methods on the crossbar MLP
    (64 -> 32 -> 10, default imperfections) and a depth sweep (1 and 3
    crossbar layers of width 24) with a large device mismatch (0.5), where
    in-silico training loses physical accuracy with depth and physics-aware
    training keeps it. The noise sweep and the cyclic-loss Hessian are left
    to ``pnn compare``.
    """
    return CompareConfig(
        datasets=["digits"],
        seeds=1,
        networks=[
            NetworkSpec(
                name="crossbar_mlp", substrate={"kind": "crossbar"}, hidden=[32]
            )
        ],
        methods=DEMO_METHODS,
        training={"epochs": 3, "batch_size": 64, "learning_rate": 1e-2},
        depth_sweep=DepthSweepConfig(
            depths=[1, 3],
            epochs=3,
            substrate={
                "kind": "crossbar",
                "device_mismatch": 0.5,
                "programming_noise": 0.01,
            },
        ),
        noise_sweep=NoiseSweepConfig(enabled=False),
        cyclic_hessian=CyclicHessianConfig(enabled=False),
    )


@functools.lru_cache(maxsize=4)
def _dataset(name: str):
    from landscape.datasets import load_dataset

    data = load_dataset(name)
    scale = float(np.max(np.abs(data.x_train)))
    return type(data)(
        x_train=data.x_train / scale,
        y_train=data.y_train,
        x_test=data.x_test / scale,
        y_test=data.y_test,
        num_classes=data.num_classes,
        name=data.name,
    )


def train_pair(dataset: str, network: dict, method: dict, seed: int) -> dict[str, Any]:
    """One job: train ``method`` on ``network`` for one seed (picklable I/O).

    Args:
        dataset: ``"digits"`` or ``"mnist1d"``.
        network: a :class:`NetworkSpec` as a dict.
        method: a :class:`MethodConfig` as a dict.
        seed: seed of initialisation, shuffling and noise.

    Returns:
        Final accuracies, cost, wall time and the per-epoch history.
    """
    data = _dataset(dataset)
    spec = NetworkSpec.model_validate(network)
    net = build_network(spec, data.x_train.shape[1], data.num_classes)
    result = train(
        net, data, MethodConfig.model_validate(method), jax.random.PRNGKey(seed)
    )
    return {
        "accuracy_model": result.accuracy_model,
        "accuracy_physical": result.accuracy_physical,
        "physical_evaluations": result.physical_evaluations,
        "wall_time": result.wall_time,
        "history": result.history,
    }


def _pair_jobs(config: CompareConfig) -> list[dict[str, Any]]:
    jobs = []
    for dataset in config.datasets:
        for spec in config.networks:
            net = build_network(spec, FEATURES[dataset], NUM_CLASSES)
            usable = set(compatible_methods(net))
            wanted = spec.methods if spec.methods is not None else config.methods
            for method in wanted:
                if method not in usable:
                    logger.info("skipping %s on %s: incompatible", method, spec.name)
                    continue
                for seed in range(config.seeds):
                    jobs.append(
                        dict(
                            dataset=dataset,
                            network=spec.to_dict(),
                            method=config.method_config(method).to_dict(),
                            seed=seed,
                        )
                    )
    return jobs


def _sweep_jobs(config: CompareConfig, sweep: str) -> list[dict[str, Any]]:
    cfg = getattr(config, sweep)
    if not cfg.enabled:
        return []
    points = cfg.depths if sweep == "depth_sweep" else cfg.levels
    jobs = []
    for method in cfg.methods:
        for point in points:
            for seed in range(cfg.seeds):
                jobs.append(
                    dict(
                        dataset=cfg.dataset,
                        network=cfg.spec(point).to_dict(),
                        method=config.method_config(
                            method, epochs=cfg.epochs
                        ).to_dict(),
                        seed=seed,
                    )
                )
    return jobs


def summarise(jobs: list[dict], results: list[dict]) -> list[dict[str, Any]]:
    """One row per (dataset, network, method): mean and spread over seeds."""
    groups: dict[tuple, list[dict]] = {}
    for job, res in zip(jobs, results, strict=True):
        key = (job["dataset"], job["network"]["name"], job["method"]["method"])
        groups.setdefault(key, []).append(res)
    rows = []
    for (dataset, network, method), runs in groups.items():
        phys = np.array([r["accuracy_physical"] for r in runs])
        model = np.array([r["accuracy_model"] for r in runs])
        rows.append(
            dict(
                dataset=dataset,
                network=network,
                method=method,
                seeds=len(runs),
                accuracy_physical_mean=float(phys.mean()),
                accuracy_physical_std=float(phys.std()),
                accuracy_model_mean=float(model.mean()),
                accuracy_model_std=float(model.std()),
                reality_gap=float(model.mean() - phys.mean()),
                physical_evaluations=int(
                    np.mean([r["physical_evaluations"] for r in runs])
                ),
                wall_time=float(np.mean([r["wall_time"] for r in runs])),
            )
        )
    return rows


def _sweep_arrays(config, sweep, jobs, results):
    cfg = getattr(config, sweep)
    points = cfg.depths if sweep == "depth_sweep" else cfg.levels
    shape = (len(cfg.methods), len(points), cfg.seeds)
    out = {k: np.full(shape, np.nan) for k in ("accuracy_physical", "accuracy_model")}
    it = iter(results)
    for i, _ in enumerate(cfg.methods):
        for j, _ in enumerate(points):
            for s in range(cfg.seeds):
                res = next(it)
                for k in out:
                    out[k][i, j, s] = res[k]
    return np.asarray(points), out


def run_compare(
    config: CompareConfig,
    out_dir: str | os.PathLike,
    *,
    scheduler: str | None = None,
    on_done: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run the study and write ``compare.h5`` and ``compare.csv``.

    Args:
        config: the study.
        out_dir: folder for the results (created).
        scheduler: ``None`` (local Dask cluster), ``"sync"`` (in process) or a
            scheduler address; see :func:`landscape.jobs.run_jobs`.
        on_done: called as ``on_done(finished, total)`` after each job.

    Returns:
        ``{"rows", "depth", "noise", "cyclic", "h5", "csv"}``: the summary
        rows, the sweeps' arrays, the cyclic-loss record and the file paths.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pair_jobs = _pair_jobs(config)
    depth_jobs = _sweep_jobs(config, "depth_sweep")
    noise_jobs = _sweep_jobs(config, "noise_sweep")
    all_jobs = pair_jobs + depth_jobs + noise_jobs
    logger.info("compare: %d training jobs", len(all_jobs))
    finished = [0]

    def progress(_i, _res):
        finished[0] += 1
        if on_done is not None:
            on_done(finished[0], len(all_jobs) + int(config.cyclic_hessian.enabled))

    results = run_jobs(
        train_pair,
        all_jobs,
        scheduler=scheduler,
        n_workers=config.n_workers,
        on_done=progress,
    )
    n_pairs, n_depth = len(pair_jobs), len(depth_jobs)
    pair_results = results[:n_pairs]
    rows = summarise(pair_jobs, pair_results)
    depth = noise = None
    if depth_jobs:
        depth = _sweep_arrays(
            config, "depth_sweep", depth_jobs, results[n_pairs : n_pairs + n_depth]
        )
    if noise_jobs:
        noise = _sweep_arrays(
            config, "noise_sweep", noise_jobs, results[n_pairs + n_depth :]
        )
    cyclic = None
    if config.cyclic_hessian.enabled:
        cyclic = run_cyclic_hessian(config.cyclic_hessian, _dataset)
        progress(0, None)

    h5_path, csv_path = out / "compare.h5", out / "compare.csv"
    with atomic_h5(h5_path) as f:
        write_config_attrs(f, config.to_dict())
        _write_pairs(f, pair_jobs, pair_results)
        _write_summary(f, rows)
        if depth is not None:
            _write_sweep(f, "depth_sweep", "depths", depth, config.depth_sweep.methods)
        if noise is not None:
            g = _write_sweep(
                f, "noise_sweep", "levels", noise, config.noise_sweep.methods
            )
            g.attrs["field"] = config.noise_sweep.field
        if cyclic is not None:
            g = f.create_group("cyclic_hessian")
            for k, v in cyclic.items():
                g[k] = np.asarray(v)
    _write_csv(csv_path, rows)
    logger.info("compare: wrote %s and %s", h5_path, csv_path)
    return {
        "rows": rows,
        "depth": depth,
        "noise": noise,
        "cyclic": cyclic,
        "pairs": list(zip(pair_jobs, pair_results, strict=True)),
        "h5": h5_path,
        "csv": csv_path,
    }


def _write_pairs(f, jobs, results):
    for job, res in zip(jobs, results, strict=True):
        path = (
            f"pairs/{job['dataset']}/{job['network']['name']}/"
            f"{job['method']['method']}/seed_{job['seed']}"
        )
        g = f.create_group(path)
        for k in (
            "accuracy_model",
            "accuracy_physical",
            "physical_evaluations",
            "wall_time",
        ):
            g.attrs[k] = res[k]
        for k, v in res["history"].items():
            g[k] = v


def _write_summary(f, rows):
    g = f.create_group("summary")
    if not rows:
        return
    for key in rows[0]:
        values = [r[key] for r in rows]
        if isinstance(values[0], str):
            g[key] = np.array(values, dtype=object).astype("S")
        else:
            g[key] = np.asarray(values)


def _write_sweep(f, name, axis, arrays, methods):
    points, acc = arrays
    g = f.create_group(name)
    g[axis] = points
    g["methods"] = np.array(methods, dtype="S")
    for k, v in acc.items():
        g[k] = v
    return g


def _write_csv(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="") as handle:
        if rows:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
