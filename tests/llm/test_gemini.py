"""The Gemini provider through the real google-genai SDK against the loopback fake of the REST API."""

import json

import pytest

from teachkit.llm import Message, ModelClient, ModelRequest, open_client
from teachkit.llm.gemini import GeminiProvider
from teachkit.settings import ModelSettings
from teachkit.testing.fake_gemini import blocked, empty, text
from tests.llm.llm_helpers import API_KEY, ask, batch, fast_settings, run


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
    # 64 tokens for the answer on top of the 128 of thinking.
    assert config["temperature"] == 0.2 and config["maxOutputTokens"] == 64 + 128
    assert config["stopSequences"] == ["\n\n"]
    assert config["thinkingConfig"] == {"thinking_budget": 128, "include_thoughts": True}


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
    fake_gemini.reply_to("q0", blocked("prompt"))
    fake_gemini.reply_to("q1", blocked("reply"))
    fake_gemini.reply_to("q2", empty())
    results = run(batch(gemini_client(), [ask(f"q{i}") for i in range(3)]))
    assert [r.error_kind for r in results] == ["blocked", "blocked", "empty"]
    assert "SAFETY" in results[0].error
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


# --- thinking: the fake answers as Gemini 2.5 does, and every role gets its answer ---------------------------------


def raw_generate(fake_gemini, model: str, **config):
    """One request through google-genai itself, without teachkit's client: what the fake does with a config."""
    from google import genai
    from google.genai import types

    client = genai.Client(api_key="k", http_options=types.HttpOptions(
        base_url=fake_gemini.url, retry_options=types.HttpRetryOptions(attempts=1)))
    try:
        return client.models.generate_content(model=model, contents="Is the reply polite?", config=config)
    finally:
        client.close()


def test_the_fake_thinks_into_the_output_budget_as_gemini_25_does(fake_gemini):
    from google.genai import errors

    # Dynamic thinking (no budget) takes 600 tokens on Flash: 512 output tokens leave no room for the answer.
    cut = raw_generate(fake_gemini, "gemini-2.5-flash", max_output_tokens=512)
    assert cut.text is None and cut.candidates[0].finish_reason.value == "MAX_TOKENS"
    assert cut.usage_metadata.thoughts_token_count == 512
    answered = raw_generate(fake_gemini, "gemini-2.5-flash", max_output_tokens=2048)
    assert answered.text.startswith("echo:") and answered.usage_metadata.thoughts_token_count == 600
    off = raw_generate(fake_gemini, "gemini-2.5-flash", max_output_tokens=512,
                       thinking_config={"thinking_budget": 0})
    assert off.text and not off.usage_metadata.thoughts_token_count
    # Flash-Lite thinks only when given a budget; Pro cannot stop thinking.
    lite = raw_generate(fake_gemini, "gemini-2.5-flash-lite", max_output_tokens=512)
    assert lite.text and not lite.usage_metadata.thoughts_token_count
    lite_thinking = raw_generate(fake_gemini, "gemini-2.5-flash-lite", thinking_config={"thinking_budget": 1024})
    assert lite_thinking.usage_metadata.thoughts_token_count == 600
    with pytest.raises(errors.ClientError) as refused:
        raw_generate(fake_gemini, "gemini-2.5-pro", thinking_config={"thinking_budget": 0})
    assert refused.value.code == 400 and "only works in thinking mode" in refused.value.message
    # includeThoughts returns a thought part; older models do not think.
    thoughts = raw_generate(fake_gemini, "gemini-2.5-pro", thinking_config={"thinking_budget": 128,
                                                                              "include_thoughts": True})
    parts = thoughts.candidates[0].content.parts
    assert [bool(p.thought) for p in parts] == [True, False] and thoughts.usage_metadata.thoughts_token_count == 128
    older = raw_generate(fake_gemini, "gemini-2.0-flash", max_output_tokens=16)
    assert older.text and not older.usage_metadata.thoughts_token_count


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite"])
@pytest.mark.parametrize("role", ["judge", "teacher"])
def test_every_role_gets_an_answer_from_every_thinking_model(fake_gemini, gemini_key, tmp_path, model, role):
    # Models that think long: with the old settings (512 output tokens, no budget) a judge got nothing back.
    fake_gemini.dynamic_thinking = {"gemini-2.5-flash": 3000, "gemini-2.5-pro": 9000, "gemini-2.5-flash-lite": 3000}
    client = open_client(f"gemini:{model}@{fake_gemini.url}", fast_settings(tmp_path, role), role=role,
                         use_cache=False)
    result = run(batch(client, [ask("Is the reply polite?")]))[0]
    assert result.ok and result.text == "echo: Is the reply polite?", result.error
    config = fake_gemini.requests[0].body["generationConfig"]
    budget = config.get("thinkingConfig", {}).get("thinking_budget")
    if role == "judge":
        # Off where the model allows it, Pro's smallest budget where it does not, and room for the answer on top.
        assert budget == (128 if model.endswith("pro") else 0)
        assert config["maxOutputTokens"] == 512 + budget
    else:
        # The model's own default (Flash-Lite does not think), with room for as much as the model may think.
        assert budget is None
        assert config["maxOutputTokens"] == (1024 if model.endswith("lite") else 1024 + (32768 if "pro" in model
                                                                                         else 24576))
    assert client.ledger.max_tokens_retries == 0


def test_a_teacher_asked_for_thoughts_gets_them_from_flash_lite_too(fake_gemini, gemini_key, tmp_path):
    client = open_client(f"gemini:gemini-2.5-flash-lite@{fake_gemini.url}", fast_settings(tmp_path), use_cache=False)
    result = run(batch(client, [ask("Where is the tree?", include_thoughts=True)]))[0]
    assert result.ok and result.thoughts and "Where is the tree?" in result.thoughts
    assert fake_gemini.requests[0].body["generationConfig"]["thinkingConfig"] == {
        "thinking_budget": -1, "include_thoughts": True}


def test_a_budget_the_model_refuses_stops_with_the_setting_to_change(fake_gemini, gemini_key, tmp_path):
    from teachkit.errors import ProviderFault

    client = open_client(f"gemini:gemini-2.5-pro@{fake_gemini.url}", fast_settings(tmp_path, "judge",
                         thinking_budget=0), role="judge", use_cache=False)
    with pytest.raises(ProviderFault) as stopped:
        run(batch(client, [ask("q")]))
    assert "only works in thinking mode" in str(stopped.value) and "thinking_budget" in str(stopped.value)


@pytest.mark.parametrize(
    ("fault", "status", "kind"),
    [("api_key", 400, "auth"), ("unauthenticated", 401, "auth"), ("permission", 403, "auth"),
     ("not_found", 404, "not_found"), ("bad_request", 400, "bad_request")],
)
def test_each_fault_mode_answers_every_request_with_geminis_own_error(fake_gemini, gemini_client, fault, status,
                                                                      kind):
    from google.genai import errors

    from teachkit.errors import ProviderFault

    fake_gemini.fail_every_request(fault)
    with pytest.raises(errors.ClientError) as raw:
        raw_generate(fake_gemini, "gemini-9-flash")
    assert raw.value.code == status
    if fault == "not_found":
        assert "models/gemini-9-flash is not found for API version v1" in raw.value.message
    client = gemini_client()
    with pytest.raises(ProviderFault):
        run(batch(client, [ask("q")]))
    assert client.ledger.errors == {kind: 1}
    fake_gemini.fail_every_request(None)
    assert run(batch(gemini_client(), [ask("mended")]))[0].ok
