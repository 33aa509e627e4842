"""Where settings come from: teachkit.toml (seed-pipeline sections and moved keys mapped), the TEACHKIT_ variables
of the environment and `.env`, and the well-known variables other tools use (GEMINI_API_KEY, ...)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from teachkit.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_CONFIG_NAME = "teachkit.toml"
ENV_PREFIX = "TEACHKIT_"


# The seed pipeline's config file, mapped onto our keys: (section, key) -> dotted path.
SEED_CONFIG_KEYS = {
    ("generation", "model_name"): "teacher.model",
    ("generation", "num_rollouts"): "crafter.rollout.episodes",
    ("generation", "max_turns"): "crafter.rollout.max_steps",
    ("generation", "difficulty"): "crafter.rollout.difficulty",
    ("quality", "min_score_threshold"): "crafter.filter.min_score",
    ("quality", "min_achievements"): "crafter.filter.min_achievements",
    ("quality", "enable_thinking"): "crafter.rollout.enable_thinking",
    ("quality", "thinking_budget"): "teacher.thinking_budget",
}

# Keys that moved to their own section, read from where older configs have them: (section, key) -> dotted path.
MOVED_KEYS = {
    ("crafter.finetune", "base_model"): "vertex.base_model",
    ("crafter.finetune", "display_name"): "vertex.display_name",
    ("crafter.finetune", "learning_rate_multiplier"): "vertex.learning_rate_multiplier",
    ("crafter.finetune", "adapter_size"): "vertex.adapter_size",
    ("crafter.finetune", "poll_interval_s"): "vertex.poll_interval_s",
    ("crafter.finetune", "upload_chunk_mib"): "vertex.upload_chunk_mib",
    ("crafter.format", "price_per_million_training_tokens"): "vertex.price_per_million_training_tokens",
}
# Keys that keep their meaning and, in a config older than the key they map to, set it too (epochs was both
# backends' before [vertex] had its own).
SHARED_KEYS = {("crafter.finetune", "epochs"): "vertex.epochs"}

# Environment variables that other tools already use, and where they land.
WELL_KNOWN_ENV = {
    "GEMINI_API_KEY": "gemini_api_key",
    "GOOGLE_API_KEY": "gemini_api_key",
    "OPENAI_API_KEY": "openai_api_key",
    "HF_TOKEN": "hf_token",
    "GOOGLE_CLOUD_PROJECT": "gcp.project",
    "GOOGLE_CLOUD_LOCATION": "gcp.location",
}


def set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[leaf] = value


def get_dotted(tree: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        tree = tree.get(part) if isinstance(tree, dict) else None
    return tree


def map_moved_keys(data: dict[str, Any]) -> list[str]:
    """Move MOVED_KEYS (and copy SHARED_KEYS) to their place in `data`; a key given in both places keeps the new
    one. Returns `old -> new` for each key read."""
    mapped = []
    for (section, key), target in MOVED_KEYS.items():
        table = get_dotted(data, section)
        if isinstance(table, dict) and key in table:
            value = table.pop(key)
            if get_dotted(data, target) is None:
                set_dotted(data, target, value)
            mapped.append(f"{section}.{key} -> {target}")
    for (section, key), target in SHARED_KEYS.items():
        table = get_dotted(data, section)
        if isinstance(table, dict) and key in table and get_dotted(data, target) is None:
            set_dotted(data, target, table[key])
            mapped.append(f"{section}.{key} -> also {target}")
    return mapped


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value and key != "prices":
            flat.update(flatten(value, dotted + "."))
        elif key == "prices" and isinstance(value, dict):
            for model, price in value.items():
                if isinstance(price, dict):
                    for k, v in price.items():
                        flat[f"{dotted}.{model}.{k}"] = v
                else:
                    flat[f"{dotted}.{model}"] = price
        else:
            flat[dotted] = value
    return flat


def read_toml(path: Path) -> tuple[dict[str, Any], list[str]]:
    """The TOML file as settings input, with seed-pipeline sections and moved keys mapped; returns (data,
    notices)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found; create one with `teachkit config init {path}`") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    notices: list[str] = []
    seed_sections = [name for name in ("generation", "quality") if isinstance(data.get(name), dict)]
    if seed_sections:
        mapped: list[str] = []
        for section in seed_sections:
            for key, value in data.pop(section).items():
                target = SEED_CONFIG_KEYS.get((section, key))
                if target is None:
                    allowed = ", ".join(k for s, k in SEED_CONFIG_KEYS if s == section)
                    raise ConfigError(f"{path}: {section}.{key}: unknown key in the seed-pipeline section (allowed: {allowed})")
                set_dotted(data, target, value)
                mapped.append(f"{section}.{key} -> {target}")
        notices.append(f"{path}: read seed-pipeline sections [{'], ['.join(seed_sections)}] as: " + "; ".join(mapped))
    moved = map_moved_keys(data)
    if moved:
        notices.append(f"{path}: read keys from their old place as: {'; '.join(moved)} (write them in their new "
                       "place; `teachkit config init` shows the current layout)")
    return data, notices


class TomlFileSource(PydanticBaseSettingsSource):
    """teachkit.toml, or the file named by --config (read from the higher sources' `config_file`)."""

    def __init__(self, settings_cls: type[BaseSettings]):
        super().__init__(settings_cls)
        self.path: Path | None = None
        self.notices: list[str] = []

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover - unused
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        explicit = self.current_state.get("config_file")
        if explicit:
            self.path = Path(explicit)
        elif Path(DEFAULT_CONFIG_NAME).is_file():
            self.path = Path(DEFAULT_CONFIG_NAME)
        if self.path is None:
            return {}
        data, self.notices = read_toml(self.path)
        return data


class MovedKeysSource(PydanticBaseSettingsSource):
    """The TEACHKIT_ variables (environment or .env) with MOVED_KEYS mapped: older ones name the old place."""

    def __init__(self, settings_cls: type[BaseSettings], variables: PydanticBaseSettingsSource):
        super().__init__(settings_cls)
        self.variables = variables

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover - unused
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        data = self.variables()
        map_moved_keys(data)
        return data


class WellKnownEnvSource(PydanticBaseSettingsSource):
    """GEMINI_API_KEY and friends, from the environment and then from .env; below the TEACHKIT_ variables."""

    def __init__(self, settings_cls: type[BaseSettings], dotenv_values: dict[str, str | None]):
        super().__init__(settings_cls)
        self.dotenv_values = dotenv_values

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover - unused
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        # Iterate in reverse so the first name of a pair (GEMINI_API_KEY over GOOGLE_API_KEY) wins.
        for name, target in reversed(list(WELL_KNOWN_ENV.items())):
            value = os.environ.get(name) or self.dotenv_values.get(name)
            if value:
                set_dotted(data, target, value)
        return data


def read_dotenv_raw() -> dict[str, str | None]:
    path = Path(".env")
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return dict(dotenv_values(path))


def env_source_data() -> tuple[dict[str, Any], dict[str, str]]:
    """The TEACHKIT_ and well-known variables as nested data, with the variable name behind each dotted key."""
    data: dict[str, Any] = {}
    names: dict[str, str] = {}
    for name, target in WELL_KNOWN_ENV.items():
        if os.environ.get(name) and target not in names:
            set_dotted(data, target, os.environ[name])
            names[target] = name
    for name, value in os.environ.items():
        if not name.upper().startswith(ENV_PREFIX) or name.upper() == f"{ENV_PREFIX}CONFIG":
            continue
        dotted = name[len(ENV_PREFIX):].lower().replace("__", ".")
        set_dotted(data, dotted, value)
        names[dotted] = name
    return data, names
