"""The prompt of a sample: system message first, service results in context, windows that open on a user turn."""

from __future__ import annotations

from pathlib import Path

import pytest

from teachkit.data import example_sgd_root
from teachkit.errors import InputError
from teachkit.jsonl import read_records
from teachkit.records import Sample
from teachkit.sgd.compile import CompileOptions, compile_samples
from teachkit.sgd.prompts import (
    CONVERSATION_HEADER,
    INSTRUCTIONS,
    NO_RESULTS,
    PromptParts,
    build_prompt,
    describe_task,
    parts_from_sample,
    render_service_results,
    window_start,
)
from teachkit.sgd.reader import read_schema

EXAMPLES = example_sgd_root()

TURNS = [
    {"role": "user", "content": "Find me a dentist."},
    {"role": "assistant", "content": "Which city?"},
    {"role": "user", "content": "Fremont."},
    {"role": "assistant", "content": "Dr. Chen Family Dental is in Fremont."},
    {"role": "user", "content": "What's their number?"},
]
CALL = {"method": "FindDentist", "parameters": {"city": "Fremont"}}
RESULTS = [{"dentist_name": "Dr. Chen Family Dental", "phone_number": "510-555-0199"}]


def test_chat_prompt_starts_with_the_system_message_holding_task_and_results() -> None:
    parts = PromptParts("Services: Dentists_9", TURNS, CALL, RESULTS)
    messages = build_prompt(parts)
    assert messages[0]["role"] == "system"
    system = messages[0]["content"]
    assert system.startswith(INSTRUCTIONS)
    assert "Services: Dentists_9" in system
    assert 'Last service call: FindDentist(city="Fremont")' in system
    assert "1. dentist_name: Dr. Chen Family Dental; phone_number: 510-555-0199" in system
    assert messages[1:] == TURNS

    without = build_prompt(parts, tool_results=False)
    assert "510-555-0199" not in without[0]["content"]
    assert NO_RESULTS in build_prompt(PromptParts("", TURNS))[0]["content"]


def test_text_prompt_is_one_string_ending_with_the_assistant_cue() -> None:
    text = build_prompt(PromptParts("Services: Dentists_9", TURNS, CALL, RESULTS), prompt_format="text")
    head, header, conversation = text.partition(f"\n\n{CONVERSATION_HEADER}\n")
    assert header and "510-555-0199" in head
    assert conversation.splitlines() == [
        "User: Find me a dentist.", "Assistant: Which city?", "User: Fremont.",
        "Assistant: Dr. Chen Family Dental is in Fremont.", "User: What's their number?", "Assistant:",
    ]


@pytest.mark.parametrize(("keep", "start"), [(None, 0), (5, 0), (4, 2), (3, 2), (2, 4), (1, 4)])
def test_a_context_window_always_opens_on_a_user_turn(keep: int | None, start: int) -> None:
    assert window_start(TURNS, keep) == start
    messages = build_prompt(PromptParts("", TURNS), max_context_turns=keep)
    assert messages[1] == TURNS[start]
    assert messages[-1] == TURNS[-1]


def test_a_failed_call_says_so() -> None:
    assert "Service results: none (the call found nothing or failed)." in render_service_results(CALL, [])


def test_the_task_names_services_and_the_active_intent() -> None:
    schema = read_schema(EXAMPLES, "train")
    task = describe_task(schema, ("Restaurants_7", "Weather_4"), "Restaurants_7", "ReserveTable")
    assert task.splitlines() == [
        "Services: Restaurants_7 (Find restaurants by city and cuisine and reserve a table); "
        "Weather_4 (Check the weather forecast for a city)",
        "Current task: ReserveTable with Restaurants_7 (Reserve a table at a restaurant). "
        "Required: restaurant_name, city, time. Optional: date, party_size.",
    ]
    assert describe_task(schema, ("Weather_4",), "Weather_4", "NONE") == (
        "Services: Weather_4 (Check the weather forecast for a city)"
    )


def test_a_compiled_sample_renders_again_to_the_same_prompt(tmp_path: Path) -> None:
    out = tmp_path / "samples.jsonl"
    compile_samples(EXAMPLES, out, CompileOptions(splits=["dev"], max_context_turns=6))
    samples = list(read_records(out, Sample))
    for sample in samples:
        again = build_prompt(parts_from_sample(sample), max_context_turns=6)
        assert again == [message.model_dump() for message in sample.prompt]
    # Re-rendered shorter, as a trainer does to fit a length limit.
    shorter = build_prompt(parts_from_sample(samples[-1]), max_context_turns=1)
    assert [m["role"] for m in shorter] == ["system", "user"]


def test_a_text_sample_cannot_be_taken_apart(tmp_path: Path) -> None:
    out = tmp_path / "samples.jsonl"
    compile_samples(EXAMPLES, out, CompileOptions(splits=["dev"], prompt_format="text", limit=1))
    sample = next(read_records(out, Sample))
    with pytest.raises(InputError, match="recompile without --prompt-format text"):
        parts_from_sample(sample)
