"""The `teachkit` entry point: root options and the command groups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from teachkit import __version__
from teachkit.cli import ask as ask_commands
from teachkit.cli import batch as batch_commands
from teachkit.cli import cache as cache_commands
from teachkit.cli import config as config_commands
from teachkit.cli import crafter as crafter_commands
from teachkit.cli import doctor as doctor_commands
from teachkit.cli import quickstart as quickstart_commands
from teachkit.cli import sgd as sgd_commands
from teachkit.cli.context import AppState, TeachkitGroup

app = typer.Typer(
    name="teachkit",
    cls=TeachkitGroup,
    no_args_is_help=True,
    help="Turn a large teacher model into training signal for a small student model.",
    pretty_exceptions_enable=False,
)


def show_version(value: bool) -> None:
    if value:
        typer.echo(f"teachkit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Settings file (default: ./teachkit.toml if present).", dir_okay=False),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show more detail.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or notices.")] = False,
    json: Annotated[bool, typer.Option("--json", help="Print the closing summary as JSON on stdout.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=show_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    ctx.obj = AppState(config_file=config, quiet=quiet, json=json, verbose=verbose, debug=debug)


app.add_typer(config_commands.app, name="config")
app.command("doctor")(doctor_commands.doctor)
app.command("ask")(ask_commands.ask)
app.add_typer(cache_commands.app, name="cache")
app.add_typer(batch_commands.app, name="batch")
app.add_typer(crafter_commands.app, name="crafter")
app.add_typer(sgd_commands.app, name="sgd")
app.command("quickstart")(quickstart_commands.quickstart)


def main() -> None:
    app()
