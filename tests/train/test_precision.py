"""Device and dtype for training."""

from __future__ import annotations

import torch

from teachkit.train.precision import Precision, choose_precision


def test_cpu_trains_in_fp32_without_mixed_precision() -> None:
    precision = choose_precision()
    if torch.cuda.is_available():  # pragma: no cover - this machine has no GPU
        assert precision.on_gpu
        return
    assert precision == Precision("cpu", torch.float32)
    assert precision.trainer_kwargs() == {"bf16": False, "fp16": False, "use_cpu": True,
                                          "gradient_checkpointing": False}


def test_a_bf16_gpu_trains_in_bf16() -> None:
    precision = Precision("cuda", torch.bfloat16)
    assert precision.bf16 and precision.dtype_name == "bfloat16"
    assert precision.trainer_kwargs()["bf16"] and not precision.trainer_kwargs()["use_cpu"]
