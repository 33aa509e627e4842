"""Settings: the one place that reads environment variables, `.env` and `teachkit.toml`.

Precedence, highest first: command-line flags > environment (`TEACHKIT_` prefix, `__` between nested keys, and the
well-known `GEMINI_API_KEY`/`GOOGLE_API_KEY`, `OPENAI_API_KEY`, `GOOGLE_CLOUD_PROJECT`, `HF_TOKEN`) > `.env` >
`teachkit.toml` (or `--config FILE`) > defaults.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from teachkit.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_CONFIG_NAME = "teachkit.toml"
ENV_PREFIX = "TEACHKIT_"
MASK = "**********"


class Section(BaseModel):
    # Each section forbids unknown keys itself: the root's extra="forbid" does not reach nested models.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelSettings(Section):
    """A model that teachkit calls: the Crafter teacher, or the judge that writes rubrics and scores responses."""

    provider: Literal["gemini", "vertex", "openai", "local"] = Field(
        "gemini", description="gemini (API key), vertex (Google Cloud project), openai (any compatible server), local"
    )
    model: str = Field("gemini-2.5-flash", description="model name for the provider, HF id or path for local")
    base_url: str | None = Field(None, description="endpoint override: an OpenAI-compatible server, or a proxy")
    api_key: SecretStr | None = Field(None, description="key for this model; else GEMINI_API_KEY / OPENAI_API_KEY")
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_output_tokens: int = Field(1024, gt=0)
    thinking_budget: int | None = Field(None, ge=-1, description="Gemini thinking tokens; -1 dynamic, 0 off")
    concurrency: int = Field(8, gt=0, description="requests in flight at once")
    rpm: int | None = Field(None, gt=0, description="requests per minute limit")
    tpm: int | None = Field(None, gt=0, description="tokens per minute limit")
    timeout_s: float = Field(120.0, gt=0, description="per-request timeout")
    max_attempts: int = Field(5, ge=1, description="attempts per request, retries included")
    retry_initial_delay_s: float = Field(1.0, ge=0, description="first backoff after a 429/5xx/timeout, doubling")
    retry_max_delay_s: float = Field(60.0, ge=0, description="longest backoff, also caps a server's retryDelay")


class JudgeSettings(ModelSettings):
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_output_tokens: int = Field(512, gt=0)
    concurrency: int = Field(
        16, gt=0, description="requests in flight at once; at least the completions of one GRPO step"
    )
    kind: Literal["llm", "acts", "mix"] = Field("acts", description="llm, acts (offline, free) or mix")
    llm_weight: float = Field(0.5, ge=0.0, le=1.0, description="weight of the llm judge in mix")
    template: Path | None = Field(None, description="replacement judge prompt template (examples/judge_template.txt)")


class GcpSettings(Section):
    project: str | None = Field(None, description="Google Cloud project for Vertex AI (or GOOGLE_CLOUD_PROJECT)")
    location: str = Field("us-central1", description="Vertex AI region of tuning jobs and endpoints")
    bucket: str | None = Field(None, description="bucket for tuning data, without gs://")
    prefix: str = Field("teachkit", description="object prefix inside the bucket")
    access_token: SecretStr | None = Field(
        None, description="OAuth access token (gcloud auth print-access-token); else application default credentials"
    )
    vertex_endpoint: str | None = Field(None, description="Vertex AI API endpoint override (a proxy or a test fake)")
    storage_endpoint: str | None = Field(None, description="Cloud Storage endpoint override (an emulator)")


class PathSettings(Section):
    cache_dir: Path = Field(default_factory=lambda: default_cache_dir())
    output_dir: Path = Path("runs")


class PriceSettings(Section):
    """USD per million tokens. Estimates: check your provider's price page."""

    input: float = Field(0.0, ge=0)
    output: float = Field(0.0, ge=0, description="output and thinking tokens")


def default_prices() -> dict[str, PriceSettings]:
    return {
        "gemini-2.5-flash": PriceSettings(input=0.30, output=2.50),
        "gemini-2.5-flash-lite": PriceSettings(input=0.10, output=0.40),
        "gemini-2.5-pro": PriceSettings(input=1.25, output=10.0),
        "gemini-2.0-flash": PriceSettings(input=0.10, output=0.40),
    }


class RolloutSettings(Section):
    teacher: str = Field("scripted", description="scripted, random, or a model spec such as gemini:gemini-2.5-flash")
    episodes: int = Field(10, gt=0, description="episodes to play; episode i uses seed + i")
    max_steps: int = Field(10000, gt=0, description="step limit per episode (Crafter's default is 10000)")
    seed: int = Field(0, description="seed of the first episode")
    difficulty: Literal["easy", "normal", "hard"] = Field(
        "normal", description="normal is stock Crafter; easy and hard change creature spawning (docs/crafter.md)"
    )
    observation: Literal["full", "compact"] = Field(
        "full", description="text observation: full (~340 tokens, with a map) or compact (~130, for small students)"
    )
    history: int = Field(4, ge=0, description="previous steps shown to an LLM teacher")
    actions_per_call: int = Field(1, ge=1, description="actions an LLM teacher may plan per call")
    enable_thinking: bool = Field(False, description="ask the teacher for its thoughts and record them per step")
    structured_output: bool = Field(
        True, description="hold replies to the action enum where the provider supports it; else parse 'Action: NAME'"
    )
    concurrency: int = Field(8, gt=0, description="episodes in flight for model teachers")
    workers: int = Field(1, gt=0, description="processes for CPU-bound teachers (scripted, random)")


class ScoreSettings(Section):
    """The episode score that `crafter filter` ranks by (docs/crafter-data.md has the formula)."""

    easy: list[str] = Field(
        default_factory=lambda: [
            "collect_wood", "collect_sapling", "collect_drink", "place_plant", "place_table", "eat_cow", "wake_up",
            "defeat_zombie",
        ],
        description="easy achievements (each of the 22 belongs to exactly one tier)",
    )
    medium: list[str] = Field(
        default_factory=lambda: [
            "make_wood_pickaxe", "make_wood_sword", "collect_stone", "place_stone", "collect_coal", "place_furnace",
            "make_stone_pickaxe", "make_stone_sword", "defeat_skeleton", "eat_plant",
        ],
        description="medium achievements",
    )
    hard: list[str] = Field(
        default_factory=lambda: ["collect_iron", "make_iron_pickaxe", "make_iron_sword", "collect_diamond"],
        description="hard achievements",
    )
    easy_weight: float = Field(1.0, ge=0, description="points per easy achievement unlocked")
    medium_weight: float = Field(2.5, ge=0, description="points per medium achievement unlocked")
    hard_weight: float = Field(5.0, ge=0, description="points per hard achievement unlocked")
    efficiency_weight: float = Field(1.0, ge=0, description="points per achievement per 100 steps")
    efficiency_min_steps: int = Field(
        100, gt=0, description="efficiency divides by at least this many steps, so short episodes do not dominate"
    )
    invalid_penalty: float = Field(0.05, ge=0, description="points taken per invalid action")
    loop_penalty: float = Field(0.02, ge=0, description="points taken per step spent in a loop")
    loop_length: int = Field(8, ge=2, description="a loop: the same action this many times with no change in state")
    survival_weight: float = Field(
        1.0, ge=0, description="points for being alive at the end; a death gets the fraction of max_steps lived"
    )
    volatile: str = Field(
        r"^(?:Step \d+ of \d+|t\d+)\b",
        description="regex of what changes in an observation at every step (the step counter at its start; add "
        "(?m) to match at every line start); removed before comparing states for loops and near-duplicates",
    )


class FilterSettings(Section):
    min_score: float | None = Field(None, description="keep episodes scoring at least this")
    min_achievements: int | None = Field(None, ge=0, description="keep episodes with at least this many achievements")
    top_k: int | None = Field(None, gt=0, description="keep the k best-scoring episodes")
    top_fraction: float | None = Field(
        None, gt=0, le=1, description="keep the best ceil(F x N) of the N episodes read"
    )
    require: list[str] = Field(default_factory=list, description="achievements every kept episode must have")
    drop_invalid: bool = Field(True, description="drop steps whose action was invalid")
    drop_noop: bool = Field(False, description="drop noop steps")
    until_last_achievement: bool = Field(False, description="keep only steps up to the last new achievement")
    dedupe: bool = Field(True, description="drop near-duplicate (observation, action) pairs; the first one is kept")


class FormatSettings(Section):
    target: Literal["vertex", "messages", "prompt-completion"] = Field(
        "vertex", description="vertex (Gemini tuning), messages (chat) or prompt-completion (TRL)"
    )
    history: int = Field(0, ge=0, description="previous turns put into each example")
    with_thoughts: bool = Field(False, description="put the teacher's thought before the action in the model turn")
    add_system: bool = Field(False, description="add the default system prompt of the episode's observation format")
    system: str | None = Field(None, description="system prompt text, or @FILE to read it from a file")
    validation_fraction: float = Field(0.0, ge=0, lt=1, description="share of episodes written to a validation file")
    subset: int | None = Field(None, gt=0, description="write a random subset of this many training examples")
    seed: int = Field(0, description="seed of the validation split and the subset")
    tokenizer: str | None = Field(None, description="HF id or path of the tokenizer that counts tokens; else estimated")
    max_tokens_per_example: int = Field(
        131072, gt=0, description="longer examples are left out (Gemini 2.5 Flash tuning: 131,072 input+output)"
    )
    price_per_million_training_tokens: float = Field(
        5.0, ge=0, description="USD per million training tokens for the cost estimate; check Vertex AI pricing"
    )


class FinetuneSettings(Section):
    """`crafter finetune`: a Vertex AI tuning job, or a local LoRA fine-tune with TRL (docs/crafter-training.md)."""

    backend: Literal["vertex", "local"] = Field("local", description="vertex (a Vertex AI tuning job) or local (TRL)")
    base_model: str = Field("gemini-2.5-flash", description="Vertex base model to tune")
    display_name: str | None = Field(None, description="Vertex tuned model name; default crafter-<data file stem>")
    epochs: int = Field(3, gt=0, description="passes over the training data (both backends)")
    learning_rate_multiplier: float = Field(1.0, gt=0, description="Vertex learning-rate multiplier")
    adapter_size: Literal[1, 2, 4, 8, 16] = Field(4, description="Vertex LoRA adapter size")
    poll_interval_s: float = Field(30.0, gt=0, description="seconds between status checks of --wait")
    upload_chunk_mib: int = Field(8, gt=0, description="resumable upload chunk size in MiB (each chunk is retried)")
    local_model: str = Field("smollm2-135m", description="local student: HF id, local path, or smollm2-135m")
    output_dir: Path = Field(Path("runs/crafter-student"), description="where the local adapter and card are saved")
    max_steps: int = Field(-1, description="optimizer steps; -1 runs the epochs")
    learning_rate: float = Field(2e-4, gt=0, description="peak learning rate of the local fine-tune")
    lora_r: int = Field(16, gt=0, description="LoRA rank")
    lora_alpha: int | None = Field(None, gt=0, description="LoRA alpha; default 2 x lora_r")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout")
    lora_target_modules: str = Field(
        "all-linear", description="modules that get LoRA adapters: all-linear, or comma-separated names"
    )
    max_length: int = Field(2048, gt=0, description="tokens per example; longer ones are truncated")
    batch_size: int = Field(4, gt=0, description="examples per device per step")
    grad_accum: int = Field(1, gt=0, description="gradient accumulation steps")
    merge: bool = Field(False, description="also save the model with the adapter merged into it")
    seed: int = Field(0, description="seed of the local fine-tune (data order, LoRA init)")
    logging_steps: int = Field(10, gt=0, description="log loss every this many steps")
    max_minutes: float | None = Field(None, gt=0, description="stop a local fine-tune after this long (and save it)")


class CrafterEvalSettings(Section):
    """`crafter eval`: a policy (and a baseline) play the same seeds; docs/crafter-training.md."""

    policy: str | None = Field(None, description="model/adapter folder, model spec, scripted or random")
    baseline: str | None = Field(None, description="a second policy played on the same seeds, for comparison")
    episodes: int = Field(8, gt=0, description="episodes per policy; episode i uses seed + i")
    max_steps: int = Field(200, gt=0, description="step limit per episode")
    seed: int = Field(1000, description="seed of the first episode (kept apart from rollout seeds 0, 1, ...)")
    difficulty: Literal["easy", "normal", "hard"] = Field("normal", description="world preset, as in rollout")
    observation: Literal["full", "compact"] | None = Field(
        None, description="observation format; default: the one the student was trained on (its model card)"
    )
    history: int | None = Field(
        None, ge=0, description="earlier turns shown to a local student; default: as in its training data"
    )
    decode: Literal["auto", "score", "generate"] = Field(
        "auto",
        description="local policies: score (rank the 17 replies in one forward pass), generate (free text, for "
        "students trained with thoughts), auto (generate only if trained with thoughts)",
    )
    max_new_tokens: int = Field(64, gt=0, description="reply length limit of a generating local policy")
    concurrency: int = Field(8, gt=0, description="episodes in flight at once")
    bootstrap_samples: int = Field(2000, gt=0, description="resamples of the bootstrap 95% interval")


class CrafterSettings(Section):
    rollout: RolloutSettings = Field(default_factory=RolloutSettings)
    score: ScoreSettings = Field(default_factory=ScoreSettings)
    filter: FilterSettings = Field(default_factory=FilterSettings)
    format: FormatSettings = Field(default_factory=FormatSettings)
    finetune: FinetuneSettings = Field(default_factory=FinetuneSettings)
    eval: CrafterEvalSettings = Field(default_factory=CrafterEvalSettings)


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

    model: str = Field("google/gemma-2-2b-it", description="student: HF id, local path, or smollm2-135m (offline)")
    output_dir: Path = Field(
        Path("runs/sgd-grpo"), description="checkpoints, the final adapter, its model card and teachkit-training.json"
    )
    use_lora: bool = Field(True, description="train LoRA adapters instead of every weight")
    lora_r: int = Field(16, gt=0, description="LoRA rank")
    lora_alpha: int = Field(32, gt=0, description="LoRA alpha (scale = alpha / r)")
    max_steps: int = Field(500, gt=0, description="optimizer steps")
    learning_rate: float = Field(1e-5, gt=0)
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


class SgdEvalSettings(Section):
    """Base vs trained on held-out samples (`teachkit sgd eval`)."""

    n: int = Field(50, gt=0, description="samples evaluated, spread evenly over the file")
    max_new_tokens: int = Field(128, gt=0)
    batch_size: int = Field(8, gt=0, description="prompts generated at once")
    max_prompt_length: int = Field(1024, gt=0, description="prompt tokens; the oldest turns are cut first")
    temperature: float = Field(0.0, ge=0, description="0: greedy decoding; above 0: sampling with the seed")
    bootstrap: int = Field(10000, gt=0, description="resamples of the paired bootstrap interval")
    seed: int = 0


class SgdSettings(Section):
    compile: SgdCompileSettings = Field(default_factory=SgdCompileSettings)
    train: SgdTrainSettings = Field(default_factory=SgdTrainSettings)
    eval: SgdEvalSettings = Field(default_factory=SgdEvalSettings)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "teachkit"


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
    """The TOML file as settings input, with seed-pipeline sections mapped; returns (data, notices)."""
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
    paths: PathSettings = Field(default_factory=PathSettings)
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
            env_settings,
            WellKnownEnvSource(settings_cls, read_dotenv_raw()),
            dotenv_settings,
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
