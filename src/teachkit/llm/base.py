"""The one interface every model provider implements, and the request/result types that cross it.

A provider answers one request at a time (`Provider.generate`), raising `ProviderError` on failure. The client
around it (cache, concurrency, rate limits, retries, cost ledger) turns batches into results and does not raise for
a failed request that another might not share (a timeout, a blocked reply): the failure is the result's `error`. A
fault that every request would meet (`FATAL_KINDS`: a rejected key, a wrong model name, a spent daily quota, a
refused request) raises `teachkit.errors.ProviderFault` instead, and stops the run.
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
    error_kind: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


ErrorKind = Literal[
    "rate_limit",  # 429 that may pass: per-minute quota, overload
    "quota",  # 429 that will not pass today: per-day quota, billing
    "server",  # 5xx
    "timeout",  # no answer within the timeout
    "connection",  # refused, reset
    "bad_request",  # 400, 422
    "auth",  # 401, 403
    "not_found",  # 404: wrong model name or endpoint
    "blocked",  # safety-blocked prompt or reply
    "empty",  # no candidate, no text
    "max_tokens",  # cut at max_output_tokens before the answer (thinking used the room), also after one retry
    "malformed",  # a reply that is not the protocol, or JSON that does not parse
    "budget",  # not sent: --max-cost reached
    "other",
]
# Faults that no retry mends and every following request would meet: the client stops the run on the first one.
FATAL_KINDS: frozenset[str] = frozenset({"auth", "not_found", "bad_request", "quota"})


class ProviderError(Exception):
    """A failed request. `retryable` says whether another attempt may succeed (429, 5xx, timeouts).

    `kind` groups errors in the ledger; `retry_after_s` is the server's own hint (a 429's retryDelay).
    The message must never hold a secret: providers build it from status, code and the server's message.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        kind: ErrorKind = "other",
        retry_after_s: float | None = None,
    ):
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.kind = kind
        self.retry_after_s = retry_after_s


@runtime_checkable
class Provider(Protocol):
    """`name` is the spec's provider (gemini, vertex, openai, local); `cache_variant` is whatever else identifies
    the model's replies in the cache key: the endpoint of a server, the weights' fingerprint of a local model."""

    name: str
    model: str

    @property
    def cache_variant(self) -> str | None: ...

    async def generate(self, request: ModelRequest) -> ModelResult: ...

    async def aclose(self) -> None: ...
