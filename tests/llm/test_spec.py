import pytest

from teachkit.errors import InputError
from teachkit.llm import ModelSpec, open_client, parse_spec
from teachkit.llm.spec import parse_for_role
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


# --- one grammar, four roles ---------------------------------------------------------------------------------------

ROLES = ("student", "policy", "teacher", "judge")
EVERY_ROLE = set(ROLES)
SERVED_ROLES = {"policy", "teacher", "judge"}


@pytest.fixture
def places(tmp_path, monkeypatch):
    """A checkpoint folder and a Vertex tuning job record, and the working directory beside them."""
    from teachkit.records import TrainingData, TuningJob
    from teachkit.vertex.job_records import write_job_record

    monkeypatch.chdir(tmp_path)
    (tmp_path / "ckpt").mkdir()
    write_job_record(tmp_path / "train.tuning-9.json", TuningJob(
        name="projects/p/locations/l/tuningJobs/9", state="JOB_STATE_SUCCEEDED", project="p", location="l",
        base_model="gemini-2.5-flash", display_name="x", training_data=TrainingData(path="t", sha256="0" * 64)))
    return tmp_path


# (spec as written, the kind it is, the name the role's loader gets, the roles that take it)
SPEC_TABLE = [
    ("local:smollm2-135m", "local", "smollm2-135m", EVERY_ROLE),
    ("smollm2-135m", "local", "smollm2-135m", EVERY_ROLE),
    ("local:{dir}/ckpt", "local", "{dir}/ckpt", EVERY_ROLE),
    ("{dir}/ckpt", "local", "{dir}/ckpt", EVERY_ROLE),
    ("ckpt", "local", "ckpt", EVERY_ROLE),  # a folder in the working directory
    ("local:./runs/not-yet", "local", "./runs/not-yet", EVERY_ROLE),  # its loader says when it is missing
    ("local:Qwen/Qwen2.5-0.5B-Instruct", "local", "Qwen/Qwen2.5-0.5B-Instruct", EVERY_ROLE),
    ("Qwen/Qwen2.5-0.5B-Instruct", "local", "Qwen/Qwen2.5-0.5B-Instruct", EVERY_ROLE),
    ("local:gpt2", "local", "gpt2", EVERY_ROLE),
    ("gpt2", "local", "gpt2", {"student", "policy"}),  # a teacher or judge could mean a served gpt2
    ("gemini:gemini-2.5-flash", "served", "gemini:gemini-2.5-flash", SERVED_ROLES),
    ("vertex:projects/p/locations/l/endpoints/9", "served", "vertex:projects/p/locations/l/endpoints/9",
     SERVED_ROLES),
    ("openai:qwen@http://127.0.0.1:1/v1", "served", "openai:qwen@http://127.0.0.1:1/v1", SERVED_ROLES),
    ("scripted", "builtin", "scripted", {"policy", "teacher"}),
    ("random", "builtin", "random", {"policy", "teacher"}),
    ("{dir}/train.tuning-9.json", "job", "{dir}/train.tuning-9.json", {"policy"}),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("text", "kind", "name", "roles"), SPEC_TABLE, ids=[row[0] for row in SPEC_TABLE])
def test_every_spec_form_in_every_role(places, text, kind, name, roles, role):
    text, name = text.format(dir=places), name.format(dir=places)
    if role in roles:
        choice = parse_for_role(text, role, where="--x")
        assert (choice.kind, choice.name, choice.role) == (kind, name, role)
        if kind == "local":
            assert choice.spec == ModelSpec(provider="local", model=name)
        return
    with pytest.raises(InputError) as raised:
        parse_for_role(text, role, where="--x")
    message = str(raised.value)
    assert message.startswith(f"--x {text!r}: ") and "\n" not in message
    if kind == "local":  # only a bare name that could be a served model: it must say its provider
        assert f"unknown {role}: missing provider" in message and f"local:{text}" in message
    else:
        serves = [f"a {r}" for r in ROLES if r in roles]
        assert f"cannot be a {'local ' if role == 'student' else ''}{role}" in message and (", ".join(serves[:-1]) + " or " + serves[-1]
                                                     if len(serves) > 1 else serves[0]) in message


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("text", "problem"), [
    ("", "empty"),
    ("  ", "empty"),
    ("anthropic:claude", "unknown provider 'anthropic'"),
    ("gemini:", "missing model name"),
    ("local:smollm2-135m@http://localhost:1/v1", "takes no @URL"),
])
def test_malformed_specs_are_one_line_in_every_role(text, problem, role):
    with pytest.raises(InputError) as raised:
        parse_for_role(text, role, where="--x")
    assert problem in str(raised.value) and "\n" not in str(raised.value)


def test_a_windows_path_and_a_local_path_with_spaces_are_local():
    assert parse_for_role("C:/models/student", "student").name == "C:/models/student"
    assert parse_for_role("local:./my runs/student", "student").name == "./my runs/student"
    with pytest.raises(InputError, match="must not contain spaces"):
        parse_for_role("gemini:gemini 2.5", "judge")


def test_a_served_model_as_a_student_names_the_roles_it_can_serve():
    with pytest.raises(InputError) as raised:
        parse_for_role("openai:gpt-4o-mini", "student", where="--model")
    assert str(raised.value) == (
        "--model 'openai:gpt-4o-mini': a model served by openai cannot be a local student (trained or run here); "
        "it can serve as a policy, a teacher or a judge. Give local:NAME, a folder, an HF id or smollm2-135m")


def test_local_model_names_resolve_for_from_pretrained(tiny_model_dir, tmp_path):
    from teachkit.checkpoints import resolve_model

    settings = fast_settings(tmp_path)
    assert resolve_model(f"local:{tiny_model_dir}", settings) == str(tiny_model_dir.resolve())
    assert resolve_model("local:Qwen/Qwen2.5-0.5B-Instruct", settings) == "Qwen/Qwen2.5-0.5B-Instruct"
    with pytest.raises(InputError, match="no such directory"):
        resolve_model("local:./runs/missing", settings)
    with pytest.raises(InputError, match="cannot be a local student"):
        resolve_model("gemini:gemini-2.5-flash", settings)


def test_open_client_reads_the_same_grammar_for_teachers_and_judges(tiny_model_dir, tmp_path):
    settings = fast_settings(tmp_path)
    for spec in (str(tiny_model_dir), f"local:{tiny_model_dir}"):
        assert open_client(spec, settings, role="judge").spec == f"local:{tiny_model_dir}"
    with pytest.raises(InputError) as raised:
        open_client("random", settings, role="judge")
    assert str(raised.value).startswith("--judge-model 'random': the built-in random policy cannot be a judge")
    with pytest.raises(InputError, match="plays Crafter without a model"):
        open_client("scripted", settings, role="teacher")
    with pytest.raises(InputError, match=r"^--model 'gemini-2.5-flash': unknown teacher: missing provider"):
        open_client("gemini-2.5-flash", settings, role="teacher")
