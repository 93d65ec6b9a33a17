"""Command line of :mod:`pnn`."""

import logging
import os
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from landscape.jobs import pin_to_one_cpu, quiet_dask_logging

app = typer.Typer(no_args_is_help=True, add_completion=False, help="glassland pnn")

# piped output (make demo, logs) would be cut to rich's default 80 columns
_console = Console(width=None if sys.stdout.isatty() else 120)


def _accuracy(mean: float, std: float, seeds: int) -> str:
    return f"{mean:.3f}" if seeds == 1 else f"{mean:.3f} ± {std:.3f}"


def _table(rows: list[dict]) -> Table:
    table = Table(
        title="test accuracy by method (physical = deployed on the device)",
        caption="gap = digital - physical; evals = training samples sent "
        "through the device",
    )
    for name in ("dataset", "network", "method"):
        table.add_column(name, no_wrap=True)
    for name in ("physical", "digital", "gap", "evals", "wall s"):
        table.add_column(name, justify="right", no_wrap=True)
    for r in rows:
        table.add_row(
            r["dataset"],
            r["network"],
            r["method"],
            _accuracy(
                r["accuracy_physical_mean"], r["accuracy_physical_std"], r["seeds"]
            ),
            _accuracy(r["accuracy_model_mean"], r["accuracy_model_std"], r["seeds"]),
            f"{r['reality_gap']:+.3f}",
            f"{r['physical_evaluations']:,}",
            f"{r['wall_time']:.1f}",
        )
    return table


def _sweep_table(title: str, axis: str, arrays, methods) -> Table:
    points, acc = arrays
    table = Table(title=title, caption="physical (digital) test accuracy, seed mean")
    table.add_column("method", no_wrap=True)
    for p in points:
        table.add_column(f"{axis} {p:g}", justify="right", no_wrap=True)
    for i, method in enumerate(methods):
        phys = acc["accuracy_physical"][i].mean(-1)
        model = acc["accuracy_model"][i].mean(-1)
        table.add_row(
            method, *(f"{a:.3f} ({b:.3f})" for a, b in zip(phys, model, strict=True))
        )
    return table


def _run(config, out: Path, scheduler: str | None) -> None:
    from pnn.compare import run_compare
    from pnn.compare_figures import plot_compare

    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if scheduler == "sync":
        # this process runs the jobs: one CPU while JAX creates its CPU client,
        # so XLA's thread pool has one thread and batched LAPACK calls cannot
        # deadlock it (see landscape.jobs); the pool keeps that size after
        pin_to_one_cpu(0)
    try:
        with Progress(console=_console, transient=True) as progress:
            task = progress.add_task("training", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            result = run_compare(config, out, scheduler=scheduler, on_done=advance)
    finally:
        if allowed is not None:
            os.sched_setaffinity(0, allowed)
    figures = plot_compare(result, config, out)
    _console.print(_table(result["rows"]))
    if result["depth"] is not None:
        sweep = config.depth_sweep
        table = ", ".join(f"{k}={v}" for k, v in sweep.substrate.items())
        title = f"depth sweep ({table}, width {sweep.width})"
        _console.print(_sweep_table(title, "layers", result["depth"], sweep.methods))
    if result["noise"] is not None:
        sweep = config.noise_sweep
        title = f"noise sweep: {sweep.network.name}, {sweep.field}"
        _console.print(_sweep_table(title, "", result["noise"], sweep.methods))
    _console.print(f"results: {result['h5']} and {result['csv']}")
    for path in figures:
        _console.print(f"figure: {path}")


@app.command()
def compare(
    config: Path = typer.Argument(..., help="study config (TOML)"),
    out: Path = typer.Option(Path("results/pnn"), help="output folder"),
    scheduler: str = typer.Option(
        None, help="'sync' (in process), a Dask scheduler address, or unset (local)"
    ),
    verbose: bool = typer.Option(False, help="log each epoch"),
) -> None:
    """Train every compatible (network, method) pair; write HDF5, CSV, figures."""
    from landscape.config import ConfigError, load_config
    from pnn.compare import CompareConfig

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    if not verbose:
        quiet_dask_logging()
    try:
        study = load_config(CompareConfig, config)
    except ConfigError as err:
        _console.print(f"[red]{err}[/red]")
        raise typer.Exit(code=2)
    try:
        _run(study, out, scheduler)
    except ValueError as err:
        _console.print(f"[red]{err}[/red]")
        raise typer.Exit(code=2)


@app.command()
def demo(
    out: Path = typer.Option(Path("results/pnn"), help="output folder"),
    scheduler: str = typer.Option("sync", help="'sync', an address, or 'local'"),
) -> None:
    """A short study on digits: table, files and figures in a few minutes."""
    from pnn.compare import demo_config

    _run(demo_config(), out, None if scheduler == "local" else scheduler)
