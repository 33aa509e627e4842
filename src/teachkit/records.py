"""Typed records of everything teachkit writes to disk as JSONL.

Each record carries `schema_version`; a reader meeting another version stops with a message saying which stage to
rerun, instead of misreading fields. Fine-tuning files (Vertex, messages, prompt-completion) are not records: their
shape belongs to the trainers that read them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = 1


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {value} is not supported by this teachkit (it reads {SCHEMA_VERSION}); "
                "rerun the stage that wrote this file with this version"
            )
        return value


class Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenUsage(Part):
    prompt: int = 0
    output: int = 0
    thoughts: int = 0

    @property
    def total(self) -> int:
        return self.prompt + self.output + self.thoughts

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            prompt=self.prompt + other.prompt,
            output=self.output + other.output,
            thoughts=self.thoughts + other.thoughts,
        )


# --- Crafter -------------------------------------------------------------------------------------------------


class Step(Part):
    """One teacher decision and what it did to the world."""

    t: int = Field(description="step index within the episode, from 0")
    observation: str = Field(description="the text observation the teacher saw before acting")
    response: str | None = Field(None, description="the teacher's raw reply (None for scripted/random)")
    thought: str | None = Field(None, description="reasoning: model thoughts, or the scripted expert's rationale")
    action: str = Field(description="the teacher's action for this state (what training learns); it was executed "
                        "unless `played` names another")
    valid: bool = True
    invalid_reason: str | None = None
    plan_index: int = Field(0, description="0: decided at this step; i > 0: the i-th further action of a plan")
    outcome: str = Field("", description="what the action did, in words (the next observation's 'Last action')")
    reward: float = 0.0
    inventory: dict[str, int] = Field(default_factory=dict, description="non-zero items and stats after the step")
    new_achievements: list[str] = Field(default_factory=list)
    tokens: TokenUsage = Field(default_factory=TokenUsage)
    latency_s: float = 0.0
    played: str | None = Field(
        None, description="the action executed when it was not `action` (DAgger: the student acted and the teacher "
        "labelled the state); None: `action` was executed"
    )


class EpisodeTotals(Part):
    achievements: list[str] = Field(default_factory=list, description="achievements unlocked, each once")
    steps: int = 0
    reward: float = 0.0
    invalid_actions: int = 0
    tokens: TokenUsage = Field(default_factory=TokenUsage)
    cost_usd: float = 0.0
    death_cause: str | None = Field(None, description="None when the episode ran to its step limit")
    teacher_errors: int = 0


class EpisodeScore(Part):
    total: float
    breakdown: dict[str, float] = Field(default_factory=dict)


class Episode(Record):
    id: str
    seed: int
    teacher: str
    settings_hash: str
    difficulty: str = "normal"
    max_steps: int
    observation_format: str = "full"
    steps: list[Step] = Field(default_factory=list)
    totals: EpisodeTotals = Field(default_factory=EpisodeTotals)
    score: EpisodeScore | None = None


# --- Training and tuning -------------------------------------------------------------------------------------


class TrainingData(Part):
    """A data file a model was trained on, pinned by its hash, with the manifest that says how it was made."""

    path: str
    sha256: str
    examples: int | None = None
    manifest: str | None = Field(None, description="its <file>.manifest.json, when there is one")
    gcs_uri: str | None = Field(None, description="where it was uploaded for a Vertex AI job")


class StudentPrompt(Part):
    """How a Crafter student was prompted in its training data, so `crafter eval` prompts it the same way."""

    observation_format: str | None = Field(None, description="full or compact; None when it could not be told")
    system_prompt: str | None = Field(None, description="None: no system message (the chat template's default)")
    history: int = Field(0, description="earlier (observation, reply) turns in each example")
    with_thoughts: bool = Field(False, description="replies start with 'Thought: ...'")
    source_format: str = Field("", description="vertex, messages or prompt-completion")


class TrainedModel(Record):
    """`teachkit-training.json` beside a locally trained model: what it is, what it learned from, how."""

    method: str = Field(description="sft-lora, grpo-lora, grpo")
    base_model: str = Field(description="as given: HF id, path or smollm2-135m")
    base_model_path: str = Field(description="what was loaded")
    adapter: bool = Field(True, description="the folder holds a LoRA adapter on base_model_path")
    merged_dir: str | None = Field(None, description="the adapter merged into the base, when saved")
    data: list[TrainingData] = Field(default_factory=list)
    prompt: StudentPrompt | None = None
    device: str = ""
    dtype: str = ""
    settings: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    started_at: str = ""
    ended_at: str = ""


class TuningJob(Record):
    """The job record `crafter finetune --backend vertex` writes beside the training data (`<data>.job.json`)."""

    name: str = Field(description="projects/P/locations/L/tuningJobs/ID")
    state: str = Field(description="JOB_STATE_QUEUED ... JOB_STATE_SUCCEEDED, as Vertex AI last reported it")
    project: str
    location: str
    base_model: str
    display_name: str
    training_data: TrainingData
    validation_data: TrainingData | None = None
    hyper_parameters: dict[str, Any] = Field(default_factory=dict)
    tuned_model: str | None = Field(None, description="the tuned model resource, once the job succeeded")
    endpoint: str | None = Field(None, description="the endpoint serving it: eval --policy vertex:ENDPOINT")
    prompt: StudentPrompt | None = Field(None, description="how the training data prompts the model; eval uses it")
    error: str | None = None
    created_at: str = ""
    updated_at: str = ""


# --- SGD -----------------------------------------------------------------------------------------------------


class ChatMessage(Part):
    role: str
    content: str


class SystemAction(Part):
    act: str
    slot: str = ""
    values: list[str] = Field(default_factory=list, description="as said in the reference turn: '7 pm'")
    canonical_values: list[str] = Field(
        default_factory=list, description="as the service has them ('19:00'); SGD's canonical_values"
    )


class ServiceCall(Part):
    method: str
    parameters: dict[str, str] = Field(default_factory=dict)


class Sample(Record):
    """One system turn of an SGD dialogue as a single-step RL sample."""

    id: str
    dialogue_id: str
    turn_index: int
    split: str
    services: list[str]
    prompt: list[ChatMessage] | str
    ground_truth: str
    system_actions: list[SystemAction] = Field(default_factory=list)
    service_call: ServiceCall | None = None
    service_results: list[dict[str, Any]] = Field(default_factory=list)
    task_description: str = ""
    rubric: list[str] | None = None


class SgdEvalPair(Record):
    """One eval sample side by side: the base and the trained student's responses and their judge scores."""

    id: str = Field(description="the Sample id")
    last_user: str = Field(description="the user turn the responses answer")
    reference: str = Field(description="the reference system turn")
    base_response: str
    base_score: float | None = Field(description="None: the judge failed")
    base_reasons: str = ""
    trained_response: str | None = None
    trained_score: float | None = None
    trained_reasons: str = ""
    pairwise: Literal["win", "loss", "tie"] | None = Field(
        None, description="--judge pairwise: the trained reply's outcome (both orders agree, else tie); None: not "
                          "compared, or a comparison failed"
    )
    pairwise_reasons: str = Field("", description="--judge pairwise: each order's verdict and the judge's reasons")


# --- Evaluation ----------------------------------------------------------------------------------------------


class EvalCommand(Part):
    """How the report was made."""

    name: str = Field(description="the command: crafter eval or sgd eval")
    argv: list[str] = Field(default_factory=list, description="the command line, secret-bearing flags masked")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="the settings sections the evaluation read (dotted section -> values), "
        "secrets masked")
    started_at: str = ""
    ended_at: str = ""


class EvalModel(Part):
    """One model (or built-in policy) the evaluation measured."""

    label: str = Field(description="its part: policy, baseline, random (crafter); base, trained (sgd)")
    spec: str = Field(description="as given: a model spec, a student folder, an HF id, scripted or random")
    loaded: str = Field("", description="what was loaded, where it says more than spec (an adapter on its base)")
    seconds: float | None = Field(None, description="time it took to answer every item, where measured")
    details: dict[str, Any] = Field(default_factory=dict, description="how it was prompted or run")


class ItemScores(Part):
    """One item every model was measured on, with each model's score on it."""

    id: str = Field(description="the episode id of a seed (crafter) or the sample id (sgd)")
    group: str | None = Field(None, description="items of one group are not independent (an SGD dialogue's turns)")
    scores: dict[str, float | None] = Field(description="model label -> its score on the item (`item_score` says "
                                                        "what it is); None: not scored (the judge failed)")


class ScoreSummary(Part):
    """A model's scores over the items, and the pipeline's own statistics."""

    items: int
    scored: int
    failed: int = Field(0, description="items left unscored (a judge failure)")
    mean: float | None = None
    stdev: float | None = None
    min: float | None = None
    max: float | None = None
    statistics: dict[str, float | None] = Field(
        default_factory=dict, description="statistics of the whole set that are not a mean of item scores "
        "(crafter_score, invalid_rate_%, ...)")


class PairedDifference(Part):
    """`model` minus `baseline` in one statistic, over the items both were measured on, with a paired bootstrap
    interval (`students.bootstrap`)."""

    statistic: str = Field(description="mean_score (the mean of item scores) or one of `statistics`")
    model: str = Field(description="label of the model the difference is of")
    baseline: str = Field(description="label of the model it is measured against")
    model_value: float | None = None
    baseline_value: float | None = None
    difference: float | None = Field(description="None: no item has both scores")
    ci95: list[float] | None = Field(description="[low, high]: the 2.5th and 97.5th percentile over resamples")
    pairs: int = Field(description="items both were scored on")
    resamples: int
    interval_above_zero: bool
    groups: int | None = Field(None, description="groups among the pairs, where items come in groups")
    ci95_by_group: list[float] | None = Field(None, description="the interval when whole groups are resampled")


class EvalReport(Record):
    """The report of every evaluation, `crafter eval` and `sgd eval` alike: the models, each item's scores, each
    model's summary, the paired differences with their intervals, and how it was made (docs/eval-report.md).

    The fields after `differences` are each pipeline's own detail, as it wrote them before the shared record; a
    field the pipeline does not write is left out of the file (None here).
    """

    pipeline: Literal["crafter", "sgd"]
    command: EvalCommand
    item_score: str = Field(description="what an item's score is: the achievements unlocked in an episode (crafter), "
                                        "the judge's score from 0 to 1 (sgd)")
    models: list[EvalModel]
    items: list[ItemScores]
    summaries: dict[str, ScoreSummary] = Field(description="model label -> its summary")
    differences: list[PairedDifference] = Field(default_factory=list)
    # crafter eval
    seeds: list[int] | None = None
    max_steps: int | None = None
    difficulty: str | None = None
    policies: dict[str, dict[str, Any]] | None = Field(None, description="crafter: label -> the policy and its "
                                                                         "statistics, success rates included")
    comparison: list[dict[str, Any]] | None = Field(None, description="crafter: policy vs baseline, per statistic")
    comparison_to_random: list[dict[str, Any]] | None = Field(None, description="crafter: policy vs random")
    # sgd eval
    eval_file: str | None = None
    samples: int | None = None
    judge: str | None = None
    judge_stats: dict[str, Any] | None = None
    judge_batch: dict[str, Any] | None = None
    generation: dict[str, Any] | None = None
    base: dict[str, Any] | None = Field(None, description="sgd: the base student's model, time and score statistics")
    trained: dict[str, Any] | None = None
    difference: dict[str, Any] | None = Field(None, description="sgd: trained - base, as `differences[0]`")
    pairwise: dict[str, Any] | None = Field(None, description="sgd --judge pairwise: win rate and position bias")
    responses_file: str | None = None

    def to_json(self) -> str:
        """The report as written: the other pipeline's fields left out."""
        unused = {name for name in PIPELINE_FIELDS if getattr(self, name) is None}
        return self.model_dump_json(indent=2, exclude=unused) + "\n"


PIPELINE_FIELDS = ("seeds", "max_steps", "difficulty", "policies", "comparison", "comparison_to_random", "eval_file",
                   "samples", "judge", "judge_stats", "judge_batch", "generation", "base", "trained", "difference",
                   "pairwise", "responses_file")
