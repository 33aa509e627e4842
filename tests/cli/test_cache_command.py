import json

from typer.testing import CliRunner

from teachkit.cli.main import app

runner = CliRunner()


def test_cache_stats_and_clear(fake_gemini, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "k")
    spec = f"gemini:gemini-2.5-flash@{fake_gemini.url}"
    for prompt in ("one", "two", "one"):
        assert runner.invoke(app, ["ask", prompt, "--model", spec]).exit_code == 0
    assert len(fake_gemini.requests) == 2  # the third came from the cache
    stats = json.loads(runner.invoke(app, ["cache", "stats", "--json"]).stdout)
    assert stats["entries"] == 2 and stats["models"] == [{"model": "gemini:gemini-2.5-flash", "entries": 2}]
    refused = runner.invoke(app, ["cache", "clear"])
    assert refused.exit_code == 2 and "--yes" in refused.output
    cleared = json.loads(runner.invoke(app, ["cache", "clear", "--yes", "--json"]).stdout)
    assert cleared["deleted"] == 2
    assert json.loads(runner.invoke(app, ["cache", "stats", "--json"]).stdout)["entries"] == 0
