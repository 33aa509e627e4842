"""`teachkit sgd ...`: download, compile, rubric, train, eval."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="Schema-Guided Dialogue: single-step RL samples, judges and GRPO.")
