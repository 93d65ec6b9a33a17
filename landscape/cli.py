"""Command line of :mod:`landscape`."""

import logging
from pathlib import Path

import typer

from landscape.jobs import quiet_dask_logging

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="glassland landscape"
)


def _console():
    from rich.console import Console

    return Console()


def _logging(console, verbose: bool) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
        force=True,
    )
    if not verbose:
        quiet_dask_logging()


def _fail(console, err: Exception, code: int = 2):
    console.print(f"[red]error:[/red] {err}")
    raise typer.Exit(code)


def _progress(console):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


@app.command("train")
def train_command(
    config: Path = typer.Argument(..., help="TOML file of a TrainConfig"),
    out: Path = typer.Option(Path("results/landscape"), "--out", "-o"),
    name: str = typer.Option(None, help="run file stem (default: config stem)"),
    resume: bool = typer.Option(True, help="continue from a checkpoint"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Train one run, recording Hessian and NTK spectra to OUT/NAME.h5."""
    from rich.table import Table

    from landscape.config import ConfigError, load_config
    from landscape.training import TrainConfig, TrainingDiverged, train

    console = _console()
    _logging(console, verbose)
    try:
        cfg = load_config(TrainConfig, config)
    except ConfigError as err:
        _fail(console, err)
    path = out / f"{name or config.stem}.h5"
    try:
        with _progress(console) as bar:
            task = bar.add_task(f"training {path.name}", total=cfg.num_steps)
            result = train(
                cfg,
                path,
                on_record=lambda row: bar.update(task, completed=row["step"]),
                resume=resume,
            )
    except TrainingDiverged as err:
        _fail(console, err, code=1)
    except ValueError as err:
        _fail(console, err)
    rec = result.records
    table = Table(title=f"{path.name}: {result.num_params} parameters")
    for col in ("step", "loss", "train acc", "test acc", "top Hessian", "2/lr"):
        table.add_column(col, justify="right")
    top = rec["hessian_top"][-1, 0] if rec["hessian_top"].shape[1] else float("nan")
    table.add_row(
        str(rec["step"][-1]),
        f"{rec['loss'][-1]:.4f}",
        f"{rec['train_accuracy'][-1]:.3f}",
        f"{rec['test_accuracy'][-1]:.3f}",
        f"{top:.4g}",
        f"{2.0 / cfg.optimizer.learning_rate:.4g}",
    )
    console.print(table)
    console.print(f"records: {path}")


@app.command("spectrum")
def spectrum_command(
    runs: list[Path] = typer.Argument(..., help="run files written by `train`"),
    k: int = typer.Option(5, help="top eigenvalues per operator"),
    lanczos_steps: int = typer.Option(30, help="Lanczos steps of the top-k"),
    probes: int = typer.Option(4, help="SLQ probes"),
    slq_steps: int = typer.Option(32, help="Lanczos steps per SLQ probe"),
    seed: int = typer.Option(0),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Hessian and NTK spectra (top-k, SLQ density) of every stored snapshot,
    appended to each run file under spectra/."""
    from landscape.config import ConfigError, parse_config
    from landscape.spectrum_job import SpectrumOptions, compute_spectra

    console = _console()
    _logging(console, verbose)
    try:
        options = parse_config(
            SpectrumOptions,
            dict(
                k=k,
                lanczos_steps=lanczos_steps,
                num_probes=probes,
                slq_steps=slq_steps,
                seed=seed,
            ),
            source="command line",
        )
    except ConfigError as err:
        _fail(console, err)
    for path in runs:
        if not path.is_file():
            _fail(console, FileNotFoundError(f"{path} does not exist"))
    with _progress(console) as bar:
        for path in runs:
            task = bar.add_task(f"spectra of {path.name}", total=None)
            try:
                out = compute_spectra(
                    path,
                    options,
                    on_snapshot=lambda i, n, t=task: bar.update(
                        t, completed=i, total=n
                    ),
                )
            except ValueError as err:
                _fail(console, err)
            top = out["hessian_top"][:, 0]
            bar.console.print(
                f"{path}: {len(out['step'])} snapshots, top Hessian eigenvalue "
                f"{top.min():.4g} .. {top.max():.4g}; written to spectra/"
            )


@app.command("sweep")
def sweep_command(
    config: Path = typer.Argument(..., help="TOML file of a SweepConfig"),
    out: Path = typer.Option(Path("results/landscape/sweep"), "--out", "-o"),
    scheduler: str = typer.Option(
        None, help="Dask scheduler address, or 'sync' (default: local cluster)"
    ),
    workers: int = typer.Option(2, help="local cluster worker processes"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Train a grid of learning rates (and amplitudes, periods); bifurcation
    diagrams of late-time loss and top Hessian eigenvalue."""
    from rich.table import Table

    from landscape.config import ConfigError, load_config
    from landscape.sweep import SweepConfig, run_sweep, sweep_configs

    console = _console()
    _logging(console, verbose)
    try:
        cfg = load_config(SweepConfig, config)
        total = len(sweep_configs(cfg))
    except (ConfigError, ValueError) as err:
        _fail(console, err)
    with _progress(console) as bar:
        task = bar.add_task("sweep", total=total)
        try:
            results = run_sweep(
                cfg,
                out,
                scheduler=scheduler,
                n_workers=workers,
                on_done=lambda i, r: bar.advance(task),
            )
        except ValueError as err:
            _fail(console, err)
    table = Table(title="sweep")
    for col in ("run", "train acc", "test acc", "max top Hessian", "diverged at"):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(
            Path(r["out_path"]).name,
            f"{r['final_train_accuracy']:.3f}",
            f"{r['final_test_accuracy']:.3f}",
            f"{r['max_hessian_top']:.4g}",
            "-" if r["diverged_step"] < 0 else str(r["diverged_step"]),
        )
    console.print(table)
    console.print(f"results: {out}/ (sweep.h5, bifurcation_*.png, one .h5 per run)")


@app.command("demo")
def demo_command(
    out: Path = typer.Option(Path("results/landscape"), "--out", "-o"),
    width: int = typer.Option(16, help="hidden width W of the 2-W-3 MLP"),
    seeds: int = typer.Option(3, help="number of seeds per loss"),
    period: int = typer.Option(5000, help="period T of the cyclic loss"),
    num_periods: int = typer.Option(14, help="periods per run (last one static)"),
    scheduler: str = typer.Option(
        None, help="Dask scheduler address, or 'sync' (default: local cluster)"
    ),
    workers: int = typer.Option(2, help="local cluster worker processes"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Spiral study: plain vs cyclic cross-entropy (A = 70) for a narrow MLP."""
    from rich.table import Table

    from landscape.config import ConfigError, parse_config
    from landscape.demo import DemoConfig, demo_configs, run_demo

    console = _console()
    _logging(console, verbose)
    try:
        demo = parse_config(
            DemoConfig,
            dict(
                width=width,
                seeds=list(range(seeds)),
                period=period,
                num_periods=num_periods,
            ),
            source="command line",
        )
        total = len(demo_configs(demo))
    except (ConfigError, ValueError) as err:
        _fail(console, err)
    with _progress(console) as bar:
        task = bar.add_task(f"{total} spiral runs", total=total)
        result = run_demo(
            demo,
            out,
            scheduler=scheduler,
            n_workers=workers,
            on_done=lambda i, r: bar.advance(task),
        )
    table = Table(
        title=f"spiral, 2-{width}-3 ReLU MLP, full-batch GD lr = 1, "
        f"T = {period}, {num_periods} periods; seed mean ± std over {seeds}"
    )
    for col in ("loss", "train accuracy", "test accuracy", "max λ_top / (2/lr)"):
        table.add_column(col, justify="right")
    for row in result["rows"]:
        amp = row["amplitude"]
        cells = [
            f"{row[key]['mean']:.3f} ± {row[key]['std']:.3f}"
            for key in ("train_accuracy", "test_accuracy", "max_top_over_2_lr")
        ]
        label = "plain CE (A = 1)" if amp == 1 else f"cyclic CE (A = {amp:g})"
        table.add_row(label, *cells)
    console.print(table)
    console.print(f"results: {out}/ ({len(result['files'])} files: *.h5, *.png)")
