"""The commented example teachkit.toml, rendered from the settings model so it can never drift from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from teachkit.settings import Settings

HEADER = """\
# teachkit.toml: every setting, with its default. Run any command with it:
#   teachkit --config teachkit.toml crafter rollout --teacher scripted --episodes 4 --out runs/episodes.jsonl
# Precedence: command-line flags > environment (TEACHKIT_SECTION__KEY, GEMINI_API_KEY, ...) > .env > this file.
# Keep API keys out of this file: set GEMINI_API_KEY / OPENAI_API_KEY in the environment or in .env.
"""

# Keys that exist but do not belong in a shared config file.
SKIP = {"config_file", "gemini_api_key", "openai_api_key", "hf_token"}


def toml_value(value: Any) -> str | None:
    if value is None or isinstance(value, SecretStr):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        return json.dumps(str(value))
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) or '""' for v in value) + "]"
    raise TypeError(f"no TOML rendering for {type(value).__name__}")


def render_section(model: BaseModel, path: str, lines: list[str]) -> None:
    leaves: list[tuple[str, Any, str | None]] = []
    children: list[tuple[str, BaseModel, str | None]] = []
    for name, field in type(model).model_fields.items():
        if name in SKIP:
            continue
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            children.append((name, value, field.description))
        elif isinstance(value, dict) and value and all(isinstance(v, BaseModel) for v in value.values()):
            for key, item in value.items():
                children.append((f'{name}."{key}"', item, field.description if key == next(iter(value)) else None))
        else:
            leaves.append((name, value, field.description))
    if path and leaves:
        lines.append(f"\n[{path}]")
    for name, value, description in leaves:
        if description:
            lines.append(f"# {description}")
        rendered = toml_value(value)
        if name == "cache_dir":
            lines.append('# cache_dir = "~/.cache/teachkit"   (default: $XDG_CACHE_HOME/teachkit)')
        elif rendered is None:
            lines.append(f"# {name} = ")
        else:
            lines.append(f"{name} = {rendered}")
    for name, child, description in children:
        if description:
            lines.append(f"\n# {description}")
        render_section(child, f"{path}.{name}" if path else name, lines)


def render_example_config() -> str:
    defaults = _pure_defaults()
    lines = [HEADER.rstrip("\n")]
    render_section(defaults, "", lines)
    return "\n".join(lines) + "\n"


def _pure_defaults() -> Settings:
    """Defaults only: no environment, .env or teachkit.toml."""

    class Defaults(Settings):
        @classmethod
        def settings_customise_sources(cls, settings_cls, init_settings, *args: Any, **kwargs: Any):  # type: ignore[override]
            return (init_settings,)

    return Defaults()
