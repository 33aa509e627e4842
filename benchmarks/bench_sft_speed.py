"""Local SFT speed: teachkit's `crafter finetune` trainer against a plain PyTorch LoRA loop, same run.

    .venv/bin/python benchmarks/bench_sft_speed.py [--steps 10] [--warmup 2] [--batch-size 8] [--fp32]

Data: Crafter messages from a short scripted rollout (compact observation), formatted by `crafter format` (about
123 tokens per example). Model: the embedded smollm2-135m (`models.ensure_embedded_model`). Both sides train LoRA
r=16 on all linear layers with AdamW at batch 8, loss on the reply only, in the same precision (bf16 autocast on a
CPU with avx512_bf16/AMX, fp32 with --fp32 or elsewhere); each runs `--warmup` steps, then `--steps` timed steps.
Tokens counted the same way on both sides: non-pad tokens of the timed batches per second.

Targets (issue 13): teachkit >= 0.8x the plain loop, and >= 3x the fp32 quickstart figure of 63 tokens/s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TODAY_FP32_TOKENS_PER_S = 63.0


def crafter_messages(folder: Path) -> Path:
    """A scripted rollout (2 episodes x 60 steps, compact) formatted as chat messages for smollm2-135m."""
    teachkit = [sys.executable, "-m", "teachkit", "--json"]
    episodes, train = folder / "episodes.jsonl", folder / "train.jsonl"
    subprocess.run([*teachkit, "crafter", "rollout", "--teacher", "scripted", "--episodes", "2", "--max-steps", "60",
                    "--observation", "compact", "--out", str(episodes)], check=True, capture_output=True)
    subprocess.run([*teachkit, "crafter", "format", str(episodes), "--target", "messages", "--out", str(train),
                    "--tokenizer", "smollm2-135m"], check=True, capture_output=True)
    return train


def teachkit_run(train: Path, folder: Path, steps: int, warmup: int, batch: int, autocast: bool) -> dict:
    from transformers import TrainerCallback

    from teachkit.console import Output
    from teachkit.crafter.finetune import FinetuneRequest, prepare_local
    from teachkit.settings import load_settings
    from teachkit.sft_data.validation import check_training_files

    settings = load_settings(None, {
        "crafter.finetune.local_model": "smollm2-135m", "crafter.finetune.output_dir": str(folder / "teachkit"),
        "crafter.finetune.max_steps": warmup + steps, "crafter.finetune.batch_size": batch,
        "crafter.finetune.cpu_bf16_autocast": autocast, "crafter.finetune.save_steps": 10_000,
    })
    output = Output()
    reports = check_training_files(train, None, settings, output)
    run = prepare_local(FinetuneRequest(train), reports, settings, output)
    batch_tokens: list[int] = []
    collate = run.trainer.data_collator

    def counting_collator(features: list) -> dict:
        collated = collate(features)
        batch_tokens.append(int(collated["attention_mask"].sum()) if "attention_mask" in collated
                            else int(collated["input_ids"].numel()))
        return collated

    run.trainer.data_collator = counting_collator
    marks: dict[int, float] = {}

    class StepClock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201 - transformers' signature
            marks[state.global_step] = time.perf_counter()

    from transformers.trainer_callback import PrinterCallback

    run.trainer.remove_callback(PrinterCallback)  # its log dicts on stdout would break the JSON printed below
    run.trainer.add_callback(StepClock())
    run.trainer.train()
    seconds = marks[warmup + steps] - marks[warmup]
    # The dataloader may fetch one batch ahead: batches are counted by position, not by when they were collated.
    tokens = sum(batch_tokens[warmup: warmup + steps])
    return {"tokens": tokens, "seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds, 1),
            "dtype": run.precision.dtype_name,
            "gradient_checkpointing": bool(run.trainer.args.gradient_checkpointing),
            "sampling": run.trainer.args.train_sampling_strategy}


def plain_run(train: Path, steps: int, warmup: int, batch: int, autocast: bool) -> dict:
    """The reference: tokenizer chat template, prompt tokens masked, right padding, peft LoRA, AdamW, a for loop."""
    import contextlib
    import random

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from teachkit.checkpoints import ensure_embedded_model
    from teachkit.settings import load_settings

    path = ensure_embedded_model(load_settings())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                                             task_type="CAUSAL_LM"))
    model.train()
    rows = []
    for line in train.read_text(encoding="utf-8").splitlines():
        messages = json.loads(line)["messages"]
        prompt = tokenizer.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=True,
                                               return_dict=True)["input_ids"]
        full = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
        rows.append((list(full), [-100] * len(prompt) + list(full[len(prompt):])))
    random.Random(0).shuffle(rows)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def precision() -> contextlib.AbstractContextManager:
        return torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()

    tokens, started = 0, 0.0
    for step in range(warmup + steps):
        chunk = [rows[(step * batch + i) % len(rows)] for i in range(batch)]
        width = max(len(ids) for ids, _ in chunk)
        ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in chunk])
        labels = torch.tensor([labels + [-100] * (width - len(labels)) for _, labels in chunk])
        mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in chunk])
        if step == warmup:
            started = time.perf_counter()
        with precision():
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= warmup:
            tokens += int(mask.sum())
    seconds = time.perf_counter() - started
    return {"tokens": tokens, "seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--fp32", action="store_true", help="no bf16 autocast on either side")
    args = parser.parse_args()
    from teachkit.students.precision import cpu_has_native_bf16

    autocast = not args.fp32 and cpu_has_native_bf16()
    with tempfile.TemporaryDirectory() as folder:
        train = crafter_messages(Path(folder))
        plain = plain_run(train, args.steps, args.warmup, args.batch_size, autocast)
        ours = teachkit_run(train, Path(folder), args.steps, args.warmup, args.batch_size, autocast)
    ratio = ours["tokens_per_s"] / plain["tokens_per_s"]
    over_today = ours["tokens_per_s"] / TODAY_FP32_TOKENS_PER_S
    print(json.dumps({
        "load_average": os.getloadavg(), "cpu_bf16_autocast": autocast, "plain_loop": plain, "teachkit": ours,
        "teachkit_over_plain": round(ratio, 2), "target_over_plain": ">= 0.8", "met_over_plain": ratio >= 0.8,
        "teachkit_over_today_fp32_63": round(over_today, 2), "target_over_today": ">= 3",
        "met_over_today": over_today >= 3,
    }, indent=2))


if __name__ == "__main__":
    main()
