"""The device and dtype to train on, and the trainer arguments that go with them.

bf16 on a GPU that supports it; fp32 everywhere else (a CPU, or an older GPU without bf16, where fp16 mixed
precision needs loss scaling that LoRA fine-tunes of small models rarely repay). Under `accelerate launch` every
process trains on its own GPU (`LOCAL_RANK`); the trainer moves the model there, so models are loaded on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Precision:
    device: str
    dtype: Any

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def bf16(self) -> bool:
        import torch

        return self.dtype == torch.bfloat16

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    def trainer_kwargs(self) -> dict[str, Any]:
        """Arguments for `SFTConfig` / `GRPOConfig` (both are `TrainingArguments`)."""
        return {
            "bf16": self.bf16,
            "fp16": False,
            "use_cpu": not self.on_gpu,
            # Recomputing activations saves GPU memory; on a CPU it only costs time.
            "gradient_checkpointing": self.on_gpu,
        }


def choose_precision() -> Precision:
    import torch

    if torch.cuda.is_available():
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
        return Precision("cuda", dtype)
    return Precision("cpu", torch.float32)
