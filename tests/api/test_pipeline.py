"""The Python API end to end: a small Crafter pipeline and an SGD compile, through `teachkit.api` only, with the
same outputs and summaries as the commands."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from teachkit.api import StageSummary, crafter, sgd
from teachkit.crafter.rollout import RolloutRequest
from teachkit.data import example_sgd_root
from teachkit.errors import InputError
from teachkit.settings import load_settings
from teachkit.sgd.compile import CompileOptions


def test_scripted_rollout_filter_format_through_the_api(tmp_path: Path):
    settings = load_settings(overrides={
        "crafter.rollout.teacher": "scripted", "crafter.rollout.episodes": 3, "crafter.rollout.max_steps": 40,
        "crafter.filter.top_k": 2, "crafter.format.target": "messages",
    })
    episodes, kept, train = tmp_path / "episodes.jsonl", tmp_path / "kept.jsonl", tmp_path / "train.jsonl"

    played = crafter.rollout(settings, RolloutRequest(out=episodes))
    assert isinstance(played, StageSummary) and played.title == "crafter rollout"
    assert played.data["episodes"] == 3 and played.data["output"] == str(episodes)
    assert len(episodes.read_text().splitlines()) == 3
    assert {row["achievement"] for row in played.tables["achievements"]} >= {"collect_wood"}

    filtered = crafter.filter(settings, [episodes], kept)
    assert len(kept.read_text().splitlines()) == 2
    assert filtered.tables["kept_and_dropped"]

    formatted = crafter.format(settings, [kept], train)
    lines = [json.loads(line) for line in train.read_text().splitlines()]
    assert formatted.data["train_examples"] == len(lines) > 0
    assert lines[0]["messages"][-1]["role"] == "assistant"
    assert lines[0]["messages"][-1]["content"].startswith("Action: ")


def test_the_api_returns_what_the_command_prints(tmp_path: Path):
    settings = load_settings(overrides={"crafter.rollout.teacher": "scripted", "crafter.rollout.episodes": 1,
                                        "crafter.rollout.max_steps": 30})
    api_summary = crafter.rollout(settings, RolloutRequest(out=tmp_path / "api.jsonl")).data
    cli = subprocess.run(
        [sys.executable, "-m", "teachkit", "--json", "crafter", "rollout", "--teacher", "scripted", "--episodes", "1",
         "--max-steps", "30", "--out", str(tmp_path / "cli.jsonl")],
        capture_output=True, text=True, check=True)
    cli_summary = json.loads(cli.stdout)
    for key in ("episodes", "crafter_score", "mean_length", "new_episodes"):
        assert api_summary[key] == cli_summary[key], key


def test_sgd_compile_on_the_example_corpus(tmp_path: Path):
    settings = load_settings(overrides={"sgd.compile.root": example_sgd_root()})
    out = tmp_path / "samples.jsonl"
    compiled = sgd.compile(settings, CompileOptions(splits=["train"], eval_fraction=0.25, seed=0), out)
    assert compiled.title == "sgd compile"
    assert compiled.data["samples"] == len(out.read_text().splitlines()) > 0
    assert compiled.data["eval_samples"] == len(Path(compiled.data["eval_output"]).read_text().splitlines()) > 0
    assert json.loads(out.read_text().splitlines()[0])["prompt"]


def test_bad_input_raises_the_commands_error(tmp_path: Path):
    settings = load_settings(overrides={"crafter.rollout.teacher": "oracle"})
    with pytest.raises(InputError, match="oracle"):
        crafter.rollout(settings, RolloutRequest(out=tmp_path / "x.jsonl"))
    with pytest.raises(InputError, match="sgd.compile.root"):
        sgd.compile(load_settings(), CompileOptions(), tmp_path / "samples.jsonl")
