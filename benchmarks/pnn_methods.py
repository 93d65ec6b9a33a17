"""Cost of each training method to reach 90 % of backprop's accuracy on digits.

One run per method (seed 0) on scikit-learn's digits. Reference: the best
test accuracy of ideal backpropagation on the digital model of the same
network. For every method we report the first epoch at which the *physical*
test accuracy reaches 90 % of that reference, the physical evaluations and
wall time spent until then, and their ratios to backprop's. Backprop spends no
physical evaluations, so its "evaluations" in the ratio are the training
samples it processed to reach the target (what a perfect differentiable
device would have cost: one evaluation per sample).

Run::

    .venv/bin/python benchmarks/pnn_methods.py [--epochs 20] [--out FILE.md]

Prints a Markdown table (and writes it to ``--out`` when given).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import numpy as np

from pnn.compare import CompareConfig, _dataset
from pnn.methods import MethodConfig, train
from pnn.network import NetworkSpec, build_network

FEEDFORWARD = NetworkSpec(
    name="crossbar_mlp", substrate={"kind": "crossbar"}, hidden=[32]
)
ENERGY = NetworkSpec(name="resistor", substrate={"kind": "resistor_network"})
# The study's measured per-method settings (pnn.compare.CompareConfig), so
# the benchmark and `pnn compare` train every method the same way.
_OVERRIDES = CompareConfig().method_overrides
METHODS = {
    method: (
        ENERGY if method in ("equilibrium", "coupled_learning") else FEEDFORWARD,
        dict(_OVERRIDES.get(method, {})),
    )
    for method in (
        "backprop",
        "in_silico",
        "noise_aware",
        "physics_aware",
        "feedback_alignment",
        "forward_forward",
        "spsa",
        "equilibrium",
        "coupled_learning",
    )
}


def first_reach(history: dict, target: float) -> int | None:
    """Index of the first epoch whose physical accuracy reaches ``target``."""
    hits = np.flatnonzero(history["accuracy_physical"] >= target)
    return int(hits[0]) if hits.size else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    data = _dataset("digits")

    def run(method):
        spec, extra = METHODS[method]
        net = build_network(spec, data.x_train.shape[1], data.num_classes)
        settings = {"batch_size": args.batch_size, **extra}
        config = MethodConfig(method=method, epochs=args.epochs, **settings)
        return train(net, data, config, jax.random.PRNGKey(0)).history

    reference_run = run("backprop")
    reference = float(np.max(reference_run["accuracy_model"]))
    target = 0.9 * reference
    base = first_reach({"accuracy_physical": reference_run["accuracy_model"]}, target)
    base_evals = reference_run["samples_seen"][base]
    base_wall = reference_run["wall_time"][base]
    lines = [
        f"Target: 90 % of backprop's best digital accuracy {reference:.3f} = "
        f"{target:.3f} (physical test accuracy; {args.epochs} epochs max, "
        f"batch {args.batch_size}; wall time includes compilation).",
        "",
        "| method | network | epoch reached | physical evals | evals / backprop "
        "| wall s | wall / backprop | best physical acc |",
        "|---|---|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for method in METHODS:
        history = reference_run if method == "backprop" else run(method)
        best = float(np.max(history["accuracy_physical"]))
        if method == "backprop":
            hit, evals = base, base_evals
        else:
            hit = first_reach(history, target)
            evals = None if hit is None else history["physical_evaluations"][hit]
        name = METHODS[method][0].name
        if hit is None:
            row = f"| {method} | {name} | never | - | - | - | - | {best:.3f} |"
        else:
            wall = history["wall_time"][hit]
            row = (
                f"| {method} | {name} | {hit + 1} | {int(evals):,} | "
                f"{evals / base_evals:.2f} | {wall:.1f} | {wall / base_wall:.2f} | "
                f"{best:.3f} |"
            )
        lines.append(row)
        print(row, flush=True)
    table = "\n".join(lines)
    if args.out is not None:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
