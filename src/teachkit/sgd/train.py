"""`teachkit sgd train`: GRPO (TRL `GRPOTrainer`) of a student on compiled SGD samples against a judge reward.

The reward function (`rewards.py`) is async and scores a whole generation batch at once through the judge (and its
score cache); the prompts are fitted to the student by `prompt_fit.py`.
A judge failure is reward None, which TRL leaves out of the group's baseline and gives no advantage; failures are
counted per step and in the summary. Checkpoints are saved every `save_steps`; `--resume` continues from the last
one, and the judge's score cache keeps every score computed before a kill.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teachkit.console import Output, ProgressTask
from teachkit.errors import InputError
from teachkit.jsonl import read_records
from teachkit.llm.spec import local_model_name
from teachkit.manifest import now_iso
from teachkit.records import Sample
from teachkit.settings import Settings
from teachkit.sgd.judges import Judge, open_judge
from teachkit.sgd.prompt_fit import fit_prompt
from teachkit.sgd.rewards import JudgeReward, close_judge
from teachkit.students.chat_template import ChatRules
from teachkit.students.lora import lora_config
from teachkit.students.precision import Precision, training_precision
from teachkit.students.progress import TimeLimit, quiet_libraries, resume_checkpoint

# --- training --------------------------------------------------------------------------------------------------


@dataclass
class StepLog:
    step: int
    reward: float | None
    reward_std: float | None
    judge_calls: float
    cache_hits: float
    judge_failures: float
    loss: float | None


@dataclass
class TrainReport:
    output_dir: Path
    model: str
    judge: str
    samples: int
    steps: int
    resumed_from: str | None
    runtime_s: float
    judge_stats: dict[str, Any]
    prompts_cut: int
    prompts_over_limit: int
    chat_format: dict[str, bool]
    device: str
    dtype: str
    history: list[StepLog] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        rewards = [h.reward for h in self.history if h.reward is not None]
        return {
            "output_dir": str(self.output_dir),
            "model": self.model,
            "judge": self.judge,
            "samples": self.samples,
            "steps": self.steps,
            "resumed_from": self.resumed_from,
            "runtime_s": round(self.runtime_s, 1),
            "reward_first": rewards[0] if rewards else None,
            "reward_last": rewards[-1] if rewards else None,
            "reward_mean": sum(rewards) / len(rewards) if rewards else None,
            **self.judge_stats,
            "prompts_cut": self.prompts_cut,
            "prompts_over_limit": self.prompts_over_limit,
            "chat_format": self.chat_format,
            "device": self.device,
            "dtype": self.dtype,
            "history": [h.__dict__ for h in self.history],
        }


def make_progress_callback(task: ProgressTask, history: list[StepLog], out: Output) -> Any:
    from transformers import TrainerCallback

    class StepProgress(TrainerCallback):
        """Per-step reward and judge counters: on the progress bar, in the history, and as --verbose lines."""

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_: Any) -> None:
            if not logs or "reward" not in logs or not state.is_world_process_zero:
                return
            entry = StepLog(
                step=state.global_step,
                reward=finite(logs.get("reward")),
                reward_std=finite(logs.get("reward_std")),
                judge_calls=logs.get("judge/calls", 0.0),
                cache_hits=logs.get("judge/cache_hits", 0.0),
                judge_failures=logs.get("judge/failures", 0.0),
                loss=finite(logs.get("loss")),
            )
            history.append(entry)
            task.update(reward=entry.reward if entry.reward is not None else "-", failures=entry.judge_failures)
            out.detail(
                f"step {entry.step}: reward {fmt(entry.reward)} +- {fmt(entry.reward_std)}, judge calls "
                f"{entry.judge_calls:g}, cache hits {entry.cache_hits:g}, failures {entry.judge_failures:g}, "
                f"loss {fmt(entry.loss)}"
            )

        def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
            if state.is_world_process_zero:
                task.advance(1)

    return StepProgress()


def finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def load_samples(path: Path) -> list[Sample]:
    samples = list(read_records(path, Sample))
    if not samples:
        raise InputError(f"{path}: no samples; compile some with `teachkit sgd compile`")
    seen: set[str] = set()
    for sample in samples:
        if sample.id in seen:
            raise InputError(f"{path}: sample id {sample.id!r} appears twice; recompile the file")
        seen.add(sample.id)
    return samples


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def check_batch_shape(config: Any, judge_kind: str = "acts") -> None:
    """TRL's rule, said in teachkit's flags before any model is loaded; and the group judge's.

    TRL (1.16, `GRPOTrainer._prepare_inputs`) calls the reward function once per process per generation batch,
    `per_device_train_batch_size x gradient_accumulation_steps` completions, in which its `RepeatSampler` puts each
    prompt's `num_generations` completions one after another. On one device the generation batch therefore holds
    whole groups; on several, each process gets a contiguous slice of the global batch, and a group is whole in one
    process only when the slice is a multiple of the group. The group judge needs the whole group in one call.
    """
    batch = config.per_device_train_batch_size * world_size() * config.gradient_accumulation_steps
    if batch % config.num_generations != 0:
        raise InputError(
            f"--per-device-train-batch-size {config.per_device_train_batch_size} x {world_size()} device(s) x "
            f"--gradient-accumulation-steps {config.gradient_accumulation_steps} = {batch} completions per "
            f"generation batch, which must be divisible by --num-generations {config.num_generations}"
        )
    local = config.per_device_train_batch_size * config.gradient_accumulation_steps
    if judge_kind == "group" and local % config.num_generations != 0:
        raise InputError(
            f"--judge group: --per-device-train-batch-size {config.per_device_train_batch_size} x "
            f"--gradient-accumulation-steps {config.gradient_accumulation_steps} = {local} completions per device, "
            f"which must be divisible by --num-generations {config.num_generations} so that each device judges whole "
            "groups"
        )


@dataclass
class GrpoRun:
    """A trainer ready to train, with what the report needs to know about how it was set up."""

    trainer: Any
    tokenizer: Any
    judge: Judge
    reward: JudgeReward
    samples: list[Sample]
    output_dir: Path
    resume_from: str | None
    chat: ChatRules | None
    prompts_cut: int
    prompts_over_limit: int
    precision: Precision
    base_path: str


def prepare_run(
    train_path: Path,
    settings: Settings,
    *,
    judge_model: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    out: Output | None = None,
) -> GrpoRun:
    """Everything up to `trainer.train()`: checks, samples, judge, student, prompts that fit, the GRPOTrainer."""
    out = out or Output()
    config = settings.sgd.train
    local_model_name(config.model, where="--model")  # a wrong spec stops before the samples and the judge
    output_dir = Path(config.output_dir)
    check_batch_shape(config, settings.judge.kind)
    resume_from = resume_checkpoint(output_dir, resume=resume, overwrite=overwrite, out=out)
    samples = load_samples(train_path)
    judge = open_judge(settings, model=judge_model)
    quiet_libraries(out)

    from teachkit.students.loading import load_student

    precision = training_precision(cpu_bf16_autocast=config.cpu_bf16_autocast)
    # Loaded on the CPU: the trainer moves it to this process's device (one per process under accelerate launch).
    student = load_student(config.model, settings, device="cpu", dtype=precision.dtype, for_training=True)
    model, tokenizer, base_path = student.model, student.tokenizer, student.path
    needs_chat = any(not isinstance(s.prompt, str) for s in samples)
    if needs_chat and student.chatml_added:
        out.info(f"{config.model}: no chat template; training with ChatML (saved with the tokenizer)")
    chat = ChatRules.detect(tokenizer, config.model) if needs_chat else None
    if chat is not None and not chat.system_role:
        out.info(f"{config.model}: the chat template has no system role; the system message goes into the first "
                 "user turn")

    from datasets import Dataset

    rows = []
    cut = over = 0
    with out.progress("preparing prompts", total=len(samples), unit="prompts") as task:
        for sample in samples:
            fitted = fit_prompt(sample, tokenizer, chat, config.max_prompt_length)
            cut += fitted.turns_dropped > 0
            over += fitted.over_limit
            rows.append({"prompt": fitted.prompt, "sample_id": sample.id})
            task.advance(1)
    if over:
        out.warn(f"{over} prompt(s) stay longer than --max-prompt-length {config.max_prompt_length} with only the "
                 "system message and the latest user turn; they are used whole")

    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import GRPOTrainer

    reward = JudgeReward(judge, {s.id: s for s in samples})
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=grpo_config(settings, output_dir, precision),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=lora_config(config.lora_r, config.lora_alpha) if config.use_lora else None,
    )
    # The step callback below reports progress; the default ones would print dicts on stdout (and break --json).
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return GrpoRun(trainer=trainer, tokenizer=tokenizer, judge=judge, reward=reward, samples=samples,
                   output_dir=output_dir, resume_from=resume_from, chat=chat, prompts_cut=cut,
                   prompts_over_limit=over, precision=precision, base_path=base_path)


TRAIN_SETTINGS = ("model", "use_lora", "lora_r", "lora_alpha", "max_steps", "learning_rate", "num_generations",
                  "per_device_train_batch_size", "gradient_accumulation_steps", "max_prompt_length",
                  "max_completion_length", "beta", "loss_type", "temperature", "use_vllm", "seed", "max_minutes",
                  "cpu_bf16_autocast")


def train_grpo(
    train_path: Path,
    settings: Settings,
    *,
    judge_model: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    out: Output | None = None,
) -> TrainReport:
    """Train `settings.sgd.train.model` with GRPO on the samples in `train_path`; save the model (the LoRA adapter
    with `use_lora`), tokenizer, model card and `teachkit-training.json` into the output dir; return what happened."""
    from teachkit.records import TrainedModel
    from teachkit.students.artifacts import save_trained, training_data

    out = out or Output()
    config = settings.sgd.train
    started_at = now_iso()
    started = time.monotonic()
    run = prepare_run(train_path, settings, judge_model=judge_model, resume=resume, overwrite=overwrite, out=out)
    trainer, judge = run.trainer, run.judge
    history: list[StepLog] = []
    out.info(f"GRPO: {config.model} on {len(run.samples)} samples, judge {judge.describe()}, {config.max_steps} "
             f"steps, {config.num_generations} completions per prompt, {run.precision.device} "
             f"{run.precision.dtype_name}")
    limit = TimeLimit(config.max_minutes) if config.max_minutes else None
    if limit is not None:
        trainer.add_callback(limit)
    try:
        with out.progress("GRPO steps", total=config.max_steps, unit="steps") as task:
            if run.resume_from:
                task.advance(int(Path(run.resume_from).name.split("-")[-1]))
            trainer.add_callback(make_progress_callback(task, history, out))
            trainer.train(resume_from_checkpoint=run.resume_from)
    finally:
        close_judge(judge, trainer)
    if limit is not None and limit.stopped_early:
        out.warn(f"stopped after {config.max_minutes:g} minutes (--max-minutes) at step {trainer.state.global_step} "
                 f"of {config.max_steps}; the model so far is saved")

    report = TrainReport(
        output_dir=run.output_dir,
        model=config.model,
        judge=judge.describe(),
        samples=len(run.samples),
        steps=trainer.state.global_step,
        resumed_from=run.resume_from,
        runtime_s=time.monotonic() - started,
        judge_stats={**judge.stats.as_dict(), "failed_rewards": run.reward.failures_seen},
        prompts_cut=run.prompts_cut,
        prompts_over_limit=run.prompts_over_limit,
        chat_format=run.chat.__dict__ if run.chat else {},
        device=run.precision.device,
        dtype=run.precision.dtype_name,
        history=history,
    )
    metrics = report.as_dict()
    for key in ("output_dir", "model", "chat_format", "device", "dtype"):
        metrics.pop(key)
    train_settings = settings.masked_dump()["sgd"]["train"]
    record = TrainedModel(
        method="grpo-lora" if config.use_lora else "grpo",
        base_model=config.model,
        base_model_path=run.base_path,
        adapter=config.use_lora,
        data=[training_data(Path(train_path).resolve(), len(run.samples))],
        device=run.precision.device,
        dtype=run.precision.dtype_name,
        settings={**{key: train_settings[key] for key in TRAIN_SETTINGS}, "judge": judge.describe()},
        metrics=metrics,
        started_at=started_at,
        ended_at=now_iso(),
    )
    save_trained(trainer, run.tokenizer, run.output_dir, record, merge=False)
    return report


def grpo_config(settings: Settings, output_dir: Path, precision: Precision) -> Any:
    from trl import GRPOConfig

    config = settings.sgd.train
    return GRPOConfig(
        output_dir=str(output_dir),
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        num_generations=config.num_generations,
        per_device_train_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        max_completion_length=config.max_completion_length,
        beta=config.beta,
        loss_type=config.loss_type,
        temperature=config.temperature,
        use_vllm=config.use_vllm,
        vllm_mode=config.vllm_mode,
        report_to=config.report_to,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        logging_steps=1,
        seed=config.seed,
        disable_tqdm=True,
        # bf16 only on a GPU that has it, fp32 on a CPU (TRL defaults to bf16); activation checkpointing on a GPU
        # only: on a CPU it costs time twice, in the backward and in generation, which loses its KV cache in
        # train mode (measured: 4 x 800-token prompts, 40 new tokens: 64 s -> 120 s).
        **precision.trainer_kwargs(),
    )
