"""The paired bootstrap both evals report: how sure is a difference between two students measured on the same items.

Both students were measured on the same items (Crafter: the same seeds; SGD: the same samples), so a resample draws
items with replacement and keeps each item's pair together; the interval is the percentile interval of the
resampled differences.

    interval = paired_bootstrap(len(seeds), lambda picks: stat(policy, picks) - stat(baseline, picks),
                                resamples=2000, seed=0)
    document = paired_scores_bootstrap(base_scores, trained_scores, resamples=10000, seed=0, groups=dialogues)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Interval:
    difference: float
    low: float
    high: float

    @property
    def above_zero(self) -> bool:
        return self.low > 0


def paired_bootstrap(
    count: int,
    difference: Callable[[Any], float],
    *,
    resamples: int,
    seed: int,
    confidence: float = 0.95,
) -> Interval:
    """`difference(indices)` is the statistic of one student minus the other's on the items at `indices` (a numpy
    array; repeats allowed). Returns it on all items and its bootstrap interval."""
    import numpy as np

    if count == 0:
        raise ValueError("a bootstrap needs at least one pair")
    rng = np.random.default_rng(seed)
    draws = np.fromiter((difference(rng.integers(0, count, size=count)) for _ in range(resamples)), float,
                        count=resamples)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Interval(float(difference(np.arange(count))), float(low), float(high))


def paired_scores_bootstrap(
    base: Sequence[float | None],
    trained: Sequence[float | None],
    *,
    resamples: int,
    seed: int,
    confidence: float = 0.95,
    groups: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Mean of (trained - base) over the items both have a score for, with its interval.

    With `groups` (the dialogue of each SGD sample), `ci95_by_group` resamples whole groups too: turns of one
    dialogue are not independent, and this interval says how much the result owes to which dialogues were drawn.
    """
    import numpy as np

    kept = [i for i, (b, t) in enumerate(zip(base, trained, strict=True)) if b is not None and t is not None]
    diffs = np.array([trained[i] - base[i] for i in kept], dtype=float)  # type: ignore[operator]
    result: dict[str, Any] = {"pairs": int(diffs.size), "mean_difference": None, "ci95": None,
                              "resamples": resamples, "interval_above_zero": False}
    if diffs.size == 0:
        return result
    interval = paired_bootstrap(diffs.size, lambda picks: diffs[picks].mean(), resamples=resamples, seed=seed,
                                confidence=confidence)
    result.update(mean_difference=interval.difference, ci95=[interval.low, interval.high],
                  interval_above_zero=interval.above_zero)
    if groups is not None:
        names = sorted({groups[i] for i in kept})
        index = {name: n for n, name in enumerate(names)}
        sums = np.zeros(len(names))
        counts = np.zeros(len(names))
        for position, i in enumerate(kept):
            sums[index[groups[i]]] += diffs[position]
            counts[index[groups[i]]] += 1
        by_group = paired_bootstrap(len(names), lambda picks: sums[picks].sum() / counts[picks].sum(),
                                    resamples=resamples, seed=seed + 1, confidence=confidence)
        result.update(groups=len(names), ci95_by_group=[by_group.low, by_group.high])
    return result
