"""Pairwise evaluation (`sgd eval --judge pairwise`): which of two replies to one sample is better, asked in both orders.

A judge prefers one position over the other (it tends to pick the reply it read first, or last), so every pair is
compared twice, base first and trained first (the AlpacaEval / MT-Bench protocol). A sample is a win for the trained
student only when both orders prefer its reply, a loss when both prefer the base's, and a tie otherwise (the judge
said tie, or changed its mind with the order). The verdicts by position say how biased the judge is.

Two comparers answer the same interface, `await comparer.compare_batch(samples, firsts, seconds)`:
- `PairwiseLlmJudge`: a judge model reads both replies (the pairwise template) and answers `{"reasons", "winner":
  "A" | "B" | "tie"}`; verdicts are cached per ordered pair.
- `PairwiseActsJudge`: the reply with the higher acts score wins (equal scores tie). Deterministic, offline and free:
  both orders always agree, so its position bias is 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from teachkit.records import Sample
from teachkit.sgd.judges.acts import ACTS_VERSION, ActsJudge
from teachkit.sgd.judges.cache import ScoreCache
from teachkit.sgd.judges.llm import MAX_REASONS_CHARS, ModelJudge, ask_all, reasons_text, reply_object
from teachkit.sgd.judges.template import sample_fields

Position = Literal["first", "second", "tie"]
Outcome = Literal["win", "loss", "tie"]
PAIRWISE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reasons": {"type": "string", "maxLength": MAX_REASONS_CHARS},
        "winner": {"type": "string", "enum": ["A", "B", "tie"]},
    },
    "required": ["reasons", "winner"],
}
WINNERS: dict[str, Position] = {"a": "first", "b": "second", "tie": "tie"}


@dataclass
class Verdict:
    """Which position won one comparison; None with an error when the judge gave no readable verdict."""

    winner: Position | None
    reasons: str = ""
    error: str | None = None
    from_cache: bool = False


def read_pairwise_reply(result: Any) -> Verdict:
    parsed, error = reply_object(result)
    if parsed is None:
        return Verdict(None, error=error)
    winner = parsed.get("winner")
    position = WINNERS.get(winner.strip().lower()) if isinstance(winner, str) else None
    if position is None:
        return Verdict(None, error=f"unreadable pairwise judge reply (winner {winner!r} is not A, B or tie)")
    return Verdict(position, reasons_text(parsed))


class PairwiseLlmJudge(ModelJudge):
    """A judge model compares two replies to one sample; verdicts cached per (sample, first, second)."""

    name = "pairwise"

    def _key(self, sample: Sample, first: str, second: str) -> str:
        return ScoreCache.record_key(form="pairwise", judge=self.client.spec, template_version=self.template.version,
                                     sample=sample, options=self.options, first=first, second=second)

    async def compare_batch(self, samples: list[Sample], firsts: list[str], seconds: list[str]) -> list[Verdict]:
        from teachkit.llm import Message, ModelRequest

        results: list[Verdict | None] = [None] * len(samples)
        pending: dict[str, list[int]] = {}
        for index, (sample, first, second) in enumerate(zip(samples, firsts, seconds, strict=True)):
            key = self._key(sample, first, second)
            record = self.cache.get_record(key) if self.cache is not None else None
            if record is not None:
                self.stats.cache_hits += 1
                results[index] = Verdict(record["winner"], record.get("reasons", ""), from_cache=True)
            else:
                pending.setdefault(key, []).append(index)
        keys = list(pending)
        requests = []
        for key in keys:
            index = pending[key][0]
            fields = {**sample_fields(samples[index]), "first": firsts[index].strip() or "(empty reply)",
                      "second": seconds[index].strip() or "(empty reply)"}
            messages = [Message(**m) for m in self.template.render_fields(fields)]
            requests.append(ModelRequest(messages=messages, json_schema=PAIRWISE_SCHEMA))

        def record(position: int, reply: Any) -> None:
            key = keys[position]
            if reply.from_cache:
                self.stats.cache_hits += 1
            else:
                self.stats.calls += 1
            verdict = read_pairwise_reply(reply)
            verdict.from_cache = reply.from_cache
            index = pending[key][0]
            if verdict.error is None and self.cache is not None:
                self.cache.put_record(key, {"form": "pairwise", "sample_id": samples[index].id,
                                            "first": firsts[index], "second": seconds[index],
                                            "winner": verdict.winner, "reasons": verdict.reasons})
            for index in pending[key]:
                results[index] = verdict
                if verdict.error is not None:
                    self.stats.count_failure(verdict.error)

        await ask_all(self.client, requests, record)
        done = [r for r in results if r is not None]
        self.stats.scored += sum(1 for r in done if r.winner is not None)
        return done


class PairwiseActsJudge:
    """The reply with the higher acts score wins; equal scores tie."""

    name = "pairwise-acts"

    def __init__(self) -> None:
        self.acts = ActsJudge()
        self.stats = self.acts.stats

    def describe(self) -> str:
        return f"pairwise {ACTS_VERSION}"

    async def compare_batch(self, samples: list[Sample], firsts: list[str], seconds: list[str]) -> list[Verdict]:
        verdicts = []
        for sample, first, second in zip(samples, firsts, seconds, strict=True):
            a, b = self.acts.score(sample, first).score, self.acts.score(sample, second).score
            winner: Position = "first" if a > b else "second" if b > a else "tie"
            verdicts.append(Verdict(winner, f"acts {a:.4f} vs {b:.4f}"))
        self.stats.scored += len(verdicts)
        return verdicts

    async def aclose(self) -> None:
        return None


PairwiseJudge = PairwiseLlmJudge | PairwiseActsJudge


@dataclass
class PairOutcome:
    """One sample compared in both orders: `base_first` shows the base reply first, `trained_first` the trained."""

    outcome: Outcome | None  # None: a comparison failed; the sample is left out
    base_first: Verdict
    trained_first: Verdict
    identical: bool = False

    def reasons(self) -> str:
        if self.identical:
            return "identical replies"
        parts = []
        for label, verdict in (("base first", self.base_first), ("trained first", self.trained_first)):
            said = verdict.winner if verdict.winner is not None else f"failed ({verdict.error})"
            parts.append(f"{label}: {said}" + (f" ({verdict.reasons})" if verdict.reasons else ""))
        return "; ".join(parts)


def preferred(verdict: Verdict, trained_position: Position) -> str | None:
    """'trained', 'base' or 'tie' for one verdict, knowing where the trained reply was shown."""
    if verdict.winner is None:
        return None
    if verdict.winner == "tie":
        return "tie"
    return "trained" if verdict.winner == trained_position else "base"


async def compare_both_orders(
    judge: PairwiseJudge, samples: list[Sample], base: list[str], trained: list[str]
) -> list[PairOutcome]:
    """Every sample's base and trained replies compared in both orders. Identical replies tie without a request."""
    asked = [i for i in range(len(samples)) if base[i] != trained[i]]
    picked = [samples[i] for i in asked]
    # Both orders in one batch: all requests in flight at once, and a fault stops one batch, not two.
    verdicts = await judge.compare_batch(picked + picked, [base[i] for i in asked] + [trained[i] for i in asked],
                                         [trained[i] for i in asked] + [base[i] for i in asked])
    base_first, trained_first = verdicts[: len(asked)], verdicts[len(asked) :]
    outcomes = [PairOutcome("tie", Verdict("tie"), Verdict("tie"), identical=True) for _ in samples]
    for position, index in enumerate(asked):
        forward, backward = base_first[position], trained_first[position]
        first, second = preferred(forward, "second"), preferred(backward, "first")
        if first is None or second is None:
            outcome: Outcome | None = None
        elif first == second == "trained":
            outcome = "win"
        elif first == second == "base":
            outcome = "loss"
        else:
            outcome = "tie"
        outcomes[index] = PairOutcome(outcome, forward, backward)
    return outcomes


def pairwise_summary(
    outcomes: list[PairOutcome], dialogues: list[str], *, resamples: int, seed: int, confidence: float = 0.95
) -> dict[str, Any]:
    """Wins, losses, ties, the win rate of trained over base ((wins + ties / 2) / compared) with its bootstrap
    interval over dialogues, and the judge's position bias."""
    import numpy as np

    from teachkit.students.bootstrap import paired_bootstrap

    value = {"win": 1.0, "tie": 0.5, "loss": 0.0}
    kept = [i for i, o in enumerate(outcomes) if o.outcome is not None]
    counts = {name: sum(1 for i in kept if outcomes[i].outcome == name) for name in ("win", "loss", "tie")}
    judged = [o for o in outcomes if not o.identical]
    verdicts = [v for o in judged for v in (o.base_first, o.trained_first) if v.winner is not None]
    first_wins = sum(1 for v in verdicts if v.winner == "first")
    second_wins = sum(1 for v in verdicts if v.winner == "second")
    summary: dict[str, Any] = {
        "compared": len(kept),
        "failed": len(outcomes) - len(kept),
        "wins": counts["win"],
        "losses": counts["loss"],
        "ties": counts["tie"],
        # Ties because the two orders disagreed (each preferred a different reply): position bias at work.
        "inconsistent": sum(1 for i in kept if {preferred(outcomes[i].base_first, "second"),
                                                preferred(outcomes[i].trained_first, "first")} == {"trained", "base"}),
        "identical": sum(1 for o in outcomes if o.identical),
        "win_rate": None,
        "ci95": None,
        "dialogues": len({dialogues[i] for i in kept}),
        "resamples": resamples,
        "verdicts": len(verdicts),
        "first_position_wins": first_wins,
        "second_position_wins": second_wins,
        "first_position_share": first_wins / (first_wins + second_wins) if first_wins + second_wins else None,
        "position_bias": (first_wins - second_wins) / len(verdicts) if verdicts else None,
    }
    if not kept:
        return summary
    names = sorted({dialogues[i] for i in kept})
    index = {name: n for n, name in enumerate(names)}
    sums, sizes = np.zeros(len(names)), np.zeros(len(names))
    for i in kept:
        sums[index[dialogues[i]]] += value[outcomes[i].outcome]  # type: ignore[index]
        sizes[index[dialogues[i]]] += 1
    interval = paired_bootstrap(len(names), lambda picks: sums[picks].sum() / sizes[picks].sum(),
                                resamples=resamples, seed=seed, confidence=confidence)
    summary.update(win_rate=interval.difference, ci95=[interval.low, interval.high])
    return summary
