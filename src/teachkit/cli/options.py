"""Options shared by several commands, as typed `Annotated` aliases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Resume = Annotated[bool, typer.Option("--resume", help="Continue an interrupted run: keep finished records, skip them.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")]
Out = Annotated[Path, typer.Option("--out", "-o", help="Output JSONL file.", dir_okay=False)]
MaxCost = Annotated[
    float | None, typer.Option("--max-cost", help="Stop starting new work once the estimated cost passes USD.")
]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the response cache.")]
Seed = Annotated[int | None, typer.Option("--seed", help="Random seed.")]
Force = Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")]
