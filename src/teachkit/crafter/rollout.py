"""Playing Crafter episodes with a teacher, and `teachkit crafter rollout` around it.

`play_episodes` is the loop every stage that plays uses (`rollout` with a teacher, `eval` with a student policy):

    async for episode in play_episodes(seeds, teacher, PlayConfig(max_steps=200), concurrency=32):
        ...

It keeps up to `concurrency` episodes in flight, asks the teacher for the decisions they need in batches (see
`teachers.Teacher`), plays the planned actions, and yields each Episode record as soon as it ends. `run_rollout`
adds what a command needs: seeds and shards, worker processes for CPU-bound teachers, a resumable output file,
a cost limit, frames, progress, a manifest and the closing summary.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import importlib.metadata
import json
import multiprocessing
import os
import sys
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from teachkit.console import Output
from teachkit.crafter.env import ACTIONS, CrafterGame
from teachkit.crafter.observation import observe
from teachkit.crafter.prompts import HistoryEntry
from teachkit.crafter.report import RolloutTally, summarize_files
from teachkit.crafter.teachers import Decision, RandomTeacher, ScriptedTeacher, Teacher, Turn, open_teacher
from teachkit.errors import InputError
from teachkit.jsonl import ResumableAppender, atomic_write, read_json_lines
from teachkit.manifest import now_iso, write_manifest
from teachkit.records import Episode, EpisodeTotals, Step, TokenUsage
from teachkit.settings import Settings


@dataclass(frozen=True)
class PlayConfig:
    """How episodes are played; everything here except `frames_dir` changes the trajectories."""

    max_steps: int = 10000
    difficulty: str = "normal"
    observation_format: str = "full"
    history: int = 4
    actions_per_call: int = 1
    settings_hash: str = ""
    frames_dir: Path | None = None


def episode_id(seed: int) -> str:
    return f"seed-{seed}"


@dataclass
class EpisodeRun:
    """One episode in flight."""

    id: str
    seed: int
    game: CrafterGame
    config: PlayConfig
    observation: str = ""
    steps: list[Step] = field(default_factory=list)
    history: deque[HistoryEntry] = field(default_factory=deque)
    totals: EpisodeTotals = field(default_factory=EpisodeTotals)
    frames: FrameRecorder | None = None

    def __post_init__(self) -> None:
        self.history = deque(maxlen=self.config.history)
        self.observation = observe(self.game, self.config.observation_format)
        if self.config.frames_dir is not None:
            self.frames = FrameRecorder(self.config.frames_dir / f"{self.id}.npz")
            self.frames.add(self.game.last_frame)

    def turn(self) -> Turn:
        return Turn(
            episode_id=self.id,
            seed=self.seed,
            t=self.game.t,
            observation=self.observation,
            history=list(self.history),
            game=self.game,
            max_actions=self.config.actions_per_call,
        )

    def apply(self, decision: Decision, on_step: Callable[[Step], None] | None) -> None:
        """Play the decision's actions (a plan of several plays out without asking again)."""
        actions = decision.actions[: self.config.actions_per_call] or ["noop"]
        valid, reason = decision.valid, decision.invalid_reason
        unknown = [name for name in actions if name not in ACTIONS]
        if valid and unknown:
            valid, reason = False, f"{unknown[0]!r} is not an action"
        if not valid:
            actions = ["noop"]
        totals = self.totals
        totals.tokens = totals.tokens + decision.tokens
        totals.cost_usd += decision.cost_usd
        if decision.error is not None:
            totals.teacher_errors += 1
        if not valid:
            totals.invalid_actions += 1
        game = self.game
        for index, action in enumerate(actions):
            if game.done:
                break
            note = f"your reply was invalid ({reason}), so noop was played" if not valid else None
            result = game.step(action, note)
            first = index == 0
            step = Step(
                t=game.t - 1,
                observation=self.observation,
                response=decision.response if first else None,
                thought=decision.thought if first else None,
                action=action,
                valid=valid,
                invalid_reason=reason,
                plan_index=index,
                outcome=result.outcome,
                reward=result.reward,
                inventory=game.inventory,
                new_achievements=result.new_achievements,
                tokens=decision.tokens if first else TokenUsage(),
                latency_s=decision.latency_s if first else 0.0,
            )
            self.steps.append(step)
            self.history.append(HistoryEntry(step.t, action, result.outcome))
            totals.reward += result.reward
            if self.frames is not None:
                self.frames.add(game.last_frame)
            if on_step is not None:
                on_step(step)
            if not game.done:
                self.observation = observe(game, self.config.observation_format)

    def episode(self, teacher_spec: str) -> Episode:
        totals = self.totals
        totals.steps = len(self.steps)
        totals.achievements = list(self.game.unlocked)
        totals.death_cause = self.game.death_cause
        totals.reward = round(totals.reward, 6)
        totals.cost_usd = round(totals.cost_usd, 8)
        if self.frames is not None:
            self.frames.save()
        return Episode(
            id=self.id,
            seed=self.seed,
            teacher=teacher_spec,
            settings_hash=self.config.settings_hash,
            difficulty=self.config.difficulty,
            max_steps=self.config.max_steps,
            observation_format=self.config.observation_format,
            steps=self.steps,
            totals=totals,
        )


class FrameRecorder:
    """An episode's frames, spooled to a temporary file beside the target rather than held in memory (10,000
    64x64 frames are 123 MB), then written as `frames` (T x H x W x 3, uint8) in a compressed .npz, atomically."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.spool = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".raw", dir=path.parent)
        self.handle = os.fdopen(fd, "wb")
        self.count = 0
        self.shape: tuple[int, ...] = ()

    def add(self, frame: np.ndarray) -> None:
        self.shape = frame.shape
        self.handle.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
        self.count += 1

    def save(self) -> None:
        self.handle.close()
        try:
            frames = np.memmap(self.spool, dtype=np.uint8, mode="r", shape=(self.count, *self.shape))
            with atomic_write(self.path, "wb") as handle:
                np.savez_compressed(handle, frames=frames)
        finally:
            self.discard()

    def discard(self) -> None:
        self.handle.close()
        Path(self.spool).unlink(missing_ok=True)


async def play_episodes(
    seeds: Iterable[int],
    teacher: Teacher,
    config: PlayConfig,
    *,
    concurrency: int = 1,
    should_stop: Callable[[], bool] = lambda: False,
    on_step: Callable[[Step], None] | None = None,
    make_id: Callable[[int], str] = episode_id,
) -> AsyncIterator[Episode]:
    """Play one episode per seed, up to `concurrency` at once, yielding each Episode as it ends.

    Once `should_stop()` is true no episode starts and the ones in flight are dropped unrecorded (a cost limit:
    rerunning them later replays them from their seed, from the response cache where the teacher has one).
    """
    pending_seeds = iter(seeds)
    spare_games: list[CrafterGame] = []
    running: list[EpisodeRun] = []
    ready: list[EpisodeRun] = []
    pending: dict[asyncio.Future[list[Decision]], list[EpisodeRun]] = {}
    completed: asyncio.Queue[asyncio.Future[list[Decision]]] = asyncio.Queue()

    def start_more() -> None:
        while len(running) < concurrency and not should_stop():
            seed = next(pending_seeds, None)
            if seed is None:
                return
            game = (
                spare_games.pop()
                if spare_games
                else CrafterGame(
                    max_steps=config.max_steps,
                    difficulty=config.difficulty,
                    frames=config.frames_dir is not None,
                )
            )
            game.reset(seed)
            run = EpisodeRun(make_id(seed), seed, game, config)
            teacher.begin_episode(run.id, seed)
            running.append(run)
            ready.append(run)

    def settle(batch: list[EpisodeRun], decisions: list[Decision]) -> list[EpisodeRun]:
        if len(decisions) != len(batch):
            raise RuntimeError(
                f"{teacher.spec}: decide() returned {len(decisions)} decisions for {len(batch)} turns"
            )
        ended = []
        for run, decision in zip(batch, decisions, strict=True):
            run.apply(decision, on_step)
            (ended if run.game.done else ready).append(run)
        return ended

    try:
        start_more()
        while running:
            if should_stop():
                break
            ended: list[EpisodeRun] = []
            if teacher.batch_size is None:
                # One call for every ready episode: await it directly, no task to schedule.
                batch = ready[:]
                ready.clear()
                ended = settle(batch, await teacher.decide([run.turn() for run in batch]))
            else:
                for start in range(0, len(ready), teacher.batch_size):
                    batch = ready[start : start + teacher.batch_size]
                    future = asyncio.ensure_future(teacher.decide([run.turn() for run in batch]))
                    pending[future] = batch
                    # A queue of finished calls: asyncio.wait() would cost O(calls in flight) per reply.
                    future.add_done_callback(completed.put_nowait)
                ready.clear()
                done = [await completed.get()]
                while not completed.empty():
                    done.append(completed.get_nowait())
                for future in done:
                    ended.extend(settle(pending.pop(future), future.result()))
            for run in ended:
                running.remove(run)
                teacher.end_episode(run.id)
                spare_games.append(run.game)
                yield run.episode(teacher.spec)
            start_more()
    finally:
        for future in pending:
            future.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for run in running:
            if run.frames is not None:
                run.frames.discard()


# --- the rollout command -----------------------------------------------------------------------------------------


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
                abandoned = asyncio.run(
                    play_into(todo, teacher, config, rollout.concurrency, record, progress.step_done, client)
                )
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


# --- worker processes for CPU-bound teachers ---------------------------------------------------------------------

_worker_teacher: Teacher | None = None
_worker_config: PlayConfig | None = None


def _init_worker(spec: str, config: PlayConfig) -> None:
    global _worker_teacher, _worker_config
    _worker_teacher = ScriptedTeacher() if spec == "scripted" else RandomTeacher()
    _worker_config = config


def _play_in_worker(seed: int) -> str:
    async def one() -> Episode:
        assert _worker_teacher is not None and _worker_config is not None
        async for episode in play_episodes([seed], _worker_teacher, _worker_config):
            return episode
        raise RuntimeError(f"seed {seed}: the episode did not finish")

    return asyncio.run(one()).model_dump_json()


@contextlib.contextmanager
def worker_pool(
    spec: str, config: PlayConfig, workers: int
) -> Iterator[concurrent.futures.ProcessPoolExecutor]:
    """Started worker processes, each with its own teacher.

    On Linux they are forked, so they start in milliseconds with everything already imported (as PyTorch's data
    loaders do); elsewhere they are spawned (about 2 s each to import teachkit, crafter and numba).
    """
    method = "fork" if sys.platform == "linux" else "spawn"
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context(method),
        initializer=_init_worker,
        initargs=(spec, config),
    )
    try:
        pool.submit(int).result()  # start the processes now
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def play_in_workers(
    pool: concurrent.futures.ProcessPoolExecutor, seeds: list[int], record: Callable[[Episode], None]
) -> None:
    """One episode per task; episodes are recorded here, in the order they finish."""
    futures = [pool.submit(_play_in_worker, seed) for seed in seeds]
    for future in concurrent.futures.as_completed(futures):
        record(Episode.model_validate_json(future.result()))
