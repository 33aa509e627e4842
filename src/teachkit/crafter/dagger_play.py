"""One DAgger round's play: the student acts (or, with probability beta, the teacher), the teacher labels every state.

`LabellingPlayer` is a `teachers.Teacher` for the rollout loop (`rollout.play_episodes`): for every batch of turns
it asks the teacher for its decision on each state, then lets the student decide the turns the teacher does not
act on, and hands the loop the action to play. When an episode ends, `finish` rewrites its steps so that each one
records the teacher's label as `action` (what training learns: `filter`, `format` and `report` read them like any
rollout) with the teacher's thought and reply, and the action that was executed as `played` where it differs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from teachkit.crafter.env import ACTIONS
from teachkit.crafter.teachers import Decision, Teacher, Turn
from teachkit.records import Episode


@dataclass
class PlayCounts:
    """What happened in a round's play: who acted, and how often the student agreed with the teacher."""

    steps: int = 0
    student_steps: int = 0
    student_agreed: int = 0
    student_invalid: int = 0
    invalid_labels: int = 0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "steps": self.steps,
            "student_steps": self.student_steps,
            "student_agreement_%": round(100.0 * self.student_agreed / self.student_steps, 1)
            if self.student_steps else None,
            "student_invalid": self.student_invalid,
            "invalid_labels": self.invalid_labels,
        }


def label_of(decision: Decision) -> tuple[str, bool, str | None]:
    """The teacher's label as (action, valid, why invalid): an invalid reply labels the state `noop`, invalid."""
    if not decision.valid:
        return "noop", False, decision.invalid_reason
    name = decision.actions[0] if decision.actions else "noop"
    if name not in ACTIONS:
        return "noop", False, f"{name!r} is not an action"
    return name, True, None


class LabellingPlayer:
    """Plays with the student (None: the teacher alone, behaviour cloning) and keeps the teacher's label per state.

    `beta` is the chance that the teacher's own action is played at a step, drawn from a generator seeded by the
    round and the episode's seed, so a resumed round replays the same choices.
    """

    batch_size = None
    cpu_bound = False

    def __init__(self, teacher: Teacher, student: Teacher | None, *, beta: float, round_index: int):
        self.teacher = teacher
        self.student = student
        self.beta = 1.0 if student is None else beta
        self.round_index = round_index
        self.spec = teacher.spec
        self.counts = PlayCounts()
        self._random: dict[str, random.Random] = {}
        self._labels: dict[str, dict[int, Decision]] = {}

    def begin_episode(self, episode_id: str, seed: int) -> None:
        self.teacher.begin_episode(episode_id, seed)
        if self.student is not None:
            self.student.begin_episode(episode_id, seed)
        self._random[episode_id] = random.Random(f"dagger-round-{self.round_index}-seed-{seed}")
        self._labels[episode_id] = {}

    async def decide(self, turns: list[Turn]) -> list[Decision]:
        labels = await self.teacher.decide(turns)
        teacher_acts = [self.student is None or self._random[turn.episode_id].random() < self.beta for turn in turns]
        student_turns = [turn for turn, by_teacher in zip(turns, teacher_acts, strict=True) if not by_teacher]
        own = iter(await self.student.decide(student_turns)) if self.student is not None and student_turns else iter(())
        decisions = []
        for turn, label, by_teacher in zip(turns, labels, teacher_acts, strict=True):
            self._labels[turn.episode_id][turn.t] = label
            if by_teacher:
                decisions.append(label)
                continue
            choice = next(own)
            self.counts.student_steps += 1
            self.counts.student_invalid += not choice.valid
            self.counts.student_agreed += choice.valid and choice.actions[:1] == [label_of(label)[0]]
            # The student's action is played; the teacher's reply, tokens and cost are what the step records.
            decisions.append(Decision(
                actions=choice.actions[:1] or ["noop"], valid=choice.valid, invalid_reason=choice.invalid_reason,
                response=label.response, thought=label.thought, tokens=label.tokens, latency_s=label.latency_s,
                cost_usd=label.cost_usd, error=label.error,
            ))
        return decisions

    def end_episode(self, episode_id: str) -> None:
        self.teacher.end_episode(episode_id)
        if self.student is not None:
            self.student.end_episode(episode_id)
        self._random.pop(episode_id, None)

    def finish(self, episode: Episode) -> Episode:
        """The episode with the teacher's label as each step's action (and the executed one as `played`)."""
        labels = self._labels.pop(episode.id)
        invalid = 0
        for step in episode.steps:
            name, valid, reason = label_of(labels[step.t])
            step.played = step.action if step.action != name else None
            step.action, step.valid, step.invalid_reason = name, valid, reason
            invalid += not valid
        episode.totals.invalid_actions = invalid
        self.counts.steps += len(episode.steps)
        self.counts.invalid_labels += invalid
        return episode

    async def aclose(self) -> None:
        await self.teacher.aclose()
        if self.student is not None:
            await self.student.aclose()
