import json

from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.testing.fake_gemini import error, text

runner = CliRunner()
KEY = "AIza-ask-SECRET-987"


def test_ask_prints_the_reply_and_its_usage(fake_gemini, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    fake_gemini.push(text("ready", prompt_tokens=7))
    result = runner.invoke(app, ["ask", "Say ready", "--model", f"gemini:gemini-2.5-flash@{fake_gemini.url}"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "ready"
    assert "tokens prompt" in result.stdout and "7" in result.stdout
    result = runner.invoke(app, ["ask", "Say ready", "--json", "--no-cache", "--system", "Be short.",
                                 "--model", f"gemini:gemini-2.5-flash@{fake_gemini.url}"])
    document = json.loads(result.stdout)
    assert document["text"] == "echo: Say ready" and document["tokens_output"] == 3 and not document["from_cache"]
    assert fake_gemini.requests[-1].body["systemInstruction"]["parts"][0]["text"] == "Be short."


def test_ask_fails_in_one_line_without_leaking_the_key(fake_gemini, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    fake_gemini.push(error(403, f"key {KEY} is denied", "PERMISSION_DENIED"))
    result = runner.invoke(app, ["ask", "hi", "--model", f"gemini:gemini-2.5-flash@{fake_gemini.url}"])
    assert result.exit_code == 1 and "permission denied" in result.output and KEY not in result.output


def test_bad_specs_and_missing_keys_exit_2_before_any_request(fake_gemini):
    for spec, message in [
        (f"gemini:gemini-2.5-flash@{fake_gemini.url}", "no Gemini API key"),
        ("claude:opus", "unknown provider"),
        ("gemini-2.5-flash", "missing provider"),
    ]:
        result = runner.invoke(app, ["ask", "hi", "--model", spec])
        assert result.exit_code == 2 and message in result.output
        assert len([line for line in result.output.splitlines() if line.startswith("error:")]) == 1
    assert fake_gemini.requests == []


def test_doctor_live_sends_one_tiny_request_to_the_teacher(fake_gemini, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setenv("TEACHKIT_TEACHER__BASE_URL", fake_gemini.url)
    result = runner.invoke(app, ["doctor", "--live", "--json"])
    report = json.loads(result.stdout)
    teacher, judge = report["live"]
    assert teacher["ok"] and teacher["tokens"] > 0 and teacher["latency_s"] > 0
    assert judge["error"].startswith("skipped")
    assert len(fake_gemini.requests) == 1 and KEY not in result.output
