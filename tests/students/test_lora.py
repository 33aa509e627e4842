"""LoRA configs from settings."""

from __future__ import annotations

import pytest

from teachkit.errors import ConfigError
from teachkit.students.lora import lora_config, target_modules


def test_alpha_defaults_to_twice_the_rank() -> None:
    config = lora_config(8)
    assert config.r == 8 and config.lora_alpha == 16 and config.target_modules == "all-linear"
    assert config.task_type == "CAUSAL_LM"


def test_named_target_modules() -> None:
    assert target_modules(" q_proj, v_proj ") == ["q_proj", "v_proj"]
    assert set(lora_config(4, 4, 0.0, "q_proj,v_proj").target_modules) == {"q_proj", "v_proj"}
    with pytest.raises(ConfigError):
        target_modules(" , ")
