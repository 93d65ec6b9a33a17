"""Command line of :mod:`landscape`."""

import typer

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="glassland landscape"
)
