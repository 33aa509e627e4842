"""Options shared by several commands, as typed `Annotated` aliases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar

import typer
from typer.core import TyperCommand

Resume = Annotated[bool, typer.Option("--resume", help="Continue an interrupted run: keep finished records, skip them.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")]
Out = Annotated[Path, typer.Option("--out", "-o", help="Output JSONL file.", dir_okay=False)]
MaxCost = Annotated[
    float | None, typer.Option("--max-cost", help="Stop starting new work once the estimated cost passes USD.")
]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the response cache.")]
Seed = Annotated[int | None, typer.Option("--seed", help="Random seed.")]
Force = Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")]

Batch = Annotated[
    bool, typer.Option("--batch", help="Send the judge's requests as one Gemini batch job: half the price, replies "
                                       "within 24 h (gemini: models only).")
]
NoWait = Annotated[
    bool, typer.Option("--no-wait", help="With --batch: return once the job is submitted; pick it up later with "
                                         "--resume or `teachkit batch fetch`.")
]


class SnakeCaseFlags(TyperCommand):
    """A command that also accepts the seed pipeline's snake_case flags (`--output_dir`, `--learning_rate`) as
    hidden aliases of its kebab-case ones. Subclass it and list renames that are more than `_` -> `-`
    (`--train_jsonl` -> `--train`) in `renames`; use it with `@app.command(cls=...)`."""

    renames: ClassVar[dict[str, str]] = {}

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        rewritten: list[str] = []
        for index, arg in enumerate(args):
            if arg == "--":
                rewritten.extend(args[index:])
                break
            flag, eq, value = arg.partition("=")
            if flag.startswith("--") and "_" in flag:
                flag = self.renames.get(flag, flag.replace("_", "-"))
                arg = flag + eq + value
            rewritten.append(arg)
        return super().parse_args(ctx, rewritten)
