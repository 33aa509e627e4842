"""The device and dtype a student runs in, and the trainer arguments that go with them.

- A CUDA GPU: bf16 only where the GPU computes in bf16 natively (`including_emulation=False`: a T4 or V100 would
  emulate it, slower than fp32); fp32 otherwise (fp16 mixed precision needs loss scaling that LoRA fine-tunes of
  small models rarely repay).
- A CPU: fp32 weights. With `cpu_bf16_autocast` (crafter.finetune / sgd.train) and a CPU that has bf16 instructions
  (`avx512_bf16` or AMX), training runs under bf16 autocast: the weights stay fp32, matrix products run in bf16.

Under `accelerate launch` every process trains on its own GPU (`LOCAL_RANK`); the trainer moves the model there, so
models for training are loaded on the CPU.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teachkit.errors import InputError

CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class Precision:
    device: str
    dtype: Any
    cpu_autocast: bool = False

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def bf16(self) -> bool:
        import torch

        return self.dtype == torch.bfloat16 or self.cpu_autocast

    @property
    def dtype_name(self) -> str:
        name = str(self.dtype).removeprefix("torch.")
        return f"{name} + bf16 autocast" if self.cpu_autocast else name

    def trainer_kwargs(self) -> dict[str, Any]:
        """Arguments for `SFTConfig` / `GRPOConfig` (both are `TrainingArguments`); `bf16` on a CPU is autocast."""
        return {
            "bf16": self.bf16,
            "fp16": False,
            "use_cpu": not self.on_gpu,
            # Recomputing activations saves GPU memory; on a CPU it only costs time.
            "gradient_checkpointing": self.on_gpu,
        }


def cuda_has_native_bf16() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)


@functools.cache
def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU has bf16 instructions (avx512_bf16 or AMX); False where it cannot be told (not Linux)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return any(flag in flags for flag in CPU_BF16_FLAGS)


def training_precision(*, cpu_bf16_autocast: bool = False) -> Precision:
    """What to train in: bf16 on a GPU with native bf16, fp32 elsewhere, plus CPU bf16 autocast when asked for and
    the CPU has it."""
    import torch

    if torch.cuda.is_available():
        return Precision("cuda", torch.bfloat16 if cuda_has_native_bf16() else torch.float32)
    return Precision("cpu", torch.float32, cpu_autocast=cpu_bf16_autocast and cpu_has_native_bf16())


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def inference_dtype(device: str) -> Any:
    """bf16 on a GPU with native bf16, fp32 elsewhere."""
    import torch

    return torch.bfloat16 if device.startswith("cuda") and cuda_has_native_bf16() else torch.float32


def cpu_autocast(device: Any, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast for inference on a CPU with bf16 instructions when `enabled` (matrix products in bf16, weights
    kept in fp32: about 1.5-2x faster on avx512_bf16); nothing on a GPU, which runs in the dtype it was loaded in."""
    import torch

    if enabled and str(device).startswith("cpu") and cpu_has_native_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def as_dtype(dtype: Any) -> Any:
    """A torch dtype from a name (bf16, fp16, fp32, ...); None and dtypes pass through."""
    import torch

    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    names = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16,
             "fp32": torch.float32, "float32": torch.float32}
    if str(dtype).lower() not in names:
        raise InputError(f"dtype {dtype!r}: use one of {', '.join(names)}")
    return names[str(dtype).lower()]
