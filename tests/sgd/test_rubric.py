"""`teachkit sgd rubric` and `compile --with-rubric` against the loopback fake of the Gemini API."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.data import example_sgd_root
from teachkit.jsonl import read_records
from teachkit.llm.base import ModelResult
from teachkit.manifest import manifest_path
from teachkit.records import Sample
from teachkit.sgd.compile import CompileOptions, compile_samples
from teachkit.sgd.rubric import RUBRIC_SCHEMA, read_criteria, rubric_request
from teachkit.testing.fake_gemini import request_texts, unavailable

EXAMPLES = example_sgd_root()
API_KEY = "test-key-rubric-0123456789"
runner = CliRunner()


def reference_of(request) -> str:
    prompt, _ = request_texts(request.body)
    return re.search(r"Reference next turn: (.*)", prompt).group(1).strip()


def good_reply(request) -> str:
    reference = reference_of(request)
    return json.dumps({"criteria": [f"Says what the reference says: {reference}", "Does not invent facts.",
                                    "Is one or two sentences."]})


@pytest.fixture
def judge_env(fake_gemini, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
    monkeypatch.setenv("TEACHKIT_JUDGE__BASE_URL", fake_gemini.url)
    monkeypatch.setenv("TEACHKIT_JUDGE__MAX_ATTEMPTS", "1")
    monkeypatch.setenv("TEACHKIT_PATHS__CACHE_DIR", str(tmp_path / "cache"))
    fake_gemini.reply_fn = good_reply
    return fake_gemini


def compiled(tmp_path: Path, limit: int = 6) -> Path:
    path = tmp_path / "samples.jsonl"
    compile_samples(EXAMPLES, path, CompileOptions(splits=["dev"], limit=limit))
    return path


def test_each_sample_gets_3_to_6_criteria_and_reruns_ask_nothing(tmp_path: Path, judge_env) -> None:
    samples = compiled(tmp_path)
    result = runner.invoke(app, ["--json", "sgd", "rubric", str(samples), "--out", "rubrics.jsonl"])
    assert result.exit_code == 0, result.output
    written = list(read_records(Path("rubrics.jsonl"), Sample))
    originals = list(read_records(samples, Sample))
    assert [s.id for s in written] == [s.id for s in originals]
    for sample in written:
        assert 3 <= len(sample.rubric) <= 6 and sample.ground_truth in sample.rubric[0]
    assert len(judge_env.requests) == 6
    body = judge_env.requests[0].body
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    prompt, _ = request_texts(body)
    assert "Service results the assistant had:" in prompt and "Dialogue acts of the reference turn:" in prompt
    summary = json.loads(result.stdout)
    assert summary["written"] == 6 and summary["requests"] == 6
    manifest = json.loads(manifest_path(Path("rubrics.jsonl")).read_text())
    assert manifest["counts"]["written"] == 6 and API_KEY not in json.dumps(manifest)

    resumed = runner.invoke(app, ["--json", "sgd", "rubric", str(samples), "--out", "rubrics.jsonl", "--resume"])
    assert resumed.exit_code == 0 and json.loads(resumed.stdout)["resumed"] == 6
    again = runner.invoke(app, ["--json", "sgd", "rubric", str(samples), "--out", "rubrics.jsonl", "--overwrite"])
    assert again.exit_code == 0 and json.loads(again.stdout)["cache_hits"] == 6
    assert len(judge_env.requests) == 6
    refused = runner.invoke(app, ["sgd", "rubric", str(samples), "--out", "rubrics.jsonl"])
    assert refused.exit_code == 2 and "--resume" in refused.output


def test_failures_are_left_out_listed_and_asked_again_on_resume(tmp_path: Path, judge_env) -> None:
    samples = compiled(tmp_path, limit=6)
    originals = list(read_records(samples, Sample))
    flaky, stubborn, garbled, rejected = (s.ground_truth for s in originals[1:5])
    seen: dict[str, int] = {}

    def reply(request):
        reference = reference_of(request)
        seen[reference] = seen.get(reference, 0) + 1
        if reference == flaky and seen[reference] == 1 or reference == stubborn:
            return json.dumps({"criteria": ["only one"]})
        if reference == garbled:
            return "I would rather not write a rubric."
        if reference == rejected:
            return unavailable()  # a failure that a later run may not meet (judge.max_attempts is 1 here)
        return good_reply(request)

    judge_env.reply_fn = reply
    result = runner.invoke(app, ["--json", "sgd", "rubric", str(samples), "--out", "r.jsonl"])
    assert result.exit_code == 1
    assert "3 sample(s) got no rubric" in result.output and "rerun with --resume" in result.output
    left_out = {s.id for s in originals[2:5]}
    assert {s.id for s in read_records(Path("r.jsonl"), Sample)} == {s.id for s in originals} - left_out
    # Unusable replies are asked once more (sampled); a failed request is not.
    assert (seen[flaky], seen[stubborn], seen[garbled], seen[rejected]) == (2, 2, 2, 1)
    assert json.loads(result.stdout)["failed"] == 3

    judge_env.reply_fn = good_reply
    resumed = runner.invoke(app, ["--json", "sgd", "rubric", str(samples), "--out", "r.jsonl", "--resume"])
    # Failed requests were never cached and are asked again; the stubborn reply was a valid reply, cached.
    assert resumed.exit_code == 1 and "1 sample(s) got no rubric" in resumed.output
    assert originals[2].id in resumed.output
    fresh = runner.invoke(app, ["--json", "sgd", "rubric", str(samples), "--out", "r.jsonl", "--resume",
                                "--no-cache"])
    assert fresh.exit_code == 0, fresh.output
    final = list(read_records(Path("r.jsonl"), Sample))
    assert sorted(s.id for s in final) == sorted(s.id for s in originals)
    assert all(3 <= len(s.rubric) <= 6 for s in final)


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "gemini-2.5-pro"])
def test_the_default_judge_settings_get_every_rubric_from_a_thinking_model(tmp_path: Path, judge_env, model) -> None:
    # Both think longer than the judge's 512 output tokens when left to decide (dynamic thinking).
    judge_env.dynamic_thinking = {model: 2000}
    samples = compiled(tmp_path, limit=4)
    result = runner.invoke(app, ["--json", "sgd", "rubric", str(samples), "--out", "r.jsonl", "--judge-model",
                                 f"gemini:{model}@{judge_env.url}"])
    assert result.exit_code == 0, result.output
    assert all(3 <= len(s.rubric) <= 6 for s in read_records(Path("r.jsonl"), Sample))
    judge = json.loads(manifest_path(Path("r.jsonl")).read_text())["judge"]
    assert judge["errors"] == {} and judge["max_tokens_retries"] == 0 and judge["requests"] == 4


@pytest.mark.parametrize(("fault", "fix"), [("api_key", "check GEMINI_API_KEY"), ("not_found", "check the model name")])
def test_a_judge_fault_no_retry_mends_stops_the_rubrics_with_what_to_fix(
    tmp_path: Path, judge_env, fault: str, fix: str
) -> None:
    samples = compiled(tmp_path, limit=6)
    judge_env.fail_every_request(fault)
    result = runner.invoke(app, ["sgd", "rubric", str(samples), "--out", "r.jsonl"])
    assert result.exit_code == 1
    message = result.stderr.strip().splitlines()[-1]
    assert fix in message and "rerun with --resume" in message and API_KEY not in result.output
    assert not Path("r.jsonl").exists() or list(read_records(Path("r.jsonl"), Sample)) == []
    judge_env.fail_every_request(None)
    resumed = runner.invoke(app, ["sgd", "rubric", str(samples), "--out", "r.jsonl", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert len(list(read_records(Path("r.jsonl"), Sample))) == 6


def test_max_cost_stops_new_requests_and_resume_finishes(tmp_path: Path, judge_env, monkeypatch) -> None:
    monkeypatch.setenv("TEACHKIT_JUDGE__CONCURRENCY", "1")
    samples = compiled(tmp_path, limit=8)
    # Word counts are the fake's tokens: about 300 prompt words at 1000 USD per million is ~0.3 USD a request.
    config = tmp_path / "teachkit.toml"
    config.write_text('[prices."gemini-2.5-flash"]\ninput = 1000.0\noutput = 1000.0\n')
    result = runner.invoke(app, ["--json", "sgd", "rubric", str(samples), "--out", "r.jsonl", "--max-cost", "0.5"])
    assert result.exit_code == 1 and "stopped at --max-cost 0.5 USD" in result.output
    stopped = len(list(read_records(Path("r.jsonl"), Sample)))
    assert 1 <= stopped < 8 and len(judge_env.requests) == stopped
    finished = runner.invoke(app, ["--json", "sgd", "rubric", str(samples), "--out", "r.jsonl", "--resume"])
    assert finished.exit_code == 0, finished.output
    assert len(list(read_records(Path("r.jsonl"), Sample))) == 8


def test_compile_with_rubric_does_both_in_one_run(tmp_path: Path, judge_env) -> None:
    result = runner.invoke(app, ["--json", "sgd", "compile", "--sgd-root", str(EXAMPLES), "--split", "dev",
                                 "--limit", "10", "--eval-fraction", "0.3", "--out", "out/train.jsonl",
                                 "--with_rubric"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    train = list(read_records(Path("out/train.jsonl"), Sample))
    held = list(read_records(Path("out/train.eval.jsonl"), Sample))
    assert len(train) + len(held) == 10 and held
    assert all(s.rubric for s in train + held)
    assert summary["rubrics"]["written"] == len(train) and summary["eval_rubrics"]["written"] == len(held)
    assert sorted(p.name for p in Path("out").iterdir()) == [
        "train.eval.jsonl", "train.eval.jsonl.manifest.json", "train.jsonl", "train.jsonl.manifest.json"]
    assert json.loads(manifest_path(Path("out/train.jsonl")).read_text())["judge"]["requests"] == 10
    resumed = runner.invoke(app, ["--json", "sgd", "compile", "--sgd-root", str(EXAMPLES), "--split", "dev",
                                  "--limit", "10", "--eval-fraction", "0.3", "--out", "out/train.jsonl",
                                  "--with-rubric", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert len(judge_env.requests) == 10
    assert [s.id for s in read_records(Path("out/train.jsonl"), Sample)] == [s.id for s in train]


def test_a_missing_key_stops_before_any_work(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sgd", "compile", "--sgd-root", str(EXAMPLES), "--out", "o.jsonl",
                                 "--with-rubric"])
    assert result.exit_code == 2 and "GEMINI_API_KEY" in result.output
    assert not Path("o.jsonl").exists()


def test_read_criteria_keeps_six_and_refuses_fewer_than_three() -> None:
    many = ModelResult(text="", parsed={"criteria": [f"c{n}" for n in range(8)]})
    assert read_criteria(many) == ([f"c{n}" for n in range(6)], None)
    few = ModelResult(text="", parsed={"criteria": ["a", " ", "a"]})
    assert read_criteria(few) == (None, "the reply has 1 criteria, expected 3-6")
    assert read_criteria(ModelResult(error="boom")) == (None, "boom")
    sample = next(read_records(compiled(Path.cwd(), limit=1), Sample))
    request = rubric_request(sample)
    assert request.json_schema == RUBRIC_SCHEMA and request.temperature is None
    assert rubric_request(sample, retry=True).sample_index == 1
