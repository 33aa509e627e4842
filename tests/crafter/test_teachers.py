"""Teachers behind the batched interface: random, scripted, and an LLM over the real google-genai client."""

from __future__ import annotations

import asyncio

import pytest

from teachkit.crafter.env import ACTIONS, CrafterGame
from teachkit.crafter.observation import observe
from teachkit.crafter.prompts import HistoryEntry
from teachkit.crafter.teachers import LLMTeacher, RandomTeacher, ScriptedTeacher, Teacher, Turn, open_teacher
from teachkit.errors import InputError
from teachkit.settings import load_settings
from teachkit.testing.fake_gemini import text, unavailable


def turns_for(seeds: list[int], max_actions: int = 1) -> list[Turn]:
    turns = []
    for seed in seeds:
        game = CrafterGame(max_steps=50)
        game.reset(seed)
        turns.append(
            Turn(
                f"seed-{seed}",
                seed,
                0,
                observe(game),
                [HistoryEntry(0, "noop", "nothing")],
                game,
                max_actions,
            )
        )
    return turns


def test_random_teacher_is_seeded_per_episode() -> None:
    def plays(seed: int) -> list[str]:
        teacher = RandomTeacher()
        teacher.begin_episode("e", seed)
        turn = turns_for([seed])[0]
        turn.episode_id = "e"
        return [asyncio.run(teacher.decide([turn]))[0].actions[0] for _ in range(20)]

    assert plays(1) == plays(1) != plays(2)
    assert set(plays(3)) <= set(ACTIONS)


def test_scripted_teacher_returns_an_action_and_its_rationale() -> None:
    teacher = ScriptedTeacher()
    turns = turns_for([0, 1])
    for turn in turns:
        teacher.begin_episode(turn.episode_id, turn.seed)
    decisions = asyncio.run(teacher.decide(turns))
    assert len(decisions) == 2
    assert all(d.actions[0] in ACTIONS and d.valid and d.thought for d in decisions)
    assert isinstance(teacher, Teacher)


def gemini_teacher(fake_gemini, monkeypatch, **rollout) -> LLMTeacher:
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    overrides = {f"crafter.rollout.{key}": value for key, value in rollout.items()}
    overrides.update({"cache": False, "teacher.max_attempts": 2, "teacher.retry_initial_delay_s": 0.0})
    settings = load_settings(None, overrides)
    teacher = open_teacher(f"gemini:gemini-2.5-flash@{fake_gemini.url}", settings)
    assert isinstance(teacher, LLMTeacher)
    return teacher


def test_llm_teacher_reads_thought_and_action_lines(fake_gemini, monkeypatch) -> None:
    teacher = gemini_teacher(fake_gemini, monkeypatch, structured_output=False)
    fake_gemini.push("Thought: a tree is near.\nAction: move_left", "I refuse to play.")
    decisions = asyncio.run(teacher.decide(turns_for([0, 1])))
    first, second = sorted(decisions, key=lambda d: d.valid, reverse=True)
    assert first.actions == ["move_left"] and first.thought == "a tree is near." and first.valid
    assert first.tokens.prompt > 100 and first.tokens.output == 7 and first.latency_s > 0
    assert (
        second.actions == ["noop"] and not second.valid and second.invalid_reason == "no 'Action: NAME' line"
    )
    body = fake_gemini.requests[0].body
    user = body["contents"][-1]["parts"][0]["text"]
    assert user.startswith("Recent steps:\nstep 0: noop -> nothing\n\nStep 0 of 50")
    assert "Action: <one action name>" in body["systemInstruction"]["parts"][0]["text"]
    assert "responseSchema" not in body.get("generationConfig", {})


def test_llm_teacher_holds_replies_to_the_action_enum_and_records_thoughts(fake_gemini, monkeypatch) -> None:
    teacher = gemini_teacher(fake_gemini, monkeypatch, enable_thinking=True)
    fake_gemini.push(text("do", thoughts="The tree is right in front of me."))
    decision = asyncio.run(teacher.decide(turns_for([0])))[0]
    assert decision.actions == ["do"] and decision.thought == "The tree is right in front of me."
    assert decision.tokens.thoughts == 8
    config = fake_gemini.requests[0].body["generationConfig"]
    assert config["responseSchema"]["enum"] == list(ACTIONS)
    thinking = config["thinkingConfig"]
    assert thinking.get("includeThoughts", thinking.get("include_thoughts")) is True


def test_llm_teacher_plans_several_actions_with_a_json_schema(fake_gemini, monkeypatch) -> None:
    teacher = gemini_teacher(fake_gemini, monkeypatch, actions_per_call=3)
    fake_gemini.push('{"actions": ["move_up", "move_up", "do", "do"]}')
    decision = asyncio.run(teacher.decide(turns_for([0], max_actions=3)))[0]
    assert decision.actions == ["move_up", "move_up", "do"]
    schema = fake_gemini.requests[0].body["generationConfig"]["responseJsonSchema"]
    assert schema["properties"]["actions"]["maxItems"] == 3


def test_provider_failures_become_invalid_noops_with_the_error(fake_gemini, monkeypatch) -> None:
    teacher = gemini_teacher(fake_gemini, monkeypatch)
    fake_gemini.push(unavailable(), unavailable())
    decision = asyncio.run(teacher.decide(turns_for([0])))[0]
    assert decision.actions == ["noop"] and not decision.valid
    assert decision.invalid_reason == "no reply from the teacher" and "503" in (decision.error or "")


@pytest.mark.parametrize("spec", ["gpt", "nonsense teacher", "scrípted"])
def test_unknown_teachers_are_input_errors(spec: str) -> None:
    with pytest.raises(InputError, match="unknown teacher"):
        open_teacher(spec, load_settings())
