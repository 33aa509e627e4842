"""What every judge returns: one `Judgement` per response, and the counters of what it did (`JudgeStats`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Judgement:
    score: float | None
    reasons: str = ""
    error: str | None = None
    from_cache: bool = False


@dataclass
class JudgeStats:
    """What a judge did so far. `calls` are judge-model requests sent (not answered from a cache)."""

    scored: int = 0
    calls: int = 0
    cache_hits: int = 0
    failures: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scored": self.scored,
            "judge_calls": self.calls,
            "cache_hits": self.cache_hits,
            "judge_failures": self.failures,
        }

    def count_failure(self, error: str) -> None:
        self.failures += 1
        # Group by the message's first words, so the summary names kinds of failure rather than every message.
        kind = " ".join(error.split()[:6])
        self.errors[kind] = self.errors.get(kind, 0) + 1
