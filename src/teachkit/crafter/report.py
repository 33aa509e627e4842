"""Crafter scores and achievement tables of rollout files, and `teachkit crafter report` with its bar chart.

The Crafter score is the paper's: S = exp(mean_i ln(1 + s_i)) - 1 over the 22 achievements, s_i the percentage of
episodes that unlocked achievement i at least once (danijar/crafter `analysis/common.py`). It rewards breadth: one
achievement in every episode scores far less than many achievements in some.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from teachkit.crafter.env import ACHIEVEMENTS
from teachkit.errors import InputError
from teachkit.jsonl import read_records
from teachkit.manifest import now_iso, write_manifest
from teachkit.records import Episode, TokenUsage


def crafter_score(success_rates: Sequence[float]) -> float:
    """The Crafter score of per-achievement success rates in percent (one per achievement, all 22)."""
    if not success_rates:
        return 0.0
    return math.exp(sum(math.log(1 + rate) for rate in success_rates) / len(success_rates)) - 1


class RolloutTally:
    """Running totals over episodes, so that files of any size are summarized while streaming."""

    def __init__(self) -> None:
        self.episodes = 0
        self.steps = 0
        self.decisions = 0
        self.reward = 0.0
        self.invalid = 0
        self.teacher_errors = 0
        self.unlocked = 0
        self.tokens = TokenUsage()
        self.cost_usd = 0.0
        self.achievements: Counter[str] = Counter()
        self.deaths: Counter[str] = Counter()
        self.teachers: Counter[str] = Counter()

    def add(self, episode: Episode) -> None:
        totals = episode.totals
        self.episodes += 1
        self.steps += totals.steps
        self.decisions += sum(1 for step in episode.steps if step.plan_index == 0)
        self.reward += totals.reward
        self.invalid += totals.invalid_actions
        self.teacher_errors += totals.teacher_errors
        self.tokens = self.tokens + totals.tokens
        self.cost_usd += totals.cost_usd
        unique = set(totals.achievements)
        self.unlocked += len(unique)
        self.achievements.update(unique)
        self.deaths[totals.death_cause or "survived"] += 1
        self.teachers[episode.teacher] += 1

    def success_rates(self) -> dict[str, float]:
        """Percentage of episodes that unlocked each achievement."""
        if not self.episodes:
            return {name: 0.0 for name in ACHIEVEMENTS}
        return {name: 100.0 * self.achievements[name] / self.episodes for name in ACHIEVEMENTS}

    @property
    def score(self) -> float:
        return crafter_score(list(self.success_rates().values()))

    @property
    def mean_achievements(self) -> float:
        return self.unlocked / self.episodes if self.episodes else 0.0

    def summary(self) -> dict[str, Any]:
        episodes = max(1, self.episodes)
        return {
            "episodes": self.episodes,
            "teacher": ", ".join(self.teachers) or None,
            "crafter_score": round(self.score, 2),
            "mean_achievements": round(self.mean_achievements, 2),
            "progression_%": round(100.0 * self.mean_achievements / len(ACHIEVEMENTS), 1),
            "mean_length": round(self.steps / episodes, 1),
            "mean_reward": round(self.reward / episodes, 2),
            "steps": self.steps,
            "invalid_rate_%": round(100.0 * self.invalid / self.decisions, 2) if self.decisions else 0.0,
            "teacher_errors": self.teacher_errors,
            "tokens": self.tokens.total,
            "tokens_per_step": round(self.tokens.total / self.steps, 1) if self.steps else 0.0,
            "cost_usd": round(self.cost_usd, 4),
            "deaths": dict(self.deaths.most_common()),
        }

    def achievement_rows(self) -> list[dict[str, Any]]:
        return [
            {"achievement": name, "episodes": self.achievements[name], "success_%": round(rate, 1)}
            for name, rate in self.success_rates().items()
        ]


def summarize_files(paths: Sequence[Path]) -> list[tuple[Path, RolloutTally]]:
    """One tally per rollout file, streaming its episodes."""
    tallies = []
    for path in paths:
        tally = RolloutTally()
        for episode in read_records(Path(path), Episode):
            tally.add(episode)
        tallies.append((Path(path), tally))
    return tallies


def report(
    paths: Sequence[Path], png: Path | None = None
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The summary of each file and a table of success rates, side by side; a bar chart to `png` if given."""
    if not paths:
        raise InputError("crafter report: name at least one rollout .jsonl file")
    started_at = now_iso()
    tallies = summarize_files(paths)
    labels = unique_labels([path for path, _ in tallies])
    files = [{"file": label, **tally.summary()} for label, (_, tally) in zip(labels, tallies, strict=True)]
    if len(files) == 1:
        single = files[0]
    rates = [tally.success_rates() for _, tally in tallies]
    achievements = []
    for name in ACHIEVEMENTS:
        row: dict[str, Any] = {"achievement": name}
        for label, file_rates in zip(labels, rates, strict=True):
            row[label if len(labels) > 1 else "success_%"] = round(file_rates[name], 1)
        achievements.append(row)
    if png is not None:
        bar_chart(labels, tallies, png)
        write_manifest(png, settings=None, inputs=list(paths), started_at=started_at,
                       counts={"files": len(tallies), "episodes": sum(tally.episodes for _, tally in tallies)})
    if len(files) == 1:
        return single, {"achievements": achievements}
    columns = (
        "file",
        "episodes",
        "teacher",
        "crafter_score",
        "mean_achievements",
        "mean_length",
        "mean_reward",
        "invalid_rate_%",
        "cost_usd",
    )
    rows = [{column: row[column] for column in columns} for row in files]
    return {"files": len(files)}, {"files": rows, "achievements": achievements}


def unique_labels(paths: Sequence[Path]) -> list[str]:
    """Short names for files: the file name, or more of the path where names repeat."""
    names = [path.name for path in paths]
    if len(set(names)) == len(names):
        return names
    return [str(path) for path in paths]


def bar_chart(labels: Sequence[str], tallies: Sequence[tuple[Path, RolloutTally]], png: Path) -> None:
    """Success rate per achievement, one bar per file, written atomically as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from teachkit.jsonl import atomic_write

    count = len(tallies)
    height = 0.8 / count
    figure, axes = plt.subplots(figsize=(9, 0.32 * len(ACHIEVEMENTS) * max(1, count**0.5) + 1.5))
    for index, (label, (_, tally)) in enumerate(zip(labels, tallies, strict=True)):
        rates = tally.success_rates()
        positions = [row + index * height for row in range(len(ACHIEVEMENTS))]
        axes.barh(
            positions,
            [rates[name] for name in ACHIEVEMENTS],
            height=height,
            label=f"{label} (score {tally.score:.1f}, {tally.episodes} episodes)",
        )
    axes.set_yticks([row + 0.4 - height / 2 for row in range(len(ACHIEVEMENTS))])
    axes.set_yticklabels(ACHIEVEMENTS)
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("episodes that unlocked it (%)")
    axes.set_title("Crafter achievements")
    axes.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    with atomic_write(Path(png), "wb") as handle:
        figure.savefig(handle, format="png", dpi=110)
    plt.close(figure)
