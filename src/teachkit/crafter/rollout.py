"""`teachkit crafter rollout`: play the configured episodes with a teacher into a resumable JSONL file.

`run_rollout` adds to the play loop (`play.play_episodes`) what a command needs: seeds and shards, worker processes
for CPU-bound teachers (`rollout_workers.py`), a resumable output file, a cost limit, frames, progress, a manifest
and the closing summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.metadata
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from teachkit.console import Output
from teachkit.crafter.play import PlayConfig, episode_id, play_episodes
from teachkit.crafter.report import RolloutTally, summarize_files
from teachkit.crafter.rollout_workers import play_in_workers, worker_pool
from teachkit.crafter.teachers import Teacher, open_teacher
from teachkit.errors import InputError, ProviderFault
from teachkit.jsonl import ResumableAppender, read_json_lines
from teachkit.manifest import now_iso, write_manifest
from teachkit.records import Episode, Step
from teachkit.settings import Settings


def parse_shard(text: str | None) -> tuple[int, int]:
    """`K/N` (K from 1 to N) -> (K, N); None -> (1, 1)."""
    if text is None:
        return 1, 1
    left, slash, right = text.partition("/")
    try:
        k, n = int(left), int(right)
    except ValueError:
        k = n = 0
    if not slash or n < 1 or not 1 <= k <= n:
        raise InputError(
            f"--shard {text!r}: expected K/N with 1 <= K <= N, e.g. --shard 2/4 for the second of 4"
        )
    return k, n


def shard_seeds(first_seed: int, episodes: int, shard: tuple[int, int]) -> list[int]:
    """Episode i plays seed first_seed + i; shard K/N takes every N-th episode starting at the K-th."""
    k, n = shard
    return [first_seed + i for i in range(episodes) if i % n == k - 1]


def settings_hash(settings: Settings, teacher_spec: str) -> str:
    """A short hash of everything that changes a trajectory, for telling runs apart and refusing to mix them."""
    rollout = settings.crafter.rollout
    keys: dict[str, Any] = {
        "teacher": teacher_spec,
        "max_steps": rollout.max_steps,
        "difficulty": rollout.difficulty,
        "observation": rollout.observation,
        "crafter": importlib.metadata.version("crafter"),
    }
    if teacher_spec not in ("scripted", "random"):
        teacher = settings.teacher
        keys.update(
            history=rollout.history,
            actions_per_call=rollout.actions_per_call,
            enable_thinking=rollout.enable_thinking,
            structured_output=rollout.structured_output,
            temperature=teacher.temperature,
            max_output_tokens=teacher.max_output_tokens,
            thinking_budget=teacher.thinking_budget,
        )
    return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class RolloutRequest:
    """The flags of one `teachkit crafter rollout` that are not settings."""

    out: Path
    resume: bool = False
    overwrite: bool = False
    max_cost: float | None = None
    record_frames: bool = False
    shard: str | None = None


def frames_dir_for(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".jsonl") + ".frames")


def check_resumable(out: Path, expected_hash: str) -> None:
    """Refuse to extend a file made with other settings: its episodes would not be comparable."""
    if not out.exists() or out.stat().st_size == 0:
        return
    for number, record in read_json_lines(out):
        found = record.get("settings_hash")
        if found != expected_hash:
            raise InputError(
                f"{out}:{number}: episodes made with other settings (settings_hash {found} != {expected_hash}); "
                "resume with the same teacher and settings, or write to another --out, or use --overwrite"
            )
        return


def run_rollout(
    settings: Settings, request: RolloutRequest, output: Output | None = None
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Play the configured episodes into `request.out`; returns the summary and the achievement table."""
    output = output or Output()
    started_at = now_iso()
    rollout = settings.crafter.rollout
    shard = parse_shard(request.shard)
    spec = rollout.teacher.strip()
    seeds = shard_seeds(rollout.seed, rollout.episodes, shard)
    hashed = settings_hash(settings, spec)
    config = PlayConfig(
        max_steps=rollout.max_steps,
        difficulty=rollout.difficulty,
        observation_format=rollout.observation,
        history=rollout.history,
        actions_per_call=rollout.actions_per_call,
        settings_hash=hashed,
        frames_dir=frames_dir_for(request.out) if request.record_frames else None,
    )
    teacher = open_teacher(spec, settings, max_cost=request.max_cost)
    if rollout.workers > 1 and not teacher.cpu_bound:
        raise InputError(
            f"--workers {rollout.workers}: worker processes are for CPU-bound teachers (scripted, random); "
            f"a model teacher like {spec} runs episodes concurrently with --concurrency instead"
        )
    if request.resume:
        check_resumable(request.out, hashed)
    tally = RolloutTally()
    client = getattr(teacher, "client", None)
    abandoned = 0
    with ResumableAppender(
        request.out, Episode, resume=request.resume, overwrite=request.overwrite, warn=output.warn
    ) as appender:
        already = len(appender.done_ids)
        todo = [seed for seed in seeds if episode_id(seed) not in appender.done_ids]
        if already:
            output.info(f"{request.out}: {already} episodes already there; playing the other {len(todo)}")
        in_workers = rollout.workers > 1 and len(todo) > 1
        # Worker processes start before the progress bar's thread does: forking a threaded process is unsafe.
        with (
            (
                worker_pool(spec, config, min(rollout.workers, len(todo)))
                if in_workers
                else contextlib.nullcontext()
            ) as pool,
            output.progress("rollout", total=len(todo), unit="episodes") as bar,
        ):
            progress = ProgressStats(bar, tally, client, steps_from_episodes=in_workers)

            def record(episode: Episode) -> None:
                appender.append(episode)
                tally.add(episode)
                progress.episode_done(episode)

            if pool is not None:
                play_in_workers(pool, todo, record)
            else:
                try:
                    abandoned = asyncio.run(
                        play_into(todo, teacher, config, rollout.concurrency, record, progress.step_done, client)
                    )
                except ProviderFault as fault:
                    # The episodes in flight are dropped unrecorded, so that --resume plays them again.
                    raise ProviderFault(
                        f"{fault}. {tally.episodes} of {len(todo)} episodes finished before it and are in "
                        f"{request.out}; fix it and rerun with --resume to play the other {len(todo) - tally.episodes}"
                    ) from None
    summary_tally = tally
    if already:
        # The closing table covers the whole file, the episodes of earlier runs included.
        summary_tally = summarize_files([request.out])[0][1]
    summary = summary_tally.summary()
    summary["new_episodes"] = tally.episodes
    summary["output"] = str(request.out)
    if abandoned:
        output.warn(
            f"stopped at --max-cost {request.max_cost:g} USD: {abandoned} episodes unfinished or not started; "
            "rerun with --resume and a higher --max-cost to play them"
        )
        summary["unfinished"] = abandoned
    extra: dict[str, Any] = {
        "teacher": spec,
        "settings_hash": hashed,
        "seeds": {"first": rollout.seed, "episodes": rollout.episodes, "shard": f"{shard[0]}/{shard[1]}"},
        "play": {
            key: str(value) if isinstance(value, Path) else value for key, value in asdict(config).items()
        },
        "summary": summary,
    }
    if client is not None:
        ledger = client.ledger.summary()
        extra["teacher_ledger"] = ledger
        summary.update(
            requests=ledger["requests"],
            cache_hits=ledger["cache_hits"],
            retries=ledger["retries"],
            request_errors=ledger["errors"],
        )
    write_manifest(
        request.out,
        settings=settings,
        counts={
            "episodes": summary_tally.episodes,
            "new_episodes": tally.episodes,
            "steps": summary_tally.steps,
        },
        started_at=started_at,
        extra=extra,
    )
    return summary, {"achievements": summary_tally.achievement_rows()}


async def play_into(
    seeds: list[int],
    teacher: Teacher,
    config: PlayConfig,
    concurrency: int,
    record: Callable[[Episode], None],
    on_step: Callable[[Step], None],
    client: Any,
) -> int:
    """Play in this process; returns how many episodes were left unplayed because the cost limit was reached."""
    should_stop = (lambda: client.budget_exceeded) if client is not None else (lambda: False)
    played = 0
    try:
        async for episode in play_episodes(
            seeds, teacher, config, concurrency=concurrency, should_stop=should_stop, on_step=on_step
        ):
            record(episode)
            played += 1
    finally:
        await teacher.aclose()
    return len(seeds) - played


class ProgressStats:
    """Feeds the progress bar: episodes done, steps/s, mean achievements, tokens and cost.

    In this process steps are counted as they are played; from worker processes, when their episode ends.
    """

    def __init__(self, bar: Any, tally: RolloutTally, client: Any, *, steps_from_episodes: bool = False):
        self.bar = bar
        self.tally = tally
        self.client = client
        self.steps_from_episodes = steps_from_episodes
        self.started = time.monotonic()
        self.steps = 0
        self.last_update = 0.0

    def stats(self) -> dict[str, Any]:
        elapsed = max(1e-9, time.monotonic() - self.started)
        stats: dict[str, Any] = {"steps/s": round(self.steps / elapsed, 1)}
        if self.tally.episodes:
            stats["achievements"] = round(self.tally.mean_achievements, 2)
        if self.client is not None:
            ledger = self.client.ledger
            stats["tokens"] = ledger.tokens.total
            stats["cost"] = f"${ledger.cost_usd:.4f}"
        return stats

    def step_done(self, step: Step) -> None:
        self.steps += 1
        now = time.monotonic()
        if now - self.last_update > 0.5:
            self.last_update = now
            self.bar.update(**self.stats())

    def episode_done(self, episode: Episode) -> None:
        if self.steps_from_episodes:
            self.steps += episode.totals.steps
        self.bar.advance(1, **self.stats())
