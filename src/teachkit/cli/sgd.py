"""`teachkit sgd ...`: download, compile, rubric, train, eval."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from teachkit.cli.context import state
from teachkit.cli.options import MaxCost, NoCache, Overwrite, Resume, Seed, SnakeCaseFlags
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

Batch = Annotated[
    bool, typer.Option("--batch", help="Send the judge's requests as one Gemini batch job: half the price, replies "
                                       "within 24 h (gemini: models only).")
]
NoWait = Annotated[
    bool, typer.Option("--no-wait", help="With --batch: return once the job is submitted; pick it up later with "
                                         "--resume or `teachkit batch fetch`.")
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
        from teachkit.models import load_tokenizer

        loaded = load_tokenizer(tokenizer, settings)
    stats = summarize_files(files, loaded)
    app_state.output().summary("sgd summary", {"files": [str(f) for f in files], "samples": stats.samples,
                                               "prompt_length": stats.length_summary()}, stats.tables())


# --- train and eval (GRPO against a judge) ---------------------------------------------------------------------

TrainJudgeKind = Annotated[
    Literal["acts", "llm", "mix", "group"] | None,
    typer.Option("--judge", help="acts (offline, free), llm (a judge model per completion), mix, or group (one "
                                 "judge request per GRPO group); default: judge.kind."),
]
EvalJudgeKind = Annotated[
    Literal["acts", "llm", "mix", "pairwise"] | None,
    typer.Option("--judge", help="acts (offline, free), llm (a judge model), mix, or pairwise (base vs trained in "
                                 "both orders: win rate, position bias); default: judge.kind."),
]
PairwiseBy = Annotated[
    Literal["llm", "acts"] | None,
    typer.Option("--pairwise-judge", help="With --judge pairwise: llm (the judge model: [judge] or --judge-model) "
                                          "or acts (offline); default: judge.pairwise."),
]
JudgeModel = Annotated[
    str | None,
    typer.Option("--judge-model", help="Judge model spec, e.g. gemini:gemini-2.5-flash; default: the judge settings."),
]
JudgeTemplateFile = Annotated[
    Path | None,
    typer.Option("--judge-template", help="Replacement prompt of the judge kind (see examples/judge_template.txt, "
                                          "group_judge_template.txt, pairwise_judge_template.txt).",
                 exists=True, dir_okay=False),
]
JudgeWeight = Annotated[
    float | None, typer.Option("--judge-llm-weight", help="Weight of the llm judge in mix (0-1).", min=0, max=1)
]


class TrainFlags(SnakeCaseFlags):
    renames = {"--train_jsonl": "--train", "--model_name": "--model", "--no_lora": "--no-lora"}


class EvalFlags(SnakeCaseFlags):
    renames = {"--eval_jsonl": "--eval", "--model_name": "--base-model", "--num_samples": "--n"}


def judge_overrides(judge: str | None, template: Path | None, weight: float | None) -> dict[str, object]:
    return {"judge.kind": judge, "judge.template": template, "judge.llm_weight": weight}


@app.command("train", cls=TrainFlags)
def train(
    ctx: typer.Context,
    train_file: Annotated[Path, typer.Option("--train", help="Compiled samples (JSONL of Sample).", dir_okay=False)],
    model: Annotated[str | None, typer.Option("--model", help="Student: local:NAME, a folder, an HF id or smollm2-135m.")] = None,
    output_dir: Annotated[
        Path | None, typer.Option("--output-dir", help="Checkpoints, final adapter, train_summary.json.", file_okay=False)
    ] = None,
    use_lora: Annotated[bool | None, typer.Option("--use-lora/--no-lora", help="Train LoRA adapters (default).")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1, help="Optimizer steps.")] = None,
    learning_rate: Annotated[float | None, typer.Option("--learning-rate", min=0.0)] = None,
    num_generations: Annotated[
        int | None, typer.Option("--num-generations", min=2, help="Completions per prompt (the GRPO group).")
    ] = None,
    per_device_train_batch_size: Annotated[
        int | None, typer.Option("--per-device-train-batch-size", min=1, help="Completions per device per step.")
    ] = None,
    gradient_accumulation_steps: Annotated[int | None, typer.Option("--gradient-accumulation-steps", min=1)] = None,
    max_prompt_length: Annotated[
        int | None, typer.Option("--max-prompt-length", min=1, help="Prompt tokens; the oldest turns are cut first.")
    ] = None,
    max_completion_length: Annotated[
        int | None, typer.Option("--max-completion-length", min=1, help="New tokens per completion.")
    ] = None,
    beta: Annotated[float | None, typer.Option("--beta", min=0.0, help="KL coefficient (0: no reference model).")] = None,
    loss_type: Annotated[
        str | None, typer.Option("--loss-type", help="grpo, dr_grpo, dapo (default), bnpo, cispo, sapo, luspo, vespo.")
    ] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", min=0.0, help="Sampling temperature.")] = None,
    use_vllm: Annotated[
        bool | None, typer.Option("--use-vllm/--no-vllm", help="Generate with vLLM (GPU; pip install vllm).")
    ] = None,
    report_to: Annotated[str | None, typer.Option("--report-to", help="none, tensorboard, wandb, ...")] = None,
    save_steps: Annotated[int | None, typer.Option("--save-steps", min=1, help="Checkpoint every N steps.")] = None,
    max_minutes: Annotated[
        float | None, typer.Option("--max-minutes", min=0.0, help="Stop and save after this many minutes.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    judge: TrainJudgeKind = None,
    judge_model: JudgeModel = None,
    judge_template: JudgeTemplateFile = None,
    judge_llm_weight: JudgeWeight = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    no_cache: NoCache = False,
) -> None:
    """Train a student with GRPO (TRL) against a judge reward; checkpoints, --resume, per-step judge counters.

    Example (offline): teachkit sgd train --train runs/sgd/train.jsonl --model smollm2-135m --judge acts --max-steps 20
    """
    from teachkit.sgd.train import train_grpo

    app_state = state(ctx)
    settings = app_state.settings({
        "sgd.train.model": model, "sgd.train.output_dir": output_dir, "sgd.train.use_lora": use_lora,
        "sgd.train.max_steps": max_steps, "sgd.train.learning_rate": learning_rate,
        "sgd.train.num_generations": num_generations,
        "sgd.train.per_device_train_batch_size": per_device_train_batch_size,
        "sgd.train.gradient_accumulation_steps": gradient_accumulation_steps,
        "sgd.train.max_prompt_length": max_prompt_length, "sgd.train.max_completion_length": max_completion_length,
        "sgd.train.beta": beta, "sgd.train.loss_type": loss_type, "sgd.train.temperature": temperature,
        "sgd.train.use_vllm": use_vllm, "sgd.train.report_to": report_to, "sgd.train.save_steps": save_steps,
        "sgd.train.max_minutes": max_minutes, "sgd.train.seed": seed, "cache": False if no_cache else None,
        **judge_overrides(judge, judge_template, judge_llm_weight),
    })
    out = app_state.output()
    report = train_grpo(train_file, settings, judge_model=judge_model, resume=resume, overwrite=overwrite, out=out)
    data = report.as_dict()
    history = data.pop("history")
    if app_state.json:
        out.summary("sgd train", {**data, "history": history})
        return
    data.pop("chat_format")
    data["next"] = f"teachkit sgd eval --eval HELD_OUT.jsonl --trained {data['output_dir']}"
    out.summary("sgd train", data, {"last_steps": history[-10:]})


@app.command("eval", cls=EvalFlags)
def evaluate(
    ctx: typer.Context,
    eval_file: Annotated[Path, typer.Option("--eval", help="Held-out compiled samples (JSONL of Sample).",
                                            dir_okay=False)],
    base_model: Annotated[
        str | None,
        typer.Option("--base-model", help="Base student (default: the base --trained records, else sgd.train.model)."),
    ] = None,
    trained: Annotated[
        Path | None, typer.Option("--trained", help="Output dir of `sgd train` (an adapter) or a full checkpoint.")
    ] = None,
    n: Annotated[int | None, typer.Option("--n", min=1, help="Evaluate N samples, spread evenly over the file.")] = None,
    out_path: Annotated[
        Path | None, typer.Option("--out", "-o", help="JSON report (default: <output_dir>/sgd-eval/report.json).",
                                  dir_okay=False)
    ] = None,
    responses: Annotated[
        Path | None, typer.Option("--responses", help="Side-by-side responses JSONL (default: beside the report).",
                                  dir_okay=False)
    ] = None,
    max_new_tokens: Annotated[int | None, typer.Option("--max-new-tokens", min=1)] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="Prompts generated at once.")] = None,
    max_prompt_length: Annotated[int | None, typer.Option("--max-prompt-length", min=1)] = None,
    temperature: Annotated[
        float | None, typer.Option("--temperature", min=0.0, help="0 (default): greedy; above 0: sampling.")
    ] = None,
    bootstrap: Annotated[int | None, typer.Option("--bootstrap", min=100, help="Bootstrap resamples.")] = None,
    reuse_base: Annotated[
        Path | None,
        typer.Option("--reuse-base", help="Take the base responses from an earlier eval report of the same samples.",
                     exists=True, dir_okay=False),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    judge: EvalJudgeKind = None,
    pairwise_judge: PairwiseBy = None,
    judge_model: JudgeModel = None,
    judge_template: JudgeTemplateFile = None,
    judge_llm_weight: JudgeWeight = None,
    overwrite: Overwrite = False,
    no_cache: NoCache = False,
    batch: Batch = False,
) -> None:
    """Compare base and trained students on held-out samples with one judge: means, paired bootstrap interval.

    Example: teachkit sgd eval --eval runs/sgd/train.eval.jsonl --base-model smollm2-135m --trained runs/sgd-grpo
    """
    from teachkit.sgd.evaluate import evaluate as run_eval

    app_state = state(ctx)
    settings = app_state.settings({
        "sgd.eval.n": n, "sgd.eval.max_new_tokens": max_new_tokens, "sgd.eval.batch_size": batch_size,
        "sgd.eval.max_prompt_length": max_prompt_length, "sgd.eval.temperature": temperature,
        "sgd.eval.bootstrap": bootstrap, "sgd.eval.seed": seed, "cache": False if no_cache else None,
        "judge.pairwise": pairwise_judge, **judge_overrides(judge, judge_template, judge_llm_weight),
    })
    out = app_state.output()
    report_path = out_path or Path(settings.paths.output_dir) / "sgd-eval" / "report.json"
    report = run_eval(
        eval_file, settings, base_model=base_model, trained=trained,
        report_path=report_path, responses_path=responses, judge_model=judge_model, reuse_base=reuse_base,
        overwrite=overwrite, out=out, batch=batch,
    )
    document = report.document
    if app_state.json:
        out.summary("sgd eval", document)
        return
    rows = [{"model": label, **{k: document[label][k] for k in ("model", "scored", "failed", "mean", "stdev", "min",
                                                               "max")}}
            for label in ("base", "trained") if label in document]
    for row in rows:
        row["student"] = row.pop("model")
    summary: dict[str, object] = {"samples": document["samples"], "judge": document["judge"]}
    if "difference" in document:
        difference = document["difference"]
        summary["difference_of_means"] = difference["mean_difference"]
        summary["ci95"] = difference["ci95"]
        summary["ci95_by_dialogue"] = difference.get("ci95_by_group")
        summary["pairs"] = difference["pairs"]
        summary["interval_above_zero"] = difference["interval_above_zero"]
    if "pairwise" in document:
        pairwise = document["pairwise"]
        summary["pairwise_judge"] = pairwise["judge"]
        summary["win_rate"] = pairwise["win_rate"]
        summary["win_rate_ci95_by_dialogue"] = pairwise["ci95"]
        summary["wins_losses_ties"] = f"{pairwise['wins']} / {pairwise['losses']} / {pairwise['ties']}"
        summary["position_bias"] = pairwise["position_bias"]
        summary["first_position_share"] = pairwise["first_position_share"]
        summary["pairwise_failed"] = pairwise["failed"]
    summary.update({"report": str(report.report_path), "responses": str(report.responses_path)})
    out.summary("sgd eval", summary, {"scores": rows})
