"""The one way a student is loaded, for training or for playing and generating.

    student = load_student("runs/crafter-student", settings)        # a LoRA adapter: merged into its base
    student = load_student(base, settings, for_training=True, device="cpu", dtype=precision.dtype)

A name is a student folder (a LoRA adapter whose `teachkit-training.json` names its base, a full model, or its
`merged/` folder), any local checkpoint, an HF id, or the embedded `smollm2-135m`, bare or as `local:NAME`
(`checkpoints.resolve_model`). An adapter is merged into its base in memory: generating through merged weights costs no
more than the base. Every tokenizer comes out with a chat template (ChatML where it had none, see `chat_template`)
and a pad token, padding on the right for training and on the left for generation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teachkit.checkpoints import load_failure, load_tokenizer, resolve_model
from teachkit.errors import InputError
from teachkit.llm.spec import local_model_name
from teachkit.records import TrainedModel
from teachkit.settings import Settings
from teachkit.students.artifacts import read_record
from teachkit.students.chat_template import ensure_chat_template, fit_model_to_tokenizer
from teachkit.students.precision import as_dtype, default_device, inference_dtype

ADAPTER_CONFIG = "adapter_config.json"


@dataclass
class LoadedStudent:
    model: Any
    tokenizer: Any
    loaded: str  # what was loaded, as a person reads it: "runs/student (adapter on google/gemma-2-2b-it)"
    path: str  # the folder or HF id the weights came from (the base, for an adapter)
    record: TrainedModel | None  # the student's teachkit-training.json, when it has one
    chatml_added: bool  # the tokenizer had no chat template and was given ChatML


def is_adapter(path: str | Path) -> bool:
    return (Path(path).expanduser() / ADAPTER_CONFIG).is_file()


def adapter_base(path: Path, record: TrainedModel | None) -> str:
    """The base an adapter folder was trained on: its record's loaded path while that exists, else the name the
    record or the adapter config gives."""
    if record is not None and Path(record.base_model_path).exists():
        return record.base_model_path
    config = json.loads((path / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    base = record.base_model if record is not None else config.get("base_model_name_or_path")
    if not base:
        raise InputError(f"{path}: an adapter that names no base model; merge it, or give the base model")
    return str(base)


def load_student(
    name_or_path: str,
    settings: Settings,
    *,
    base: str | None = None,
    device: str | None = None,
    dtype: Any = None,
    for_training: bool = False,
) -> LoadedStudent:
    """The model (on `device`: cuda when available, else cpu; in `dtype`: bf16 on a GPU with native bf16, else
    fp32) and its tokenizer. An adapter folder goes onto `base` (default: the base its record names) and is merged;
    the tokenizer saved beside an adapter is the one it was trained with. In train mode when `for_training`.
    `name_or_path` may be written as a spec (`local:./runs/student`); a spec of no local model is an InputError."""
    name_or_path = local_model_name(name_or_path)
    path = Path(name_or_path).expanduser()
    record = read_record(path) if path.is_dir() else None
    if is_adapter(path):
        base = base or adapter_base(path, record)
        tokenizer_from = str(path) if (path / "tokenizer_config.json").is_file() else base
        tokenizer = load_tokenizer(tokenizer_from, settings, for_training=for_training)
        model, chatml = load_weights(base, tokenizer, settings, device=device, dtype=dtype)
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(path)).merge_and_unload()
        loaded, weights = f"{name_or_path} (adapter on {base})", resolve_model(base, settings)
    else:
        weights = resolve_model(name_or_path, settings)
        tokenizer = load_tokenizer(weights, settings, for_training=for_training)
        model, chatml = load_weights(weights, tokenizer, settings, device=device, dtype=dtype)
        loaded = name_or_path
    model.train(for_training)
    return LoadedStudent(model, tokenizer, loaded, weights, record, chatml)


def load_weights(name_or_path: str, tokenizer: Any, settings: Settings, *, device: str | None,
                 dtype: Any) -> tuple[Any, bool]:
    """The causal LM of `name_or_path` fitted to `tokenizer` (ChatML and its tokens added where the tokenizer had
    no template, embeddings grown to the tokenizer); True when ChatML was added."""
    from transformers import AutoModelForCausalLM

    path = resolve_model(name_or_path, settings)
    device = device or default_device()
    dtype = as_dtype(dtype) or inference_dtype(device)
    token = settings.hf_token.get_secret_value() if settings.hf_token else None
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, token=token)
    except OSError as error:
        raise InputError(load_failure(name_or_path, error)) from None
    chatml = ensure_chat_template(tokenizer)
    # Also for a tokenizer saved by a training run that added ChatML: the base grows to its vocabulary and stops
    # at its <|im_end|>.
    fit_model_to_tokenizer(model, tokenizer)
    model.to(device)
    return model, chatml
