"""The OpenAI-compatible provider through the real openai SDK against the loopback fake server."""

import json
import time

import pytest
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.crafter.actions import ACTIONS
from teachkit.errors import ProviderFault
from teachkit.jsonl import read_records
from teachkit.llm import open_client
from teachkit.records import Episode
from teachkit.sgd.judges import JUDGE_SCHEMA, read_judge_reply
from teachkit.sgd.rubric import RUBRIC_SCHEMA
from teachkit.testing import FakeOpenAI
from teachkit.testing.fake_openai import (
    blocked,
    empty,
    error,
    hang,
    malformed,
    quota_exhausted,
    rate_limited,
    text,
    unavailable,
)
from tests.llm.llm_helpers import ask, batch, fast_settings, run

SCHEMA = {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]}


@pytest.fixture
def openai_client(fake_openai, tmp_path):
    def make(**overrides):
        settings = fast_settings(tmp_path, "judge", **overrides)
        return open_client(f"openai:Qwen/Qwen2.5-7B-Instruct@{fake_openai.url}/v1", settings, role="judge",
                           use_cache=False)

    return make


def test_the_request_carries_messages_options_and_schema(openai_client, fake_openai):
    fake_openai.push('{"score": 3}')
    request = ask("rate this", json_schema=SCHEMA, temperature=0.0, max_output_tokens=32, stop=["END"])
    result = run(batch(openai_client(), [request]))[0]
    assert result.ok and result.parsed == {"score": 3} and result.provider == "openai"
    body = fake_openai.requests[0].body
    assert body["model"] == "Qwen/Qwen2.5-7B-Instruct" and body["messages"] == [
        {"role": "user", "content": "rate this"}]
    assert body["max_tokens"] == 32 and body["temperature"] == 0.0 and body["stop"] == ["END"]
    assert body["response_format"]["json_schema"]["schema"] == SCHEMA
    assert fake_openai.requests[0].path == "/v1/chat/completions"


def test_a_server_without_json_schema_is_asked_again_and_read_tolerantly(tmp_path):
    with FakeOpenAI(structured_output="refuse") as server:
        server.push('Sure! ```json\n{"score": 5}\n```', '{"score": 1} is my answer')
        client = open_client(f"openai:llama@{server.url}/v1", fast_settings(tmp_path, "judge", concurrency=1), role="judge",
                             use_cache=False)
        results = run(batch(client, [ask("a", json_schema=SCHEMA), ask("b", json_schema=SCHEMA)]))
        assert [r.parsed for r in results] == [{"score": 5}, {"score": 1}]
        # One refused request, then none carries response_format again.
        assert sum("response_format" in r.body for r in server.requests) == 1
        assert len(server.requests) == 3


def test_an_enum_is_sent_as_a_string_schema_and_the_json_string_reply_is_read_back(openai_client, fake_openai):
    # The model rambles; the server's grammar holds it to one option, sent as a JSON string.
    fake_openai.push("I think I should move_left to reach the tree", text('"place_table"'))
    results = run(batch(openai_client(concurrency=1), [ask("a", enum=list(ACTIONS)), ask("b", enum=list(ACTIONS))]))
    assert [(r.text, r.parsed, r.error) for r in results] == [("move_left", "move_left", None),
                                                             ("place_table", "place_table", None)]
    response_format = fake_openai.requests[0].body["response_format"]
    assert response_format == {"type": "json_schema", "json_schema": {
        "name": "choice", "schema": {"type": "string", "enum": list(ACTIONS)}, "strict": True}}


def test_a_server_that_refuses_structure_gets_enums_and_schemas_without_it(tmp_path):
    with FakeOpenAI(structured_output="refuse") as server:
        server.reply_fn = lambda request: "Thought: wood.\nAction: do" if "act" in str(request.body) else '{"score": 2}'
        client = open_client(f"openai:llama@{server.url}/v1", fast_settings(tmp_path, "teacher", concurrency=1),
                             use_cache=False)
        requests = [ask("act", enum=["noop", "do"]), ask("rate", json_schema=SCHEMA), ask("act", enum=["noop", "do"]),
                    ask("rate", json_schema=SCHEMA)]
        results = run(batch(client, requests))
        assert [r.parsed for r in results] == ["do", {"score": 2}, "do", {"score": 2}]
        refusals = [r for r in server.requests if "response_format" in r.body]
        # Each kind of structure is refused once, then remembered.
        assert len(refusals) == 2 and len(server.requests) == 6
        assert {r.body["response_format"]["json_schema"]["name"] for r in refusals} == {"choice", "reply"}


def test_openais_refusal_of_a_string_root_costs_the_enum_only(tmp_path):
    with FakeOpenAI(structured_output="openai") as server:
        server.reply_fn = lambda request: "noop" if "act" in str(request.body) else '{"score": 4}'
        client = open_client(f"openai:gpt-4o-mini@{server.url}/v1", fast_settings(tmp_path, "teacher", concurrency=1),
                             use_cache=False)
        results = run(batch(client, [ask("act", enum=["noop", "do"]), ask("act", enum=["noop", "do"]),
                                     ask("rate", json_schema=SCHEMA), ask("rate", json_schema=SCHEMA)]))
        assert [r.parsed for r in results] == ["noop", "noop", {"score": 4}, {"score": 4}]
        carried = ["response_format" in r.body for r in server.requests]
        # The enum: refused, asked plainly, then plain; the object schema is still sent every time.
        assert carried == [True, False, False, True, True]


def test_a_400_about_something_else_is_the_fault_reported_and_structure_is_not_given_up(tmp_path):
    with FakeOpenAI() as server:
        server.reply_fn = lambda request: error(400, "This model's maximum context length is 4096 tokens.",
                                                "BadRequestError")
        client = open_client(f"openai:m@{server.url}/v1", fast_settings(tmp_path, "teacher", concurrency=1),
                             use_cache=False)
        with pytest.raises(ProviderFault, match="maximum context length"):
            run(batch(client, [ask("too long", enum=["noop", "do"])]))
        # Asked once more without structure, refused again: the 400 was not about the structure.
        assert ["response_format" in r.body for r in server.requests] == [True, False]
        assert client.provider.refused_structures == set()


def test_the_fake_refuses_a_malformed_response_format_as_vllm_does(fake_openai):
    import openai

    client = openai.OpenAI(api_key="k", base_url=fake_openai.url + "/v1", max_retries=0)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                       response_format={"type": "json_schema", "json_schema": {"schema": {}}})
    assert refused.value.body["param"] == "body.response_format.json_schema.name"
    assert refused.value.body["type"] == "Bad Request" and "Field required" in refused.value.body["message"]
    client.close()


def test_a_rambling_judge_is_cut_at_the_schemas_bounds_and_still_scores(openai_client, fake_openai):
    rambling = json.dumps({"score": 0.75, "reasons": "The reply is good because " * 200})
    fake_openai.push(rambling)
    result = run(batch(openai_client(), [ask("judge this", json_schema=JUDGE_SCHEMA)]))[0]
    score, reasons, problem = read_judge_reply(result)
    bound = JUDGE_SCHEMA["properties"]["reasons"]["maxLength"]
    assert problem is None and score == 0.75 and len(reasons) == bound < len(rambling)


@pytest.mark.parametrize("schema", [JUDGE_SCHEMA, RUBRIC_SCHEMA], ids=["judge", "rubric"])
def test_every_free_text_field_of_a_judge_schema_is_bounded(schema):
    def strings(node):
        if node.get("type") == "string":
            yield node
        children = list(node.get("properties", {}).values()) + ([node["items"]] if "items" in node else [])
        for child in children:
            yield from strings(child)

    found = list(strings(schema))
    assert found and all(0 < node.get("maxLength", 0) <= 1000 for node in found)


def test_a_crafter_teacher_on_a_vllm_like_server_plays_only_valid_actions(tmp_path):
    out = tmp_path / "episodes.jsonl"
    with FakeOpenAI() as server:
        # What a small model writes when nothing holds it: prose around an action.
        server.reply_fn = lambda request: "Thought: wood is to the west, so move_left.\nAction: walk west"
        result = CliRunner().invoke(app, ["crafter", "rollout", "--teacher", f"openai:smollm2@{server.url}/v1",
                                          "--episodes", "1", "--max-steps", "4", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert all(r.body["response_format"]["json_schema"]["schema"]["enum"] == list(ACTIONS)
                   for r in server.requests)
    steps = [step for episode in read_records(out, Episode) for step in episode.steps]
    assert len(steps) == 4 and all(step.valid and step.action == "move_left" for step in steps)


def test_rate_limits_are_retried_after_the_servers_hint(openai_client, fake_openai):
    fake_openai.push(rate_limited(retry_after_s=0.2), "fine", unavailable(), "again")
    client = openai_client(concurrency=1, retry_max_delay_s=5.0)
    started = time.monotonic()
    results = run(batch(client, [ask("a"), ask("b")]))
    assert results[0].ok and results[0].attempts == 2 and time.monotonic() - started >= 0.2
    assert results[1].ok and results[1].attempts == 2
    assert client.ledger.summary()["retries"] == 2


def test_a_spent_quota_is_not_retried_and_stops_the_run(openai_client, fake_openai):
    fake_openai.push(quota_exhausted())
    with pytest.raises(ProviderFault, match="quota exhausted"):
        run(batch(openai_client(concurrency=1), [ask("a")]))
    assert len(fake_openai.requests) == 1


def test_a_hanging_server_times_out_and_thoughts_and_filters_are_read(openai_client, fake_openai):
    fake_openai.push(hang(), text("42", reasoning="six times seven"), blocked())
    results = run(batch(openai_client(concurrency=1, timeout_s=0.3, max_attempts=1), [ask("a"), ask("b"), ask("c")]))
    assert results[0].error_kind == "timeout"
    assert results[1].text == "42" and results[1].thoughts == "six times seven"
    assert results[2].error_kind == "blocked"


def test_a_server_that_is_down_is_a_connection_error(tmp_path):
    with FakeOpenAI() as server:
        url = server.url
    client = open_client(f"openai:m@{url}/v1", fast_settings(tmp_path, "judge", max_attempts=2), role="judge",
                         use_cache=False)
    result = run(batch(client, [ask("a")]))[0]
    assert result.error_kind == "connection" and result.attempts == 2 and "is the server running" in result.error


def test_non_json_bodies_are_retried_and_empty_replies_are_errors(openai_client, fake_openai):
    fake_openai.push(malformed(), malformed(), empty())
    results = run(batch(openai_client(concurrency=1, max_attempts=2), [ask("a"), ask("b")]))
    assert results[0].error_kind == "malformed" and results[0].attempts == 2
    assert results[1].error_kind == "empty" and results[1].attempts == 1
