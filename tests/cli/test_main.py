import json

from typer.testing import CliRunner

from teachkit import __version__
from teachkit.cli.main import app

runner = CliRunner()


def test_help_lists_the_groups():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for group in ("config", "doctor", "crafter", "sgd"):
        assert group in result.output


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_root_options_work_after_the_subcommand(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[crafter.rollout]\nepisodes = 4\n")
    result = runner.invoke(app, ["config", "show", "--json", "--config", str(config)])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["crafter.rollout.episodes"] == {"value": 4, "source": str(config)}


def test_config_error_is_one_line_and_exit_2(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[teacher]\nmodle = 'x'\n")
    result = runner.invoke(app, ["--config", str(config), "config", "show"])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "teacher.modle" in lines[0] and "unknown key" in lines[0] and "Traceback" not in result.output


def test_debug_shows_the_traceback(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[teacher]\nmodle = 'x'\n")
    result = runner.invoke(app, ["--debug", "--config", str(config), "config", "show"])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr


def test_shell_completion_is_offered():
    result = runner.invoke(app, ["--show-completion"], env={"SHELL": "/bin/bash"}, prog_name="teachkit")
    assert result.exit_code == 0
    assert "complete" in result.output.lower()
