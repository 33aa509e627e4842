"""Saving what a training run produced, with a model card a person reads and a record the next stage reads.

    output_dir/
      adapter_model.safetensors, adapter_config.json    the LoRA adapter (or the full model without LoRA)
      tokenizer files
      README.md                                         the model card: base model, data, settings, metrics
      teachkit-training.json                            the same as a TrainedModel record (eval reads it)
      manifest.json                                     how it was made: command, settings, inputs' sha256, commit
      merged/                                           with merge: base + adapter as one plain checkpoint
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from teachkit.jsonl import atomic_write
from teachkit.manifest import manifest_path, sha256_of, write_manifest
from teachkit.records import TrainedModel, TrainingData

TRAINING_RECORD = "teachkit-training.json"
MODEL_CARD = "README.md"
MERGED_DIR = "merged"


def training_data(path: Path, examples: int | None = None) -> TrainingData:
    """A data file pinned by its sha256, with its manifest when `format`/`compile` wrote one beside it."""
    path = Path(path)
    manifest = manifest_path(path)
    return TrainingData(
        path=str(path),
        sha256=sha256_of(path),
        examples=examples,
        manifest=str(manifest) if manifest.is_file() else None,
    )


def save_trained(trainer: Any, tokenizer: Any, output_dir: Path, record: TrainedModel, *, merge: bool) -> Path:
    """Save the trained model (adapter), the tokenizer, `merged/` when asked, the card and the record.

    Under `accelerate launch` every process calls this; the trainer saves weights from the main process only, and
    the other files are written by it too.
    """
    output_dir = Path(output_dir)
    trainer.save_model(str(output_dir))
    if not trainer.is_world_process_zero():
        return output_dir
    tokenizer.save_pretrained(str(output_dir))
    if merge and record.adapter:
        merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
        merged.save_pretrained(str(output_dir / MERGED_DIR))
        tokenizer.save_pretrained(str(output_dir / MERGED_DIR))
        record.merged_dir = str(output_dir / MERGED_DIR)
    write_record(output_dir, record)
    return output_dir


def write_record(output_dir: Path, record: TrainedModel) -> None:
    with atomic_write(Path(output_dir) / TRAINING_RECORD) as handle:
        handle.write(record.model_dump_json(indent=2) + "\n")
    with atomic_write(Path(output_dir) / MODEL_CARD) as handle:
        handle.write(model_card(record))
    write_manifest(output_dir, settings=record.settings, inputs=[Path(item.path) for item in record.data],
                   started_at=record.started_at, counts={"examples": sum(item.examples or 0 for item in record.data)},
                   extra={"method": record.method, "base_model": record.base_model,
                          "prompt": record.prompt.model_dump() if record.prompt else None})


def read_record(model_dir: Path) -> TrainedModel | None:
    """The TrainedModel record of a folder (or of the folder a `merged/` folder sits in); None if it has none."""
    model_dir = Path(model_dir)
    for folder in (model_dir, model_dir.parent if model_dir.name == MERGED_DIR else None):
        if folder is not None and (folder / TRAINING_RECORD).is_file():
            return TrainedModel.model_validate_json((folder / TRAINING_RECORD).read_text(encoding="utf-8"))
    return None


def model_card(record: TrainedModel) -> str:
    """A Hugging Face style model card: front matter, then what the model is, what it learned from, and how."""
    front = ["---", f"base_model: {json.dumps(record.base_model)}", "library_name: peft" if record.adapter else
             "library_name: transformers", "tags:", "- teachkit", f"- {record.method}", "---", ""]
    lines = [f"# {record.method} student of {record.base_model}", ""]
    kind = "a LoRA adapter on" if record.adapter else "a full fine-tune of"
    lines.append(f"This folder holds {kind} `{record.base_model}` (loaded from `{record.base_model_path}`), trained "
                 f"by teachkit on {record.device} in {record.dtype}.")
    if record.merged_dir:
        lines.append(f"`{record.merged_dir}` holds the adapter merged into the base model, as a plain checkpoint.")
    lines += ["", "## Training data", ""]
    for item in record.data:
        examples = f", {item.examples:,} examples" if item.examples is not None else ""
        lines.append(f"- `{item.path}` (sha256 `{item.sha256[:16]}...`{examples})")
        lines.append(f"  - how it was made: `{item.manifest}`" if item.manifest else "  - no manifest beside it")
    if record.prompt is not None:
        prompt = record.prompt
        lines += ["", "## Prompt format", "",
                  f"- observation format: {prompt.observation_format or 'unknown'}",
                  f"- system prompt: {'the one below' if prompt.system_prompt else 'none (the chat template default)'}",
                  f"- earlier turns per example: {prompt.history}",
                  f"- replies with thoughts: {'yes' if prompt.with_thoughts else 'no'}"]
        if prompt.system_prompt:
            lines += ["", "```text", prompt.system_prompt, "```"]
    lines += ["", "## Settings", "", "```json", json.dumps(record.settings, indent=2, default=str), "```"]
    if record.metrics:
        lines += ["", "## Metrics", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {name} | {value} |" for name, value in record.metrics.items()
                  if value is not None and not isinstance(value, list | dict)]
    lines += ["", "## Use", "", "```python"]
    if record.adapter:
        lines += ["from peft import AutoPeftModelForCausalLM",
                  "model = AutoPeftModelForCausalLM.from_pretrained('<this folder>')"]
    else:
        lines += ["from transformers import AutoModelForCausalLM",
                  "model = AutoModelForCausalLM.from_pretrained('<this folder>')"]
    lines += ["```"]
    if record.prompt is not None:
        lines += ["", "```bash", f"teachkit crafter eval --policy <this folder> --baseline {record.base_model}", "```"]
    lines += ["", f"Trained from {record.started_at} to {record.ended_at}; `{TRAINING_RECORD}` holds all of this as "
              "JSON.", ""]
    return "\n".join(front + lines)
