"""The `llm` judge (a judge model scores each response alone) and `mix` (llm and acts, weighted)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from teachkit.records import Sample
from teachkit.sgd.judges.acts import ActsJudge
from teachkit.sgd.judges.cache import ScoreCache
from teachkit.sgd.judges.judgement import Judgement, JudgeStats
from teachkit.sgd.judges.template import JudgeTemplate

# "One or two sentences": bounded so that a small judge held to the schema by the server (vLLM's grammar) cannot
# ramble past its output budget and leave the JSON unclosed; 400 characters is about 100 tokens of 512.
MAX_REASONS_CHARS = 400
JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "reasons": {"type": "string", "maxLength": MAX_REASONS_CHARS},
    },
    "required": ["score", "reasons"],
}


def reply_object(result: Any) -> tuple[dict[str, Any] | None, str | None]:
    """The JSON object a judge model answered (structured output, else found in the text), or why there is none."""
    if result.error is not None:
        return None, f"{result.error_kind or 'error'}: {result.error}"
    parsed = result.parsed
    if parsed is None:
        from teachkit.llm.structured import extract_json

        try:
            parsed = extract_json(result.text)
        except ValueError:
            shown = result.text.strip().replace("\n", " ")[:80]
            return None, f"unreadable judge reply (no JSON): {shown!r}"
    if not isinstance(parsed, dict):
        return None, f"unreadable judge reply (not an object): {str(parsed)[:80]!r}"
    return parsed, None


def score_value(value: Any) -> float | None:
    """A score from 0 to 1 as the judge wrote it (a number, or a number in a string); None if it is not one."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        return None
    return float(value)


def reasons_text(parsed: dict[str, Any]) -> str:
    reasons = parsed.get("reasons", "")
    return reasons if isinstance(reasons, str) else json.dumps(reasons)


def read_judge_reply(result: Any) -> tuple[float | None, str, str | None]:
    """(score, reasons, error) from a ModelResult of the judge."""
    parsed, error = reply_object(result)
    if parsed is None:
        return None, "", error
    if "score" not in parsed:
        return None, "", f"unreadable judge reply (no score): {str(parsed)[:80]!r}"
    score = score_value(parsed["score"])
    if score is None:
        raw = parsed["score"]
        if isinstance(raw, str):
            return None, "", f"unreadable judge reply (score {raw!r} is not a number)"
        return None, "", f"unreadable judge reply (score {raw!r} is not a number from 0 to 1)"
    return score, reasons_text(parsed), None


async def ask_all(client: Any, requests: list[Any], on_reply: Callable[[int, Any], None]) -> None:
    """Send every request at once; `on_reply(position, reply)` as each reply arrives, so that its result is stored
    at once and a kill mid-batch loses only what is still in flight. A fault that stops the run propagates."""
    recorded: set[int] = set()

    def record(position: int, reply: Any) -> None:
        recorded.add(position)
        on_reply(position, reply)

    if not requests:
        return
    replies = await client.generate_batch(requests, on_result=record)
    for position, reply in enumerate(replies):
        if position not in recorded:
            record(position, reply)


class ModelJudge:
    """What every judge that asks a model shares: its client, its template, its cache, its counts, and the options
    its requests are sent with (part of every cache key)."""

    name = "model"

    def __init__(self, client: Any, template: JudgeTemplate, cache: ScoreCache | None):
        self.client = client
        self.template = template
        self.cache = cache
        self.stats = JudgeStats()
        # As sent: a thinking budget the role's default chose changes the score as much as one set by hand.
        self.options = client.sent_options()

    def describe(self) -> str:
        return f"{self.name} {self.client.spec} ({self.template.version})"

    async def aclose(self) -> None:
        await self.client.aclose()
        if self.cache is not None:
            self.cache.close()


class LlmJudge(ModelJudge):
    """A judge model scores each response with the template; scores are cached in a `ScoreCache`."""

    name = "llm"

    def _key(self, sample: Sample, response: str) -> str:
        return ScoreCache.key(judge=self.client.spec, template_version=self.template.version, sample=sample,
                              response=response, options=self.options)

    async def judge_batch(self, samples: list[Sample], responses: list[str]) -> list[Judgement]:
        from teachkit.llm import Message, ModelRequest

        results: list[Judgement | None] = [None] * len(samples)
        pending: dict[str, list[int]] = {}
        for index, (sample, response) in enumerate(zip(samples, responses, strict=True)):
            key = self._key(sample, response)
            cached = self.cache.get(key) if self.cache is not None else None
            if cached is not None:
                results[index] = cached
                self.stats.cache_hits += 1
            else:
                # A batch often holds the same completion twice (short replies); ask once.
                pending.setdefault(key, []).append(index)
        keys = list(pending)
        requests = []
        for key in keys:
            first = pending[key][0]
            messages = [Message(**m) for m in self.template.render(samples[first], responses[first])]
            requests.append(ModelRequest(messages=messages, json_schema=JUDGE_SCHEMA))

        def record(position: int, reply: Any) -> None:
            key = keys[position]
            if reply.from_cache:
                self.stats.cache_hits += 1
            else:
                self.stats.calls += 1
            score, reasons, error = read_judge_reply(reply)
            judgement = Judgement(score=score, reasons=reasons, error=error, from_cache=reply.from_cache)
            first = pending[key][0]
            if error is None and self.cache is not None:
                self.cache.put(key, judgement, sample_id=samples[first].id, response=responses[first])
            for index in pending[key]:
                results[index] = judgement
                if error is not None:
                    self.stats.count_failure(error)

        await ask_all(self.client, requests, record)
        done = [r for r in results if r is not None]
        self.stats.scored += sum(1 for r in done if r.score is not None)
        return done


class MixJudge:
    """`llm_weight * llm + (1 - llm_weight) * acts`; None when the llm part failed."""

    name = "mix"

    def __init__(self, llm: LlmJudge, acts: ActsJudge, llm_weight: float):
        self.llm = llm
        self.acts = acts
        self.llm_weight = llm_weight

    @property
    def stats(self) -> JudgeStats:
        return self.llm.stats

    def describe(self) -> str:
        return f"mix {self.llm_weight:g} x {self.llm.describe()} + {1 - self.llm_weight:g} x {self.acts.describe()}"

    async def judge_batch(self, samples: list[Sample], responses: list[str]) -> list[Judgement]:
        llm_scores, acts_scores = await asyncio.gather(
            self.llm.judge_batch(samples, responses), self.acts.judge_batch(samples, responses)
        )
        mixed = []
        for llm_score, acts_score in zip(llm_scores, acts_scores, strict=True):
            if llm_score.score is None:
                mixed.append(Judgement(score=None, error=llm_score.error))
                continue
            score = self.llm_weight * llm_score.score + (1 - self.llm_weight) * (acts_score.score or 0.0)
            mixed.append(Judgement(score=round(score, 4), reasons=f"llm: {llm_score.reasons} | {acts_score.reasons}",
                                   from_cache=llm_score.from_cache))
        return mixed

    async def aclose(self) -> None:
        await self.llm.aclose()
