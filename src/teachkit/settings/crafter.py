"""Settings of the Crafter pipeline (`[crafter.*]`): rollout, score, filter, format, finetune, eval, dagger."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from teachkit.settings.section import Section


class RolloutSettings(Section):
    teacher: str = Field(
        "scripted", description="scripted, random, or a model spec such as gemini:gemini-2.5-flash or local:smollm2-135m"
    )
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


class FinetuneSettings(Section):
    """`crafter finetune`: a Vertex AI tuning job, or a local LoRA fine-tune with TRL (docs/crafter-training.md)."""

    backend: Literal["vertex", "local"] = Field("local", description="vertex (a Vertex AI tuning job) or local (TRL)")
    epochs: int = Field(3, gt=0, description="passes over the training data (both backends)")
    local_model: str = Field(
        "smollm2-135m", description="local student: local:NAME, a folder, an HF id or smollm2-135m"
    )
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
    cpu_bf16_autocast: bool = Field(
        True, description="on a CPU with bf16 instructions (avx512_bf16, AMX): train under bf16 autocast (1.75x)"
    )
    group_by_length: bool = Field(
        True, description="local: batch examples of similar length together (less padding, each epoch still random)"
    )
    save_steps: int = Field(50, gt=0, description="local: checkpoint every this many steps (for --resume)")
    save_total_limit: int | None = Field(2, gt=0, description="local: checkpoints kept; older ones are deleted")
    report_to: str = Field("none", description="local: none, tensorboard, wandb, ... (transformers' report_to)")


class CrafterEvalSettings(Section):
    """`crafter eval`: a policy (and a baseline) play the same seeds; docs/crafter-training.md."""

    policy: str | None = Field(
        None, description="model/adapter folder, local:NAME, model spec, job record, scripted or random"
    )
    baseline: str | None = Field(None, description="a second policy played on the same seeds, for comparison")
    episodes: int = Field(8, gt=0, description="episodes per policy; episode i uses seed + i")
    max_steps: int = Field(200, gt=0, description="step limit per episode")
    seed: int = Field(1000, description="seed of the first episode (kept apart from rollout seeds 0, 1, ...)")
    difficulty: Literal["easy", "normal", "hard"] = Field("normal", description="world preset, as in rollout")
    observation: Literal["full", "compact"] | None = Field(
        None, description="observation format; default: the one the student was trained on (its model card)"
    )
    history: int | None = Field(
        None, ge=0, description="earlier turns shown to a student; default: as in its training data"
    )
    decode: Literal["auto", "score", "generate"] = Field(
        "auto",
        description="local policies: score (rank the 17 replies in one forward pass), generate (free text, for "
        "students trained with thoughts), auto (generate only if trained with thoughts)",
    )
    temperature: float = Field(
        0.0, ge=0, description="local scoring policies: 0 plays the most likely action; above 0 samples one from the "
        "17 replies' likelihoods at this temperature (seeded by the episode's seed)"
    )
    prompt_like: Path | None = Field(
        None, description="prompt the policy as this student folder, tuning job record or fine-tuning data file "
        "prompted its student (for a served model with no record); default: the policy's own record"
    )
    max_new_tokens: int = Field(64, gt=0, description="reply length limit of a generating local policy")
    concurrency: int = Field(8, gt=0, description="episodes in flight at once")
    bootstrap_samples: int = Field(2000, gt=0, description="resamples of the bootstrap 95% interval")
    cpu_bf16_autocast: bool = Field(
        True, description="local policies on a CPU with bf16 instructions: forward passes under bf16 autocast"
    )


class DaggerSettings(Section):
    """`crafter dagger`: the student plays, the teacher labels every state it reached, the student is trained again
    on all labels so far (docs/crafter-training.md). The defaults are the recipe for smollm2-135m on 2 CPU cores."""

    teacher: str = Field("scripted", description="labels every state: scripted, or a model spec (gemini:MODEL, ...)")
    student: str = Field(
        "smollm2-135m", description="trained each round: local:NAME, a folder, an HF id or smollm2-135m"
    )
    rounds: int = Field(4, gt=0, description="rounds in all, round 0 included")
    episodes: int = Field(3, gt=0, description="episodes played per round")
    max_steps: int = Field(200, gt=0, description="step limit of each episode played for data")
    seed: int = Field(0, description="seed of round 0's first episode; round r, episode i plays seed + r x episodes + i")
    observation: Literal["full", "compact"] = Field("compact", description="observation format of play and training")
    teacher_first: bool = Field(True, description="round 0 is the teacher's own play (behaviour cloning)")
    beta: float = Field(0.5, ge=0, le=1, description="chance the teacher's action is played in the first student round")
    beta_decay: float = Field(0.5, ge=0, le=1, description="beta is multiplied by this each later round")
    epochs: int = Field(1, gt=0, description="passes over all the labels so far, each round (from the base model)")
    learning_rate: float = Field(1e-3, gt=0, description="peak learning rate of each round's LoRA fine-tune")
    batch_size: int = Field(8, gt=0, description="examples per optimizer step")
    with_thoughts: bool = Field(False, description="train on the teacher's thought before the action (slower to play)")
    add_system: bool = Field(False, description="a system prompt in every example (about 3x the tokens)")
    eval_episodes: int = Field(
        4, gt=0, description="held-out episodes per evaluation; seeds and step limit from crafter.eval"
    )
    concurrency: int = Field(8, gt=0, description="episodes in flight while the student plays")
    temperature: float = Field(
        1.0, ge=0, description="the student samples its action at this temperature when it plays and is evaluated "
        "(0: the most likely one; a greedy small student repeats one action in a state it never saw)"
    )


class CrafterSettings(Section):
    rollout: RolloutSettings = Field(default_factory=RolloutSettings)
    score: ScoreSettings = Field(default_factory=ScoreSettings)
    filter: FilterSettings = Field(default_factory=FilterSettings)
    format: FormatSettings = Field(default_factory=FormatSettings)
    finetune: FinetuneSettings = Field(default_factory=FinetuneSettings)
    eval: CrafterEvalSettings = Field(default_factory=CrafterEvalSettings)
    dagger: DaggerSettings = Field(default_factory=DaggerSettings)
