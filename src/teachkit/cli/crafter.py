"""`teachkit crafter ...`: rollout, report, replay, filter, format, finetune, eval."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="Crafter: a teacher plays, its trajectories become fine-tuning data.")
