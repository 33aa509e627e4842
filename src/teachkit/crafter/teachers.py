"""Who decides what the Crafter player does next.

Every teacher, and every student policy that `crafter eval` plays, implements one batched interface: the rollout
loop gathers the episodes in flight that need a decision and calls

    decisions = await teacher.decide(turns)        # one Decision per Turn, in order

so a local model can decide for all of them in one forward pass, an LLM teacher can send one request per episode
concurrently, and the scripted expert can plan on the true world state (`turn.game.env` is the raw `crafter.Env`).

Built in: `random`, `scripted` (the privileged expert of `teachkit.crafter.expert`), and an LLM teacher over any
provider spec (`gemini:gemini-2.5-flash`, `openai:MODEL@URL`, `local:smollm2-135m`, ...).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from teachkit.crafter.actions import action_schema, parse_reply
from teachkit.crafter.env import ACTIONS, CrafterGame
from teachkit.crafter.prompts import HistoryEntry, build_messages
from teachkit.records import TokenUsage

if TYPE_CHECKING:
    from teachkit.llm import ModelClient
    from teachkit.settings import Settings

@dataclass
class Turn:
    """One episode in flight that needs a decision."""

    episode_id: str
    seed: int
    t: int
    observation: str
    history: list[HistoryEntry]
    game: CrafterGame
    max_actions: int = 1


@dataclass
class Decision:
    """A teacher's answer for one Turn.

    `actions` holds 1 to `turn.max_actions` action names: the first is played now, the others on the following
    steps without asking again. An invalid reply is `actions=["noop"], valid=False` with the reason, which the next
    observation reports. `error` is a provider failure (after retries): also played as an invalid noop. A fault
    that no retry mends (a rejected key, a wrong model name) is no Decision: `decide` raises `ProviderFault` and the
    rollout stops without recording the episodes in flight.
    """

    actions: list[str]
    valid: bool = True
    invalid_reason: str | None = None
    response: str | None = None
    thought: str | None = None
    tokens: TokenUsage = field(default_factory=TokenUsage)
    latency_s: float = 0.0
    cost_usd: float = 0.0
    error: str | None = None


@runtime_checkable
class Teacher(Protocol):
    """The batched policy interface.

    `spec` is recorded in each Episode. `batch_size` says how `decide` wants its turns: None, every ready episode in
    one call (a local model's batched forward pass, CPU planners); n, at most n per call, with calls overlapping
    (API teachers: each episode moves on as soon as its own reply is back). `cpu_bound` teachers may run in worker
    processes (`--workers`).
    """

    spec: str
    batch_size: int | None
    cpu_bound: bool

    def begin_episode(self, episode_id: str, seed: int) -> None: ...

    async def decide(self, turns: list[Turn]) -> list[Decision]: ...

    def end_episode(self, episode_id: str) -> None: ...

    async def aclose(self) -> None: ...


class RandomTeacher:
    """Uniformly random actions, seeded per episode: the baseline."""

    spec = "random"
    batch_size = None
    cpu_bound = True

    def __init__(self) -> None:
        self._random: dict[str, np.random.RandomState] = {}

    def begin_episode(self, episode_id: str, seed: int) -> None:
        self._random[episode_id] = np.random.RandomState(seed % (2**32))

    async def decide(self, turns: list[Turn]) -> list[Decision]:
        return [
            Decision(actions=[ACTIONS[self._random[turn.episode_id].randint(len(ACTIONS))]]) for turn in turns
        ]

    def end_episode(self, episode_id: str) -> None:
        self._random.pop(episode_id, None)

    async def aclose(self) -> None:
        return None


class ScriptedTeacher:
    """The privileged scripted expert: it plans on the true world state and explains each step in a sentence."""

    spec = "scripted"
    batch_size = None
    cpu_bound = True

    def __init__(self) -> None:
        from teachkit.crafter.expert import ScriptedExpert

        self._factory = ScriptedExpert
        self._experts: dict[str, ScriptedExpert] = {}

    def begin_episode(self, episode_id: str, seed: int) -> None:
        expert = self._factory()
        expert.reset()
        self._experts[episode_id] = expert

    async def decide(self, turns: list[Turn]) -> list[Decision]:
        decisions = []
        for turn in turns:
            started = time.perf_counter()
            name, rationale = self._experts[turn.episode_id].act(turn.game.env)
            decisions.append(
                Decision(actions=[name], thought=rationale, latency_s=time.perf_counter() - started)
            )
        return decisions

    def end_episode(self, episode_id: str) -> None:
        self._experts.pop(episode_id, None)

    async def aclose(self) -> None:
        return None


class LLMTeacher:
    """A model behind the provider layer, prompted with the rules, the recent steps and the observation.

    With `structured` (a served model: its server can do it), the reply is held to the action enum (one action)
    or to a JSON list of actions (several); otherwise the model writes `Thought: ... / Action: NAME` and the reply
    is read tolerantly. `enable_thinking` asks for the model's thoughts and records them per step.
    """

    batch_size = 1
    cpu_bound = False

    def __init__(
        self,
        client: ModelClient,
        *,
        observation_format: str = "full",
        structured: bool = True,
        enable_thinking: bool = False,
        system: str | None = None,
    ):
        self.client = client
        self.spec = client.spec
        self.observation_format = observation_format
        self.structured = structured
        self.enable_thinking = enable_thinking
        self.system = system

    def begin_episode(self, episode_id: str, seed: int) -> None:
        return None

    def end_episode(self, episode_id: str) -> None:
        return None

    def request_for(self, turn: Turn):  # noqa: ANN201 - ModelRequest, imported lazily with the provider layer
        from teachkit.llm import ModelRequest

        messages = build_messages(
            turn.observation,
            turn.history,
            observation_format=self.observation_format,
            actions_per_call=turn.max_actions,
            structured=self.structured,
            system=self.system,
        )
        structure = {}
        if self.structured:
            if turn.max_actions == 1:
                structure["enum"] = list(ACTIONS)
            else:
                structure["json_schema"] = action_schema(turn.max_actions)
        return ModelRequest(messages=messages, include_thoughts=self.enable_thinking, **structure)

    async def decide(self, turns: list[Turn]) -> list[Decision]:
        results = await self.client.generate_batch([self.request_for(turn) for turn in turns])
        decisions = []
        for turn, result in zip(turns, results, strict=True):
            cost = 0.0 if result.from_cache else self.client.ledger.cost_of(result.usage)
            common = {"tokens": result.usage, "latency_s": result.latency_s, "cost_usd": cost}
            if result.error is not None and not result.text:
                decisions.append(
                    Decision(
                        actions=["noop"],
                        valid=False,
                        invalid_reason="no reply from the teacher",
                        error=result.error,
                        **common,
                    )
                )
                continue
            # A reply the provider could not hold to the schema is still read as text.
            parsed = parse_reply(
                result.text, turn.max_actions, result.parsed if result.error is None else None
            )
            thought = result.thoughts or parsed.thought
            decisions.append(
                Decision(
                    actions=parsed.actions,
                    valid=parsed.valid,
                    invalid_reason=parsed.invalid_reason,
                    response=result.text,
                    thought=thought,
                    **common,
                )
            )
        return decisions

    async def aclose(self) -> None:
        await self.client.aclose()


def open_teacher(spec: str, settings: Settings, *, max_cost: float | None = None,
                 where: str = "--teacher") -> Teacher:
    """The teacher a `--teacher` value names: scripted, random, or a model spec (`llm.spec`: PROVIDER:MODEL[@URL],
    or a local folder, HF id or smollm2-135m). `where` names the flag in error messages."""
    from teachkit.llm import open_client
    from teachkit.llm.spec import parse_for_role

    choice = parse_for_role(spec, "teacher", where=where)
    if choice.kind == "builtin":
        return RandomTeacher() if choice.text == "random" else ScriptedTeacher()
    rollout = settings.crafter.rollout
    client = open_client(choice.spec, settings, role="teacher", max_cost=max_cost, where=where)
    return LLMTeacher(
        client,
        observation_format=rollout.observation,
        # A served model's server holds the reply to the action enum (or a schema of action lists); a local one
        # is read as text.
        structured=rollout.structured_output and choice.kind == "served",
        enable_thinking=rollout.enable_thinking,
    )
