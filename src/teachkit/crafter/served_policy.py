"""A student served behind the provider layer (a tuned model's endpoint, an OpenAI-compatible server) as a Crafter
policy, prompted as its training data prompted it.

The teacher path (`teachers.LLMTeacher`) prompts with the rules, the recent-steps history and an action enum; a
student tuned on `crafter format` data was shown something else: its own system prompt (or none), earlier
(observation, reply) turns, and it learned to write `Action: NAME` (after `Thought: ...` when trained with
thoughts). `ServedStudent` sends exactly that (`prompts.StudentConversation`) and reads the reply as text.
"""

from __future__ import annotations

from typing import Any

from teachkit.crafter.actions import parse_reply
from teachkit.crafter.prompts import StudentConversation
from teachkit.crafter.teachers import Decision, Turn
from teachkit.records import StudentPrompt


class ServedStudent:
    """A Teacher (batch_size 1: each episode moves on as soon as its own reply is back) over a ModelClient."""

    batch_size = 1
    cpu_bound = False

    def __init__(self, client: Any, prompt: StudentPrompt, *, max_output_tokens: int | None = None):
        self.client = client
        self.spec = client.spec
        self.prompt = prompt
        self.max_output_tokens = max_output_tokens
        self.conversation = StudentConversation(prompt)

    def begin_episode(self, episode_id: str, seed: int) -> None:
        self.conversation.begin(episode_id)

    def end_episode(self, episode_id: str) -> None:
        self.conversation.end(episode_id)

    def request_for(self, turn: Turn) -> Any:
        from teachkit.llm import Message, ModelRequest

        messages = [Message(role=m["role"], content=m["content"])
                    for m in self.conversation.messages(turn.episode_id, turn.observation)]
        # Greedy, as a local student is played; no enum: the student was tuned to write the reply as text.
        return ModelRequest(messages=messages, temperature=0.0, max_output_tokens=self.max_output_tokens)

    async def decide(self, turns: list[Turn]) -> list[Decision]:
        results = await self.client.generate_batch([self.request_for(turn) for turn in turns])
        decisions = []
        for turn, result in zip(turns, results, strict=True):
            cost = 0.0 if result.from_cache else self.client.ledger.cost_of(result.usage)
            common = {"tokens": result.usage, "latency_s": result.latency_s, "cost_usd": cost}
            if result.error is not None and not result.text:
                decisions.append(Decision(actions=["noop"], valid=False, invalid_reason="no reply from the student",
                                          error=result.error, **common))
                continue
            parsed = parse_reply(result.text, 1)
            decisions.append(Decision(actions=parsed.actions, valid=parsed.valid, invalid_reason=parsed.invalid_reason,
                                      response=result.text, thought=parsed.thought, **common))
            self.conversation.remember(turn.episode_id, turn.observation, result.text)
        return decisions

    async def aclose(self) -> None:
        await self.client.aclose()
