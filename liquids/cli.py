"""Command line of :mod:`liquids`."""

import typer

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
