"""The one interface every model provider implements, and the request/result types that cross it.

A provider answers one request at a time (`Provider.generate`), raising `ProviderError` on failure. The client
around it (cache, concurrency, rate limits, retries, cost ledger) turns batches into results and never raises for a
single failed request: the failure is the result's `error`.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from teachkit.records import TokenUsage

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role
    content: str


class ModelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[Message]
    temperature: float | None = None
    max_output_tokens: int | None = None
    stop: list[str] | None = None
    json_schema: dict[str, Any] | None = Field(None, description="structured output: a JSON schema for the reply")
    enum: list[str] | None = Field(None, description="structured output: the reply is exactly one of these")
    thinking_budget: int | None = None
    include_thoughts: bool = False
    sample_index: int = Field(0, description="distinguishes N samples of the same request (cache key)")


class ModelResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = ""
    parsed: Any = None
    thoughts: str | None = None
    finish_reason: str | None = None
    usage: TokenUsage = Field(default_factory=TokenUsage)
    latency_s: float = 0.0
    provider: str = ""
    model: str = ""
    from_cache: bool = False
    attempts: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class ProviderError(Exception):
    """A failed request. `retryable` says whether another attempt may succeed (429, 5xx, timeouts)."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


@runtime_checkable
class Provider(Protocol):
    name: str
    model: str

    async def generate(self, request: ModelRequest) -> ModelResult: ...
