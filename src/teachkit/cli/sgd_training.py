"""`teachkit sgd train|eval`: GRPO against a judge, and base vs trained under a judge (registered on the sgd app by
`cli/sgd.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from teachkit.cli.context import state
from teachkit.cli.options import Batch, NoCache, Overwrite, Resume, SnakeCaseFlags

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
