"""`teachkit batch status|fetch RECORD`: Gemini batch jobs submitted by `--batch` runs, picked up later."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from teachkit.cli.context import state
from teachkit.errors import TeachkitError

app = typer.Typer(no_args_is_help=True, help="Batch jobs that `--batch` runs submitted (`OUT.batch.json` records).")

Record = Annotated[
    Path, typer.Argument(help="The job record written beside the output (OUT.batch.json).", exists=True,
                         dir_okay=False)
]


@app.command("status")
def status(ctx: typer.Context, record: Record) -> None:
    """Each recorded job's state as the service sees it now.

    Example: teachkit batch status runs/sgd/train.rubric.jsonl.batch.json
    """
    from teachkit.llm.gemini_batch import record_status

    app_state = state(ctx)
    rows = record_status(record, app_state.settings())
    app_state.output().summary("batch status", {"record": str(record), "jobs": len(rows)}, {"jobs": rows})


@app.command("fetch")
def fetch(
    ctx: typer.Context,
    record: Record,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Only if done now; else say so and exit 0.")] = False,
) -> None:
    """Wait for the recorded jobs and write their results as the run that submitted them would have.

    Example: teachkit batch fetch runs/sgd/train.rubric.jsonl.batch.json
    """
    from teachkit.cli.sgd import batch_pending_summary
    from teachkit.llm.gemini_batch import BatchPending, read_job_record
    from teachkit.sgd.rubric import fetch_rubric_jobs, outcome_error

    app_state = state(ctx)
    settings = app_state.settings()
    out = app_state.output()
    try:
        result, ledger = fetch_rubric_jobs(read_job_record(record), record, settings, wait=not no_wait, output=out)
    except BatchPending as pending:
        batch_pending_summary(out, pending, f"teachkit batch fetch {record}")
        return
    out.summary("batch fetch", {
        "output": str(result.out), **result.counts(), "judge": ledger["model"], "requests": ledger["requests"],
        "cache_hits": ledger["cache_hits"], "cost_usd": ledger["cost_usd"],
    }, {"failed_samples": [{"id": i, "error": e} for i, e in result.failed[:20]]})
    problem = outcome_error([result], None)
    if problem is not None:
        raise TeachkitError(problem)
