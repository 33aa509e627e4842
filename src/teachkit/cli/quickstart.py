"""`teachkit quickstart`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from teachkit.cli.context import state
from teachkit.cli.options import Overwrite, Resume
from teachkit.quickstart import DEFAULT_SIZE, TINY_SIZE, run_quickstart, run_teachkit


def quickstart(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Option("--dir", help="Where every output goes.", file_okay=False)] = Path(
        "runs/quickstart"
    ),
    student: Annotated[
        str,
        typer.Option("--student", help="The model both pipelines train: smollm2-135m, an HF id, a path or local:NAME."),
    ] = "smollm2-135m",
    tiny: Annotated[
        bool, typer.Option("--tiny", help="A sliver of data per stage (for smoke tests with a tiny student).")
    ] = False,
    resume: Resume = False,
    overwrite: Overwrite = False,
) -> None:
    """Run both pipelines offline, end to end, with small settings (about 15 minutes on 2 CPU cores).

    Crafter: scripted rollout, report, replay GIF, filter, format (vertex and messages), local fine-tune, eval
    against the base model. SGD: compile the example corpus, a few GRPO steps with the acts judge, eval.
    """
    app_state = state(ctx)
    out = app_state.output()
    # Under --json only the quickstart's own summary may reach stdout, so the stages run quietly.
    quiet_stages = app_state.quiet or app_state.json
    root_options = [flag for flag, on in (("--quiet", quiet_stages), ("--verbose", app_state.verbose)) if on]
    if app_state.config_file:
        root_options += ["--config", str(app_state.config_file)]

    def run_command(args: Sequence[str]) -> None:
        run_teachkit([*root_options, *args], capture=quiet_stages)

    result = run_quickstart(
        directory, run_command, out, student=student, size=TINY_SIZE if tiny else DEFAULT_SIZE,
        resume=resume, overwrite=overwrite,
    )
    out.summary("quickstart", result.summary(), result.tables())
