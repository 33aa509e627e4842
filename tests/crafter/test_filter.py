from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.crafter.filter import filter_episodes
from teachkit.jsonl import read_records
from teachkit.records import Episode
from teachkit.settings import load_settings
from tests.crafter.episode_factory import make_episode, varied_episodes, write_episodes

runner = CliRunner()


def run_filter(*args: str):
    return runner.invoke(app, ["--json", "crafter", "filter", *args])


def kept(path: Path) -> list[Episode]:
    return list(read_records(path, Episode))


def rows_of(result) -> dict[str, dict]:
    summary = json.loads(result.stdout)
    return {row["what"]: row for row in summary["kept_and_dropped"]}


def test_episode_thresholds_keep_the_good_episodes_and_count_why_the_rest_went(tmp_path: Path):
    source = write_episodes(tmp_path / "episodes.jsonl", varied_episodes(6))  # episode i has i achievements
    result = run_filter(str(source), "--out", "kept.jsonl", "--min-achievements", "2", "--require", "place_table")
    assert result.exit_code == 0, result.output
    episodes = kept(tmp_path / "kept.jsonl")
    assert [e.id for e in episodes] == ["seed-2", "seed-3", "seed-4", "seed-5"]
    for episode in episodes:
        assert episode.score is not None and episode.score.breakdown["achievements"] >= 2
    rows = rows_of(result)
    assert rows["read"] == {"what": "read", "episodes": 6, "steps": 72}
    assert rows["dropped: below --min-achievements"]["episodes"] == 2
    assert rows["kept"]["episodes"] == 4
    manifest = json.loads((tmp_path / "kept.jsonl.manifest.json").read_text())
    assert manifest["counts"]["episodes_kept"] == 4
    assert manifest["counts"]["dropped_episodes"] == {"min_achievements": 2}
    assert manifest["settings"]["crafter"]["filter"]["require"] == ["place_table"]


def test_min_score_is_checked_before_require(tmp_path: Path):
    # Scores: seed-0 1, seed-1 3, seed-2 5, seed-3 8.5, ...; only seed-6 has collect_iron.
    source = write_episodes(tmp_path / "episodes.jsonl", varied_episodes(7))
    result = run_filter(str(source), "--out", "kept.jsonl", "--min-score", "5", "--require", "collect_iron")
    assert result.exit_code == 0, result.output
    assert [e.id for e in kept(tmp_path / "kept.jsonl")] == ["seed-6"]
    rows = rows_of(result)
    assert rows["dropped: below --min-score"]["episodes"] == 2
    assert rows["dropped: missing a --require achievement"]["episodes"] == 4


def test_top_k_keeps_the_best_in_file_order_and_breaks_ties_by_position(tmp_path: Path):
    episodes = varied_episodes(5)
    twin = make_episode("seed-4b", seed=44, actions=["move_left", "do"] * 6,
                        achievements_at={t: [n] for t, n in enumerate(
                            ["collect_wood", "place_table", "make_wood_pickaxe", "collect_stone"])})
    source = write_episodes(tmp_path / "episodes.jsonl", [episodes[4], *episodes[:4], twin])
    result = run_filter(str(source), "--out", "top.jsonl", "--top-k", "2")
    assert result.exit_code == 0, result.output
    # seed-4 and seed-4b score the same; both beat the rest. Output keeps the input order.
    assert [e.id for e in kept(tmp_path / "top.jsonl")] == ["seed-4", "seed-4b"]
    result = run_filter(str(source), "--out", "one.jsonl", "--top-k", "1")
    assert [e.id for e in kept(tmp_path / "one.jsonl")] == ["seed-4"]
    assert rows_of(result)["dropped: outside --top-k / --top-fraction"]["episodes"] == 5


def test_top_fraction_keeps_ceil_of_the_fraction_of_episodes_read(tmp_path: Path):
    source = write_episodes(tmp_path / "episodes.jsonl", varied_episodes(5))
    result = run_filter(str(source), "--out", "top.jsonl", "--top-fraction", "0.5")
    assert result.exit_code == 0, result.output
    assert [e.id for e in kept(tmp_path / "top.jsonl")] == ["seed-2", "seed-3", "seed-4"]
    both = run_filter(str(source), "--out", "x.jsonl", "--top-k", "2", "--top-fraction", "0.5")
    assert both.exit_code == 2
    assert "not both" in both.output


def test_step_rules_drop_invalid_noop_and_steps_after_the_last_achievement(tmp_path: Path):
    episode = make_episode(
        actions=["move_left", "noop", "do", "do", "move_up", "do", "move_left", "move_left"],
        invalid_at=[3],
        achievements_at={5: ["collect_wood"]},
    )
    source = write_episodes(tmp_path / "episodes.jsonl", [episode])
    result = run_filter(str(source), "--out", "kept.jsonl", "--drop-noop", "--until-last-achievement")
    assert result.exit_code == 0, result.output
    (only,) = kept(tmp_path / "kept.jsonl")
    assert [step.t for step in only.steps] == [0, 2, 4, 5]
    assert only.totals.steps == 8  # totals still describe the episode as played
    rows = rows_of(result)
    assert rows["dropped steps: invalid action"]["steps"] == 1
    assert rows["dropped steps: noop"]["steps"] == 1
    assert rows["dropped steps: after the last new achievement"]["steps"] == 2
    assert rows["kept"] == {"what": "kept", "episodes": 1, "steps": 4}

    result = run_filter(str(source), "--out", "all.jsonl", "--keep-invalid")
    assert [step.t for step in kept(tmp_path / "all.jsonl")[0].steps] == list(range(8))


def test_near_duplicate_pairs_are_removed_across_episodes_and_counted(tmp_path: Path):
    first = make_episode("seed-0", actions=["move_left", "do", "do", "move_up"], places=[10, 11, 12, 13])
    # Same views at other step numbers: steps 1-2 repeat (view 11, do) and (view 12, do); step 3 acts differently.
    second = make_episode("seed-1", seed=1, actions=["move_up", "do", "do", "move_left"], places=[20, 11, 12, 13])
    for step in second.steps:
        step.observation = step.observation.replace(f"Step {step.t} of", f"Step {step.t + 40} of")
    source = write_episodes(tmp_path / "episodes.jsonl", [first, second])
    result = run_filter(str(source), "--out", "kept.jsonl")
    assert result.exit_code == 0, result.output
    a, b = kept(tmp_path / "kept.jsonl")
    assert [s.t for s in a.steps] == [0, 1, 2, 3]
    assert [s.t for s in b.steps] == [0, 3]
    assert json.loads(result.stdout)["near_duplicates_removed"] == 2
    result = run_filter(str(source), "--out", "all.jsonl", "--no-dedupe")
    assert sum(len(e.steps) for e in kept(tmp_path / "all.jsonl")) == 8


def test_an_episode_left_without_steps_or_seen_twice_is_dropped(tmp_path: Path):
    episode = make_episode("seed-0", actions=["do", "do"])
    other_teacher = episode.model_copy(update={"teacher": "random"})
    source = write_episodes(tmp_path / "episodes.jsonl", [episode, episode, other_teacher])
    result = run_filter(str(source), "--out", "kept.jsonl")
    assert result.exit_code == 0, result.output
    rows = rows_of(result)
    assert rows["dropped: repeated episode (same id, teacher and settings)"]["episodes"] == 1
    # The random teacher's episode has the same id but is another episode; every step of it is a duplicate.
    assert rows["dropped: no steps left"]["episodes"] == 1
    assert [e.teacher for e in kept(tmp_path / "kept.jsonl")] == ["scripted"]


def test_refiltering_a_filtered_file_keeps_the_same_scores(tmp_path: Path):
    episodes = varied_episodes(4)
    episodes.append(make_episode("seed-9", seed=9, actions=["noop"] * 30, places=[3] * 30,
                                 achievements_at={0: ["collect_wood"], 1: ["place_table"]}, invalid_at=[5]))
    source = write_episodes(tmp_path / "episodes.jsonl", episodes)
    settings = load_settings()
    filter_episodes([source], tmp_path / "once.jsonl", settings)
    filter_episodes([tmp_path / "once.jsonl"], tmp_path / "twice.jsonl", settings)
    once, twice = kept(tmp_path / "once.jsonl"), kept(tmp_path / "twice.jsonl")
    assert [e.score for e in once] == [e.score for e in twice]
    looping = next(e for e in twice if e.id == "seed-9")
    assert looping.score.breakdown["loop_steps"] > 0


def test_an_existing_output_needs_overwrite(tmp_path: Path):
    source = write_episodes(tmp_path / "episodes.jsonl", varied_episodes(2))
    (tmp_path / "kept.jsonl").write_text("precious\n")
    result = run_filter(str(source), "--out", "kept.jsonl")
    assert result.exit_code == 2
    assert "--overwrite" in result.output
    assert (tmp_path / "kept.jsonl").read_text() == "precious\n"
    assert run_filter(str(source), "--out", "kept.jsonl", "--overwrite").exit_code == 0
    assert run_filter(str(source), "--out", str(source), "--overwrite").exit_code == 2


def test_unknown_required_achievement_is_exit_2(tmp_path: Path):
    source = write_episodes(tmp_path / "episodes.jsonl", varied_episodes(2))
    result = run_filter(str(source), "--out", "kept.jsonl", "--require", "collect_gold")
    assert result.exit_code == 2
    assert "collect_gold" in result.output
    assert not (tmp_path / "kept.jsonl").exists()


def bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = [e.model_dump_json() for e in varied_episodes(3)]
    other_version = json.loads(good[1])
    other_version["schema_version"] = 2
    missing = json.loads(good[2])
    del missing["steps"][1]["action"]
    cases = {
        "truncated": ("\n".join(good[:2]) + "\n" + good[2][:500], ":3: truncated last line"),
        "schema_version": (f"{good[0]}\n{json.dumps(other_version)}\n", ":2: schema_version: "),
        "missing_field": (f"{good[0]}\n{good[1]}\n{json.dumps(missing)}\n", ":3: steps.1.action: missing field"),
        "not_jsonl": ("seed,teacher,score\n0,scripted,3.5\n", ":1: not valid JSON"),
    }
    paths = {}
    for name, (text, message) in cases.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_text(text)
        paths[name] = (path, message)
    return paths


@pytest.mark.parametrize("case", ["truncated", "schema_version", "missing_field", "not_jsonl"])
def test_bad_input_names_file_and_line_exits_2_and_leaves_no_output(tmp_path: Path, case: str):
    path, message = bad_inputs(tmp_path)[case]
    before = set(tmp_path.iterdir())
    result = run_filter(str(path), "--out", "kept.jsonl")
    assert result.exit_code == 2, result.output
    assert f"{path}{message}" in result.output.replace("\n", "")
    assert set(tmp_path.iterdir()) == before  # no output, no manifest, no temp file


def test_a_missing_input_is_exit_2(tmp_path: Path):
    result = run_filter("nowhere.jsonl", "--out", "kept.jsonl")
    assert result.exit_code == 2
    assert "nowhere.jsonl: no such file" in result.output


def test_filter_and_format_a_real_rollout(tmp_path: Path):
    """Records as the rollout writes them (random teacher), through filter, format and --validate."""
    from teachkit.crafter.rollout import RolloutRequest, run_rollout

    settings = load_settings(overrides={"crafter.rollout.teacher": "random", "crafter.rollout.episodes": 2,
                                        "crafter.rollout.max_steps": 40})
    run_rollout(settings, RolloutRequest(out=tmp_path / "episodes.jsonl"))
    result = run_filter("episodes.jsonl", "--out", "kept.jsonl", "--keep-noop")
    assert result.exit_code == 0, result.output
    episodes = kept(tmp_path / "kept.jsonl")
    assert episodes and all(e.score is not None for e in episodes)
    steps = sum(len(e.steps) for e in episodes)
    formatted = runner.invoke(app, ["crafter", "format", "kept.jsonl", "-o", "train.jsonl", "-t", "messages",
                                    "--add-system"])
    assert formatted.exit_code == 0, formatted.output
    assert len((tmp_path / "train.jsonl").read_text().splitlines()) == steps
    assert runner.invoke(app, ["crafter", "format", "train.jsonl", "--validate"]).exit_code == 0
