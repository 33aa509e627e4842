"""Everything in examples/ works: configs load, the packaged corpus compiles, the CI job calls real commands and flags."""

import json
import re
import shlex
from pathlib import Path

import pytest
import typer
from ruamel.yaml import YAML
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.data import example_sgd_root
from teachkit.settings import load_settings

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
runner = CliRunner()


@pytest.mark.parametrize("config", sorted(EXAMPLES.rglob("*.toml")), ids=lambda p: p.name)
def test_every_example_config_loads(config):
    settings = load_settings(config)
    assert settings.crafter.rollout.episodes > 0


def test_example_corpus_compiles_with_the_example_config(tmp_path):
    out = tmp_path / "samples.jsonl"
    args = ["--json", "--config", str(EXAMPLES / "teachkit.toml"), "sgd", "compile",
            "--sgd-root", str(example_sgd_root()), "--split", "train", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["samples"] >= 300
    assert sum(1 for _ in out.open()) == json.loads(result.stdout)["samples"]


def teachkit_command_lines(run_script: str) -> list[list[str]]:
    script = re.sub(r"\\\n\s*", " ", run_script)
    commands = []
    for line in script.splitlines():
        line = line.split(">", 1)[0].strip()
        if line.startswith("teachkit "):
            commands.append(shlex.split(line)[1:])
    return commands


def test_the_ci_example_uses_existing_commands_and_flags():
    workflow = YAML(typ="safe").load((EXAMPLES / "ci" / "teachkit.yml").read_text(encoding="utf-8"))
    steps = workflow["jobs"]["crafter-data"]["steps"]
    commands = [c for step in steps if "run" in step for c in teachkit_command_lines(step["run"])]
    assert len(commands) >= 4 and any("--json" in c for c in commands)
    root = typer.main.get_command(app)
    for command in commands:
        node, path = root, []
        for word in command:
            subcommands = getattr(node, "commands", {})
            if word not in subcommands:
                break
            node, path = subcommands[word], [*path, word]
        assert not getattr(node, "commands", None), f"teachkit {' '.join(command)}: not a command"
        known = {opt for param in node.params for opt in (*param.opts, *param.secondary_opts)}
        for flag in (w for w in command if w.startswith("--")):
            if flag in {"--json", "--quiet", "--verbose", "--debug"}:
                continue
            assert flag in known, f"teachkit {' '.join(path)} has no {flag}"
