"""The GRPO reward: the judge's score of each completion, glued to TRL's reward-function interface, and the judge
closed on the event loop TRL ran it on."""

from __future__ import annotations

import asyncio
from typing import Any

from teachkit.records import Sample
from teachkit.sgd.judges import Judge


def completion_text(completion: Any) -> str:
    """TRL gives conversational completions as `[{"role": "assistant", "content": ...}]`, others as text."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion)


class JudgeReward:
    """The GRPO reward function: one judge score per completion, None where the judge failed.

    Async, so TRL awaits it on its event loop and the judge scores the whole generation batch concurrently. The
    group judge takes the completions of one `sample_id` (one prompt) in the batch as one group and scores them in
    one request; its scores are the rewards as they are (GRPO normalises them within the group).
    """

    def __init__(self, judge: Judge, samples: dict[str, Sample]):
        self.judge = judge
        self.samples = samples
        self.__name__ = f"judge_{judge.name}"
        self.batches = 0
        self.scores_seen = 0
        self.failures_seen = 0

    async def __call__(
        self, prompts: list[Any], completions: list[Any], sample_id: list[str], log_metric: Any = None, **_: Any
    ) -> list[float | None]:
        stats = self.judge.stats
        before = (stats.calls, stats.cache_hits, stats.failures)
        samples = [self.samples[i] for i in sample_id]
        judgements = await self.judge.judge_batch(samples, [completion_text(c) for c in completions])
        scores = [j.score for j in judgements]
        self.batches += 1
        self.scores_seen += sum(1 for s in scores if s is not None)
        failures = sum(1 for s in scores if s is None)
        self.failures_seen += failures
        if log_metric is not None:
            log_metric("judge/calls", stats.calls - before[0])
            log_metric("judge/cache_hits", stats.cache_hits - before[1])
            log_metric("judge/failures", failures)
        return scores


def close_judge(judge: Judge, trainer: Any) -> None:
    """Close the judge on the event loop its client was used on (TRL's daemon loop for async rewards)."""
    loop = getattr(trainer, "async_loop", None)
    if loop is not None and loop.is_running():
        asyncio.run_coroutine_threadsafe(judge.aclose(), loop).result()
    else:
        asyncio.run(judge.aclose())
