"""`teachkit crafter dagger|finetune|eval`: the Crafter commands that train or measure a student (registered on the
crafter app by `cli/crafter.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from typer.core import TyperGroup

from teachkit.cli.context import state
from teachkit.cli.options import MaxCost, Overwrite, Resume


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
    from teachkit.api.crafter import finetune_on_backend
    from teachkit.crafter.finetune import FinetuneRequest
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
    result = finetune_on_backend(settings, request, out_console)
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
    temperature: Annotated[
        float | None,
        typer.Option("--temperature", min=0, help="Local scoring policies: 0 plays the most likely action; above 0 "
                     "samples one from the replies' likelihoods (seeded per episode)."),
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
        "crafter.eval.temperature": temperature,
        "crafter.eval.concurrency": concurrency,
        "teacher.concurrency": concurrency,
    })
    out_console = app_state.output()
    summary, tables = run_eval(settings, EvalRequest(out=out, overwrite=overwrite, resume=resume), out_console)
    out_console.summary("crafter eval", summary, tables)
