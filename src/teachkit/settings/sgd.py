"""Settings of the SGD pipeline (`[sgd.*]`): compile, format, train, eval."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, TypeAdapter, ValidationError, model_validator

from teachkit.settings.section import Section


class SgdCompileSettings(Section):
    """SGD dialogues into samples (`teachkit sgd download`, `compile`); docs/sgd.md explains each knob."""

    root: Path | None = Field(None, description="the dstc8-schema-guided-dialogue folder (download --dest default)")
    split: str = Field("train", description="split(s) to compile, comma-separated: train, dev, test")
    prompt_format: Literal["messages", "text"] = Field(
        "messages", description="messages (chat, system message first) or text (one string ending 'Assistant:')"
    )
    tool_results: bool = Field(True, description="put the turn's service call and results into the prompt")
    max_context_turns: int | None = Field(None, gt=0, description="keep only the last N turns of the conversation")
    eval_fraction: float = Field(0.0, ge=0, lt=1, description="dialogues held out into the eval file")
    seed: int = Field(0, description="seed of --sample and of the eval split")
    dedupe: bool = Field(True, description="drop samples whose prompt and ground truth repeat an earlier one")
    services: list[str] = Field(default_factory=list, description="keep only these services (empty: all)")
    domains: list[str] = Field(default_factory=list, description="keep only these domains, e.g. Restaurants")
    download_url: str = Field(
        "https://github.com/google-research-datasets/dstc8-schema-guided-dialogue/archive/{ref}.tar.gz",
        description="archive that `sgd download` fetches; {ref} is replaced by --ref",
    )
    git_url: str = Field(
        "https://github.com/google-research-datasets/dstc8-schema-guided-dialogue.git",
        description="repository that `sgd download --git` clones",
    )


class SgdTrainSettings(Section):
    """GRPO of a student against the judge (`teachkit sgd train`); docs/sgd-training.md explains each knob."""

    model: str = Field(
        "google/gemma-2-2b-it", description="student: local:NAME, a folder, an HF id or smollm2-135m (offline)"
    )
    output_dir: Path = Field(
        Path("runs/sgd-grpo"), description="checkpoints, the final adapter, its model card and teachkit-training.json"
    )
    use_lora: bool = Field(True, description="train LoRA adapters instead of every weight")
    lora_r: int = Field(16, gt=0, description="LoRA rank")
    lora_alpha: int = Field(32, gt=0, description="LoRA alpha (scale = alpha / r)")
    max_steps: int = Field(500, gt=0, description="optimizer steps")
    learning_rate: float | None = Field(
        None, gt=0, description="AdamW learning rate; default 3e-4 with LoRA, 1e-5 for full "
        "fine-tuning"
    )
    num_generations: int = Field(4, ge=2, description="completions per prompt (the GRPO group)")
    per_device_train_batch_size: int = Field(
        4, gt=0, description="completions per device per step; x devices x accumulation must divide by num_generations"
    )
    gradient_accumulation_steps: int = Field(1, gt=0)
    max_prompt_length: int = Field(1024, gt=0, description="prompt tokens; the oldest turns are cut first")
    max_completion_length: int = Field(128, gt=0, description="new tokens per completion")
    beta: float = Field(0.0, ge=0, description="KL coefficient; 0 loads no reference model")
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo"] = Field(
        "dapo", description="TRL loss: grpo, dr_grpo, dapo, bnpo, cispo, sapo, luspo, vespo"
    )
    temperature: float = Field(1.0, gt=0, description="sampling temperature of the completions")
    use_vllm: bool = Field(False, description="generate with vLLM (GPU, pip install vllm)")
    vllm_mode: Literal["colocate", "server"] = Field("colocate", description="vLLM in the trainer, or a trl vllm-serve")
    report_to: str = Field("none", description="none, tensorboard, wandb, ... (transformers' report_to)")
    save_steps: int = Field(50, gt=0, description="checkpoint every this many steps")
    save_total_limit: int | None = Field(3, gt=0, description="checkpoints kept; older ones are deleted")
    max_minutes: float | None = Field(
        None, gt=0, description="stop cleanly (and save) after this many minutes of training, even before max_steps"
    )
    seed: int = Field(0, description="seed of the data order, sampling and LoRA init")
    cpu_bf16_autocast: bool = Field(
        False, description="on a CPU with bf16 instructions (avx512_bf16, AMX): train under bf16 autocast"
    )


    @model_validator(mode="before")
    @classmethod
    def learning_rate_for_the_method(cls, data: Any) -> Any:
        # LoRA's low-rank update needs a learning rate about 30x full fine-tuning's to move as far.
        if isinstance(data, dict) and data.get("learning_rate") is None:
            try:
                lora = TypeAdapter(bool).validate_python(data.get("use_lora", True))
            except ValidationError:
                return data  # the use_lora field reports it
            data = {**data, "learning_rate": 3e-4 if lora else 1e-5}
        return data


class SgdEvalSettings(Section):
    """Base vs trained on held-out samples (`teachkit sgd eval`)."""

    n: int = Field(50, gt=0, description="samples evaluated, spread evenly over the file")
    max_new_tokens: int = Field(128, gt=0)
    batch_size: int = Field(8, gt=0, description="prompts generated at once")
    max_prompt_length: int = Field(1024, gt=0, description="prompt tokens; the oldest turns are cut first")
    temperature: float = Field(0.0, ge=0, description="0: greedy decoding; above 0: sampling with the seed")
    bootstrap: int = Field(10000, gt=0, description="resamples of the paired bootstrap interval")
    seed: int = 0


class SgdFormatSettings(Section):
    """Compiled samples to supervised fine-tuning data (`teachkit sgd format`): prompt + reference reply."""

    target: Literal["vertex", "messages"] = Field(
        "messages", description="messages (chat, local TRL fine-tune) or vertex (Vertex AI Gemini tuning)"
    )
    validation_fraction: float = Field(0.0, ge=0, lt=1, description="share of dialogues written to a validation file")
    seed: int = Field(0, description="seed of the validation split")


class SgdSettings(Section):
    compile: SgdCompileSettings = Field(default_factory=SgdCompileSettings)
    format: SgdFormatSettings = Field(default_factory=SgdFormatSettings)
    train: SgdTrainSettings = Field(default_factory=SgdTrainSettings)
    eval: SgdEvalSettings = Field(default_factory=SgdEvalSettings)
