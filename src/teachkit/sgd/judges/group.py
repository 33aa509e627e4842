"""The `group` judge: one judge-model call scores a whole GRPO group of completions side by side.

GRPO only uses the differences of rewards inside a group (it normalises them by the group's mean and spread), so a
judge that sees the group together spends one request per prompt instead of one per completion, and grades each
completion against its siblings rather than against a scale it must remember from call to call (the idea of
OpenPipe ART's RULER).

The group is every completion of one sample in the batch (TRL puts a prompt's `num_generations` completions in one
call of the reward function). Its distinct completions are shown sorted and labelled A, B, C, ...; the judge
answers `{"reasons": ..., "scores": {"A": 0.7, "B": 0.2, ...}}` and each completion gets its label's score. Sorted,
so the request, the score cache key and the response cache key do not depend on the order TRL produced them in:
a resumed step sends nothing. A reply without a usable score for every label fails the whole group: each member's
score is None, counted.
"""

from __future__ import annotations

from typing import Any

from teachkit.records import Sample
from teachkit.sgd.judges.cache import ScoreCache
from teachkit.sgd.judges.judgement import Judgement
from teachkit.sgd.judges.llm import ModelJudge, ask_all, reasons_text, reply_object, score_value
from teachkit.sgd.judges.template import sample_fields

# One or two sentences per completion at most: bounded like the llm judge's reasons, so that a judge held to the
# schema by a server's grammar cannot ramble past its output budget and leave the JSON unclosed.
MAX_GROUP_REASONS_CHARS = 600
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def labels(count: int) -> list[str]:
    """A, B, ..., Z, AA, AB, ...: one per completion shown."""
    out = []
    for index in range(count):
        label = ""
        index += 1
        while index:
            index, rest = divmod(index - 1, 26)
            label = ALPHABET[rest] + label
        out.append(label)
    return out


def group_schema(names: list[str]) -> dict[str, Any]:
    """The reply's JSON schema: the reasons first (compare, then score), then a score from 0 to 1 per label."""
    return {
        "type": "object",
        "properties": {
            "reasons": {"type": "string", "maxLength": MAX_GROUP_REASONS_CHARS},
            "scores": {
                "type": "object",
                "properties": {name: {"type": "number", "minimum": 0, "maximum": 1} for name in names},
                "required": names,
            },
        },
        "required": ["reasons", "scores"],
    }


def shown_responses(names: list[str], responses: list[str]) -> str:
    return "\n\n".join(f"[{name}]\n{response.strip() or '(empty reply)'}" for name, response in zip(names, responses,
                                                                                                  strict=True))


def read_group_reply(result: Any, names: list[str]) -> tuple[list[float] | None, str, str | None]:
    """(a score per label in `names` order, reasons, error) from the judge's reply to one group."""
    parsed, error = reply_object(result)
    if parsed is None:
        return None, "", error
    scores = parsed.get("scores")
    if not isinstance(scores, dict):
        return None, "", f"unreadable group judge reply (no scores): {str(parsed)[:80]!r}"
    values = []
    for name in names:
        value = score_value(scores.get(name))
        if value is None:
            return None, "", (f"unreadable group judge reply (score of {name} {scores.get(name)!r} is not a number "
                              "from 0 to 1)")
        values.append(value)
    return values, reasons_text(parsed), None


class GroupJudge(ModelJudge):
    """Scores each group of completions of one sample in one request; answers cached per group in a `ScoreCache`."""

    name = "group"

    def _key(self, sample: Sample, shown: list[str]) -> str:
        return ScoreCache.record_key(form="group", judge=self.client.spec, template_version=self.template.version,
                                     sample=sample, options=self.options, responses=shown)

    def request(self, sample: Sample, shown: list[str]) -> Any:
        from teachkit.llm import Message, ModelRequest

        names = labels(len(shown))
        fields = {**sample_fields(sample), "responses": shown_responses(names, shown), "labels": ", ".join(names),
                  "count": str(len(names))}
        messages = [Message(**m) for m in self.template.render_fields(fields)]
        return ModelRequest(messages=messages, json_schema=group_schema(names))

    async def judge_batch(self, samples: list[Sample], responses: list[str]) -> list[Judgement]:
        """One Judgement per response; the responses of one sample (by id) are one group, judged together."""
        results: list[Judgement | None] = [None] * len(samples)
        members: dict[str, list[int]] = {}
        for index, sample in enumerate(samples):
            members.setdefault(sample.id, []).append(index)
        # Key -> (sample, distinct completions sorted, indices of the batch they answer).
        pending: dict[str, tuple[Sample, list[str], list[int]]] = {}
        for indices in members.values():
            sample = samples[indices[0]]
            shown = sorted({responses[i] for i in indices})
            key = self._key(sample, shown)
            record = self.cache.get_record(key) if self.cache is not None else None
            if record is not None:
                self.stats.cache_hits += 1
                self._assign(indices, responses, shown, record["scores"], record.get("reasons", ""), None, True,
                             results)
            elif key in pending:
                pending[key][2].extend(indices)
            else:
                pending[key] = (sample, shown, list(indices))
        keys = list(pending)
        requests = [self.request(pending[key][0], pending[key][1]) for key in keys]

        def record(position: int, reply: Any) -> None:
            key = keys[position]
            sample, shown, indices = pending[key]
            if reply.from_cache:
                self.stats.cache_hits += 1
            else:
                self.stats.calls += 1
            scores, reasons, error = read_group_reply(reply, labels(len(shown)))
            if error is None and self.cache is not None:
                self.cache.put_record(key, {"form": "group", "sample_id": sample.id, "responses": shown,
                                            "scores": scores, "reasons": reasons})
            self._assign(indices, responses, shown, scores, reasons, error, reply.from_cache, results)

        await ask_all(self.client, requests, record)
        done = [r for r in results if r is not None]
        self.stats.scored += sum(1 for r in done if r.score is not None)
        return done

    def _assign(self, indices: list[int], responses: list[str], shown: list[str], scores: list[float] | None,
                reasons: str, error: str | None, from_cache: bool, results: list[Judgement | None]) -> None:
        by_text = dict(zip(shown, scores, strict=True)) if scores is not None else {}
        names = dict(zip(shown, labels(len(shown)), strict=True))
        for index in indices:
            if error is not None:
                results[index] = Judgement(score=None, error=error, from_cache=from_cache)
                self.stats.count_failure(error)
                continue
            text = responses[index]
            results[index] = Judgement(score=by_text[text], reasons=f"{names[text]} of {len(shown)}: {reasons}",
                                       from_cache=from_cache)
