"""`crafter eval`: a student folder against its base model on the same seeds, a Gemma 2 student in both decode
modes, served students prompted as their training data prompted them, and the paired difference over seeds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.crafter.evaluate import STATISTICS, open_policy, paired_difference
from teachkit.jsonl import read_records
from teachkit.llm.spec import parse_for_role
from teachkit.records import (
    Episode,
    EpisodeTotals,
    EvalReport,
    StudentPrompt,
    TrainedModel,
    TrainingData,
    TuningJob,
)
from teachkit.settings import load_settings
from teachkit.sft_data.formats import Example, render
from teachkit.students.artifacts import write_record
from teachkit.testing import FakeGemini
from teachkit.vertex.job_records import write_job_record


@pytest.fixture(scope="module")
def student_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA student of the tiny model (random adapter weights) with the record `finetune` writes."""
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from teachkit.students.lora import lora_config

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
    # The baseline is the random policy: it is the random row, not played a second time.
    assert set(results["policies"]) == {"policy", "baseline"} and not out.with_name("builtin.random.jsonl").exists()
    assert results["comparison_to_random"] == results["comparison"]
    shared = EvalReport.model_validate_json(out.read_text())
    assert [(d.model, d.baseline) for d in shared.differences] == [("policy", "baseline")] * len(STATISTICS)


def test_the_random_row_is_always_in_the_report(student_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(app, ["--json", "crafter", "eval", "--policy", str(student_dir), "--baseline",
                                      "scripted", "--episodes", "2", "--max-steps", "6", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary, results = json.loads(result.stdout), json.loads(out.read_text())
    assert results["policies"]["baseline"]["spec"] == "scripted"
    assert results["policies"]["random"]["spec"] == "random"
    random_episodes = list(read_records(out.with_name("eval.random.jsonl"), Episode))
    assert [e.seed for e in random_episodes] == results["seeds"]
    rows = {row["statistic"]: row for row in results["comparison_to_random"]}
    assert rows["crafter_score"]["baseline"] == results["policies"]["random"]["crafter_score"]
    assert summary["random_crafter_score"] == results["policies"]["random"]["crafter_score"]
    assert "score_over_random" in summary and "random_%" in summary["achievements"][0]
    # The record every evaluation writes: each seed's achievements per policy, and the comparisons as differences.
    shared = EvalReport.model_validate_json(out.read_text())
    assert shared.pipeline == "crafter" and [m.label for m in shared.models] == ["policy", "baseline", "random"]
    assert shared.models[0].spec == f"local:{student_dir}" and shared.models[0].details["observation_format"] == "compact"
    assert [item.id for item in shared.items] == [e.id for e in random_episodes]
    assert [item.scores["random"] for item in shared.items] == [len(set(e.totals.achievements))
                                                                 for e in random_episodes]
    assert round(shared.summaries["random"].mean, 2) == results["policies"]["random"]["mean_achievements"]
    assert {(d.baseline, d.statistic) for d in shared.differences} == {
        (baseline, name) for baseline in ("baseline", "random") for name in STATISTICS}
    over_random = next(d for d in shared.differences if (d.baseline, d.statistic) == ("random", "crafter_score"))
    assert over_random.difference == summary["score_over_random"] and over_random.pairs == 2
    assert shared.command.name == "crafter eval" and shared.command.settings["crafter.eval"]["episodes"] == 2


def test_a_sampling_student_plays_the_same_episodes_twice(student_dir: Path, tmp_path: Path) -> None:
    played = []
    for name in ("first", "second"):
        out = tmp_path / f"{name}.json"
        result = CliRunner().invoke(app, ["--quiet", "crafter", "eval", "--policy", str(student_dir), "--temperature",
                                          "1", "--episodes", "2", "--max-steps", "8", "--out", str(out)])
        assert result.exit_code == 0, result.output
        report = EvalReport.model_validate_json(out.read_text())
        assert report.command.settings["crafter.eval"]["temperature"] == 1.0
        played.append([[s.action for s in e.steps] for e in read_records(out.with_name(f"{name}.policy.jsonl"),
                                                                           Episode)])
    assert played[0] == played[1] and all(len(actions) == 8 for actions in played[0])


def test_resume_replays_no_finished_episode(student_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    args = ["--json", "crafter", "eval", "--policy", str(student_dir), "--episodes", "3", "--max-steps", "5",
            "--out", str(out)]
    assert CliRunner().invoke(app, args).exit_code == 0
    episodes_file = out.with_name("eval.policy.jsonl")
    finished = episodes_file.read_text().splitlines(keepends=True)
    # An evaluation killed after its first episode: one episode written, no results yet.
    out.unlink()
    episodes_file.write_text(finished[0])
    out.with_name("eval.random.jsonl").unlink()

    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2 and "--resume" in refused.stderr
    resumed = CliRunner().invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    lines = episodes_file.read_text().splitlines(keepends=True)
    assert lines[0] == finished[0] and len(lines) == 3  # kept as it was, and the other two seeds played once each
    assert sorted(json.loads(line)["seed"] for line in lines) == json.loads(out.read_text())["seeds"]
    assert "1 of 3 episodes already in" in resumed.stderr


def test_no_policy_is_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["crafter", "eval", "--out", str(tmp_path / "r.json")])
    assert result.exit_code == 2 and "--policy" in result.stderr


def test_policy_specs(tmp_path: Path) -> None:
    def kind(spec: str) -> str:
        return parse_for_role(spec, "policy").kind

    assert kind("scripted") == "builtin"
    assert kind("openai:qwen@http://127.0.0.1:1/v1") == "served"
    assert kind("vertex:projects/p/locations/l/endpoints/9") == "served"
    assert kind("local:./runs/student") == kind("smollm2-135m") == kind("org/model") == "local"
    job = tmp_path / "train.tuning-9.json"
    record = TuningJob(name="projects/p/locations/l/tuningJobs/9", state="JOB_STATE_RUNNING", project="p",
                       location="l", base_model="gemini-2.5-flash", display_name="x",
                       training_data=TrainingData(path="t", sha256="0" * 64))
    write_job_record(job, record)
    assert kind(str(job)) == "job"
    with pytest.raises(Exception, match="no endpoint yet"):
        open_policy(str(job), "policy", load_settings())


def totals(achievements: list[str]) -> EpisodeTotals:
    return EpisodeTotals(achievements=achievements, steps=10)


def episodes_with(counts: list[int]) -> list[Episode]:
    names = ["collect_wood", "place_table", "collect_sapling", "collect_drink"]
    return [Episode(id=f"seed-{i}", seed=i, teacher="t", settings_hash="h", max_steps=10,
                    totals=totals(names[:count])) for i, count in enumerate(counts)]


def test_paired_difference_over_seeds() -> None:
    better, worse = episodes_with([3, 4, 3, 2, 4, 3]), episodes_with([0, 1, 0, 0, 1, 0])
    difference, low, high = paired_difference(better, worse, STATISTICS["mean_achievements"], 500)
    assert difference == pytest.approx(19 / 6 - 2 / 6)
    assert 0 < low <= difference <= high
    same = paired_difference(better, better, STATISTICS["crafter_score"], 200)
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


@pytest.fixture(scope="module")
def gemma_student_dir(tiny_gemma2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA student of the tiny Gemma 2, trained (as its record says) with a system prompt and one earlier turn."""
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from teachkit.students.lora import lora_config

    path = tmp_path_factory.mktemp("gemma-student")
    torch.manual_seed(3)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_gemma2_dir), lora_config(2))
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_gemma2_dir).save_pretrained(path)
    write_record(path, TrainedModel(
        method="sft-lora", base_model="gemma-2", base_model_path=str(tiny_gemma2_dir),
        prompt=StudentPrompt(observation_format="compact", system_prompt="You play Crafter.", history=1),
    ))
    return path


@pytest.mark.parametrize("decode", ["score", "generate"])
def test_a_gemma2_student_plays(gemma_student_dir: Path, tmp_path: Path, decode: str,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEACHKIT_CRAFTER__EVAL__MAX_NEW_TOKENS", "6")
    out = tmp_path / "gemma.json"
    result = CliRunner().invoke(app, ["--json", "crafter", "eval", "--policy", str(gemma_student_dir), "--decode",
                                      decode, "--episodes", "2", "--max-steps", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    policy = json.loads(out.read_text())["policies"]["policy"]
    assert policy["decode"] == decode and policy["system_prompt"] == "yes" and policy["history"] == 1
    episodes = list(read_records(tmp_path / "gemma.policy.jsonl", Episode))
    assert [e.totals.steps for e in episodes] == [3, 3]
    if decode == "score":
        assert policy["invalid_rate_%"] == 0.0  # scoring can only pick one of the 17 actions
    else:
        # A random tiny model rarely writes an action; whatever it wrote was read, and it stopped at a turn's end.
        assert all(step.response is not None for e in episodes for step in e.steps)


class FakeVertexEndpoint(FakeGemini):
    """The fake Gemini answering where a Vertex AI endpoint (a tuned model) is called:
    `POST /v1beta1/projects/P/locations/L/endpoints/E:generateContent`."""

    def route(self, method: str, path: str) -> str | None:
        match = re.search(r"/endpoints/(?P<model>[^/:]+):generateContent$", path)
        return match.group("model") if method == "POST" and match else None


def contents_of(body: dict) -> list[tuple[str, str]]:
    return [(item["role"], item["parts"][0]["text"]) for item in body["contents"]]


def test_a_vertex_tuned_student_is_prompted_as_its_training_data_in_its_own_region(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trained = StudentPrompt(observation_format="compact", system_prompt="You play Crafter. Reply: Action: NAME",
                            history=1, source_format="vertex")
    job = tmp_path / "train.tuning-77.json"
    write_job_record(job, TuningJob(
        name="projects/p2/locations/europe-west4/tuningJobs/77", state="JOB_STATE_SUCCEEDED", project="p2",
        location="europe-west4", base_model="gemini-2.5-flash", display_name="x",
        training_data=TrainingData(path="t", sha256="0" * 64), prompt=trained,
        endpoint="projects/p2/locations/europe-west4/endpoints/77"))
    with FakeVertexEndpoint() as fake:
        fake.reply_fn = lambda request: "Action: move_left"
        monkeypatch.setenv("TEACHKIT_GCP__VERTEX_ENDPOINT", fake.url)
        monkeypatch.setenv("TEACHKIT_GCP__ACCESS_TOKEN", "token-of-p2")
        monkeypatch.setenv("TEACHKIT_GCP__PROJECT", "another-project")
        out = tmp_path / "vertex.json"
        result = CliRunner().invoke(app, ["--json", "crafter", "eval", "--policy", str(job), "--episodes", "1",
                                          "--max-steps", "3", "--out", str(out)])
        assert result.exit_code == 0, result.output
        requests = list(fake.requests)
    assert len(requests) == 3
    for request in requests:
        # Called in the endpoint's own project and region, not gcp.project / gcp.location.
        assert "/projects/p2/locations/europe-west4/endpoints/77:generateContent" in request.path
        assert request.header("Authorization") == "Bearer token-of-p2"
        assert request.body["systemInstruction"]["parts"][0]["text"] == trained.system_prompt
        config = request.body.get("generationConfig", {})
        assert "responseSchema" not in config and "responseMimeType" not in config  # no enum: it writes text
    first, second, third = (contents_of(request.body) for request in requests)
    episode = next(iter(read_records(tmp_path / "vertex.policy.jsonl", Episode)))
    # As `format` wrote the examples: the bare observation, then one earlier (observation, reply) turn.
    assert first == [("user", episode.steps[0].observation)]
    assert second == [("user", episode.steps[0].observation), ("model", "Action: move_left"),
                      ("user", episode.steps[1].observation)]
    assert [role for role, _ in third] == ["user", "model", "user"] and third[0][1] == episode.steps[1].observation
    assert episode.observation_format == "compact" and all(step.action == "move_left" for step in episode.steps)
    policy = json.loads(out.read_text())["policies"]["policy"]
    assert policy["decode"] == "text" and policy["system_prompt"] == "yes" and policy["history"] == 1


def test_prompt_like_plays_a_served_model_as_the_data_prompted_it(tmp_path: Path, fake_gemini,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    data = tmp_path / "train.jsonl"
    example = Example(system="Short rules.", turns=[("user", "t1 day H9 F9 D9 E9\nnear: tree W1"),
                                                    ("model", "Thought: wood.\nAction: do")])
    data.write_text(json.dumps(render(example, "vertex")) + "\n")
    fake_gemini.reply_fn = lambda request: "Thought: a tree.\nAction: do"
    out = tmp_path / "liked.json"
    result = CliRunner().invoke(app, ["--json", "crafter", "eval", "--policy",
                                      f"gemini:gemini-2.5-flash-student@{fake_gemini.url}", "--prompt-like", str(data),
                                      "--episodes", "1", "--max-steps", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(fake_gemini.requests) == 2
    body = fake_gemini.requests[0].body
    assert body["systemInstruction"]["parts"][0]["text"] == "Short rules." and len(body["contents"]) == 1
    policy = json.loads(out.read_text())["policies"]["policy"]
    assert policy["observation_format"] == "compact" and policy["with_thoughts"] and policy["history"] == 0
    episode = next(iter(read_records(tmp_path / "liked.policy.jsonl", Episode)))
    assert [step.thought for step in episode.steps] == ["a tree.", "a tree."]
