"""Command line of :mod:`liquids`."""

import typer

from landscape.jobs import quiet_dask_logging

app = typer.Typer(no_args_is_help=True, add_completion=False, help="glassland liquids")


@app.command("softness")
def softness_command(
    config: str = typer.Argument(
        None, help="TOML config (SoftnessStudyConfig); default: the demo sweep"
    ),
    files: list[str] = typer.Option(
        None, "--files", "-f", help="trajectory files or globs (override config)"
    ),
    out: str = typer.Option(None, "--out", "-o", help="output folder"),
    no_vibrations: bool = typer.Option(False, help="skip the Hessian analysis"),
) -> None:
    """Train softness on a sweep; tau_alpha vs mean softness for LJ and WCA."""
    import logging

    from rich.console import Console
    from rich.logging import RichHandler

    from landscape.config import ConfigError, load_config, parse_config
    from liquids.softness_study import SoftnessStudyConfig, run_study

    console = Console()
    logging.basicConfig(
        level=logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    try:
        cfg = (
            load_config(SoftnessStudyConfig, config)
            if config
            else SoftnessStudyConfig()
        )
        update = {}
        if files:
            update["files"] = tuple(files)
        if out:
            update["out"] = out
        if no_vibrations:
            update["vibrations"] = False
        cfg = parse_config(SoftnessStudyConfig, {**cfg.to_dict(), **update})
        result = run_study(cfg, progress=lambda m: console.log(m))
    except (ConfigError, ValueError, FileNotFoundError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2)
    _print_softness(console, result)


def _print_softness(console, result) -> None:
    """The evidence table, training quality and correlations of a study."""
    from rich.table import Table

    table = Table(title="tau_alpha and mean softness of species A")
    for col in (
        "model",
        "T",
        "tau_alpha",
        "<S> both",
        "<S> from g(r)",
        "P_R(S>0)",
        "P_R",
        "g_AA peak",
    ):
        table.add_column(col)
    for row in result.table:
        table.add_row(
            row["model"],
            f"{row['T']:.3f}",
            f"{row['tau_alpha']:.4g}",
            f"{row['mean_S_both']:.4f}",
            f"{row['mean_S_from_gr']:.4f}",
            f"{row['P_R_S_pos']:.4f}",
            f"{row['P_R']:.4f}",
            f"{row['g_AA_peak']:.3f}",
        )
    console.print(table)
    for name, hp in result.hyperplanes.items():
        for s, q in zip(hp.central, hp.quality, strict=True):
            console.print(
                f"trained on {name}, species {int(s)}: C={q.C:g}, held-out accuracy "
                f"{q.test_accuracy:.3f}, rearranging with S>0 "
                f"{q.test_rearranging_positive:.3f} (n_test={q.n_test})"
            )
    gap = max(abs(r["mean_S_both"] - r["mean_S_from_gr"]) for r in result.table)
    console.print(f"max |<S> per particle - <S> from g(r)| over states: {gap:.2e}")
    rho = result.spearman
    console.print(
        f"Spearman(tau_alpha, <S>) over both liquids: {rho['mean_S_both']:.3f}; "
        f"Spearman(tau_alpha, g_AA peak): {rho['g_AA_peak']:.3f}"
    )
    for model, fit in result.arrhenius.items():
        values = ", ".join(f"{e:.3g}" for e in fit["delta_E"])
        console.print(f"KA-{model.upper()} Delta E(S) over S bins: [{values}]")
    for model, vib in result.vibrations.items():
        console.print(
            f"KA-{model.upper()} inherent structure (T={vib['temperature']:g}): "
            f"lowest omega^2 {vib['eigenvalues'][0]:.3g}, participation of the "
            f"lowest modes {min(vib['participation']):.3g}-"
            f"{max(vib['participation']):.3g}, Spearman(soft-mode participation, "
            f"S) = {vib['corr_thermal']:.3f}"
        )
    console.print(f"results written to {result.out}")


def _sweep_console():
    import logging

    from rich.console import Console
    from rich.logging import RichHandler

    console = Console()
    logging.basicConfig(
        level=logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    quiet_dask_logging()
    return console


def _run_sweep_with_progress(console, cfg, scheduler):
    """Run a sweep with a rich progress bar over states; print the summary."""
    from rich.progress import Progress
    from rich.table import Table

    from liquids.sweep import run_sweep

    states = cfg.states()
    with Progress(console=console) as bar:
        task = bar.add_task(f"{len(states)} state points", total=len(states))

        def done(index, info):
            model, temp = states[index]
            note = "existed" if info["skipped"] else f"{info['wall_time']:.0f} s"
            bar.console.log(f"KA-{model.upper()} T={temp:g}: {info['path']} ({note})")
            bar.advance(task)

        result = run_sweep(cfg, scheduler=scheduler, on_state_done=done)
    table = Table(title="KA liquids at density 1.2 (species A)")
    for col in ("liquid", "T", "U/N", "P", "tau_alpha", "D"):
        table.add_column(col, justify="right")
    for row in result.rows:
        table.add_row(
            f"KA-{row['model'].upper()}",
            f"{row['T']:.3f}",
            f"{row['U_per_N']:.4f}",
            f"{row['P']:.3f}",
            f"{row['tau_alpha_A']:.4g}",
            "-" if row["D_A"] != row["D_A"] else f"{row['D_A']:.4g}",
        )
    console.print(table)
    if any(row["D_A"] != row["D_A"] for row in result.rows):
        console.print(
            "D '-': the MSD of that run is not yet linear in t (too short to "
            "leave the cage regime); the log above says where it was checked."
        )
    console.print(f"files written to {result.out}/:")
    for path in result.files:
        console.print(f"  {path}")
    return result


@app.command("sweep")
def sweep_command(
    config: str = typer.Argument(..., help="TOML config (SweepConfig)"),
    scheduler: str = typer.Option(
        None, "--scheduler", help="Dask scheduler address, or 'sync' (in process)"
    ),
    out: str = typer.Option(None, "--out", "-o", help="output folder"),
) -> None:
    """Simulate KA-LJ and KA-WCA over temperatures; summary table and figures.

    A state whose trajectory exists is skipped; a killed state resumes from
    its checkpoint.
    """
    from landscape.config import ConfigError, load_config, parse_config
    from liquids.production import SimulationBlowup
    from liquids.sweep import SweepConfig

    console = _sweep_console()
    try:
        cfg = load_config(SweepConfig, config)
        if out:
            cfg = parse_config(SweepConfig, {**cfg.to_dict(), "out": out})
        _run_sweep_with_progress(console, cfg, scheduler)
    except (ConfigError, ValueError, FileNotFoundError, SimulationBlowup) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2)


@app.command("demo")
def demo_command(
    out: str = typer.Option("results/liquids", "--out", "-o", help="output folder"),
    scheduler: str = typer.Option(
        None, "--scheduler", help="Dask scheduler address, or 'sync' (in process)"
    ),
) -> None:
    """A short sweep (N = 500; T = 2.0, 1.0, 0.8; both liquids) and its summary."""
    from liquids.production import SimulationBlowup
    from liquids.sweep import demo_config

    console = _sweep_console()
    try:
        # Step 1: simulate both liquids and summarise (trajectories, CSV, figures).
        console.rule("liquids demo, step 1: simulate KA-LJ and KA-WCA")
        _run_sweep_with_progress(console, demo_config(f"{out}/sweep"), scheduler)
    except (ValueError, FileNotFoundError, SimulationBlowup) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2)

    # Final step: softness and the weighted integral of g(r) on the sweep.
    from liquids.softness_study import demo_config as softness_demo_config
    from liquids.softness_study import run_study

    console.rule("liquids demo, final step: softness on the demo sweep")
    try:
        config = softness_demo_config(f"{out}/sweep", f"{out}/softness")
        result = run_study(config, progress=lambda m: console.log(m))
    except ValueError as err:
        console.print(f"[yellow]softness step skipped:[/yellow] {err}")
        return
    _print_softness(console, result)


@app.command("analyze")
def analyze_command(
    path: str = typer.Argument(..., help="trajectory: .h5 (glassland), .gsd, dump"),
    file_format: str = typer.Option(
        "auto", "--format", help="auto, glassland, gsd or lammps"
    ),
    timestep: float = typer.Option(1.0, help="MD time step (GSD and LAMMPS files)"),
    r_max: float = typer.Option(None, help="g(r) range; default min(5, L/2)"),
    q: float = typer.Option(7.25, help="wave number of F_s(q, t)"),
    out: str = typer.Option(None, "--out", "-o", help="HDF5 file for the results"),
) -> None:
    """g_ab(r), MSD, F_s(q, t), tau_alpha and D of one trajectory file."""
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from landscape.records import atomic_h5, write_config_attrs
    from liquids.dynamics import (
        diffusion_constant,
        mean_squared_displacement,
        self_intermediate_scattering,
        tau_alpha,
    )
    from liquids.readers import read_any
    from liquids.structure import pair_correlation

    console = Console()
    try:
        traj = read_any(path, file_format=file_format, timestep=timestep)
        console.print(repr(traj))
        r_max = r_max or min(5.0, float(np.min(traj.box)) / 2)
        gr = pair_correlation(traj, r_max=r_max, num_bins=int(r_max / 0.01))
        msd = mean_squared_displacement(traj)
        fs = self_intermediate_scattering(traj, q=q)
    except (ValueError, FileNotFoundError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2)

    table = Table(title=f"{path}: species A = 0, B = 1, ...")
    for col in ("species", "N", "g_aa peak (r)", "tau_alpha", "D"):
        table.add_column(col)
    for a, count in enumerate(msd.species_counts):
        peak = int(np.argmax(gr.g[a, a]))
        values = []
        for func, args in (
            (tau_alpha, (fs.lags, fs.fs[a])),
            (diffusion_constant, (msd.lags, msd.msd[a], traj.dimension)),
        ):
            try:
                values.append(f"{func(*args):.4g}")
            except ValueError as err:
                values.append("-")
                console.print(f"species {a}: {err}")
        table.add_row(
            str(a), str(count), f"{gr.g[a, a, peak]:.3f} ({gr.r[peak]:.3f})", *values
        )
    console.print(table)
    if out:
        with atomic_h5(out) as f:
            write_config_attrs(f, {"source": str(path), "r_max": r_max, "q": q})
            for name, value in (
                ("gr/r", gr.r),
                ("gr/g", gr.g),
                ("gr/pair_counts", gr.pair_counts),
                ("msd/lags", msd.lags),
                ("msd/msd", msd.msd),
                ("fs/lags", fs.lags),
                ("fs/fs", fs.fs),
                ("fs/wavevectors", fs.wavevectors),
            ):
                f[name] = value
        console.print(f"results written to {out}")
