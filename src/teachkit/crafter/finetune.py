"""`teachkit crafter finetune`: check the tuning data, then tune on Vertex AI or train a local student.

Both backends start from the same check (`check_training_files`, the checks of `format --validate`). The Vertex
backend lives in `vertex_tuning.py`; the local one is here: TRL's SFTTrainer with a LoRA adapter on any HF id,
local path or the embedded `smollm2-135m`, trained on the model turn only, saved with its tokenizer, a model card
and the `teachkit-training.json` record that `crafter eval` reads to prompt the student as it was trained.

The local trainer runs unchanged under `accelerate launch` (one process per GPU, data parallel): every process
builds the same trainer and the main process writes the files.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teachkit.console import Output
from teachkit.crafter.formats import MODEL, Example, parse
from teachkit.crafter.tuning_data import ValidationReport, validate_tuning_files
from teachkit.errors import InputError
from teachkit.jsonl import read_json_lines
from teachkit.manifest import manifest_path, now_iso
from teachkit.records import StudentPrompt, TrainedModel
from teachkit.settings import Settings

# How each observation format begins (see crafter/observation.py), to tell them apart in formatted data.
OBSERVATION_SIGNS = {"full": re.compile(r"^Step \d+ of \d+", re.MULTILINE),
                     "compact": re.compile(r"^t\d+ (?:day|night)", re.MULTILINE)}


@dataclass
class FinetuneRequest:
    """The flags of one `crafter finetune` that are not settings."""

    train: Path
    validation: Path | None = None
    wait: bool = False
    dry_run: bool = False
    overwrite: bool = False


@dataclass
class FinetuneResult:
    summary: dict[str, Any]
    tables: dict[str, list[dict[str, Any]]]
    interrupted: bool = False


def run_finetune(request: FinetuneRequest, settings: Settings, output: Output | None = None) -> FinetuneResult:
    """Check the data, then run the configured backend."""
    output = output or Output()
    backend = settings.crafter.finetune.backend
    if backend == "vertex":
        from teachkit.crafter.vertex_tuning import require_gcp, tune_on_vertex

        require_gcp(settings)  # before reading a gigabyte of data
        reports = check_training_files(request.train, request.validation, settings, output, vertex=True)
        result = tune_on_vertex(request.train, request.validation, reports, settings, output,
                                wait=request.wait, dry_run=request.dry_run)
        return FinetuneResult(result.summary, result.tables, result.interrupted)
    reports = check_training_files(request.train, request.validation, settings, output, vertex=False)
    if request.dry_run:
        return FinetuneResult(local_plan(request, reports, settings), {})
    return FinetuneResult(train_local(request, reports, settings, output), {})


def check_training_files(
    train: Path, validation: Path | None, settings: Settings, output: Output, *, vertex: bool
) -> list[ValidationReport]:
    """The checks of `format --validate`; any problem stops here with exit 2, before anything is uploaded."""
    reports = validate_tuning_files([Path(train)], settings, validation=Path(validation) if validation else None)
    problems = [problem for report in reports for problem in report.problems]
    if problems:
        for problem in problems[:10]:
            output.warn(problem)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InputError(f"{problems[0]}{more}; `teachkit crafter format {train} --validate` lists every problem")
    target = reports[0].target
    if vertex and target != "vertex":
        raise InputError(f"{train}: {target} examples; Vertex AI tunes Gemini on the vertex format: "
                         f"teachkit crafter format {train} --target vertex --out FILE")
    if len(reports) > 1 and reports[1].target != target:
        raise InputError(f"{validation}: {reports[1].target} examples, but {train} holds {target} examples; "
                         "give both files in one format")
    return reports


# --- the local backend -------------------------------------------------------------------------------------------


def read_examples(path: Path, target: str) -> list[Example]:
    return [parse(record, target) for _, record in read_json_lines(Path(path))]


def prompt_completion(example: Example) -> dict[str, Any]:
    """The conversational prompt-completion row TRL trains on: loss on the last model turn only."""
    messages = example.chat()
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def student_prompt(train: Path, examples: list[Example], target: str) -> StudentPrompt:
    """How the training data prompts the model, for `crafter eval` to prompt the student the same way."""
    systems = Counter(example.system for example in examples)
    system = systems.most_common(1)[0][0] if systems else None
    history = max((sum(1 for role, _ in example.turns if role == MODEL) - 1 for example in examples), default=0)
    with_thoughts = any(example.turns[-1][1].lstrip().startswith("Thought:") for example in examples)
    return StudentPrompt(observation_format=observation_format_of(train, examples), system_prompt=system,
                         history=max(0, history), with_thoughts=with_thoughts, source_format=target)


def observation_format_of(train: Path, examples: list[Example]) -> str | None:
    """From the episodes the data was formatted from (their manifest), else from how the user turns look."""
    manifest = manifest_path(train)
    if manifest.is_file():
        try:
            inputs = json.loads(manifest.read_text(encoding="utf-8")).get("inputs", [])
        except json.JSONDecodeError:
            inputs = []
        for item in inputs:
            path = Path(item.get("path", "")) if isinstance(item, dict) else None
            if path is not None and path.is_file():
                with path.open(encoding="utf-8") as handle:
                    first = handle.readline()
                try:
                    found = json.loads(first).get("observation_format") if first.strip() else None
                except json.JSONDecodeError:
                    found = None
                if found:
                    return str(found)
    for example in examples[:50]:
        user = example.turns[-2][1] if len(example.turns) >= 2 else ""
        for name, sign in OBSERVATION_SIGNS.items():
            if sign.search(user):
                return name
    return None


def planned_steps(examples: int, batch_size: int, grad_accum: int, epochs: int, max_steps: int,
                  processes: int = 1) -> int:
    if max_steps > 0:
        return max_steps
    batches = math.ceil(examples / (batch_size * processes))
    return max(1, math.ceil(batches / grad_accum)) * epochs


def local_plan(request: FinetuneRequest, reports: list[ValidationReport], settings: Settings) -> dict[str, Any]:
    config = settings.crafter.finetune
    return {
        "backend": "local",
        "dry_run": "nothing loaded or trained",
        "model": config.local_model,
        "train_examples": reports[0].examples,
        "train_tokens": reports[0].tokens,
        "validation_examples": reports[1].examples if len(reports) > 1 else None,
        "steps": planned_steps(reports[0].examples, config.batch_size, config.grad_accum, config.epochs,
                               config.max_steps),
        "output_dir": str(config.output_dir),
    }


def check_output_dir(output_dir: Path, overwrite: bool) -> None:
    from teachkit.train.artifacts import TRAINING_RECORD

    if (output_dir / TRAINING_RECORD).exists() or (output_dir / "adapter_config.json").exists():
        if not overwrite:
            raise InputError(f"{output_dir}: holds a trained model already; add --overwrite to replace it, or "
                             "give another --output-dir")


@dataclass
class LocalRun:
    """A trainer ready to train, with what the record needs to know about how it was set up."""

    trainer: Any
    tokenizer: Any
    examples: list[Example]
    validation: list[Example]
    prompt: StudentPrompt
    base_path: str
    precision: Any
    steps: int


def prepare_local(request: FinetuneRequest, reports: list[ValidationReport], settings: Settings,
                  output: Output) -> LocalRun:
    """Everything up to `trainer.train()`: the examples, the student, its tokenizer and the SFTTrainer."""
    config = settings.crafter.finetune
    target = reports[0].target or "messages"
    examples = read_examples(request.train, target)
    validation = read_examples(request.validation, target) if request.validation else []
    prompt = student_prompt(request.train, examples, target)

    from teachkit.models import load_model_and_tokenizer, resolve_model
    from teachkit.train.chat import ensure_chat_template
    from teachkit.train.lora import lora_config
    from teachkit.train.precision import choose_precision
    from teachkit.train.progress import quiet_libraries

    quiet_libraries(output)
    precision = choose_precision()
    base_path = resolve_model(config.local_model, settings)
    # Loaded on the CPU: the trainer moves it to this process's device (one GPU per process under accelerate).
    model, tokenizer = load_model_and_tokenizer(base_path, settings, device="cpu", dtype=precision.dtype,
                                                for_training=True)
    if ensure_chat_template(tokenizer):
        output.info(f"{config.local_model}: no chat template; training with ChatML (saved with the tokenizer)")

    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir=str(config.output_dir),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        max_length=config.max_length,
        # Prompt-completion rows: the loss covers the final model turn (and its end-of-turn token) only.
        completion_only_loss=True,
        logging_steps=config.logging_steps,
        eval_strategy="epoch" if validation else "no",
        save_strategy="no",
        report_to="none",
        seed=config.seed,
        disable_tqdm=True,
        **precision.trainer_kwargs(),
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list([prompt_completion(example) for example in examples]),
        eval_dataset=Dataset.from_list([prompt_completion(example) for example in validation]) if validation
        else None,
        processing_class=tokenizer,
        peft_config=lora_config(config.lora_r, config.lora_alpha, config.lora_dropout, config.lora_target_modules),
    )
    steps = planned_steps(len(examples), config.batch_size, config.grad_accum, config.epochs, config.max_steps,
                          trainer.args.world_size)
    return LocalRun(trainer, tokenizer, examples, validation, prompt, str(base_path), precision, steps)


LOCAL_SETTINGS = ("local_model", "epochs", "max_steps", "learning_rate", "lora_r", "lora_alpha", "lora_dropout",
                  "lora_target_modules", "max_length", "batch_size", "grad_accum", "merge", "seed", "max_minutes")


def train_local(
    request: FinetuneRequest, reports: list[ValidationReport], settings: Settings, output: Output
) -> dict[str, Any]:
    """SFT with LoRA on the checked data; saves the adapter, tokenizer, card and record; returns the summary."""
    from teachkit.train.artifacts import save_trained, training_data
    from teachkit.train.progress import TimeLimit, use_teachkit_progress

    config = settings.crafter.finetune
    output_dir = Path(config.output_dir)
    check_output_dir(output_dir, request.overwrite)
    started_at = now_iso()
    started = time.monotonic()
    run = prepare_local(request, reports, settings, output)
    precision = run.precision
    output.info(f"fine-tuning {config.local_model} with LoRA r={config.lora_r} on {len(run.examples):,} examples "
                f"({precision.device}, {precision.dtype_name}), {run.steps} steps")
    limit = TimeLimit(config.max_minutes) if config.max_minutes else None
    if limit is not None:
        run.trainer.add_callback(limit)
    with output.progress("fine-tuning", total=run.steps, unit="steps") as task:
        progress = use_teachkit_progress(run.trainer, task, output)
        result = run.trainer.train()
    if limit is not None and limit.stopped_early:
        output.warn(f"stopped after {config.max_minutes:g} minutes (crafter.finetune.max_minutes), at step "
                    f"{run.trainer.state.global_step} of {run.steps}; the model so far is saved")
    losses = progress.losses()
    metrics: dict[str, Any] = {
        "steps": run.trainer.state.global_step,
        "train_loss": round(float(result.training_loss), 4),
        "first_logged_loss": losses[0] if losses else None,
        "last_logged_loss": losses[-1] if losses else None,
        "runtime_s": round(time.monotonic() - started, 1),
        "examples": len(run.examples),
        "tokens": reports[0].tokens,
    }
    if run.validation:
        metrics["eval_loss"] = round(float(run.trainer.evaluate()["eval_loss"]), 4)
    metrics = {key: value for key, value in metrics.items() if value is not None}
    data = [training_data(Path(request.train).resolve(), len(run.examples))]
    if request.validation:
        data.append(training_data(Path(request.validation).resolve(), len(run.validation)))
    finetune_settings = settings.masked_dump()["crafter"]["finetune"]
    record = TrainedModel(
        method="sft-lora", base_model=config.local_model, base_model_path=run.base_path, adapter=True, data=data,
        prompt=run.prompt, device=precision.device, dtype=precision.dtype_name,
        settings={key: finetune_settings[key] for key in LOCAL_SETTINGS},
        metrics={**metrics, "loss_history": progress.history}, started_at=started_at, ended_at=now_iso(),
    )
    save_trained(run.trainer, run.tokenizer, output_dir, record, merge=config.merge)
    summary: dict[str, Any] = {
        "backend": "local",
        "model": config.local_model,
        "output_dir": str(output_dir),
        **metrics,
        "device": precision.device,
        "dtype": precision.dtype_name,
        "observation_format": run.prompt.observation_format,
    }
    if record.merged_dir:
        summary["merged"] = record.merged_dir
    summary["next"] = f"teachkit crafter eval --policy {output_dir} --baseline {config.local_model}"
    return summary
