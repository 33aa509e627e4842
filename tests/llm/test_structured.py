import pytest

from teachkit.llm.structured import extract_json, match_enum, parse_reply
from tests.llm.llm_helpers import ask


@pytest.mark.parametrize(
    "reply",
    ['{"a": 1}', '```json\n{"a": 1}\n```', 'Here you go: {"a": 1} hope it helps', '  {"a": 1}\n'],
)
def test_json_is_found_bare_fenced_or_embedded(reply):
    assert extract_json(reply) == {"a": 1}


def test_enum_options_match_exactly_loosely_or_by_mention():
    options = ["relevant", "not_relevant"]
    assert match_enum("relevant", options) == "relevant"
    assert match_enum(' "Relevant". ', options) == "relevant"
    assert match_enum("I think it is not_relevant here", options) == "not_relevant"
    with pytest.raises(ValueError):
        match_enum("maybe", options)


def test_parse_reply_says_why_it_could_not_read_the_reply():
    assert parse_reply("anything", ask("q")) == (None, None)
    parsed, problem = parse_reply("no json here", ask("q", json_schema={"type": "object"}))
    assert parsed is None and "could not read structured output" in problem and "no json here" in problem
