"""What a set of samples holds: samples per split, service and act, and how long the prompts are."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from teachkit.jsonl import read_records
from teachkit.records import Sample


class SampleStats:
    """Counts and prompt lengths of the samples added, in characters or in tokens of one tokenizer."""

    def __init__(self, unit: str = "chars"):
        self.unit = unit
        self.samples = 0
        self.by_split: Counter[str] = Counter()
        self.by_service: Counter[str] = Counter()
        self.by_act: Counter[str] = Counter()
        self.lengths: list[int] = []

    def add(self, split: str, services: Iterable[str], acts: Iterable[str], prompt_length: int) -> None:
        self.samples += 1
        self.by_split[split] += 1
        self.by_service.update(services)
        # An act counts once per sample: the table says how many samples perform it.
        self.by_act.update(set(acts))
        self.lengths.append(prompt_length)

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
            stats.add(sample.split, sample.services, (a.act for a in sample.system_actions), length)
        pending.clear()

    for path in paths:
        for sample in read_records(path, Sample):
            pending.append(sample)
            if len(pending) >= batch_size:
                flush()
    flush()
    return stats
