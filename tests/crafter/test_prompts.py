"""Prompts: one system prompt per observation format, shared by rollout, format and eval."""

from __future__ import annotations

from teachkit.crafter.actions import parse_reply
from teachkit.crafter.env import ACHIEVEMENTS, ACTIONS
from teachkit.crafter.prompts import (
    HistoryEntry,
    build_messages,
    history_from_steps,
    response_text,
    system_prompt,
    user_prompt,
)
from teachkit.records import Step


def test_full_system_prompt_has_rules_actions_and_reply_format() -> None:
    prompt = system_prompt("full")
    assert all(name in prompt for name in ACTIONS)
    assert all(name in prompt for name in ACHIEVEMENTS)
    assert "place_table: uses 2 wood" in prompt
    assert prompt.endswith("Thought: <one short sentence>\nAction: <one action name>")
    assert "up to 3 actions" in system_prompt("full", actions_per_call=3)
    assert system_prompt("full", structured=True).endswith("Reply with the name of one action.")


def test_compact_system_prompt_is_short() -> None:
    compact = system_prompt("compact")
    assert all(name in compact for name in ACTIONS)
    assert len(compact) < len(system_prompt("full")) / 2


def test_user_prompt_puts_recent_steps_before_the_observation() -> None:
    history = [HistoryEntry(3, "do", "collected wood"), HistoryEntry(4, "move_up", "moved north")]
    text = user_prompt("OBS", history)
    assert text == "Recent steps:\nstep 3: do -> collected wood\nstep 4: move_up -> moved north\n\nOBS"
    assert user_prompt("OBS") == "OBS"
    messages = build_messages("OBS", history, observation_format="compact")
    assert [m.role for m in messages] == ["system", "user"]
    assert messages[0].content == system_prompt("compact") and messages[1].content == text
    assert build_messages("OBS", system="mine")[0].content == "mine"


def test_history_from_recorded_steps_matches_what_the_player_saw() -> None:
    steps = [Step(t=t, observation=f"o{t}", action="noop", outcome=f"r{t}") for t in range(6)]
    assert history_from_steps(steps, 4, 2) == [HistoryEntry(2, "noop", "r2"), HistoryEntry(3, "noop", "r3")]
    assert history_from_steps(steps, 1, 5) == [HistoryEntry(0, "noop", "r0")]
    assert history_from_steps(steps, 4, 0) == []


def test_response_text_reads_back_as_the_same_actions() -> None:
    text = response_text("make_wood_pickaxe", "the table is next to me")
    assert parse_reply(text).actions == ["make_wood_pickaxe"]
    plan = response_text(["move_left", "do"])
    assert plan == "Actions: move_left, do" and parse_reply(plan, 2).actions == ["move_left", "do"]
