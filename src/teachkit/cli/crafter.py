"""`teachkit crafter ...`: rollout, report, replay, filter, format, dagger, finetune, eval."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from typer.core import TyperGroup

from teachkit.cli.context import state
from teachkit.cli.options import MaxCost, Out, Overwrite, Resume, Seed

app = typer.Typer(no_args_is_help=True, help="Crafter: a teacher plays, its trajectories become fine-tuning data.")


@app.command("rollout")
def rollout_command(
    ctx: typer.Context,
    out: Out,
    teacher: Annotated[
        str | None,
        typer.Option("--teacher", "-t", help="scripted, random, or a model spec: gemini:gemini-2.5-flash, "
                     "openai:MODEL@http://HOST:PORT/v1, local:smollm2-135m."),
    ] = None,
    episodes: Annotated[int | None, typer.Option("--episodes", "-n", help="Episodes to play (episode i: seed + i).")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Step limit per episode (default 10000).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the first episode.")] = None,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", help="Episodes in flight at once, and requests in flight for a model teacher."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Processes for CPU-bound teachers (scripted, random).")
    ] = None,
    shard: Annotated[
        str | None, typer.Option("--shard", help="K/N: play only the K-th of N slices of the seeds (K from 1).")
    ] = None,
    difficulty: Annotated[
        Literal["easy", "normal", "hard"] | None,
        typer.Option("--difficulty", help="normal is stock Crafter; easy/hard change creature spawning."),
    ] = None,
    observation: Annotated[
        Literal["full", "compact"] | None,
        typer.Option("--observation", help="Text observation: full (with a map) or compact (small students)."),
    ] = None,
    history: Annotated[int | None, typer.Option("--history", help="Previous steps shown to a model teacher.")] = None,
    actions_per_call: Annotated[
        int | None, typer.Option("--actions-per-call", help="Actions a model teacher may plan per call.")
    ] = None,
    enable_thinking: Annotated[
        bool | None,
        typer.Option("--enable-thinking/--no-thinking", help="Ask for the model's thoughts and record them."),
    ] = None,
    structured: Annotated[
        bool | None,
        typer.Option("--structured/--no-structured", help="Hold replies to the action enum where supported."),
    ] = None,
    record_frames: Annotated[
        bool, typer.Option("--record-frames", help="Also save each episode's frames to OUT.frames/ID.npz.")
    ] = False,
    max_cost: MaxCost = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
) -> None:
    """Play Crafter episodes with a teacher and record one JSON line per finished episode.

    Prints the success rate of every achievement, the Crafter score, mean length and reward, the invalid-action
    rate, tokens and cost. Interrupted runs continue with --resume (no episode lost or repeated).
    """
    from teachkit.crafter.rollout import RolloutRequest, run_rollout

    app_state = state(ctx)
    settings = app_state.settings({
        "crafter.rollout.teacher": teacher,
        "crafter.rollout.episodes": episodes,
        "crafter.rollout.max_steps": max_steps,
        "crafter.rollout.seed": seed,
        "crafter.rollout.concurrency": concurrency,
        # Episodes in flight each wait on one request: let the teacher have as many requests in flight.
        "teacher.concurrency": concurrency,
        "crafter.rollout.workers": workers,
        "crafter.rollout.difficulty": difficulty,
        "crafter.rollout.observation": observation,
        "crafter.rollout.history": history,
        "crafter.rollout.actions_per_call": actions_per_call,
        "crafter.rollout.enable_thinking": enable_thinking,
        "crafter.rollout.structured_output": structured,
    })
    out_console = app_state.output()
    request = RolloutRequest(out=out, resume=resume, overwrite=overwrite, max_cost=max_cost,
                             record_frames=record_frames, shard=shard)
    summary, tables = run_rollout(settings, request, out_console)
    out_console.summary("crafter rollout", summary, tables)


@app.command("report")
def report_command(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="Rollout files (episodes JSONL); several are compared.")],
    png: Annotated[
        Path | None, typer.Option("--png", help="Also write a bar chart of success rates.", dir_okay=False)
    ] = None,
) -> None:
    """Crafter score and per-achievement success rates of rollout files, side by side."""
    from teachkit.crafter.report import report

    out_console = state(ctx).output()
    summary, tables = report(files, png)
    if png is not None:
        summary["png"] = str(png)
    out_console.summary("crafter report", summary, tables)


@app.command("replay")
def replay_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A rollout file.", dir_okay=False)],
    episode: Annotated[str, typer.Option("--episode", "-e", help="Episode id (e.g. seed-3), or its seed.")],
    gif: Annotated[Path, typer.Option("--gif", help="Where to write the animated GIF.", dir_okay=False)],
    size: Annotated[int, typer.Option("--size", help="Frame width and height in pixels.")] = 256,
    fps: Annotated[float, typer.Option("--fps", help="Frames per second.")] = 10.0,
    every: Annotated[int, typer.Option("--every", help="Keep every N-th step (long episodes).")] = 1,
) -> None:
    """Re-simulate an episode from its seed and actions and write it as an animated GIF."""
    from teachkit.crafter.replay import write_gif

    frames = write_gif(file, episode, gif, size=size, fps=fps, every=every)
    state(ctx).output().summary("crafter replay", {"episode": episode, "frames": frames, "gif": str(gif)})


@app.command("filter")
def filter_command(
    ctx: typer.Context,
    inputs: Annotated[list[Path], typer.Argument(help="Episode files from `crafter rollout` (or an earlier filter).")],
    out: Out,
    min_score: Annotated[float | None, typer.Option("--min-score", help="Keep episodes scoring at least this.")] = None,
    min_achievements: Annotated[
        int | None, typer.Option("--min-achievements", help="Keep episodes with at least N achievements.")
    ] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", help="Keep the K best-scoring episodes.")] = None,
    top_fraction: Annotated[
        float | None, typer.Option("--top-fraction", help="Keep the best ceil(F x N) of the N episodes read.")
    ] = None,
    require: Annotated[
        list[str] | None, typer.Option("--require", help="An achievement every kept episode must have (repeatable).")
    ] = None,
    drop_invalid: Annotated[
        bool | None, typer.Option("--drop-invalid/--keep-invalid", help="Drop steps with an invalid action (default: drop).")
    ] = None,
    drop_noop: Annotated[
        bool | None, typer.Option("--drop-noop/--keep-noop", help="Drop noop steps (default: keep).")
    ] = None,
    until_last_achievement: Annotated[
        bool | None,
        typer.Option("--until-last-achievement/--all-steps", help="Keep only steps up to the last new achievement."),
    ] = None,
    dedupe: Annotated[
        bool | None,
        typer.Option("--dedupe/--no-dedupe", help="Drop near-duplicate (observation, action) pairs (default: dedupe)."),
    ] = None,
    overwrite: Overwrite = False,
) -> None:
    """Keep the good episodes and useful steps of rollout files; the closing table says why the rest went.

    Scores are recomputed from the crafter.score settings (docs/crafter-data.md). Re-filtering a filtered file works.
    """
    from teachkit.crafter.filter import filter_episodes

    app_state = state(ctx)
    settings = app_state.settings({
        "crafter.filter.min_score": min_score,
        "crafter.filter.min_achievements": min_achievements,
        "crafter.filter.top_k": top_k,
        "crafter.filter.top_fraction": top_fraction,
        "crafter.filter.require": require or None,
        "crafter.filter.drop_invalid": drop_invalid,
        "crafter.filter.drop_noop": drop_noop,
        "crafter.filter.until_last_achievement": until_last_achievement,
        "crafter.filter.dedupe": dedupe,
    })
    out_console = app_state.output()
    report = filter_episodes(inputs, out, settings, out_console, overwrite=overwrite)
    if report.episodes_kept == 0:
        out_console.warn(f"{out}: no episode kept; loosen the thresholds")
    out_console.summary("crafter filter", report.summary(), {"kept_and_dropped": report.rows()})


@app.command("format")
def format_command(
    ctx: typer.Context,
    inputs: Annotated[
        list[Path], typer.Argument(help="Episode files, or a formatted file to convert (or to check with --validate).")
    ],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output JSONL file.", dir_okay=False)] = None,
    target: Annotated[
        Literal["vertex", "messages", "prompt-completion"] | None,
        typer.Option("--target", "-t", help="vertex (Gemini tuning), messages (chat) or prompt-completion (TRL)."),
    ] = None,
    with_thoughts: Annotated[
        bool | None, typer.Option("--with-thoughts/--no-thoughts", help="Put the thought before the action.")
    ] = None,
    history: Annotated[int | None, typer.Option("--history", help="Previous turns put into each example.")] = None,
    system: Annotated[str | None, typer.Option("--system", help="System prompt: TEXT, or @FILE.")] = None,
    add_system: Annotated[
        bool | None,
        typer.Option("--add-system/--no-add-system", help="Add the default system prompt of the observation format."),
    ] = None,
    validation_fraction: Annotated[
        float | None, typer.Option("--validation-fraction", help="Share of episodes in a validation file.")
    ] = None,
    validation_file: Annotated[
        Path | None,
        typer.Option(
            "--validation-file",
            help="The validation file: written with --validation-fraction (default OUT.validation.jsonl), "
            "checked with --validate.",
            dir_okay=False,
        ),
    ] = None,
    subset: Annotated[int | None, typer.Option("--subset", help="Write a random N of the training examples.")] = None,
    seed: Seed = None,
    tokenizer: Annotated[
        str | None, typer.Option("--tokenizer", help="HF id or path whose tokenizer counts tokens (else an estimate).")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option("--max-tokens-per-example", help="Longer examples are left out / reported.")
    ] = None,
    validate: Annotated[
        bool, typer.Option("--validate", help="Check existing formatted files; list every problem; exit 2 if any.")
    ] = False,
    overwrite: Overwrite = False,
) -> None:
    """Write fine-tuning JSONL (Vertex AI Gemini tuning, chat messages, or prompt-completion) from episodes.

    One example per teacher decision. Converts an already formatted file to another target, or checks files with
    --validate. Prints token counts and the estimated tuning cost.
    """
    from teachkit.crafter.tuning_data import format_examples
    from teachkit.errors import InputError
    from teachkit.sft_data.tokens import tuning_cost_usd
    from teachkit.sft_data.validation import validate_tuning_files

    app_state = state(ctx)
    settings = app_state.settings({
        "crafter.format.target": target,
        "crafter.format.with_thoughts": with_thoughts,
        "crafter.format.history": history,
        "crafter.format.system": system,
        "crafter.format.add_system": add_system,
        "crafter.format.validation_fraction": validation_fraction,
        "crafter.format.subset": subset,
        "crafter.format.seed": seed,
        "crafter.format.tokenizer": tokenizer,
        "crafter.format.max_tokens_per_example": max_tokens,
    })
    out_console = app_state.output()
    if validate:
        reports = validate_tuning_files(inputs, settings, validation=validation_file, target=target)
        problems = [problem for report in reports for problem in report.problems]
        if not app_state.json:
            for problem in problems:
                typer.echo(problem, err=True)
        train_tokens = sum(report.tokens for report in reports if report.split == "train")
        epochs = settings.vertex.epochs
        price = settings.vertex.price_per_million_training_tokens
        out_console.summary(
            "crafter format --validate",
            {
                "problems": len(problems),
                "training_tokens": train_tokens,
                "estimated_tuning_cost_usd": round(tuning_cost_usd(train_tokens, epochs, price), 4),
                "cost_estimate": f"estimate: training tokens x {epochs} epochs x ${price:g} per million tokens",
            },
            {"files": [report.as_dict() for report in reports], **({"problem_list": problems} if app_state.json else {})},
        )
        if problems:
            raise InputError(f"{len(problems)} problem(s) in {', '.join(str(r.path) for r in reports if r.problems)}")
        return
    if out is None:
        raise InputError("--out is required (or give --validate to check files)")
    report = format_examples(
        inputs, out, settings, out_console, validation_out=validation_file, overwrite=overwrite
    )
    out_console.summary("crafter format", report.summary())


@app.command("dagger")
def dagger_command(
    ctx: typer.Context,
    out_dir: Annotated[
        Path, typer.Option("--out-dir", "-o", help="Folder of the run: rounds, students, summary.json, curve.png.",
                           file_okay=False)
    ],
    teacher: Annotated[
        str | None, typer.Option("--teacher", "-t", help="Labels every state: scripted, or a model spec (gemini:MODEL, ...).")
    ] = None,
    student: Annotated[
        str | None, typer.Option("--student", help="The student: local:NAME, a folder, an HF id or smollm2-135m (default).")
    ] = None,
    rounds: Annotated[int | None, typer.Option("--rounds", help="Rounds in all, round 0 included.")] = None,
    episodes: Annotated[int | None, typer.Option("--episodes", "-n", help="Episodes played per round.")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Step limit of each episode played.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of round 0's first episode.")] = None,
    beta: Annotated[
        float | None, typer.Option("--beta", help="Chance the teacher's action is played in the first student round.")
    ] = None,
    beta_decay: Annotated[
        float | None, typer.Option("--beta-decay", help="Beta is multiplied by this each later round.")
    ] = None,
    teacher_first: Annotated[
        bool | None,
        typer.Option("--teacher-first/--student-first", help="Round 0: the teacher plays (behaviour cloning)."),
    ] = None,
    observation: Annotated[
        Literal["full", "compact"] | None, typer.Option("--observation", help="Observation format (default compact).")
    ] = None,
    eval_episodes: Annotated[
        int | None, typer.Option("--eval-episodes", help="Held-out episodes per evaluation (seeds from 1000).")
    ] = None,
    max_cost: MaxCost = None,
    resume: Resume = False,
) -> None:
    """On-policy distillation (DAgger): the student plays, the teacher labels every state it reached, and the
    student is trained again on all the labels so far, round after round.

    Each round's data, student and evaluation go to OUT_DIR/round-K; OUT_DIR/student is the final student;
    OUT_DIR/summary.json and curve.png show each round beside the base model, random and the teacher.
    """
    from teachkit.crafter.dagger import DaggerRequest, run_dagger

    app_state = state(ctx)
    settings = app_state.settings({
        "crafter.dagger.teacher": teacher,
        "crafter.dagger.student": student,
        "crafter.dagger.rounds": rounds,
        "crafter.dagger.episodes": episodes,
        "crafter.dagger.max_steps": max_steps,
        "crafter.dagger.seed": seed,
        "crafter.dagger.beta": beta,
        "crafter.dagger.beta_decay": beta_decay,
        "crafter.dagger.teacher_first": teacher_first,
        "crafter.dagger.observation": observation,
        "crafter.dagger.eval_episodes": eval_episodes,
    })
    out_console = app_state.output()
    summary, tables = run_dagger(settings, DaggerRequest(out_dir=out_dir, resume=resume, max_cost=max_cost),
                                 out_console)
    out_console.summary("crafter dagger", summary, tables)


# --- finetune (run / status / list) and eval -------------------------------------------------------------------


class FinetuneGroup(TyperGroup):
    """`finetune TRAIN.jsonl ...` runs a fine-tune; `finetune status JOB` and `finetune list` look at Vertex jobs."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


finetune_app = typer.Typer(
    cls=FinetuneGroup,
    no_args_is_help=True,
    help="Fine-tune a student: `finetune TRAIN.jsonl [--backend vertex|local]`, `finetune status JOB`, "
    "`finetune list`.",
)
app.add_typer(finetune_app, name="finetune")


@finetune_app.command("run")
def finetune_command(
    ctx: typer.Context,
    train: Annotated[Path, typer.Argument(help="Training data from `crafter format` (vertex, messages or "
                                          "prompt-completion JSONL).", dir_okay=False)],
    validation: Annotated[
        Path | None, typer.Option("--validation", help="Validation data in the same format.", dir_okay=False)
    ] = None,
    backend: Annotated[
        Literal["vertex", "local"] | None,
        typer.Option("--backend", "-b", help="vertex: a Vertex AI tuning job; local: TRL SFT + LoRA here."),
    ] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Passes over the data (both backends).")] = None,
    project: Annotated[str | None, typer.Option("--project", help="Vertex: Google Cloud project.")] = None,
    location: Annotated[str | None, typer.Option("--location", help="Vertex: region, e.g. us-central1.")] = None,
    bucket: Annotated[str | None, typer.Option("--bucket", help="Vertex: bucket for the data (no gs://).")] = None,
    prefix: Annotated[str | None, typer.Option("--prefix", help="Vertex: object prefix in the bucket.")] = None,
    base_model: Annotated[
        str | None, typer.Option("--base-model", help="Vertex: model to tune (default gemini-2.5-flash).")
    ] = None,
    display_name: Annotated[str | None, typer.Option("--display-name", help="Vertex: tuned model name.")] = None,
    learning_rate_multiplier: Annotated[
        float | None, typer.Option("--learning-rate-multiplier", help="Vertex: learning-rate multiplier.")
    ] = None,
    adapter_size: Annotated[
        int | None, typer.Option("--adapter-size", help="Vertex: LoRA adapter size: 1, 2, 4, 8 or 16.")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Vertex: follow the job until it ends (Ctrl-C stops following only).")
    ] = False,
    model: Annotated[
        str | None, typer.Option("--model", help="Local: the student: local:NAME, a folder, an HF id or smollm2-135m.")
    ] = None,
    output_dir: Annotated[
        Path | None, typer.Option("--output-dir", help="Local: where the adapter and model card go.", file_okay=False)
    ] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Local: optimizer steps (-1: epochs).")] = None,
    learning_rate: Annotated[float | None, typer.Option("--learning-rate", help="Local: peak learning rate.")] = None,
    lora_r: Annotated[int | None, typer.Option("--lora-r", help="Local: LoRA rank.")] = None,
    max_length: Annotated[int | None, typer.Option("--max-length", help="Local: tokens per example.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Local: examples per device per step.")] = None,
    grad_accum: Annotated[int | None, typer.Option("--grad-accum", help="Local: gradient accumulation steps.")] = None,
    merge: Annotated[
        bool | None, typer.Option("--merge/--no-merge", help="Local: also save the base with the adapter merged in.")
    ] = None,
    max_minutes: Annotated[
        float | None, typer.Option("--max-minutes", help="Local: stop after this long and save what was learned.")
    ] = None,
    report_to: Annotated[
        str | None, typer.Option("--report-to", help="Local: none (default), tensorboard, wandb (installed apart).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Local: continue from the last checkpoint in --output-dir.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the data and show what would be uploaded/trained; touch nothing.")
    ] = False,
    overwrite: Overwrite = False,
) -> None:
    """Fine-tune on Vertex AI (upload to gs://BUCKET/PREFIX/, start a tuning job) or locally (TRL SFT + LoRA).

    The data is checked as `format --validate` checks it first. Vertex: `--dry-run` prints the uploads, the job
    request and the token and cost estimate. Local: runs unchanged under `accelerate launch` on several GPUs.
    """
    from teachkit.crafter.finetune import FinetuneRequest, run_finetune
    from teachkit.errors import EXIT_INTERRUPTED

    app_state = state(ctx)
    settings = app_state.settings({
        "crafter.finetune.backend": backend,
        "crafter.finetune.epochs": epochs,
        "vertex.epochs": epochs,
        "gcp.project": project,
        "gcp.location": location,
        "gcp.bucket": bucket,
        "gcp.prefix": prefix,
        "vertex.base_model": base_model,
        "vertex.display_name": display_name,
        "vertex.learning_rate_multiplier": learning_rate_multiplier,
        "vertex.adapter_size": adapter_size,
        "crafter.finetune.local_model": model,
        "crafter.finetune.output_dir": output_dir,
        "crafter.finetune.max_steps": max_steps,
        "crafter.finetune.learning_rate": learning_rate,
        "crafter.finetune.lora_r": lora_r,
        "crafter.finetune.max_length": max_length,
        "crafter.finetune.batch_size": batch_size,
        "crafter.finetune.grad_accum": grad_accum,
        "crafter.finetune.merge": merge,
        "crafter.finetune.max_minutes": max_minutes,
        "crafter.finetune.report_to": report_to,
    })
    out_console = app_state.output()
    request = FinetuneRequest(train=train, validation=validation, wait=wait, dry_run=dry_run, overwrite=overwrite,
                              resume=resume)
    if settings.crafter.finetune.backend == "vertex":
        from teachkit.crafter.finetune import student_prompt_of_file
        from teachkit.vertex.tune import finetune_on_vertex

        result = finetune_on_vertex(train, validation, settings, out_console, prompt_of=student_prompt_of_file,
                                    wait=wait, dry_run=dry_run)
    else:
        result = run_finetune(request, settings, out_console)
    out_console.summary("crafter finetune", result.summary, result.tables)
    if result.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)


@finetune_app.command("status")
def finetune_status_command(
    ctx: typer.Context,
    job: Annotated[str, typer.Argument(help="A job record (<data>.tuning-ID.json), a job ID, or its full name.")],
    project: Annotated[str | None, typer.Option("--project", help="Google Cloud project.")] = None,
    location: Annotated[str | None, typer.Option("--location", help="Region of the job.")] = None,
) -> None:
    """The state of a Vertex AI tuning job, its tuned model and endpoint; a job record given is refreshed."""
    from teachkit.vertex.jobs import tuning_job_status

    app_state = state(ctx)
    settings = app_state.settings({"gcp.project": project, "gcp.location": location})
    app_state.output().summary("crafter finetune status", tuning_job_status(job, settings))


@finetune_app.command("list")
def finetune_list_command(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option("--project", help="Google Cloud project.")] = None,
    location: Annotated[str | None, typer.Option("--location", help="Region.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Show at most N jobs, newest first.", min=1)] = 20,
) -> None:
    """The project's Vertex AI tuning jobs in a location, newest first."""
    from teachkit.vertex.jobs import list_tuning_jobs

    app_state = state(ctx)
    settings = app_state.settings({"gcp.project": project, "gcp.location": location})
    rows = list_tuning_jobs(settings, limit=limit)
    app_state.output().summary("crafter finetune list", {"jobs": len(rows), "project": settings.gcp.project,
                                                         "location": settings.gcp.location}, {"tuning_jobs": rows})


@app.command("eval")
def eval_command(
    ctx: typer.Context,
    policy: Annotated[
        str | None,
        typer.Option("--policy", "-p", help="A student folder, checkpoint, HF id or smollm2-135m (or local:NAME); a model spec "
                     "(vertex:ENDPOINT, openai:MODEL@URL, gemini:MODEL); a tuning job record; scripted or random."),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option("--baseline", help="A second policy on the same seeds: a model as for --policy, scripted or "
                     "random (the random policy's row is always in the report)."),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Results JSON; episodes (.policy/.baseline.jsonl) and the .png chart "
                           "go beside it.", dir_okay=False)
    ] = Path("runs/crafter-eval.json"),
    episodes: Annotated[int | None, typer.Option("--episodes", "-n", help="Episodes per policy (seed + i).")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Step limit per episode (default 200).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the first episode (default 1000).")] = None,
    observation: Annotated[
        Literal["full", "compact"] | None,
        typer.Option("--observation", help="Observation format (default: as the student was trained)."),
    ] = None,
    history: Annotated[
        int | None, typer.Option("--history", help="Earlier turns shown to a student (default: as trained).")
    ] = None,
    prompt_like: Annotated[
        Path | None,
        typer.Option("--prompt-like", help="Prompt the policy as this student folder, tuning job record or "
                     "fine-tuning data file did (for a served model with no record of its own)."),
    ] = None,
    decode: Annotated[
        Literal["auto", "score", "generate"] | None,
        typer.Option("--decode", help="Local policies: score the 17 replies in one forward pass, or generate."),
    ] = None,
    difficulty: Annotated[
        Literal["easy", "normal", "hard"] | None, typer.Option("--difficulty", help="World preset.")
    ] = None,
    concurrency: Annotated[int | None, typer.Option("--concurrency", help="Episodes in flight at once.")] = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
) -> None:
    """Play a policy (and a baseline) on the same seeds: Crafter score, achievement rates, invalid-action rate.

    With --baseline, both side by side with the difference and a bootstrap 95% interval over episodes. A local
    policy decides for all episodes in flight with one batched forward pass per step.
    """
    from teachkit.crafter.evaluate import EvalRequest, run_eval

    app_state = state(ctx)
    settings = app_state.settings({
        "crafter.eval.policy": policy,
        "crafter.eval.baseline": baseline,
        "crafter.eval.episodes": episodes,
        "crafter.eval.max_steps": max_steps,
        "crafter.eval.seed": seed,
        "crafter.eval.observation": observation,
        "crafter.eval.history": history,
        "crafter.eval.prompt_like": prompt_like,
        "crafter.eval.decode": decode,
        "crafter.eval.difficulty": difficulty,
        "crafter.eval.concurrency": concurrency,
        "teacher.concurrency": concurrency,
    })
    out_console = app_state.output()
    summary, tables = run_eval(settings, EvalRequest(out=out, overwrite=overwrite, resume=resume), out_console)
    out_console.summary("crafter eval", summary, tables)
