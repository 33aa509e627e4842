"""`teachkit cache stats|clear`: the response cache of teacher and judge replies."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from teachkit.cli.context import state
from teachkit.errors import InputError
from teachkit.llm.cache import cache_stats, clear_cache

app = typer.Typer(no_args_is_help=True, help="Inspect or empty the response cache (paths.cache_dir).")


@app.command("stats")
def stats(ctx: typer.Context) -> None:
    """Where the cache is, how many replies it holds, its size, and the replies per model."""
    app_state = state(ctx)
    settings = app_state.settings()
    report = cache_stats(settings.paths.cache_dir)
    models = [{"model": name, "entries": count} for name, count in sorted(report.pop("models").items())]
    app_state.output().summary("response cache", report, {"models": models})


@app.command("clear")
def clear(
    ctx: typer.Context,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Only this model's replies, as provider:model.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete cached replies (all of them, or one model's). Paid replies are not free to get back: asks first."""
    app_state = state(ctx)
    settings = app_state.settings()
    report = cache_stats(settings.paths.cache_dir)
    what = f"the {model} replies" if model else f"all {report['entries']} replies"
    if report["entries"] and not yes:
        if not sys.stdin.isatty():
            raise InputError(f"cache clear: would delete {what} in {report['path']}; add --yes to confirm")
        typer.confirm(f"Delete {what} in {report['path']}?", abort=True)
    deleted = clear_cache(settings.paths.cache_dir, model)
    app_state.output().summary("cache clear", {"path": report["path"], "deleted": deleted})
