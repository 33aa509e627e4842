"""The OpenAI-compatible provider through the real openai SDK against the loopback fake server."""

import time

import pytest

from teachkit.llm import open_client
from teachkit.testing import FakeOpenAI
from teachkit.testing.fake_openai import (
    blocked,
    empty,
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
    with FakeOpenAI(reject_response_format=True) as server:
        server.push('Sure! ```json\n{"score": 5}\n```', '{"score": 1} is my answer')
        client = open_client(f"openai:llama@{server.url}/v1", fast_settings(tmp_path, "judge", concurrency=1), role="judge",
                             use_cache=False)
        results = run(batch(client, [ask("a", json_schema=SCHEMA), ask("b", json_schema=SCHEMA)]))
        assert [r.parsed for r in results] == [{"score": 5}, {"score": 1}]
        # One refused request, then none carries response_format again.
        assert sum("response_format" in r.body for r in server.requests) == 1
        assert len(server.requests) == 3


def test_rate_limits_are_retried_after_the_servers_hint_and_final_errors_are_not(openai_client, fake_openai):
    fake_openai.push(rate_limited(retry_after_s=0.2), "fine", quota_exhausted(), unavailable(), "again")
    client = openai_client(concurrency=1, retry_max_delay_s=5.0)
    started = time.monotonic()
    results = run(batch(client, [ask("a"), ask("b"), ask("c")]))
    assert results[0].ok and results[0].attempts == 2 and time.monotonic() - started >= 0.2
    assert results[1].error_kind == "quota" and results[1].attempts == 1
    assert results[2].ok and results[2].attempts == 2
    assert client.ledger.summary()["retries"] == 2


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
