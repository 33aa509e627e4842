"""Judges: a score from 0.0 to 1.0 for one response to one SGD sample.

- `acts` (`acts.py`): deterministic, offline and free. Did the response perform the reference turn's dialogue acts
  (`ActsJudge.score` documents the formula)?
- `llm` (`llm.py`): a judge model reads the context, the reference, the rubric and the task and answers
  `{score, reasons}` as structured JSON, through the provider layer. Scores are cached in SQLite (`cache.py`).
- `mix` (`llm.py`): `llm_weight * llm + (1 - llm_weight) * acts`.
- `group` (`group.py`, for `sgd train`): one judge-model request scores all completions of a GRPO group together.
- `pairwise` (`pairwise.py`, for `sgd eval`): not a scorer but a comparer of the base and trained replies, in both
  orders, by a judge model or by acts (`open_pairwise_judge`).

Every scorer answers a whole batch at once (`await judge.judge_batch(samples, responses)`), returns one
`Judgement` per response, and counts calls, cache hits and failures in `judge.stats`. A failure (a provider error
after retries, an unreadable reply) is a `Judgement` with `score=None`: the caller decides what None means (GRPO
skips it; eval leaves the pair out), and it is counted, never turned into a silent 0. A fault that no retry mends
(a rejected key, a wrong model name) raises `ProviderFault` out of `judge_batch` and stops the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from teachkit.errors import InputError
from teachkit.settings import Settings
from teachkit.sgd.judges.acts import ACTS_VERSION, ActsJudge, ActsScore
from teachkit.sgd.judges.cache import ScoreCache, sample_digest
from teachkit.sgd.judges.group import GroupJudge
from teachkit.sgd.judges.judgement import Judgement, JudgeStats
from teachkit.sgd.judges.llm import JUDGE_SCHEMA, MAX_REASONS_CHARS, LlmJudge, MixJudge, read_judge_reply
from teachkit.sgd.judges.pairwise import (
    PairOutcome,
    PairwiseActsJudge,
    PairwiseJudge,
    PairwiseLlmJudge,
    Verdict,
    compare_both_orders,
    pairwise_summary,
)
from teachkit.sgd.judges.template import (
    GROUP,
    PAIRWISE,
    SINGLE,
    TEMPLATE_FIELDS,
    TEMPLATE_FILE,
    JudgeTemplate,
    template_fields,
)

__all__ = [
    "ACTS_VERSION", "GROUP", "JUDGE_SCHEMA", "MAX_REASONS_CHARS", "PAIRWISE", "SCORE_CACHE_FILE", "SINGLE",
    "TEMPLATE_FIELDS", "TEMPLATE_FILE", "ActsJudge", "ActsScore", "GroupJudge", "Judge", "JudgeStats",
    "JudgeTemplate", "Judgement", "LlmJudge", "MixJudge", "PairOutcome", "PairwiseActsJudge", "PairwiseJudge",
    "PairwiseLlmJudge", "ScoreCache", "Verdict", "compare_both_orders", "open_judge", "open_pairwise_judge",
    "pairwise_summary", "read_judge_reply", "sample_digest", "template_fields",
]

Judge = ActsJudge | LlmJudge | MixJudge | GroupJudge
SCORE_CACHE_FILE = "judge-scores.sqlite"


def open_judge(settings: Settings, *, model: str | None = None, use_cache: bool | None = None) -> Judge:
    """The judge that `settings.judge` describes (`kind`, `template`, `llm_weight`), checked before work starts.

    `model` is a model spec (`gemini:gemini-2.5-pro`) that replaces the [judge] provider and model.
    """
    kind = settings.judge.kind
    if kind == "pairwise":
        raise InputError("--judge pairwise compares two students in `teachkit sgd eval`; a reward takes acts, llm, "
                         "mix or group")
    if kind == "acts":
        return ActsJudge()
    template = JudgeTemplate.load(settings.judge.template, GROUP if kind == "group" else SINGLE)
    client, cache = open_judge_model(settings, model, use_cache)
    if kind == "group":
        return GroupJudge(client, template, cache)
    llm = LlmJudge(client, template, cache)
    if kind == "llm":
        return llm
    return MixJudge(llm, ActsJudge(), settings.judge.llm_weight)


def open_pairwise_judge(settings: Settings, *, model: str | None = None,
                        use_cache: bool | None = None) -> PairwiseJudge:
    """The comparer of `sgd eval --judge pairwise`: `judge.pairwise` says acts or llm (the [judge] model, or
    `model`, with the pairwise template or `judge.template`)."""
    if settings.judge.pairwise == "acts":
        return PairwiseActsJudge()
    template = JudgeTemplate.load(settings.judge.template, PAIRWISE)
    client, cache = open_judge_model(settings, model, use_cache)
    return PairwiseLlmJudge(client, template, cache)


def open_judge_model(settings: Settings, model: str | None, use_cache: bool | None) -> tuple[Any, ScoreCache | None]:
    from teachkit.llm import open_client

    caching = settings.cache if use_cache is None else use_cache
    client = open_client(model, settings, role="judge", use_cache=caching)
    cache = ScoreCache(Path(settings.paths.cache_dir).expanduser() / SCORE_CACHE_FILE) if caching else None
    return client, cache
