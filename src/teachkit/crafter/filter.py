"""`teachkit crafter filter`: keep the good episodes and the useful steps, and say why the rest went.

Episodes are read in file order and scored (scoring.py). Episode-level rules drop whole episodes, in this order:
a repeated episode (same id, teacher and settings hash), --min-achievements, --min-score, --require, then --top-k / --top-fraction. Kept episodes then
lose steps: invalid actions, noops, steps after the last new achievement, and (observation, action) pairs already
seen in an earlier kept step (observations compared without their step counter); the first occurrence in file order
is kept. An episode left with no steps is dropped.

The file is streamed: only the --top-k / --top-fraction candidates are held in memory, so any size of rollout file
can be filtered. Re-filtering a filtered file works: its scores are recomputed from the settings.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teachkit.console import Output
from teachkit.crafter.scoring import ACHIEVEMENTS, EpisodeScorer
from teachkit.errors import ConfigError, InputError
from teachkit.jsonl import atomic_write, paused_gc, read_records
from teachkit.manifest import now_iso, write_manifest
from teachkit.records import Episode, EpisodeScore
from teachkit.settings import FilterSettings, Settings

# Why episodes or steps were dropped, in the order the summary table lists them.
EPISODE_REASONS = {
    "duplicate_id": "repeated episode (same id, teacher and settings)",
    "min_achievements": "below --min-achievements",
    "min_score": "below --min-score",
    "require": "missing a --require achievement",
    "rank": "outside --top-k / --top-fraction",
    "no_steps": "no steps left",
}
STEP_REASONS = {
    "invalid": "invalid action",
    "noop": "noop",
    "after_last_achievement": "after the last new achievement",
    "near_duplicate": "near-duplicate (observation, action)",
}


@dataclass
class FilterReport:
    inputs: list[Path]
    output: Path
    episodes_read: int = 0
    steps_read: int = 0
    episodes_kept: int = 0
    steps_kept: int = 0
    dropped_episodes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EPISODE_REASONS, 0))
    # Steps lost with dropped episodes, by episode reason, and steps dropped one by one, by step reason.
    dropped_steps: dict[str, int] = field(default_factory=lambda: dict.fromkeys([*EPISODE_REASONS, *STEP_REASONS], 0))
    kept_scores: list[float] = field(default_factory=list)
    kept_achievements: list[int] = field(default_factory=list)

    def drop_episode(self, reason: str, episode: Episode) -> None:
        self.dropped_episodes[reason] += 1
        self.dropped_steps[reason] += len(episode.steps)

    def rows(self) -> list[dict[str, Any]]:
        """The closing table: what was read, each reason something was dropped, and what was kept."""
        rows = [{"what": "read", "episodes": self.episodes_read, "steps": self.steps_read}]
        for reason, label in EPISODE_REASONS.items():
            if self.dropped_episodes[reason]:
                rows.append({"what": f"dropped: {label}", "episodes": self.dropped_episodes[reason],
                             "steps": self.dropped_steps[reason]})
        for reason, label in STEP_REASONS.items():
            if self.dropped_steps[reason]:
                rows.append({"what": f"dropped steps: {label}", "episodes": None, "steps": self.dropped_steps[reason]})
        rows.append({"what": "kept", "episodes": self.episodes_kept, "steps": self.steps_kept})
        return rows

    def counts(self) -> dict[str, Any]:
        return {
            "episodes_read": self.episodes_read,
            "steps_read": self.steps_read,
            "episodes_kept": self.episodes_kept,
            "steps_kept": self.steps_kept,
            "dropped_episodes": {k: v for k, v in self.dropped_episodes.items() if v},
            "dropped_steps": {k: v for k, v in self.dropped_steps.items() if v},
        }

    def summary(self) -> dict[str, Any]:
        scores = self.kept_scores
        return {
            "inputs": [str(path) for path in self.inputs],
            "output": str(self.output),
            "episodes_kept": f"{self.episodes_kept} of {self.episodes_read}",
            "steps_kept": f"{self.steps_kept} of {self.steps_read}",
            "near_duplicates_removed": self.dropped_steps["near_duplicate"],
            "score_of_kept": (
                f"min {min(scores):.2f}, mean {sum(scores) / len(scores):.2f}, max {max(scores):.2f}" if scores else None
            ),
            "mean_achievements_of_kept": (
                round(sum(self.kept_achievements) / len(self.kept_achievements), 2) if self.kept_achievements else None
            ),
        }


def check_filter_settings(settings: FilterSettings) -> None:
    if settings.top_k is not None and settings.top_fraction is not None:
        raise ConfigError("crafter.filter: give --top-k or --top-fraction, not both")
    unknown = [name for name in settings.require if name not in ACHIEVEMENTS]
    if unknown:
        raise ConfigError(
            f"crafter.filter.require: unknown achievement {unknown[0]!r}; the 22 are: {', '.join(ACHIEVEMENTS)}"
        )


def check_output_path(out: Path, inputs: Sequence[Path], overwrite: bool) -> None:
    """Refuse to read and write the same file, or to replace an existing output unless asked."""
    out = Path(out)
    for path in inputs:
        if out.resolve() == Path(path).resolve():
            raise InputError(f"{out}: the output is also an input; write to another file")
    if out.exists() and not overwrite:
        raise InputError(f"{out}: already exists; add --overwrite to replace it")


def count_records(paths: Sequence[Path]) -> int:
    """Non-blank lines over all files: the episode count, for --top-fraction and the progress bar.

    Bytes, not text: decoding a rollout file costs as much as a quarter of parsing it, and the lines are checked
    when they are read.
    """
    count = 0
    for path in paths:
        if not Path(path).is_file():
            raise InputError(f"{path}: {'is a directory' if Path(path).is_dir() else 'no such file'}; expected a .jsonl file")
        with Path(path).open("rb") as handle:
            count += sum(1 for line in handle if not line.isspace())
    return count


def read_episodes(paths: Sequence[Path]) -> Iterator[Episode]:
    for path in paths:
        yield from read_records(path, Episode)


@dataclass(order=True)
class Candidate:
    """An episode waiting for the ranking; ordered worst first so the heap pops the one to drop."""

    score: float
    later: int  # -index: of two equal scores the later episode is dropped first
    index: int = field(compare=False)
    episode: Episode = field(compare=False)
    states: list[str] = field(compare=False)


class EpisodeFilter:
    def __init__(self, settings: Settings):
        self.rules = settings.crafter.filter
        check_filter_settings(self.rules)
        self.scorer = EpisodeScorer(settings.crafter.score)
        self.required = set(self.rules.require)
        self.seen_pairs: set[int] = set()

    def rejection(self, episode: Episode, score: EpisodeScore) -> str | None:
        """The first episode-level rule the episode fails, or None."""
        rules = self.rules
        achieved = int(score.breakdown["achievements"])
        if rules.min_achievements is not None and achieved < rules.min_achievements:
            return "min_achievements"
        if rules.min_score is not None and score.total < rules.min_score:
            return "min_score"
        if self.required:
            unlocked = set(episode.totals.achievements)
            for step in episode.steps:
                unlocked.update(step.new_achievements)
            if not self.required <= unlocked:
                return "require"
        return None

    def keep_steps(self, episode: Episode, states: list[str], report: FilterReport) -> list[int]:
        """Indices of the steps that survive the step-level rules, updating the drop counts."""
        rules = self.rules
        steps = episode.steps
        last = len(steps) - 1
        if rules.until_last_achievement:
            last = max((i for i, step in enumerate(steps) if step.new_achievements), default=-1)
        kept = []
        for index, step in enumerate(steps):
            if index > last:
                report.dropped_steps["after_last_achievement"] += len(steps) - index
                break
            if rules.drop_invalid and not step.valid:
                report.dropped_steps["invalid"] += 1
                continue
            if rules.drop_noop and step.action == "noop":
                report.dropped_steps["noop"] += 1
                continue
            if rules.dedupe:
                pair = hash((states[index], step.action))
                if pair in self.seen_pairs:
                    report.dropped_steps["near_duplicate"] += 1
                    continue
                self.seen_pairs.add(pair)
            kept.append(index)
        return kept

    def emit(self, episode: Episode, states: list[str], score: EpisodeScore, handle: Any, report: FilterReport) -> None:
        kept = self.keep_steps(episode, states, report)
        if not kept:
            report.dropped_episodes["no_steps"] += 1
            return
        if len(kept) < len(episode.steps):
            episode.steps = [episode.steps[i] for i in kept]
        episode.score = score
        handle.write(episode.model_dump_json())
        handle.write("\n")
        report.episodes_kept += 1
        report.steps_kept += len(kept)
        report.kept_scores.append(score.total)
        report.kept_achievements.append(int(score.breakdown["achievements"]))


def filter_episodes(
    inputs: Sequence[Path], out: Path, settings: Settings, output: Output | None = None, *, overwrite: bool = False
) -> FilterReport:
    """Filter episode files into `out` (atomically, with a manifest); returns what was kept and dropped."""
    output = output or Output()
    inputs = [Path(path) for path in inputs]
    out = Path(out)
    started = now_iso()
    episode_filter = EpisodeFilter(settings)
    check_output_path(out, inputs, overwrite)
    rules = episode_filter.rules
    scorer = episode_filter.scorer
    total = count_records(inputs)
    keep_best = rules.top_k if rules.top_k is not None else (
        math.ceil(rules.top_fraction * total) if rules.top_fraction is not None else None
    )
    report = FilterReport(inputs=inputs, output=out)
    seen_ids: set[tuple[str, str, str]] = set()
    candidates: list[Candidate] = []
    with atomic_write(out) as handle, output.progress("filtering", total=total, unit="episodes") as bar, paused_gc():
        for index, episode in enumerate(read_episodes(inputs)):
            report.episodes_read += 1
            report.steps_read += len(episode.steps)
            bar.advance(1, kept=report.episodes_kept)
            # Rollouts name episodes by seed: the same id from another teacher or settings is another episode.
            key = (episode.id, episode.teacher, episode.settings_hash)
            if key in seen_ids:
                report.drop_episode("duplicate_id", episode)
                continue
            seen_ids.add(key)
            states = [scorer.state_of(step.observation) for step in episode.steps]
            score = scorer.score(episode, states)
            reason = episode_filter.rejection(episode, score)
            if reason is not None:
                report.drop_episode(reason, episode)
            elif keep_best is None:
                episode_filter.emit(episode, states, score, handle, report)
            else:
                episode.score = score
                heapq.heappush(candidates, Candidate(score.total, -index, index, episode, states))
                if len(candidates) > keep_best:
                    report.drop_episode("rank", heapq.heappop(candidates).episode)
        for candidate in sorted(candidates, key=lambda c: c.index):
            episode_filter.emit(candidate.episode, candidate.states, candidate.episode.score, handle, report)
        bar.update(kept=report.episodes_kept)  # the count shown while reading lags one episode behind
    write_manifest(
        out,
        settings=settings,
        inputs=inputs,
        counts=report.counts(),
        started_at=started,
        extra={"score_formula": "achievement_points + efficiency + survival - invalid_penalty - loop_penalty"},
    )
    return report
