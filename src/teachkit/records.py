"""Typed records of everything teachkit writes to disk as JSONL.

Each record carries `schema_version`; a reader meeting another version stops with a message saying which stage to
rerun, instead of misreading fields. Fine-tuning files (Vertex, messages, prompt-completion) are not records: their
shape belongs to the trainers that read them.
"""

from __future__ import annotations

from typing import Any

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
    action: str = Field(description="the action name that was executed")
    valid: bool = True
    invalid_reason: str | None = None
    plan_index: int = Field(0, description="0: decided at this step; i > 0: the i-th further action of a plan")
    outcome: str = Field("", description="what the action did, in words (the next observation's 'Last action')")
    reward: float = 0.0
    inventory: dict[str, int] = Field(default_factory=dict, description="non-zero items and stats after the step")
    new_achievements: list[str] = Field(default_factory=list)
    tokens: TokenUsage = Field(default_factory=TokenUsage)
    latency_s: float = 0.0


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
