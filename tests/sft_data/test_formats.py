from __future__ import annotations

import pytest

from teachkit.sft_data.formats import TARGETS, Example, ExampleError, check, detect_target, parse, render

EXAMPLE = Example(
    system="You play Crafter.",
    turns=[("user", "Step 0 of 100, day."), ("model", "Action: move_left"),
           ("user", "Step 1 of 100, day."), ("model", "Thought: wood is west.\nAction: do")],
)


def test_render_gives_each_target_its_shape():
    vertex = render(EXAMPLE, "vertex")
    assert vertex["systemInstruction"] == {"role": "system", "parts": [{"text": "You play Crafter."}]}
    assert [turn["role"] for turn in vertex["contents"]] == ["user", "model", "user", "model"]
    assert vertex["contents"][3]["parts"] == [{"text": "Thought: wood is west.\nAction: do"}]
    messages = render(EXAMPLE, "messages")["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant"]
    pc = render(EXAMPLE, "prompt-completion")
    assert [m["role"] for m in pc["prompt"]] == ["system", "user", "assistant", "user"]
    assert pc["completion"] == [{"role": "assistant", "content": "Thought: wood is west.\nAction: do"}]
    assert "systemInstruction" not in render(Example(None, EXAMPLE.turns), "vertex")


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_reads_back_what_it_wrote(target: str):
    record = render(EXAMPLE, target)
    assert detect_target(record) == target
    assert check(record, target) == []
    assert parse(record, target) == EXAMPLE


def test_plain_text_prompt_completion_is_read_as_one_exchange():
    record = {"prompt": "Step 0 of 100", "completion": "Action: do"}
    assert check(record, "prompt-completion") == []
    assert parse(record, "prompt-completion") == Example(None, [("user", "Step 0 of 100"), ("model", "Action: do")])


def test_vertex_problems_are_all_listed_with_their_field():
    record = {
        "systemInstruction": {"parts": [{"text": " "}]},
        "contents": [
            {"role": "model", "parts": [{"text": "Action: do"}]},
            {"role": "assistant", "parts": [{"text": "x"}]},
            {"role": "user", "parts": []},
            {"role": "user", "parts": [{"text": "obs"}]},
        ],
    }
    assert check(record, "vertex") == [
        "systemInstruction.parts[0].text: empty",
        "contents[0].role: the first turn must be user, not model",
        "contents[1].role: 'assistant' is not user or model (vertex calls it model)",
        "contents[2].parts: expected a non-empty list of {\"text\": ...}",
        "contents[3].role: two user turns in a row; turns must alternate user/model",
        "contents[3].role: the last turn must be model",
    ]


def test_messages_and_prompt_completion_problems():
    assert check({"messages": [{"role": "user", "content": "obs"}, {"role": "model", "content": "Action: do"}]},
                 "messages") == [
        "messages[1].role: 'model' is not user or assistant (messages call it assistant)",
        "messages[1].role: the last message must be assistant",
    ]
    assert check({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": ""}]},
                 "messages") == ["messages[1].content: empty", "messages[1].role: the last message must be assistant"]
    assert check({"prompt": "obs", "completion": [{"role": "assistant", "content": "x"}]}, "prompt-completion") == [
        "prompt, completion: must both be text or both be message lists"]
    assert check({"prompt": [{"role": "user", "content": "obs"}], "completion": [{"role": "user", "content": "x"}]},
                 "prompt-completion") == ["completion[0].role: must be assistant"]
    assert check({"contents": []}, "messages") == ["expected a messages example, found a vertex example"]
    assert check([1, 2], "vertex") == ["expected a JSON object, found list"]


def test_parse_refuses_a_bad_record_with_its_first_problem():
    with pytest.raises(ExampleError, match=r"contents\[1\].role: two user turns in a row"):
        parse({"contents": [{"role": "user", "parts": [{"text": "a"}]}, {"role": "user", "parts": [{"text": "b"}]}]},
              "vertex")
