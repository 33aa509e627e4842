"""What a set of samples holds: samples per split, service and act, and how long the prompts are."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from teachkit.jsonl import read_records
from teachkit.records import Sample


class SampleStats:
    """Counts and prompt lengths of the samples added, in characters or in tokens of one tokenizer.

    Samples are counted per (split, services, acts) combination, a single dict update per sample (compile adds
    hundreds of thousands); the per-split, per-service and per-act counts are derived from those when asked.
    """

    def __init__(self, unit: str = "chars"):
        self.unit = unit
        self.lengths: list[int] = []
        self._combinations: Counter[tuple[str, tuple[str, ...], tuple[str, ...]]] = Counter()

    def add(self, split: str, services: tuple[str, ...], acts: tuple[str, ...], prompt_length: int) -> None:
        self._combinations[split, services, acts] += 1
        self.lengths.append(prompt_length)

    @property
    def samples(self) -> int:
        return len(self.lengths)

    @property
    def by_split(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for (split, _, _), count in self._combinations.items():
            counts[split] += count
        return counts

    @property
    def by_service(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for (_, services, _), count in self._combinations.items():
            for service in set(services):
                counts[service] += count
        return counts

    @property
    def by_act(self) -> Counter[str]:
        """Samples that perform each act (an act said twice in one turn counts once)."""
        counts: Counter[str] = Counter()
        for (_, _, acts), count in self._combinations.items():
            for act in set(acts):
                counts[act] += count
        return counts

    def length_summary(self) -> dict[str, Any]:
        if not self.lengths:
            return {"unit": self.unit, "min": None, "mean": None, "p50": None, "p90": None, "p99": None, "max": None}
        ordered = sorted(self.lengths)
        return {
            "unit": self.unit,
            "min": ordered[0],
            "mean": round(sum(ordered) / len(ordered), 1),
            "p50": percentile(ordered, 50),
            "p90": percentile(ordered, 90),
            "p99": percentile(ordered, 99),
            "max": ordered[-1],
        }

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        def rows(counter: Counter[str], key: str) -> list[dict[str, Any]]:
            return [
                {key: name, "samples": count, "share": round(count / max(self.samples, 1), 3)}
                for name, count in sorted(counter.items(), key=lambda item: (-item[1], item[0]))
            ]

        return {
            "samples_per_split": rows(self.by_split, "split"),
            "samples_per_service": rows(self.by_service, "service"),
            "samples_per_act": rows(self.by_act, "act"),
        }


def percentile(ordered: Sequence[int], q: float) -> int:
    """Nearest-rank percentile of sorted values."""
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def prompt_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    return "\n".join(message["content"] if isinstance(message, dict) else message.content for message in prompt)


def count_tokens(tokenizer: Any, texts: list[str]) -> list[int]:
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [len(ids) for ids in encoded]


def summarize_files(paths: Sequence[Path], tokenizer: Any = None, batch_size: int = 256) -> SampleStats:
    """Stats of sample files; prompt lengths in tokens of `tokenizer` when given (message contents, no template)."""
    stats = SampleStats("tokens" if tokenizer is not None else "chars")
    pending: list[Sample] = []

    def flush() -> None:
        texts = [prompt_text(sample.prompt) for sample in pending]
        lengths = count_tokens(tokenizer, texts) if tokenizer is not None else [len(text) for text in texts]
        for sample, length in zip(pending, lengths, strict=True):
            stats.add(sample.split, tuple(sample.services), tuple(a.act for a in sample.system_actions), length)
        pending.clear()

    for path in paths:
        for sample in read_records(path, Sample):
            pending.append(sample)
            if len(pending) >= batch_size:
                flush()
    flush()
    return stats
