"""The prompts a Crafter player reads: one system prompt per observation format, and the user turn.

Every stage builds its prompts here so that they agree: `rollout` (the teacher), `format` (the fine-tuning data:
the same system prompt and user turns), and `eval` (the student plays with the observation format and prompt it
was trained on: `StudentConversation`, for a local student and a served one alike).

    messages = build_messages(observation, history, observation_format="compact")
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from crafter import constants

from teachkit.crafter.actions import action_reference, collect_reference, compact_recipes
from teachkit.crafter.env import ACHIEVEMENTS, ACTIONS
from teachkit.llm.base import Message
from teachkit.records import Step, StudentPrompt


@dataclass(frozen=True)
class HistoryEntry:
    """One earlier step as the player is reminded of it: what it did and what came of it."""

    t: int
    action: str
    outcome: str


def reply_instructions(actions_per_call: int, structured: bool) -> str:
    if structured:
        if actions_per_call == 1:
            return "Reply with the name of one action."
        return f"Reply with a list of 1 to {actions_per_call} action names, played in order."
    if actions_per_call == 1:
        return "Reply in two lines:\nThought: <one short sentence>\nAction: <one action name>"
    return (
        f"You may plan up to {actions_per_call} actions; they are played in order without a new observation, so "
        "plan only as far as you can foresee. Reply in two lines:\n"
        "Thought: <one short sentence>\nActions: <action names, comma-separated>"
    )


def full_system_prompt(actions_per_call: int = 1, structured: bool = False) -> str:
    walkable = ", ".join(constants.walkable)
    lines = [
        "You play Crafter, a 2D survival game, through text. Each turn you read an observation and choose the "
        "next action.",
        f"Goal: unlock as many of the {len(ACHIEVEMENTS)} achievements as you can, each counts once, and stay "
        f"alive. Achievements: {', '.join(ACHIEVEMENTS)}.",
        "",
        "Rules:",
        f"- You act on the cell you face. A move turns you to face that way and steps there only if the cell is "
        f"{walkable}; lava is walkable and kills you.",
        "- Health, food, drink and energy run from 0 to 9. Food drops about every 25 steps (eat a cow by hitting "
        "it until it dies, or a ripe plant), drink every 20 (do while facing water), energy every 30 steps awake "
        "(sleep). While any of them is 0 you lose health; otherwise health slowly recovers.",
        "- Zombies walk on grass, mostly at night, and hit for 2 (7 while you sleep). Skeletons live on the paths "
        "of caves and shoot arrows (2). Before sleeping, wall yourself in with place_stone.",
        "- Nearby means within 1 cell, in the 3x3 area around you.",
        "- Saplings come from grass; place_plant puts one on grass; it ripens after a few hundred steps if no "
        "creature stands next to it, and do on a ripe plant eats it.",
        "",
        "Collecting with do: " + "; ".join(collect_reference()) + ".",
        "",
        "Actions:",
        *action_reference(),
        "",
        "The observation shows your status, inventory, the cell you face, what your last action did, a map of the "
        "9x7 cells around you (north is up, you are @ in the centre), and the nearest of each visible thing as "
        "steps north/south and east/west of you. To face a thing 2 north, 1 west: move_left once, then move_up "
        "until you stand next to it facing it.",
        "",
        reply_instructions(actions_per_call, structured),
    ]
    return "\n".join(lines)


def compact_system_prompt(actions_per_call: int = 1, structured: bool = False) -> str:
    lines = [
        "You play Crafter. Unlock achievements and survive.",
        "Status: H health, F food, D drink, E energy (0-9). inv: items, then the pickaxes and swords you have. "
        "face: the cell do and place act on. near: nearest things, e.g. N2 W1 = 2 north, 1 west. "
        "done/todo: achievements unlocked / still to get.",
        "Recipes: " + compact_recipes(),
        "Actions: " + ", ".join(ACTIONS) + ".",
        reply_instructions(actions_per_call, structured),
    ]
    return "\n".join(lines)


@functools.lru_cache(maxsize=32)
def system_prompt(
    observation_format: str = "full", actions_per_call: int = 1, structured: bool = False
) -> str:
    """The default system prompt for an observation format; `format` and `eval` must use the same one."""
    if observation_format == "compact":
        return compact_system_prompt(actions_per_call, structured)
    if observation_format == "full":
        return full_system_prompt(actions_per_call, structured)
    raise ValueError(f"observation format must be full or compact, not {observation_format!r}")


def user_prompt(observation: str, history: Sequence[HistoryEntry] = ()) -> str:
    """The user turn: the last few steps (oldest first), then the current observation."""
    if not history:
        return observation
    recent = "\n".join(f"step {entry.t}: {entry.action} -> {entry.outcome}" for entry in history)
    return f"Recent steps:\n{recent}\n\n{observation}"


def build_messages(
    observation: str,
    history: Sequence[HistoryEntry] = (),
    *,
    observation_format: str = "full",
    actions_per_call: int = 1,
    structured: bool = False,
    system: str | None = None,
) -> list[Message]:
    """System and user messages for one decision; `system` replaces the default system prompt."""
    if system is None:
        system = system_prompt(observation_format, actions_per_call, structured)
    return [
        Message(role="system", content=system),
        Message(role="user", content=user_prompt(observation, history)),
    ]


def history_from_steps(steps: Sequence[Step], t: int, window: int) -> list[HistoryEntry]:
    """The history a player saw before step `t` of a recorded episode: the `window` steps before it."""
    if window <= 0:
        return []
    return [HistoryEntry(step.t, step.action, step.outcome) for step in steps[max(0, t - window) : t]]


def response_text(action: str | Sequence[str], thought: str | None = None) -> str:
    """A reply in the text format the system prompt asks for (for fine-tuning targets)."""
    actions = [action] if isinstance(action, str) else list(action)
    label = "Action" if len(actions) == 1 else "Actions"
    line = f"{label}: {', '.join(actions)}"
    return f"Thought: {thought}\n{line}" if thought else line


class StudentConversation:
    """The messages a student reads, as its training data (`crafter format`) wrote them: its system prompt or
    none, then up to `prompt.history` earlier (observation, reply) turns of the episode, then the observation.

        conversation.begin("seed-3"); messages = conversation.messages("seed-3", observation)
        ... conversation.remember("seed-3", observation, reply) after each decision
    """

    def __init__(self, prompt: StudentPrompt):
        self.prompt = prompt
        self._earlier: dict[str, deque[tuple[str, str]]] = {}

    def begin(self, episode_id: str) -> None:
        self._earlier[episode_id] = deque(maxlen=self.prompt.history)

    def end(self, episode_id: str) -> None:
        self._earlier.pop(episode_id, None)

    def messages(self, episode_id: str, observation: str) -> list[dict[str, str]]:
        messages = [{"role": "system", "content": self.prompt.system_prompt}] if self.prompt.system_prompt else []
        for user, reply in self._earlier.get(episode_id, ()):
            messages += [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
        messages.append({"role": "user", "content": user_prompt(observation)})
        return messages

    def remember(self, episode_id: str, observation: str, reply: str) -> None:
        if self.prompt.history and episode_id in self._earlier:
            self._earlier[episode_id].append((user_prompt(observation), reply))
