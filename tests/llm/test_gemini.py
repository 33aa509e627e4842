"""The Gemini provider through the real google-genai SDK against the loopback fake of the REST API."""

import json

from teachkit.llm import Message, ModelClient, ModelRequest
from teachkit.llm.gemini import GeminiProvider
from teachkit.settings import ModelSettings
from teachkit.testing.fake_gemini import blocked, empty, text
from tests.llm.llm_helpers import API_KEY, ask, batch, run


def test_the_request_carries_system_turns_options_and_key(gemini_client, fake_gemini):
    request = ModelRequest(
        messages=[
            Message(role="system", content="You play Crafter."),
            Message(role="user", content="obs 1"),
            Message(role="assistant", content="Action: noop"),
            Message(role="user", content="obs 2"),
        ],
        temperature=0.2, max_output_tokens=64, stop=["\n\n"], thinking_budget=128, include_thoughts=True,
    )
    result = run(batch(gemini_client(), [request]))[0]
    assert result.ok and result.text == "echo: obs 2"
    sent = fake_gemini.requests[0]
    assert sent.path == "/v1/models/gemini-2.5-flash:generateContent"
    assert sent.header("x-goog-api-key") == API_KEY
    assert sent.body["systemInstruction"]["parts"] == [{"text": "You play Crafter."}]
    assert [c["role"] for c in sent.body["contents"]] == ["user", "model", "user"]
    config = sent.body["generationConfig"]
    assert config["temperature"] == 0.2 and config["maxOutputTokens"] == 64 and config["stopSequences"] == ["\n\n"]
    assert json.dumps(config["thinkingConfig"]).count("128") == 1


def test_settings_fill_unset_options(gemini_client, fake_gemini):
    run(batch(gemini_client(temperature=0.9, max_output_tokens=77, thinking_budget=0), [ask("q")]))
    config = fake_gemini.requests[0].body["generationConfig"]
    assert config["temperature"] == 0.9 and config["maxOutputTokens"] == 77
    assert "0" in json.dumps(config["thinkingConfig"])


def test_thoughts_and_usage_are_read(gemini_client, fake_gemini):
    fake_gemini.push(text("Action: do", thoughts="a tree is near", prompt_tokens=40, thoughts_tokens=12))
    result = run(batch(gemini_client(), [ask("q", include_thoughts=True)]))[0]
    assert result.text == "Action: do" and result.thoughts == "a tree is near"
    assert (result.usage.prompt, result.usage.output, result.usage.thoughts) == (40, 2, 12)
    assert result.finish_reason == "STOP"


def test_json_schema_and_enum_structured_output(gemini_client, fake_gemini):
    schema = {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"],
              "additionalProperties": False}
    fake_gemini.push('{"score": 4}', "relevant")
    results = run(batch(gemini_client(concurrency=1), [
        ask("rate", json_schema=schema), ask("label", enum=["relevant", "not_relevant"])]))
    assert results[0].parsed == {"score": 4} and results[1].parsed == "relevant"
    first, second = (r.body["generationConfig"] for r in fake_gemini.requests)
    assert first["responseMimeType"] == "application/json" and first["responseJsonSchema"] == schema
    assert second["responseMimeType"] == "text/x.enum"
    assert second["responseSchema"]["enum"] == ["relevant", "not_relevant"]


def test_unreadable_structured_output_keeps_the_text(gemini_client, fake_gemini):
    fake_gemini.push("I would say four")
    result = run(batch(gemini_client(), [ask("rate", json_schema={"type": "object"})]))[0]
    assert result.error_kind == "malformed" and result.text == "I would say four" and result.parsed is None


def test_blocked_and_empty_replies_are_errors_not_exceptions(gemini_client, fake_gemini):
    fake_gemini.push(blocked("prompt"), blocked("reply"), empty(), text("", finish_reason="MAX_TOKENS"))
    results = run(batch(gemini_client(concurrency=1), [ask(f"q{i}") for i in range(4)]))
    assert [r.error_kind for r in results] == ["blocked", "blocked", "empty", "empty"]
    assert "SAFETY" in results[0].error and "max_output_tokens" in results[3].error
    assert all(r.attempts == 1 for r in results)


def test_vertex_mode_speaks_the_vertex_path_with_a_bearer_token(fake_gemini, tmp_path):
    import google.oauth2.credentials

    provider = GeminiProvider("gemini-2.5-flash", vertex_project="my-project", vertex_location="europe-west4",
                              base_url=fake_gemini.url,
                              credentials=google.oauth2.credentials.Credentials(token="fake-token"))
    assert provider.name == "vertex"
    client = ModelClient(provider, ModelSettings(timeout_s=2))
    result = run(batch(client, [ask("hello vertex")]))[0]
    assert result.ok and result.text == "echo: hello vertex" and result.provider == "vertex"
    sent = fake_gemini.requests[0]
    assert "/projects/my-project/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent" \
        in sent.path
    assert sent.header("Authorization") == "Bearer fake-token"


def test_a_server_that_is_down_is_a_connection_error(gemini_key, tmp_path):
    from teachkit.llm import open_client
    from teachkit.testing import FakeGemini
    from tests.llm.llm_helpers import fast_settings

    with FakeGemini() as server:
        url = server.url
    client = open_client(f"gemini:gemini-2.5-flash@{url}", fast_settings(tmp_path, max_attempts=2), use_cache=False)
    result = run(batch(client, [ask("a")]))[0]
    assert result.error_kind == "connection" and result.attempts == 2
