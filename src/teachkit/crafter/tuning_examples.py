"""Fine-tuning examples from episodes: one per teacher decision (a planned sequence of actions is one decision),
with up to K earlier consecutive decisions as earlier turns."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from teachkit.crafter.prompts import response_text, user_prompt
from teachkit.records import Episode, Step
from teachkit.sft_data.formats import MODEL, USER, Example


def model_reply(actions: Sequence[str], thought: str | None) -> str:
    return response_text(list(actions) if len(actions) > 1 else actions[0], thought)



@dataclass
class Decision:
    """One teacher decision: the step it was made at and the actions it chose (several for a plan)."""

    steps: list[Step]

    @property
    def first(self) -> Step:
        return self.steps[0]

    def follows(self, other: Decision) -> bool:
        return self.first.t == other.steps[-1].t + 1


def decisions_of(steps: Sequence[Step]) -> list[Decision]:
    """Group the later actions of a plan (plan_index > 0, consecutive) with the step that planned them."""
    decisions: list[Decision] = []
    for step in steps:
        previous = decisions[-1] if decisions else None
        if step.plan_index > 0 and previous is not None and step.t == previous.steps[-1].t + 1:
            previous.steps.append(step)
        else:
            decisions.append(Decision([step]))
    return decisions


def episode_examples(
    episode: Episode, *, history: int, with_thoughts: bool, system: str | None
) -> Iterator[Example]:
    decisions = decisions_of(episode.steps)
    turns = [
        (
            user_prompt(decision.first.observation),
            model_reply([s.action for s in decision.steps], decision.first.thought if with_thoughts else None),
        )
        for decision in decisions
    ]
    for index, (user, model) in enumerate(turns):
        start = index
        while start > 0 and index - start < history and decisions[start].follows(decisions[start - 1]):
            start -= 1
        example_turns: list[tuple[str, str]] = []
        for earlier_user, earlier_model in turns[start:index]:
            example_turns.append((USER, earlier_user))
            example_turns.append((MODEL, earlier_model))
        example_turns.append((USER, user))
        example_turns.append((MODEL, model))
        yield Example(system=system, turns=example_turns)
