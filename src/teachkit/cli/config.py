"""`teachkit config show|init`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from teachkit.cli.context import state
from teachkit.cli.options import Force
from teachkit.config_example import render_example_config
from teachkit.errors import InputError
from teachkit.jsonl import atomic_write
from teachkit.settings import flatten

app = typer.Typer(no_args_is_help=True, help="Show or create settings.")


@app.command("show")
def show(ctx: typer.Context) -> None:
    """Print the effective settings, where each value came from, with secrets masked."""
    app_state = state(ctx)
    settings = app_state.settings()
    values = flatten(settings.masked_dump())
    origins = settings.origins
    out = app_state.output()
    rows = [{"key": key, "value": value, "source": origins.get(key, "default")} for key, value in values.items()]
    if app_state.json:
        import json

        typer.echo(json.dumps({r["key"]: {"value": r["value"], "source": r["source"]} for r in rows}, indent=2, default=str))
        return
    from rich.table import Table

    table = Table(title="effective settings", title_justify="left")
    for column in ("key", "value", "source"):
        table.add_column(column)
    for row in rows:
        style = None if row["source"] == "default" else "bold"
        table.add_row(row["key"], "-" if row["value"] is None else str(row["value"]), row["source"], style=style)
    out.stdout.print(table)


@app.command("init")
def init(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Where to write it.", dir_okay=False)] = Path("teachkit.toml"),
    force: Force = False,
) -> None:
    """Write a commented example teachkit.toml with every setting and its default."""
    if path.exists() and not force:
        raise InputError(f"{path}: already exists; add --force to overwrite it")
    with atomic_write(path) as handle:
        handle.write(render_example_config())
    out = state(ctx).output()
    out.summary("config init", {"written": str(path)})
