"""Playing Crafter episodes with a teacher: the loop every stage that plays uses (`rollout` with a teacher, `eval`
with a student policy, `dagger` with a mixed one):

    async for episode in play_episodes(seeds, teacher, PlayConfig(max_steps=200), concurrency=32):
        ...

It keeps up to `concurrency` episodes in flight, asks the teacher for the decisions they need in batches (see
`teachers.Teacher`), plays the planned actions, and yields each Episode record as soon as it ends.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from teachkit.crafter.env import ACTIONS, CrafterGame
from teachkit.crafter.observation import observe
from teachkit.crafter.prompts import HistoryEntry
from teachkit.crafter.teachers import Decision, Teacher, Turn
from teachkit.jsonl import atomic_write
from teachkit.records import Episode, EpisodeTotals, Step, TokenUsage


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
