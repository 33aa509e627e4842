"""Settings: the one place that reads environment variables, `.env` and `teachkit.toml`.

Precedence, highest first: command-line flags > environment (`TEACHKIT_` prefix, `__` between nested keys, and the
well-known `GEMINI_API_KEY`/`GOOGLE_API_KEY`, `OPENAI_API_KEY`, `GOOGLE_CLOUD_PROJECT`, `HF_TOKEN`) > `.env` >
`teachkit.toml` (or `--config FILE`) > defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from teachkit.errors import ConfigError
from teachkit.settings.crafter import (
    CrafterEvalSettings,
    CrafterSettings,
    DaggerSettings,
    FilterSettings,
    FinetuneSettings,
    FormatSettings,
    RolloutSettings,
    ScoreSettings,
)
from teachkit.settings.llm import BatchSettings, JudgeSettings, ModelSettings, PriceSettings, default_prices
from teachkit.settings.section import Section
from teachkit.settings.sgd import (
    SgdCompileSettings,
    SgdEvalSettings,
    SgdFormatSettings,
    SgdSettings,
    SgdTrainSettings,
)
from teachkit.settings.sources import (
    DEFAULT_CONFIG_NAME,
    ENV_PREFIX,
    WELL_KNOWN_ENV,
    MovedKeysSource,
    TomlFileSource,
    WellKnownEnvSource,
    env_source_data,
    flatten,
    map_moved_keys,
    read_dotenv_raw,
    read_toml,
    set_dotted,
)
from teachkit.settings.vertex import GcpSettings, VertexSettings

MASK = "**********"

__all__ = [
    "DEFAULT_CONFIG_NAME", "ENV_PREFIX", "MASK", "BatchSettings", "CrafterEvalSettings", "CrafterSettings",
    "DaggerSettings", "FilterSettings", "FinetuneSettings", "FormatSettings", "GcpSettings", "JudgeSettings",
    "ModelSettings", "PathSettings", "PriceSettings", "RolloutSettings", "ScoreSettings", "Section", "Settings",
    "SgdCompileSettings", "SgdEvalSettings", "SgdFormatSettings", "SgdSettings", "SgdTrainSettings", "VertexSettings",
    "flatten", "load_settings",
]


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "teachkit"


class PathSettings(Section):
    cache_dir: Path = Field(default_factory=lambda: default_cache_dir())
    output_dir: Path = Path("runs")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        extra="forbid",
        validate_default=True,
    )

    config_file: Path | None = Field(None, exclude=True, description="the TOML file read (--config)")
    teacher: ModelSettings = Field(default_factory=ModelSettings)
    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    gcp: GcpSettings = Field(default_factory=GcpSettings)
    vertex: VertexSettings = Field(default_factory=VertexSettings)
    paths: PathSettings = Field(default_factory=PathSettings)
    batch: BatchSettings = Field(default_factory=BatchSettings)
    prices: dict[str, PriceSettings] = Field(default_factory=default_prices)
    crafter: CrafterSettings = Field(default_factory=CrafterSettings)
    sgd: SgdSettings = Field(default_factory=SgdSettings)
    gemini_api_key: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    hf_token: SecretStr | None = None
    cache: bool = Field(True, description="use the response cache (--no-cache turns it off)")

    _notices: list[str] = PrivateAttr(default_factory=list)
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            MovedKeysSource(settings_cls, env_settings),
            WellKnownEnvSource(settings_cls, read_dotenv_raw()),
            MovedKeysSource(settings_cls, dotenv_settings),
            TomlFileSource(settings_cls),
            file_secret_settings,
        )

    @property
    def notices(self) -> list[str]:
        return self._notices

    @property
    def origins(self) -> dict[str, str]:
        """Dotted key -> where its value came from: flag, env NAME, .env, FILE, or default."""
        return self._origins

    def price_for(self, model: str) -> PriceSettings | None:
        return self.prices.get(model) or self.prices.get(model.rsplit("/", 1)[-1])

    def masked_dump(self) -> dict[str, Any]:
        """Every setting as JSON-ready data with secrets masked; safe for manifests and `config show`."""
        data = self.model_dump(mode="json")
        return mask_secrets(self, data)


def mask_secrets(model: BaseModel, data: dict[str, Any]) -> dict[str, Any]:
    for name in list(data):
        value = getattr(model, name, None)
        if isinstance(value, SecretStr):
            data[name] = MASK if value.get_secret_value() else None
        elif isinstance(value, BaseModel) and isinstance(data[name], dict):
            mask_secrets(value, data[name])
    return data


def load_settings(config_file: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Build the effective settings. `overrides` are flags as dotted keys (`crafter.rollout.episodes`) -> value;
    a value of None means the flag was not given."""
    flags: dict[str, Any] = {}
    for dotted, value in (overrides or {}).items():
        if value is not None:
            set_dotted(flags, dotted, value)
    if config_file is None and os.environ.get(f"{ENV_PREFIX}CONFIG"):
        config_file = Path(os.environ[f"{ENV_PREFIX}CONFIG"])
    toml_path = config_file or (Path(DEFAULT_CONFIG_NAME) if Path(DEFAULT_CONFIG_NAME).is_file() else None)
    try:
        settings = Settings(config_file=config_file, **flags)
    except ValidationError as error:
        raise ConfigError(describe_settings_error(error, toml_path, flags)) from None
    toml_data, notices = read_toml(toml_path) if toml_path else ({}, [])
    moved = map_moved_keys(env_source_data()[0])
    if moved:
        notices.append(f"environment: read TEACHKIT_ variables of moved keys as: {'; '.join(moved)} (set the new names)")
    settings._notices = notices
    settings._origins = trace_origins(settings, flags, toml_path, toml_data)
    return settings


def trace_origins(settings: Settings, flags: dict[str, Any], toml_path: Path | None, toml_data: dict[str, Any]) -> dict[str, str]:
    env_data, env_names = env_source_data()
    dotenv = read_dotenv_raw()
    dotenv_keys = set()
    for name in dotenv:
        if name.upper().startswith(ENV_PREFIX):
            dotenv_keys.add(name[len(ENV_PREFIX):].lower().replace("__", "."))
        elif name in WELL_KNOWN_ENV:
            dotenv_keys.add(WELL_KNOWN_ENV[name])
    flag_keys = set(flatten(flags))
    toml_keys = set(flatten(toml_data))
    origins = {}
    for dotted in flatten(settings.model_dump(mode="json")):
        if dotted in flag_keys:
            origins[dotted] = "flag"
        elif dotted in env_names:
            origins[dotted] = f"env {env_names[dotted]}"
        elif dotted in dotenv_keys:
            origins[dotted] = ".env"
        elif dotted in toml_keys:
            origins[dotted] = str(toml_path)
        else:
            origins[dotted] = "default"
    return origins


def describe_settings_error(error: ValidationError, toml_path: Path | None, flags: dict[str, Any]) -> str:
    """One line: where the bad value came from, the key, and what is allowed."""
    first = error.errors()[0]
    loc = tuple(str(p) for p in first["loc"])
    dotted = ".".join(loc)
    _, env_names = env_source_data()
    if dotted in flatten(flags):
        source = "command line"
    elif dotted in env_names:
        source = f"environment {env_names[dotted]}"
    elif toml_path is not None:
        source = str(toml_path)
    else:
        source = "settings"
    if first["type"] == "extra_forbidden":
        allowed = allowed_keys(loc[:-1])
        return f"{source}: {dotted}: unknown key; allowed here: {', '.join(allowed)}"
    value = first.get("input")
    shown = "" if "api_key" in dotted or "token" in dotted else f" (got {value!r})"
    return f"{source}: {dotted}: {first['msg']}{shown}"


def allowed_keys(parent: tuple[str, ...]) -> list[str]:
    model: type[BaseModel] = Settings
    for part in parent:
        field = model.model_fields.get(part)
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return [name for name in model.model_fields if name != "config_file"]
