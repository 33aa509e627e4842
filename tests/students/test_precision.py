"""Device and dtype: bf16 only where the hardware has it, CPU bf16 autocast only when asked for and supported."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch

from teachkit.errors import InputError
from teachkit.students.precision import (
    Precision,
    as_dtype,
    cpu_has_native_bf16,
    cuda_has_native_bf16,
    inference_dtype,
    training_precision,
)


def test_cpu_trains_in_fp32_without_mixed_precision_unless_asked() -> None:
    if torch.cuda.is_available():  # pragma: no cover - CPU machines run this
        pytest.skip("a GPU machine")
    assert training_precision() == Precision("cpu", torch.float32)
    assert training_precision().trainer_kwargs() == {"bf16": False, "fp16": False, "use_cpu": True,
                                                     "gradient_checkpointing": False}
    asked = training_precision(cpu_bf16_autocast=True)
    # Autocast only where the CPU computes in bf16; the weights stay fp32 either way.
    assert asked.dtype == torch.float32 and asked.cpu_autocast == cpu_has_native_bf16()
    assert asked.trainer_kwargs()["bf16"] == cpu_has_native_bf16() and asked.trainer_kwargs()["use_cpu"]
    assert inference_dtype("cpu") == torch.float32


def test_cpu_bf16_is_read_from_the_cpu_flags(tmp_path: Path) -> None:
    flags = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f {}\n"
    for extra, expected in (("avx512_bf16", True), ("amx_bf16 amx_tile", True), ("avx512_vnni", False)):
        cpuinfo = tmp_path / f"cpuinfo-{extra.split()[0]}"
        cpuinfo.write_text(flags.format(extra))
        assert cpu_has_native_bf16(cpuinfo) is expected
    assert cpu_has_native_bf16(tmp_path / "missing") is False


def test_cuda_bf16_excludes_emulation() -> None:
    # T4 and V100 emulate bf16: torch's default (including_emulation=True) would count them.
    assert "including_emulation" in inspect.signature(torch.cuda.is_bf16_supported).parameters
    if torch.cuda.is_available():  # pragma: no cover - checked on a GPU machine
        native = torch.cuda.is_bf16_supported(including_emulation=False)
        assert cuda_has_native_bf16() == native
        assert training_precision().dtype == (torch.bfloat16 if native else torch.float32)
    else:
        assert not cuda_has_native_bf16()


def test_precision_names_and_trainer_arguments() -> None:
    gpu = Precision("cuda", torch.bfloat16)
    assert gpu.bf16 and gpu.dtype_name == "bfloat16" and gpu.trainer_kwargs()["gradient_checkpointing"]
    autocast = Precision("cpu", torch.float32, cpu_autocast=True)
    assert autocast.dtype_name == "float32 + bf16 autocast" and autocast.trainer_kwargs()["bf16"]
    assert as_dtype("bf16") == torch.bfloat16 and as_dtype(None) is None
    with pytest.raises(InputError, match="dtype 'int8'"):
        as_dtype("int8")
