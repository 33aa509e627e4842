"""`teachkit crafter finetune --backend local`: check the tuning data, then train a local student.

Both backends start from the same check (`sft_data.validation.check_training_files`, the checks of `format
--validate`). The cloud backend lives in its own package (docs/crafter-training.md); the local one is here, with
how a data file prompts its student (`student_prompt_of_file`, which both backends record): TRL's SFTTrainer with a
LoRA adapter on any HF id, local path or the embedded `smollm2-135m`, trained on the model turn only, saved with its
tokenizer, a model card and the `teachkit-training.json` record that `crafter eval` reads to prompt the student as
it was trained.

The local trainer runs at the hardware's speed: bf16 on a GPU that has it natively and under bf16 autocast on a CPU
with bf16 instructions (`students.precision`), no activation checkpointing on a CPU, batches of examples of similar
length (`group_by_length`: little padding, no packing, so attention never crosses examples), the loss on the
completion only, the model and tokenizer loaded once. It checkpoints every `save_steps` into the output folder;
`--resume` continues from the last complete checkpoint, `--max-minutes` stops cleanly and saves, `--report-to`
hands the logs to tensorboard or wandb. `benchmarks/bench_sft_speed.py` measures it against a plain PyTorch loop.

The local trainer runs unchanged under `accelerate launch` (one process per GPU, data parallel): every process
builds the same trainer and the main process writes the files.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teachkit.console import Output
from teachkit.errors import ConfigError, InputError
from teachkit.jsonl import read_json_lines
from teachkit.llm.spec import local_model_name
from teachkit.manifest import manifest_path, now_iso
from teachkit.records import StudentPrompt, TrainedModel
from teachkit.settings import Settings
from teachkit.sft_data.formats import MODEL, Example, parse
from teachkit.sft_data.validation import ValidationReport, check_training_files
from teachkit.students.chat_template import ChatRules

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
    resume: bool = False


@dataclass
class FinetuneResult:
    summary: dict[str, Any]
    tables: dict[str, list[dict[str, Any]]]
    interrupted: bool = False


def run_finetune(request: FinetuneRequest, settings: Settings, output: Output | None = None) -> FinetuneResult:
    """Check the data, then train the local student (`crafter.finetune.backend` must be local)."""
    output = output or Output()
    backend = settings.crafter.finetune.backend
    if backend != "local":
        raise ConfigError(f"crafter.finetune.backend is {backend!r}: run_finetune trains a local student; "
                          "`teachkit crafter finetune` runs the other backend")
    local_model_name(settings.crafter.finetune.local_model, where="--model")  # a wrong spec stops before the data
    reports = check_training_files(request.train, request.validation, settings, output)
    if request.dry_run:
        return FinetuneResult(local_plan(request, reports, settings), {})
    return FinetuneResult(train_local(request, reports, settings, output), {})


# --- the local backend -------------------------------------------------------------------------------------------


def read_examples(path: Path, target: str) -> list[Example]:
    return [parse(record, target) for _, record in read_json_lines(Path(path))]


def prompt_completion(example: Example, rules: ChatRules) -> dict[str, Any]:
    """The conversational prompt-completion row TRL trains on (loss on the last model turn only), fitted to the
    student's chat template (a system prompt folded into the first user turn where it has no system role)."""
    messages = example.chat()
    return {"prompt": rules.fit(messages[:-1]), "completion": messages[-1:]}


def check_replies_fit(rows: list[dict[str, Any]], tokenizer: Any, max_length: int | None, train: Path,
                      output: Output) -> None:
    """TRL keeps the first `max_length` tokens of an example: one whose prompt alone reaches that loses its reply
    and is dropped silently, and a file of only such examples ends in an IndexError deep inside `datasets`."""
    if max_length is None:
        return
    prompts = [len(tokenizer.apply_chat_template(row["prompt"], tokenize=True, return_dict=True,
                                                 add_generation_prompt=True)["input_ids"]) for row in rows]
    cut = sum(1 for length in prompts if length >= max_length)
    if cut == len(rows):
        raise InputError(f"{train}: every prompt is at least --max-length {max_length} tokens (the shortest is "
                         f"{min(prompts)}), so no reply would be trained on; raise --max-length above "
                         f"{max(prompts)} or format shorter examples (less history, no system prompt)")
    if cut:
        output.warn(f"{train}: {cut} of {len(rows)} prompts reach --max-length {max_length} tokens and lose their "
                    f"reply; those examples are not trained on (the longest prompt is {max(prompts)} tokens)")


def student_prompt(train: Path, examples: Iterable[Example], target: str) -> StudentPrompt:
    """How the training data prompts the model, for `crafter eval` to prompt the student the same way (one pass:
    `examples` may stream from a file of any size)."""
    systems: Counter[str | None] = Counter()
    history = 0
    with_thoughts = False
    first: list[Example] = []
    for example in examples:
        systems[example.system] += 1
        history = max(history, sum(1 for role, _ in example.turns if role == MODEL) - 1)
        with_thoughts = with_thoughts or example.turns[-1][1].lstrip().startswith("Thought:")
        if len(first) < 50:
            first.append(example)
    system = systems.most_common(1)[0][0] if systems else None
    return StudentPrompt(observation_format=observation_format_of(train, first), system_prompt=system,
                         history=max(0, history), with_thoughts=with_thoughts, source_format=target)


def student_prompt_of_file(train: Path, target: str) -> StudentPrompt:
    return student_prompt(train, (parse(record, target) for _, record in read_json_lines(Path(train))), target)


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
    from teachkit.students.artifacts import TRAINING_RECORD

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
    resume_from: str | None = None


def prepare_local(request: FinetuneRequest, reports: list[ValidationReport], settings: Settings,
                  output: Output) -> LocalRun:
    """Everything up to `trainer.train()`: the examples, the student, its tokenizer and the SFTTrainer."""
    config = settings.crafter.finetune
    target = reports[0].target or "messages"
    examples = read_examples(request.train, target)
    validation = read_examples(request.validation, target) if request.validation else []
    prompt = student_prompt(request.train, examples, target)

    from teachkit.students.loading import load_student
    from teachkit.students.lora import lora_config
    from teachkit.students.precision import training_precision
    from teachkit.students.progress import check_report_to, quiet_libraries, resume_checkpoint

    report_to = check_report_to(config.report_to)
    resume_from = resume_checkpoint(Path(config.output_dir), resume=request.resume, overwrite=request.overwrite,
                                    out=output)
    quiet_libraries(output)
    precision = training_precision(cpu_bf16_autocast=config.cpu_bf16_autocast)
    # Loaded on the CPU: the trainer moves it to this process's device (one GPU per process under accelerate).
    student = load_student(config.local_model, settings, device="cpu", dtype=precision.dtype, for_training=True)
    model, tokenizer = student.model, student.tokenizer
    if student.chatml_added:
        output.info(f"{config.local_model}: no chat template; training with ChatML (saved with the tokenizer)")
    rules = ChatRules.detect(tokenizer, config.local_model)
    if not rules.system_role and prompt.system_prompt:
        output.info(f"{config.local_model}: the chat template has no system role; the system prompt opens the "
                    "first user turn (eval prompts the student the same way)")

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
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        report_to=report_to,
        # Batches of similar length (shuffled in groups of 50 batches): little padding, and unlike packing no
        # attention across examples on kernels without varlen support (CPU sdpa).
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        seed=config.seed,
        disable_tqdm=True,
        **precision.trainer_kwargs(),
    )
    train_rows = [prompt_completion(example, rules) for example in examples]
    check_replies_fit(train_rows, tokenizer, config.max_length, request.train, output)
    trainer = lean_sft_trainer(SFTTrainer)(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list([prompt_completion(example, rules) for example in validation]) if validation
        else None,
        processing_class=tokenizer,
        peft_config=lora_config(config.lora_r, config.lora_alpha, config.lora_dropout, config.lora_target_modules),
    )
    steps = planned_steps(len(examples), config.batch_size, config.grad_accum, config.epochs, config.max_steps,
                          trainer.args.world_size)
    return LocalRun(trainer, tokenizer, examples, validation, prompt, student.path, precision, steps, resume_from)


def lean_sft_trainer(sft_trainer: type) -> type:
    """SFTTrainer with the model's own cross-entropy as its loss (labels are -100 on the prompt and padding).

    TRL 1.16's loss runs a fused LM head that also computes entropy and top-1 accuracy for its logs and casts the
    head's weight on every call: about a third of a step of SmolLM2-135M on 2 CPU cores (benchmarks/
    bench_sft_speed.py), for two numbers in a log. The loss is the same sum over reply tokens.
    """

    class LeanSFTTrainer(sft_trainer):
        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            from transformers import Trainer

            return Trainer.compute_loss(self, model, {**inputs, "use_cache": False}, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)

    return LeanSFTTrainer


LOCAL_SETTINGS = ("local_model", "epochs", "max_steps", "learning_rate", "lora_r", "lora_alpha", "lora_dropout",
                  "lora_target_modules", "max_length", "batch_size", "grad_accum", "merge", "seed", "max_minutes",
                  "cpu_bf16_autocast", "group_by_length")


def train_local(
    request: FinetuneRequest, reports: list[ValidationReport], settings: Settings, output: Output
) -> dict[str, Any]:
    """SFT with LoRA on the checked data; saves the adapter, tokenizer, card and record; returns the summary."""
    from teachkit.students.artifacts import save_trained, training_data
    from teachkit.students.progress import TimeLimit, checkpoint_step, use_teachkit_progress

    config = settings.crafter.finetune
    output_dir = Path(config.output_dir)
    check_output_dir(output_dir, request.overwrite)  # a finished student: --resume has nothing to continue
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
        task.advance(checkpoint_step(run.resume_from))
        progress = use_teachkit_progress(run.trainer, task, output)
        result = run.trainer.train(resume_from_checkpoint=run.resume_from)
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
        "resumed_from": run.resume_from,
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
