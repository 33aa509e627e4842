"""`crafter eval`: a student folder against its base model on the same seeds, and the paired bootstrap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.crafter.evaluate import STATISTICS, open_policy, paired_bootstrap, spec_kind
from teachkit.crafter.vertex_tuning import write_job_record
from teachkit.jsonl import read_records
from teachkit.records import Episode, EpisodeTotals, StudentPrompt, TrainedModel, TrainingData, TuningJob
from teachkit.settings import load_settings
from teachkit.train.artifacts import write_record


@pytest.fixture(scope="module")
def student_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA student of the tiny model (random adapter weights) with the record `finetune` writes."""
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from teachkit.train.lora import lora_config

    path = tmp_path_factory.mktemp("student")
    torch.manual_seed(1)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir), lora_config(4))
    for name, parameter in model.named_parameters():
        if "lora_B" in name:
            parameter.data.normal_(0, 0.5)
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(path)
    write_record(path, TrainedModel(
        method="sft-lora", base_model=str(tiny_model_dir), base_model_path=str(tiny_model_dir),
        data=[TrainingData(path="train.jsonl", sha256="0" * 64)],
        prompt=StudentPrompt(observation_format="compact", system_prompt="You play Crafter.", history=0),
    ))
    return path


def test_student_against_its_base_on_the_same_seeds(student_dir: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval" / "results.json"
    result = CliRunner().invoke(app, [
        "--json", "crafter", "eval", "--policy", str(student_dir), "--baseline", str(tiny_model_dir),
        "--episodes", "3", "--max-steps", "12", "--seed", "7", "--out", str(out),
    ])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    results = json.loads(out.read_text())
    assert results["seeds"] == [7, 8, 9]
    policy, baseline = results["policies"]["policy"], results["policies"]["baseline"]
    # The base model has no record of its own: it is prompted as the student was trained.
    assert policy["observation_format"] == baseline["observation_format"] == "compact"
    assert policy["system_prompt"] == baseline["system_prompt"] == "yes" and policy["decode"] == "score"
    assert set(policy["success_rates_%"]) == set(baseline["success_rates_%"]) and len(policy["success_rates_%"]) == 22
    assert policy["invalid_rate_%"] == 0.0  # scoring can only pick one of the 17 actions

    statistics = {row["statistic"]: row for row in summary["comparison"]}
    assert set(statistics) == set(STATISTICS)
    for row in statistics.values():
        assert row["difference"] == pytest.approx(row["policy"] - row["baseline"], abs=2e-3)
        assert row["ci95_low"] <= row["difference"] + 1e-9 and row["difference"] <= row["ci95_high"] + 1e-9
    assert summary["policy_crafter_score"] == policy["crafter_score"]

    played = {}
    for label in ("policy", "baseline"):
        episodes = list(read_records(out.with_name(f"results.{label}.jsonl"), Episode))
        assert [e.seed for e in episodes] == [7, 8, 9]
        assert all(e.observation_format == "compact" and e.totals.steps <= 12 for e in episodes)
        played[label] = episodes
    # Same seeds, same worlds: both start from the very same observation.
    assert played["policy"][0].steps[0].observation == played["baseline"][0].steps[0].observation
    assert out.with_name("results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.with_name("results.json.manifest.json").is_file()

    again = CliRunner().invoke(app, ["crafter", "eval", "--policy", "random", "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.stderr


def test_scripted_and_random_play_through_the_rollout_loop(tmp_path: Path) -> None:
    out = tmp_path / "builtin.json"
    result = CliRunner().invoke(app, ["--json", "crafter", "eval", "--policy", "scripted", "--baseline", "random",
                                      "--episodes", "2", "--max-steps", "60", "--out", str(out)])
    assert result.exit_code == 0, result.output
    results = json.loads(out.read_text())
    assert results["policies"]["policy"]["spec"] == "scripted"
    assert results["policies"]["policy"]["observation_format"] == "full"
    assert results["policies"]["policy"]["mean_achievements"] >= results["policies"]["baseline"]["mean_achievements"]


def test_no_policy_is_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["crafter", "eval", "--out", str(tmp_path / "r.json")])
    assert result.exit_code == 2 and "--policy" in result.stderr


def test_policy_specs(tmp_path: Path) -> None:
    assert spec_kind("scripted") == "builtin"
    assert spec_kind("openai:qwen@http://127.0.0.1:1/v1") == "model"
    assert spec_kind("vertex:projects/p/locations/l/endpoints/9") == "model"
    assert spec_kind("local:./runs/student") == spec_kind("smollm2-135m") == spec_kind("org/model") == "local"
    job = tmp_path / "train.tuning-9.json"
    record = TuningJob(name="projects/p/locations/l/tuningJobs/9", state="JOB_STATE_RUNNING", project="p",
                       location="l", base_model="gemini-2.5-flash", display_name="x",
                       training_data=TrainingData(path="t", sha256="0" * 64))
    write_job_record(job, record)
    assert spec_kind(str(job)) == "job"
    with pytest.raises(Exception, match="no endpoint yet"):
        open_policy(str(job), "policy", load_settings())


def totals(achievements: list[str]) -> EpisodeTotals:
    return EpisodeTotals(achievements=achievements, steps=10)


def episodes_with(counts: list[int]) -> list[Episode]:
    names = ["collect_wood", "place_table", "collect_sapling", "collect_drink"]
    return [Episode(id=f"seed-{i}", seed=i, teacher="t", settings_hash="h", max_steps=10,
                    totals=totals(names[:count])) for i, count in enumerate(counts)]


def test_paired_bootstrap_interval() -> None:
    better, worse = episodes_with([3, 4, 3, 2, 4, 3]), episodes_with([0, 1, 0, 0, 1, 0])
    difference, low, high = paired_bootstrap(better, worse, STATISTICS["mean_achievements"], 500)
    assert difference == pytest.approx(19 / 6 - 2 / 6)
    assert 0 < low <= difference <= high
    same = paired_bootstrap(better, better, STATISTICS["crafter_score"], 200)
    assert same == (0.0, 0.0, 0.0)


def test_a_model_spec_policy_plays_through_the_provider_layer(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from teachkit.testing import FakeOpenAI

    monkeypatch.setenv("TEACHKIT_CRAFTER__ROLLOUT__STRUCTURED_OUTPUT", "false")
    out = tmp_path / "served.json"
    with FakeOpenAI() as fake:
        fake.reply_fn = lambda request: "Thought: wood first.\nAction: move_left"
        result = CliRunner().invoke(app, ["--json", "crafter", "eval", "--policy", f"openai:student@{fake.url}/v1",
                                          "--episodes", "2", "--max-steps", "5", "--observation", "compact",
                                          "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert len(fake.requests) == 10  # one request per decision: 2 episodes x 5 steps
    episodes = list(read_records(tmp_path / "served.policy.jsonl", Episode))
    assert all(step.action == "move_left" and step.valid for e in episodes for step in e.steps)
    assert json.loads(out.read_text())["policies"]["policy"]["observation_format"] == "compact"
