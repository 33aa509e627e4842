"""`teachkit sgd ...`: download, compile, format, rubric, summary here; train and eval in `sgd_training`,
registered on the same app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from teachkit.cli import sgd_training
from teachkit.cli.context import state
from teachkit.cli.options import Batch, MaxCost, NoCache, NoWait, Overwrite, Resume, Seed, SnakeCaseFlags
from teachkit.errors import InputError, TeachkitError

app = typer.Typer(no_args_is_help=True, help="Schema-Guided Dialogue: single-step RL samples, judges and GRPO.")


# --- download, compile, rubric, summary ------------------------------------------------------------------------


class CompileFlags(SnakeCaseFlags):
    renames = {"--out_path": "--out"}


def comma_list(value: str | None) -> list[str] | None:
    return None if value is None else [item.strip() for item in value.split(",") if item.strip()]


SgdRoot = Annotated[
    Path | None,
    typer.Option("--sgd-root", help="The dstc8-schema-guided-dialogue folder (default: sgd.compile.root).",
                 file_okay=False),
]
RubricModel = Annotated[
    str | None,
    typer.Option("--judge-model",
                 help="Model that writes rubrics, e.g. gemini:gemini-2.5-flash (default: the judge settings)."),
]


def batch_pending_summary(out: Any, pending: Any, rerun: str) -> None:
    """The closing summary of a run that submitted a batch job and did not wait for it (exit 0)."""
    out.summary("batch job submitted", {
        "jobs": ", ".join(job.name for job in pending.jobs),
        "state": ", ".join(job.state.removeprefix("JOB_STATE_") for job in pending.jobs),
        "requests": sum(len(job.keys) for job in pending.jobs),
        "record": str(pending.record_path),
        "status": f"teachkit batch status {pending.record_path}",
        "fetch": rerun,
    })


@app.command("download")
def download(
    ctx: typer.Context,
    dest: Annotated[
        Path | None,
        typer.Option("--dest", help="Where the dataset goes (default: sgd.compile.root, else "
                                    "data/dstc8-schema-guided-dialogue).", file_okay=False),
    ] = None,
    ref: Annotated[str, typer.Option("--ref", help="Branch, tag or commit of the dataset repository.")] = "master",
    url: Annotated[
        str | None,
        typer.Option("--url", help="Archive URL ({ref} is replaced), or the repository with --git "
                                   "(default: sgd.compile.download_url / git_url)."),
    ] = None,
    git: Annotated[bool, typer.Option("--git", help="git clone (shallow) instead of downloading the archive.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Download again over an existing dataset folder.")] = False,
    keep_archive: Annotated[bool, typer.Option("--keep-archive", help="Keep the downloaded archive.")] = False,
) -> None:
    """Fetch the DSTC8 Schema-Guided Dialogue dataset (resumable) and check its layout.

    Example: teachkit sgd download --dest data/sgd
    """
    from teachkit.sgd.download import download_dataset

    app_state = state(ctx)
    settings = app_state.settings()
    out = app_state.output()
    config = settings.sgd.compile
    target = dest or config.root or Path("data/dstc8-schema-guided-dialogue")
    result = download_dataset(
        target, ref=ref, url_template=url if url and not git else config.download_url,
        git_url=url if url and git else config.git_url, use_git=git, force=force, keep_archive=keep_archive,
        output=out,
    )
    out.summary("sgd download", {
        "dataset": str(result.dest), "method": result.method, "source": result.source,
        "already_present": result.already_present, "bytes_downloaded": result.bytes_downloaded,
        "resumed_from_byte": result.resumed_from, "dialogue_files": result.dialogue_files,
    })


@app.command("compile", cls=CompileFlags)
def compile_command(
    ctx: typer.Context,
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Output JSONL of samples.", dir_okay=False)],
    sgd_root: SgdRoot = None,
    split: Annotated[
        str | None,
        typer.Option("--split", "--splits", help="Split(s), comma-separated: train, dev, test (default: train)."),
    ] = None,
    eval_fraction: Annotated[
        float | None,
        typer.Option("--eval-fraction", min=0.0, max=0.99,
                     help="Hold out this fraction of the dialogues (whole dialogues) into --eval-out."),
    ] = None,
    eval_out: Annotated[
        Path | None, typer.Option("--eval-out", help="Held-out samples (default: OUT with .eval before the suffix).",
                                  dir_okay=False)
    ] = None,
    prompt_format: Annotated[
        Literal["messages", "text"] | None,
        typer.Option("--prompt-format", help="messages (chat, system message first) or text (one string)."),
    ] = None,
    tool_results: Annotated[
        bool | None,
        typer.Option("--tool-results/--no-tool-results",
                     help="Put the turn's service call and results into the prompt (default: on)."),
    ] = None,
    max_context_turns: Annotated[
        int | None, typer.Option("--max-context-turns", min=1, help="Keep only the last N turns of the context.")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Stop after the first N samples.")] = None,
    sample: Annotated[
        int | None, typer.Option("--sample", min=1, help="A random N of the samples (reproducible with --seed).")
    ] = None,
    seed: Seed = None,
    dedupe: Annotated[
        bool | None,
        typer.Option("--dedupe/--no-dedupe", help="Drop repeated (prompt, ground truth) pairs (default: on)."),
    ] = None,
    services: Annotated[
        str | None, typer.Option("--services", help="Only these services, comma-separated (e.g. Restaurants_1).")
    ] = None,
    domains: Annotated[
        str | None, typer.Option("--domains", help="Only these domains, comma-separated (e.g. Restaurants,Hotels).")
    ] = None,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Skip bad dialogues and files (listed in the summary) "
                                              "instead of stopping.")
    ] = False,
    tokenizer: Annotated[
        str | None, typer.Option("--tokenizer", help="Report prompt lengths in this tokenizer's tokens "
                                                     "(local path, cached HF id, or smollm2-135m).")
    ] = None,
    with_rubric: Annotated[
        bool, typer.Option("--with-rubric", help="Also write a rubric per sample with the judge model.")
    ] = False,
    judge_model: RubricModel = None,
    max_cost: MaxCost = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    no_cache: NoCache = False,
) -> None:
    """Compile SGD dialogues into single-step RL samples: one per system turn.

    Example: teachkit sgd compile --sgd-root data/sgd --split train --eval-fraction 0.2 --out runs/sgd/train.jsonl
    """
    from teachkit.sgd.compile import CompileOptions
    from teachkit.sgd.compile_stage import run_compile
    from teachkit.sgd.rubric import outcome_error

    app_state = state(ctx)
    settings = app_state.settings({
        "sgd.compile.root": sgd_root, "sgd.compile.split": split, "sgd.compile.eval_fraction": eval_fraction,
        "sgd.compile.prompt_format": prompt_format, "sgd.compile.tool_results": tool_results,
        "sgd.compile.max_context_turns": max_context_turns, "sgd.compile.seed": seed,
        "sgd.compile.dedupe": dedupe, "sgd.compile.services": comma_list(services),
        "sgd.compile.domains": comma_list(domains), "cache": False if no_cache else None,
    })
    out = app_state.output()
    config = settings.sgd.compile
    if config.root is None:
        from teachkit.data import example_sgd_root

        raise InputError("no SGD folder: pass --sgd-root DIR (or set sgd.compile.root), or run `teachkit sgd "
                         f"download` first; {example_sgd_root()} holds a small corpus in the same format")
    options = CompileOptions(
        splits=comma_list(config.split) or ["train"], prompt_format=config.prompt_format,
        tool_results=config.tool_results, max_context_turns=config.max_context_turns, limit=limit, sample=sample,
        seed=config.seed, dedupe=config.dedupe, eval_fraction=config.eval_fraction, services=config.services,
        domains=config.domains, skip_bad=skip_bad,
    )
    run = run_compile(config.root, out_path, options, settings, eval_out=eval_out, overwrite=overwrite,
                      tokenizer=tokenizer, with_rubric=with_rubric, judge_model=judge_model, max_cost=max_cost,
                      resume=resume, output=out)
    data, tables = run.summary()
    out.summary("sgd compile", data, tables)
    problem = outcome_error(run.rubrics, max_cost)
    if problem is not None:
        raise TeachkitError(problem)



@app.command("format")
def format_command(
    ctx: typer.Context,
    inputs: Annotated[list[Path], typer.Argument(help="Compiled samples (from `sgd compile`).", dir_okay=False)],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Fine-tuning JSONL to write.", dir_okay=False)],
    target: Annotated[
        Literal["vertex", "messages"] | None,
        typer.Option("--target", "-t", help="messages (chat, local fine-tune; default) or vertex (Vertex AI)."),
    ] = None,
    validation_fraction: Annotated[
        float | None,
        typer.Option("--validation-fraction", min=0.0, max=0.99,
                     help="Write this fraction of the dialogues (whole dialogues) to a validation file."),
    ] = None,
    validation_file: Annotated[
        Path | None, typer.Option("--validation-file", help="The validation file (default: OUT with .validation "
                                                            "before the suffix).", dir_okay=False)
    ] = None,
    seed: Seed = None,
    overwrite: Overwrite = False,
) -> None:
    """Write supervised fine-tuning data from compiled samples: the prompt, and the reference system turn as the reply.

    A cheap warm start before GRPO: teachkit sgd format runs/sgd/train.jsonl --out runs/sgd/sft.jsonl, then
    teachkit crafter finetune runs/sgd/sft.jsonl --backend local --model smollm2-135m.
    """
    from teachkit.sgd.sft_data import format_samples

    app_state = state(ctx)
    settings = app_state.settings({
        "sgd.format.target": target, "sgd.format.validation_fraction": validation_fraction, "sgd.format.seed": seed,
    })
    out = app_state.output()
    report = format_samples(inputs, out_path, settings, out, validation_out=validation_file, overwrite=overwrite)
    out.summary("sgd format", report.summary())

@app.command("rubric")
def rubric(
    ctx: typer.Context,
    in_path: Annotated[Path, typer.Argument(help="Compiled samples (JSONL of Sample).", dir_okay=False)],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Samples with their rubric.", dir_okay=False)],
    judge_model: RubricModel = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N samples.")] = None,
    max_cost: MaxCost = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    no_cache: NoCache = False,
    batch: Batch = False,
    no_wait: NoWait = False,
) -> None:
    """Have the judge model write 3-6 checkable criteria per sample (cached, resumable, cost-capped).

    Example: teachkit sgd rubric runs/sgd/train.jsonl --out runs/sgd/train.rubric.jsonl --max-cost 2
    Example (batch, half price): teachkit sgd rubric runs/sgd/train.jsonl --out runs/sgd/train.rubric.jsonl --batch
    """
    from teachkit.api.sgd import rubric_summary
    from teachkit.llm.gemini_batch import BatchPending, job_record_path
    from teachkit.sgd.rubric import outcome_error, rubric_file

    if no_wait and not batch:
        raise InputError("--no-wait: only with --batch")
    app_state = state(ctx)
    settings = app_state.settings({"cache": False if no_cache else None})
    out = app_state.output()
    try:
        result, ledger = rubric_file(in_path, out_path, settings, judge_model=judge_model, max_cost=max_cost,
                                     resume=resume, overwrite=overwrite, limit=limit, output=out, batch=batch,
                                     wait=not no_wait)
    except BatchPending as pending:
        batch_pending_summary(out, pending, f"teachkit batch fetch {job_record_path(out_path)}")
        return
    summary = rubric_summary(out_path, result, ledger)
    out.summary(summary.title, summary.data, summary.tables)
    problem = outcome_error([result], max_cost)
    if problem is not None:
        raise TeachkitError(problem)


@app.command("summary")
def summary(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Sample files (JSONL of Sample).", dir_okay=False)],
    tokenizer: Annotated[
        str | None, typer.Option("--tokenizer", help="Prompt lengths in this tokenizer's tokens "
                                                     "(local path, cached HF id, or smollm2-135m).")
    ] = None,
) -> None:
    """Samples per split, service and act, and the prompt length distribution of sample files.

    Example: teachkit sgd summary runs/sgd/train.jsonl --tokenizer smollm2-135m
    """
    from teachkit.sgd.summary import summarize_files

    app_state = state(ctx)
    settings = app_state.settings()
    loaded = None
    if tokenizer:
        from teachkit.checkpoints import load_tokenizer

        loaded = load_tokenizer(tokenizer, settings)
    stats = summarize_files(files, loaded)
    app_state.output().summary("sgd summary", {"files": [str(f) for f in files], "samples": stats.samples,
                                               "prompt_length": stats.length_summary()}, stats.tables())


app.command("train", cls=sgd_training.TrainFlags)(sgd_training.train)
app.command("eval", cls=sgd_training.EvalFlags)(sgd_training.evaluate)
