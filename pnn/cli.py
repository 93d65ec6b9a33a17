"""Command line of :mod:`pnn`."""

import logging
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

app = typer.Typer(no_args_is_help=True, add_completion=False, help="glassland pnn")

_console = Console()


def _table(rows: list[dict]) -> Table:
    table = Table(title="physical neural networks: test accuracy by method")
    for name in (
        "dataset",
        "network",
        "method",
        "physical acc",
        "digital acc",
        "gap",
        "physical evals",
        "wall s",
    ):
        table.add_column(name, justify="left" if name[0] in "dnm" else "right")
    for r in rows:
        table.add_row(
            r["dataset"],
            r["network"],
            r["method"],
            f"{r['accuracy_physical_mean']:.3f} ± {r['accuracy_physical_std']:.3f}",
            f"{r['accuracy_model_mean']:.3f} ± {r['accuracy_model_std']:.3f}",
            f"{r['reality_gap']:+.3f}",
            f"{r['physical_evaluations']:,}",
            f"{r['wall_time']:.1f}",
        )
    return table


def _run(config, out: Path, scheduler: str | None) -> None:
    from pnn.compare import run_compare
    from pnn.compare_figures import plot_compare

    with Progress(console=_console, transient=True) as progress:
        task = progress.add_task("training", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = run_compare(config, out, scheduler=scheduler, on_done=advance)
    figures = plot_compare(result, config, out)
    _console.print(_table(result["rows"]))
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
