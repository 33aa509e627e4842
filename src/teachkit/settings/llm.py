"""Settings of the models teachkit calls: the teacher, the judge, batch jobs and token prices."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from teachkit.settings.section import Section


class ModelSettings(Section):
    """A model that teachkit calls: the Crafter teacher, or the judge that writes rubrics and scores responses."""

    provider: Literal["gemini", "vertex", "openai", "local"] = Field(
        "gemini", description="gemini (API key), vertex (Google Cloud project), openai (any compatible server), local"
    )
    model: str = Field("gemini-2.5-flash", description="model name for the provider, HF id or path for local")
    base_url: str | None = Field(None, description="endpoint override: an OpenAI-compatible server, or a proxy")
    api_key: SecretStr | None = Field(None, description="key for this model; else GEMINI_API_KEY / OPENAI_API_KEY")
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_output_tokens: int = Field(
        1024, gt=0, description="room for the visible answer; Gemini 2.5+ gets its thinking room on top"
    )
    thinking_budget: int | None = Field(
        None, ge=-1, description="Gemini thinking tokens; -1 dynamic, 0 off; unset: the role's default (docs/providers.md)"
    )
    concurrency: int = Field(8, gt=0, description="requests in flight at once")
    rpm: int | None = Field(None, gt=0, description="requests per minute limit")
    tpm: int | None = Field(None, gt=0, description="tokens per minute limit")
    timeout_s: float = Field(120.0, gt=0, description="per-request timeout")
    max_attempts: int = Field(5, ge=1, description="attempts per request, retries included")
    retry_initial_delay_s: float = Field(1.0, ge=0, description="first backoff after a 429/5xx/timeout, doubling")
    retry_max_delay_s: float = Field(60.0, ge=0, description="longest backoff, also caps a server's retryDelay")
    breaker_failures: int = Field(
        20, ge=1, description="stop the run once this many requests in a row failed every attempt (429/5xx/timeouts)"
    )
    breaker_window_s: float = Field(
        120.0, ge=0, description="... and none answered for this many seconds (so a short outage does not stop it)"
    )


class JudgeSettings(ModelSettings):
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_output_tokens: int = Field(512, gt=0, description="room for the visible answer (thinking room on top)")
    concurrency: int = Field(
        16, gt=0, description="requests in flight at once; at least the completions of one GRPO step"
    )
    kind: Literal["llm", "acts", "mix", "group", "pairwise"] = Field(
        "acts", description="llm, acts (offline, free), mix, group (train: one request per GRPO group) or pairwise "
                            "(eval: base vs trained in both orders)"
    )
    llm_weight: float = Field(0.5, ge=0.0, le=1.0, description="weight of the llm judge in mix")
    pairwise: Literal["llm", "acts"] = Field(
        "llm", description="what compares the two replies under kind pairwise: llm (the judge model) or acts (offline)"
    )
    template: Path | None = Field(
        None, description="replacement prompt template of the judge kind (examples/*judge_template.txt)"
    )


class BatchSettings(Section):
    """Waiting for a batch job (`sgd rubric --batch`, `sgd eval --batch`): how often its state is asked."""

    poll_initial_s: float = Field(10.0, gt=0, description="first wait before asking a submitted job's state")
    poll_max_s: float = Field(60.0, gt=0, description="longest wait between two asks (the wait grows by half each time)")


class PriceSettings(Section):
    """USD per million tokens. Estimates: check your provider's price page."""

    input: float = Field(0.0, ge=0)
    output: float = Field(0.0, ge=0, description="output and thinking tokens")
    batch: float = Field(0.5, ge=0, le=1, description="share of these prices a batch job pays (Gemini Batch API: half)")

    def for_batch(self) -> PriceSettings:
        """The prices of a request sent in a batch job."""
        return PriceSettings(input=self.input * self.batch, output=self.output * self.batch, batch=1.0)


def default_prices() -> dict[str, PriceSettings]:
    return {
        "gemini-2.5-flash": PriceSettings(input=0.30, output=2.50),
        "gemini-2.5-flash-lite": PriceSettings(input=0.10, output=0.40),
        "gemini-2.5-pro": PriceSettings(input=1.25, output=10.0),
        "gemini-2.0-flash": PriceSettings(input=0.10, output=0.40),
    }
