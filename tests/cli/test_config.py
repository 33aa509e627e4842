import json
from pathlib import Path

import tomllib
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.config_example import render_example_config
from teachkit.settings import load_settings

runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "teachkit.toml"


def test_config_show_masks_secrets_everywhere(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-top-secret")
    monkeypatch.setenv("TEACHKIT_TEACHER__API_KEY", "teacher-top-secret")
    for args in (["config", "show"], ["config", "show", "--json"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "top-secret" not in result.output
    shown = json.loads(runner.invoke(app, ["config", "show", "--json"]).stdout)
    assert shown["gemini_api_key"] == {"value": "**********", "source": "env GEMINI_API_KEY"}
    assert shown["teacher.api_key"]["value"] == "**********"


def test_config_init_writes_a_loadable_file_and_refuses_to_overwrite(tmp_path):
    target = tmp_path / "teachkit.toml"
    result = runner.invoke(app, ["config", "init", str(target)])
    assert result.exit_code == 0, result.output
    assert load_settings(target).crafter.rollout.episodes == 10
    result = runner.invoke(app, ["config", "init", str(target)])
    assert result.exit_code == 2 and "--force" in result.stderr
    assert runner.invoke(app, ["config", "init", str(target), "--force"]).exit_code == 0


def test_example_config_covers_every_setting_and_is_current():
    text = render_example_config()
    tomllib.loads(text)
    assert EXAMPLE.read_text(encoding="utf-8") == text, "regenerate: teachkit config init examples/teachkit.toml --force"
    for key in ("temperature", "difficulty", "min_score", "num_generations", "bucket", "cache_dir"):
        assert key in text
