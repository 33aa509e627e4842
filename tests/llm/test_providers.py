"""The provider registry: teachkit's own providers come from the `teachkit.providers` entry points, and a separate
package's provider, registered the same way, works as a Crafter teacher from the command line."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.errors import ConfigError, InputError
from teachkit.llm.providers import provider_factory, provider_names
from teachkit.llm.spec import parse_spec

runner = CliRunner()

PLUGIN = '''
from teachkit.llm.base import ModelResult
from teachkit.llm.providers import ProviderBuild
from teachkit.records import TokenUsage

BUILT = []


class Compass:
    """Walks east until the observation says it is blocked, then south."""

    name = "compass"

    def __init__(self, model):
        self.model = model

    @property
    def cache_variant(self):
        return None

    async def generate(self, request):
        observation = request.messages[-1].content
        action = "move_down" if "blocked" in observation else "move_right"
        return ModelResult(text=f"Thought: I keep heading out.\\nAction: {action}", provider=self.name,
                           model=self.model, usage=TokenUsage(prompt=len(observation) // 4, output=9))

    async def aclose(self):
        pass


def build(context):
    BUILT.append((context.model, context.role, context.where))
    return ProviderBuild(Compass(context.model), price=context.price, timeout_s=context.defaults.timeout_s)
'''


def install_plugin(folder: Path, monkeypatch: pytest.MonkeyPatch, dist: str = "compass-plugin",
                   target: str = "compass_plugin:build") -> None:
    """A throwaway distribution on sys.path: its module and a dist-info folder with the entry point."""
    folder.mkdir(exist_ok=True)
    (folder / "compass_plugin.py").write_text(PLUGIN)
    info = folder / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[teachkit.providers]\ncompass = {target}\n")
    monkeypatch.syspath_prepend(str(folder))


def test_the_built_in_providers_are_registered_as_entry_points():
    assert {"gemini", "vertex", "openai", "local"} <= set(provider_names())
    assert provider_factory("gemini").__module__ == "teachkit.llm.builtin_providers"


def test_a_plugin_provider_plays_crafter_as_a_teacher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(InputError, match="unknown provider 'compass'"):
        parse_spec("compass:north-star")
    install_plugin(tmp_path / "plugin", monkeypatch)
    assert "compass" in provider_names()
    assert parse_spec("compass:north-star").provider == "compass"

    out = tmp_path / "episodes.jsonl"
    result = runner.invoke(app, ["--json", "crafter", "rollout", "--teacher", "compass:north-star", "--episodes", "1",
                                 "--max-steps", "12", "--out", str(out)])
    assert result.exit_code == 0, result.output
    episode = json.loads(out.read_text())
    assert episode["teacher"] == "compass:north-star"
    actions = [step["action"] for step in episode["steps"]]
    assert len(actions) == 12 and set(actions) <= {"move_right", "move_down"} and "move_right" in actions
    assert all(step["thought"] == "I keep heading out." for step in episode["steps"])
    import compass_plugin

    assert compass_plugin.BUILT == [("north-star", "teacher", "--teacher compass:north-star")]
    assert json.loads(result.stdout)["requests"] == 12


def test_an_unknown_provider_names_the_registered_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    install_plugin(tmp_path / "plugin", monkeypatch)
    result = runner.invoke(app, ["crafter", "rollout", "--teacher", "compas:x", "--out", str(tmp_path / "e.jsonl")])
    assert result.exit_code == 2
    assert "unknown provider 'compas'" in result.output and "compass" in result.output


def test_two_packages_registering_one_name_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    install_plugin(tmp_path / "one", monkeypatch)
    install_plugin(tmp_path / "two", monkeypatch, dist="other-compass", target="compass_plugin:other_build")
    with pytest.raises(ConfigError, match="registered twice"):
        provider_factory("compass")
