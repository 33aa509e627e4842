"""The cost ledger of one client: requests, cache hits, retries, errors, tokens and an estimated cost.

`max_tokens_retries` counts the replies cut at `max_output_tokens` before their answer (thinking used the room)
that were asked again with more room; those still cut after that retry are also `errors["max_tokens"]`.

Costs are estimates from the `[prices]` table in settings (USD per million tokens; thinking tokens are billed as
output). Cached replies cost nothing and their tokens are not counted again.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from teachkit.llm.base import ModelResult
from teachkit.records import TokenUsage
from teachkit.settings import PriceSettings


class CostLedger:
    def __init__(self, provider: str, model: str, price: PriceSettings | None):
        self.provider = provider
        self.model = model
        self.price = price
        self.requests = 0
        self.cache_hits = 0
        self.retries = 0
        self.max_tokens_retries = 0
        self.errors: Counter[str] = Counter()
        self.tokens = TokenUsage()
        self.cost_usd = 0.0
        self.latency_s = 0.0
        # The local provider finishes requests on worker threads; keep the sums exact.
        self._lock = threading.Lock()

    def cost_of(self, usage: TokenUsage) -> float:
        if self.price is None:
            return 0.0
        return (usage.prompt * self.price.input + (usage.output + usage.thoughts) * self.price.output) / 1e6

    def count_cut(self) -> None:
        with self._lock:
            self.max_tokens_retries += 1

    def add(self, result: ModelResult) -> None:
        with self._lock:
            self.requests += 1
            self.retries += max(0, result.attempts - 1)
            if result.from_cache:
                self.cache_hits += 1
                return
            if result.error_kind is not None:
                self.errors[result.error_kind] += 1
            # A failed request may still have used tokens (a blocked reply, a reply cut at max tokens).
            self.tokens = self.tokens + result.usage
            self.cost_usd += self.cost_of(result.usage)
            self.latency_s += result.latency_s

    def summary(self) -> dict[str, Any]:
        sent = self.requests - self.cache_hits
        return {
            "model": f"{self.provider}:{self.model}",
            "requests": self.requests,
            "cache_hits": self.cache_hits,
            "retries": self.retries,
            "max_tokens_retries": self.max_tokens_retries,
            "errors": dict(self.errors),
            "tokens": self.tokens.model_dump(),
            "cost_usd": round(self.cost_usd, 6),
            "cost_is_estimate": True,
            "priced": self.price is not None or self.provider == "local",
            "mean_latency_s": round(self.latency_s / sent, 4) if sent else 0.0,
        }


def combined_summary(*ledgers: CostLedger) -> dict[str, Any]:
    """Totals over several clients (a teacher and a judge), with one row per model, for summaries and manifests."""
    rows = [ledger.summary() for ledger in ledgers]
    errors: Counter[str] = Counter()
    tokens = TokenUsage()
    for ledger in ledgers:
        errors.update(ledger.errors)
        tokens = tokens + ledger.tokens
    return {
        "requests": sum(row["requests"] for row in rows),
        "cache_hits": sum(row["cache_hits"] for row in rows),
        "retries": sum(row["retries"] for row in rows),
        "max_tokens_retries": sum(row["max_tokens_retries"] for row in rows),
        "errors": dict(errors),
        "tokens": tokens.model_dump(),
        "cost_usd": round(sum(ledger.cost_usd for ledger in ledgers), 6),
        "cost_is_estimate": True,
        "models": rows,
    }
