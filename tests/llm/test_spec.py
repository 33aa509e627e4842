import pytest

from teachkit.errors import InputError
from teachkit.llm import ModelSpec, open_client, parse_spec
from tests.llm.llm_helpers import API_KEY, ask, batch, fast_settings, run


@pytest.mark.parametrize(
    ("text", "provider", "model", "base_url"),
    [
        ("gemini:gemini-2.5-flash", "gemini", "gemini-2.5-flash", None),
        ("vertex:gemini-2.5-flash", "vertex", "gemini-2.5-flash", None),
        ("openai:Qwen/Qwen2.5-7B-Instruct@http://localhost:8000/v1", "openai", "Qwen/Qwen2.5-7B-Instruct",
         "http://localhost:8000/v1"),
        ("openai:gpt-4o-mini", "openai", "gpt-4o-mini", None),
        ("local:smollm2-135m", "local", "smollm2-135m", None),
        ("local:./runs/student", "local", "./runs/student", None),
        ("vertex:claude-sonnet@20250514", "vertex", "claude-sonnet@20250514", None),
        ("Gemini:gemini-2.5-pro@https://proxy.example/", "gemini", "gemini-2.5-pro", "https://proxy.example"),
    ],
)
def test_parse_spec_reads_the_grammar(text, provider, model, base_url):
    spec = parse_spec(text)
    assert (spec.provider, spec.model, spec.base_url) == (provider, model, base_url)
    assert parse_spec(str(spec)) == spec


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("gemini-2.5-flash", "missing provider"),
        ("anthropic:claude", "unknown provider 'anthropic'"),
        ("gemini:", "missing model name"),
        ("openai:@http://localhost:8000/v1", "missing model name"),
        ("local:smollm2-135m@http://localhost:1/v1", "takes no @URL"),
        ("gemini:gemini 2.5", "must not contain spaces"),
    ],
)
def test_parse_spec_rejects_malformed_specs_with_one_line(text, problem):
    with pytest.raises(InputError) as raised:
        parse_spec(text)
    assert problem in str(raised.value) and "\n" not in str(raised.value)


def test_open_client_without_a_gemini_key_fails_before_any_request(tmp_path, fake_gemini):
    with pytest.raises(InputError, match="GEMINI_API_KEY"):
        open_client(f"gemini:gemini-2.5-flash@{fake_gemini.url}", fast_settings(tmp_path))
    assert fake_gemini.requests == []


def test_open_client_checks_vertex_project_and_openai_key(tmp_path):
    settings = fast_settings(tmp_path)
    with pytest.raises(InputError, match="gcp.project"):
        open_client("vertex:gemini-2.5-flash", settings)
    with pytest.raises(InputError, match="OPENAI_API_KEY"):
        open_client("openai:gpt-4o-mini", settings)
    with pytest.raises(InputError, match="no such directory"):
        open_client("local:./no-such-checkpoint", settings)


def test_open_client_defaults_to_the_role_settings(tmp_path, fake_gemini, gemini_key):
    settings = fast_settings(tmp_path, "judge", model="gemini-2.5-flash-lite", base_url=fake_gemini.url)
    client = open_client(None, settings, role="judge")
    assert client.spec == "gemini:gemini-2.5-flash-lite"
    assert client.provider.base_url == fake_gemini.url
    assert client.ledger.price is not None and client.ledger.price.input == 0.10
    result = run(batch(client, [ask("hi")]))[0]
    assert result.ok and fake_gemini.requests[0].model == "gemini-2.5-flash-lite"


def test_a_role_key_is_never_sent_to_another_provider(tmp_path, fake_openai):
    settings = fast_settings(tmp_path, api_key=API_KEY)  # teacher.api_key, for the teacher's Gemini
    client = open_client(ModelSpec(provider="openai", model="m", base_url=fake_openai.url + "/v1"), settings)
    assert run(batch(client, [ask("hi")]))[0].ok
    assert API_KEY not in str(fake_openai.requests[0].headers)


def test_an_unusable_cache_dir_is_a_setup_error(tmp_path, gemini_key):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings = fast_settings(tmp_path, **{"paths.cache_dir": str(blocker / "cache")})
    with pytest.raises(InputError, match="--no-cache"):
        open_client("gemini:gemini-2.5-flash", settings, use_cache=True)
    assert open_client("gemini:gemini-2.5-flash", settings, use_cache=False).cache is None
