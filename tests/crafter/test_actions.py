"""Reading actions from replies: exact names, paraphrases, plans, structured output, and what is not an action."""

from __future__ import annotations

import pytest
from crafter import constants

from teachkit.crafter.actions import (
    action_reference,
    action_schema,
    compact_recipes,
    normalize_action,
    parse_reply,
)
from teachkit.crafter.env import ACTIONS


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("move_left", "move_left"),
        ("Move Left", "move_left"),
        ("move north", "move_up"),
        ("go west", "move_left"),
        ("east", "move_right"),
        ("`do`", "do"),
        ("Interact", "do"),
        ("craft wooden pickaxe", "make_wood_pickaxe"),
        ("make-stone-sword", "make_stone_sword"),
        ("place crafting table", "place_table"),
        ("make table", "place_table"),
        ("place sapling", "place_plant"),
        ("NOOP", "noop"),
        ("do nothing", "noop"),
        ("sleep.", "sleep"),
    ],
)
def test_paraphrases_resolve_to_actions(text: str, action: str) -> None:
    assert normalize_action(text) == action


@pytest.mark.parametrize("text", ["fly", "move diagonally", "make diamond", ""])
def test_non_actions_resolve_to_nothing(text: str) -> None:
    assert normalize_action(text) is None


def test_every_action_name_reads_as_itself() -> None:
    assert [normalize_action(name) for name in ACTIONS] == list(ACTIONS)


def test_thought_and_action_lines() -> None:
    reply = parse_reply("Thought: the tree is north.\nAction: move_up")
    assert (reply.actions, reply.valid, reply.thought) == (["move_up"], True, "the tree is north.")
    reply = parse_reply("I see water to the west so I will drink.\n\n**Action:** `do`")
    assert reply.actions == ["do"] and reply.thought == "I see water to the west so I will drink."
    # The last Action line counts: earlier ones are often examples or second thoughts.
    assert parse_reply("Action: noop\nWait, better:\nAction: sleep").actions == ["sleep"]


def test_bare_replies() -> None:
    assert parse_reply("  place_table \n").actions == ["place_table"]
    reply = parse_reply("The table is next to me.\nmake_wood_pickaxe")
    assert reply.actions == ["make_wood_pickaxe"] and reply.thought == "The table is next to me."


def test_plans_of_several_actions() -> None:
    reply = parse_reply("Thought: go to the tree.\nActions: left, left, do", max_actions=3)
    assert reply.actions == ["move_left", "move_left", "do"] and reply.valid
    assert parse_reply("Actions: move_up then move_up then do", max_actions=2).actions == [
        "move_up",
        "move_up",
    ]
    listed = parse_reply("Actions:\n1. move_down\n2. do\n\nThat should work.", max_actions=4)
    assert listed.actions == ["move_down", "do"]


def test_unreadable_replies_are_invalid_noops_with_a_reason() -> None:
    reply = parse_reply("Action: fly to the moon")
    assert (reply.actions, reply.valid) == (["noop"], False)
    assert reply.invalid_reason == "'fly to the moon' is not an action"
    assert parse_reply("").invalid_reason == "the reply was empty"
    rambling = parse_reply("I am not sure what to do here, maybe explore?")
    assert not rambling.valid and rambling.invalid_reason == "no 'Action: NAME' line"
    partly = parse_reply("Actions: move_left, dance", max_actions=3)
    assert not partly.valid and partly.actions == ["noop"]


def test_structured_output() -> None:
    assert parse_reply("", parsed="do").actions == ["do"]
    assert parse_reply("", 3, parsed={"actions": ["move_up", "do"]}).actions == ["move_up", "do"]
    assert parse_reply('{"action": "sleep", "thought": "tired"}').thought == "tired"
    assert not parse_reply("", parsed={"actions": 3}).valid
    schema = action_schema(4)
    assert schema["properties"]["actions"]["items"]["enum"] == list(ACTIONS)
    assert schema["properties"]["actions"]["maxItems"] == 4


def test_reference_costs_come_from_the_game_tables() -> None:
    lines = action_reference()
    assert len(lines) == len(ACTIONS)
    assert [line.split(":")[0] for line in lines] == list(ACTIONS)
    table = next(line for line in lines if line.startswith("place_table"))
    assert f"uses {constants.place['table']['uses']['wood']} wood" in table
    iron = next(line for line in lines if line.startswith("make_iron_pickaxe"))
    assert "1 wood + 1 coal + 1 iron" in iron and "table and furnace nearby" in iron
    assert "iron_pickaxe/iron_sword 1 wood + 1 coal + 1 iron near table+furnace" in compact_recipes()
