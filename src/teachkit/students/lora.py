"""A PEFT LoRA config from the settings every trainer has."""

from __future__ import annotations

from typing import Any

from teachkit.errors import ConfigError


def target_modules(text: str) -> str | list[str]:
    """`all-linear` (every linear layer but the output head), or comma-separated module names (`q_proj,v_proj`)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ConfigError("lora target modules: empty; use all-linear or names such as q_proj,v_proj")
    return "all-linear" if names == ["all-linear"] else names


def lora_config(r: int, alpha: int | None = None, dropout: float = 0.05, modules: str = "all-linear") -> Any:
    """A causal-LM LoRA config; alpha defaults to 2 x r."""
    from peft import LoraConfig

    return LoraConfig(
        r=r,
        lora_alpha=alpha or 2 * r,
        lora_dropout=dropout,
        target_modules=target_modules(modules),
        task_type="CAUSAL_LM",
    )
