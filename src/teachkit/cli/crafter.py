"""`teachkit crafter ...`: rollout, report, replay, filter, format here; dagger, finetune and eval (the commands
that train or measure a student) in `crafter_training`, registered on the same app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from teachkit.cli import crafter_training
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
    from teachkit.sft_data.tokens import tuning_cost_usd, tuning_price
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
        epochs, price = tuning_price(settings)
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


app.command("dagger")(crafter_training.dagger_command)
app.add_typer(crafter_training.finetune_app, name="finetune")
app.command("eval")(crafter_training.eval_command)
