"""`crafter dagger`: rounds of play labelled by the scripted expert, the tiny student trained on them, resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.crafter.env import ACTIONS, CrafterGame
from teachkit.crafter.expert import ScriptedExpert
from teachkit.jsonl import read_records
from teachkit.records import Episode

runner = CliRunner()


def fresh_label(game: CrafterGame) -> str:
    """What an expert with no memory of the episode would do here: its plan from this state alone."""
    return ScriptedExpert().act(game.env)[0]


def test_the_expert_labels_states_a_random_player_reached() -> None:
    rng = np.random.RandomState(0)
    labels = disagreements = 0
    for seed in (0, 1):
        game = CrafterGame(max_steps=300)
        game.reset(seed)
        expert = ScriptedExpert()
        while not game.done:
            label, why = expert.act(game.env)
            assert label in ACTIONS and why.startswith("Subgoal:")
            # Its memory (the shelter it was walking to) must not outlive a move it did not make.
            assert label == fresh_label(game), f"seed {seed} step {game.t}"
            played = ACTIONS[rng.randint(len(ACTIONS))] if rng.rand() < 0.7 else label
            labels += 1
            disagreements += played != label
            game.step(played)
    assert labels > 300 and disagreements > labels // 2


def test_a_state_in_front_of_a_tree_is_labelled_do() -> None:
    game = CrafterGame(max_steps=50)
    game.reset(0)
    expert = ScriptedExpert()
    for _ in range(30):
        label, _ = expert.act(game.env)
        if label == "do" and game.player.inventory["wood"] == 0:
            break
        game.step(label)
    else:
        pytest.fail("the expert never reached a tree")
    # A random detour away and back: facing the tree again, with no wood, the label is still to collect it.
    assert expert.act(game.env)[0] == "do"
    game.step("noop")
    assert expert.act(game.env)[0] == "do"


def replayed_labels(episode: Episode) -> list[str]:
    """The expert's label at each state the episode went through, replaying the executed actions."""
    game = CrafterGame(max_steps=episode.max_steps)
    game.reset(episode.seed)
    labels = []
    for step in episode.steps:
        labels.append(fresh_label(game))
        game.step(step.played or step.action)
    return labels


@pytest.fixture
def tiny_eval(monkeypatch: pytest.MonkeyPatch) -> None:
    """Held-out evaluation of a few steps, and a short bootstrap: the tests check the plumbing, not the scores."""
    monkeypatch.setenv("TEACHKIT_CRAFTER__EVAL__MAX_STEPS", "5")
    monkeypatch.setenv("TEACHKIT_CRAFTER__EVAL__BOOTSTRAP_SAMPLES", "50")


def dagger(model: Path, out: Path, *extra: str):
    return runner.invoke(app, [
        "--json", "crafter", "dagger", "--teacher", "scripted", "--student", str(model), "--episodes", "1",
        "--max-steps", "6", "--eval-episodes", "1", "--beta", "0", "--out-dir", str(out), *extra,
    ])


def episodes_of(path: Path) -> list[Episode]:
    return list(read_records(path, Episode))


def test_rounds_label_train_evaluate_and_resume(tiny_model_dir: Path, tmp_path: Path, tiny_eval: None) -> None:
    out = tmp_path / "dagger"
    first = dagger(tiny_model_dir, out, "--rounds", "1")
    assert first.exit_code == 0, first.output
    round0 = episodes_of(out / "round-0" / "episodes.jsonl")
    assert [e.id for e in round0] == ["round-0-seed-0"] and round0[0].teacher == "scripted"
    assert all(step.played is None for step in round0[0].steps)  # behaviour cloning: the teacher played
    kept_student = (out / "round-0" / "student" / "adapter_model.safetensors").read_bytes()

    again = dagger(tiny_model_dir, out, "--rounds", "2")
    assert again.exit_code == 2 and "--resume" in again.output and "Traceback" not in again.output

    resumed = dagger(tiny_model_dir, out, "--rounds", "2", "--resume")
    assert resumed.exit_code == 0, resumed.output
    summary = json.loads(resumed.stdout)
    assert summary["rounds_finished"] == 2 and summary["student"] == str(out / "student")
    assert episodes_of(out / "round-0" / "episodes.jsonl") == round0  # round 0 was not played again...
    assert (out / "round-0" / "student" / "adapter_model.safetensors").read_bytes() == kept_student  # ...nor trained

    round1 = episodes_of(out / "round-1" / "episodes.jsonl")
    assert [e.id for e in round1] == ["round-1-seed-1"]
    steps = round1[0].steps
    # beta 0: the student played every step; each step records the teacher's label for the state it reached.
    assert [step.action for step in steps] == replayed_labels(round1[0])
    assert any(step.played is not None for step in steps) and all(step.thought for step in steps)

    # Round 1 trained on the aggregate: both rounds' steps (the filter drops only repeated state-label pairs).
    round_file = json.loads((out / "round-1" / "round.json").read_text())
    train_lines = (out / "round-1" / "train.jsonl").read_text().splitlines()
    assert round_file["examples"] == len(train_lines) > len(steps)
    assert round_file["student_steps"] == len(steps) and round_file["beta"] == 0.0
    assert json.loads(train_lines[-1])["messages"][-1]["content"] == f"Action: {steps[-1].action}"
    for index in (0, 1):
        assert (out / f"round-{index}" / "student" / "adapter_config.json").is_file()
        assert len(episodes_of(out / f"round-{index}" / "eval.jsonl")) == 1
    assert (out / "student" / "teachkit-training.json").is_file()
    assert (out / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    document = json.loads((out / "summary.json").read_text())
    assert [r["round"] for r in document["rounds"]] == [0, 1]
    assert set(document["baselines"]) == {"random", "teacher (scripted)", f"base ({tiny_model_dir})"}
    low, high = document["rounds"][1]["crafter_score_ci95"]
    assert low <= document["rounds"][1]["crafter_score"] <= high

    # A run killed while training round 1: its episodes are there (with a torn line), its round file is not.
    (out / "round-1" / "round.json").unlink()
    with (out / "round-1" / "episodes.jsonl").open("a") as handle:
        handle.write('{"id": "round-1-se')
    killed = dagger(tiny_model_dir, out, "--rounds", "2", "--resume")
    assert killed.exit_code == 0, killed.output
    assert episodes_of(out / "round-1" / "episodes.jsonl") == round1  # no episode played twice
    assert json.loads((out / "round-1" / "round.json").read_text())["examples"] == round_file["examples"]

    report = runner.invoke(app, ["--json", "crafter", "report", str(out / "round-1" / "episodes.jsonl")])
    assert report.exit_code == 0, report.output


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--teacher", "oracle"], "unknown teacher"),
        (["--rounds", "0"], "crafter.dagger.rounds"),
        (["--student", "scripted"], "local student"),
        (["--seed", "999", "--rounds", "2"], "overlap the held-out seeds"),
    ],
)
def test_bad_input_exits_2_with_one_line(flags: list[str], message: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["crafter", "dagger", "--out-dir", str(tmp_path / "run"), *flags])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
