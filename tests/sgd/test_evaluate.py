"""`sgd eval`: statistics, and base vs trained on the tiny models through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.jsonl import read_records, write_records
from teachkit.records import EvalReport, SgdEvalPair, TrainedModel
from teachkit.sgd.evaluate import score_stats, spread
from teachkit.students.artifacts import write_record
from tests.sgd.test_judges import API_KEY, CONFIRM, OFFER, REQUEST_CITY, graded_reply


def test_score_stats_leave_failures_out_and_count_them() -> None:
    stats = score_stats([0.2, None, 0.6, 1.0])
    assert stats == {"scored": 3, "failed": 1, "mean": pytest.approx(0.6), "stdev": pytest.approx(0.4),
                     "min": 0.2, "max": 1.0}
    assert score_stats([None])["mean"] is None


def test_eval_samples_are_spread_over_the_file() -> None:
    samples = [OFFER.model_copy(update={"id": f"s{i}"}) for i in range(10)]
    assert [s.id for s in spread(samples, 4)] == ["s0", "s2", "s5", "s7"]
    assert spread(samples[:3], 4) == samples[:3]


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """A LoRA adapter on the tiny model with non-zero weights, saved as `sgd train` saves one."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(3)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    config = LoraConfig(r=4, lora_alpha=64, target_modules="all-linear", init_lora_weights=False,
                        task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, config)
    path = tmp_path_factory.mktemp("adapter")
    peft_model.save_pretrained(path)
    write_record(path, TrainedModel(method="grpo-lora", base_model=str(tiny_model_dir),
                                    base_model_path=str(tiny_model_dir)))
    return path


EVAL_SAMPLES = [sample.model_copy(update={"id": f"dev/{sample.dialogue_id}/{turn}"})
                for turn, sample in enumerate([REQUEST_CITY, OFFER, CONFIRM], start=1)]


def eval_file(path: Path) -> Path:
    write_records(path, EVAL_SAMPLES)
    return path


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_eval_base_vs_adapter_with_the_acts_judge(tiny_model_dir, adapter_dir, tmp_path) -> None:
    report = tmp_path / "eval" / "report.json"
    # No --base-model: the adapter's teachkit-training.json names its base.
    args = ["sgd", "eval", "--eval", str(eval_file(tmp_path / "eval.jsonl")),
            "--trained", str(adapter_dir), "--n", "2", "--judge", "acts", "--max-new-tokens", "6", "--batch-size", "2",
            "--out", str(report)]
    result = cli("--json", *args)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document == json.loads(report.read_text())
    assert document["samples"] == 2 and document["judge"] == "acts-v2"
    assert document["base"]["model"] == str(tiny_model_dir)
    assert document["generation"]["temperature"] == 0.0
    for label in ("base", "trained"):
        assert set(document[label]) >= {"mean", "stdev", "min", "max", "scored", "failed"}
        assert document[label]["scored"] == 2
    difference = document["difference"]
    assert difference["pairs"] == 2
    assert difference["mean_difference"] == pytest.approx(document["trained"]["mean"] - document["base"]["mean"])
    pairs = list(read_records(report.with_name("report.responses.jsonl"), SgdEvalPair))
    assert [p.id for p in pairs] == [EVAL_SAMPLES[0].id, EVAL_SAMPLES[1].id]
    assert pairs[1].reference == OFFER.ground_truth and pairs[1].last_user.startswith("I'd like Japanese")
    assert all(p.trained_response is not None and p.base_score is not None for p in pairs)
    # The adapter changes what the model says; greedy decoding makes each side reproducible.
    assert [p.base_response for p in pairs] != [p.trained_response for p in pairs]
    assert (tmp_path / "eval" / "report.json.manifest.json").is_file()
    # The record every evaluation writes: items, summaries and the paired difference agree with the sgd fields.
    shared = EvalReport.model_validate_json(report.read_text())
    assert shared.pipeline == "sgd" and [m.label for m in shared.models] == ["base", "trained"]
    assert [(item.id, item.group) for item in shared.items] == [(s.id, s.dialogue_id) for s in EVAL_SAMPLES[:2]]
    assert [item.scores for item in shared.items] == [{"base": p.base_score, "trained": p.trained_score} for p in pairs]
    assert shared.summaries["trained"].mean == document["trained"]["mean"] and shared.summaries["base"].items == 2
    (difference,) = shared.differences
    assert (difference.model, difference.baseline, difference.pairs) == ("trained", "base", 2)
    assert difference.difference == pytest.approx(difference.model_value - difference.baseline_value)
    assert shared.command.name == "sgd eval" and shared.command.settings["sgd.eval"]["n"] == 2

    again = cli(*args)
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    # Another checkpoint against the same base: the base responses come from the first report, judged again.
    reused = tmp_path / "eval" / "reused.json"
    args_reused = [*args[:-1], str(reused), "--reuse-base", str(report)]
    result = cli("--json", *args_reused)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["base"]["responses_from"] == str(report) and document["base"]["seconds"] == 0.0
    reused_pairs = list(read_records(reused.with_name("reused.responses.jsonl"), SgdEvalPair))
    assert [(p.base_response, p.base_score, p.trained_response) for p in reused_pairs] == [
        (p.base_response, p.base_score, p.trained_response) for p in pairs]
    other_settings = cli(*args_reused, "--overwrite", "--max-new-tokens", "5")
    assert other_settings.exit_code == 2 and "other settings (max_new_tokens)" in other_settings.stderr


def test_eval_the_same_model_twice_differs_by_exactly_zero(tiny_model_dir, tmp_path) -> None:
    result = cli("--json", "sgd", "eval", "--eval", str(eval_file(tmp_path / "eval.jsonl")), "--base_model",
                 str(tiny_model_dir), "--trained", str(tiny_model_dir), "--judge", "acts", "--max_new_tokens", "4",
                 "--out", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    difference = json.loads(result.stdout)["difference"]
    assert difference["pairs"] == 3 and difference["mean_difference"] == 0.0 and difference["ci95"] == [0.0, 0.0]


def test_eval_with_another_judge_counts_its_failures(tiny_model_dir, tmp_path, fake_gemini, monkeypatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
    monkeypatch.setenv("TEACHKIT_JUDGE__MAX_ATTEMPTS", "1")
    calls = {"n": 0}

    def flaky(request):
        calls["n"] += 1
        # The fourth request fails (a 503, with one attempt): one response of one model goes unscored.
        return {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}} if calls["n"] == 4 else \
            graded_reply(request)

    fake_gemini.reply_fn = flaky
    result = cli("--json", "sgd", "eval", "--eval", str(eval_file(tmp_path / "eval.jsonl")), "--base-model",
                 str(tiny_model_dir), "--trained", str(tiny_model_dir), "--judge", "llm", "--judge-model",
                 f"gemini:gemini-2.5-flash@{fake_gemini.url}", "--max-new-tokens", "4", "--no-cache",
                 "--out", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["judge"].startswith("llm gemini:gemini-2.5-flash")
    assert document["judge_stats"]["judge_failures"] >= 1
    assert document["base"]["failed"] + document["trained"]["failed"] == document["judge_stats"]["judge_failures"]
    assert document["difference"]["pairs"] == 3 - max(document["base"]["failed"], document["trained"]["failed"])


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "gemini-2.5-pro"])
def test_the_default_llm_judge_scores_every_reply_of_a_thinking_gemini(tiny_model_dir, tmp_path, fake_gemini,
                                                                       monkeypatch, model) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
    # Dynamic thinking longer than the judge's 512 output tokens: the default settings used to score nothing.
    fake_gemini.dynamic_thinking = {model: 1500}
    fake_gemini.reply_fn = graded_reply
    result = cli("--json", "sgd", "eval", "--eval", str(eval_file(tmp_path / "eval.jsonl")), "--base-model",
                 str(tiny_model_dir), "--judge", "llm", "--judge-model", f"gemini:{model}@{fake_gemini.url}",
                 "--max-new-tokens", "4", "--no-cache", "--out", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["judge_stats"]["judge_failures"] == 0 and document["base"]["failed"] == 0
    assert document["base"]["scored"] == 3


def test_a_judge_fault_no_retry_mends_stops_eval_with_what_to_fix(tiny_model_dir, tmp_path, fake_gemini,
                                                                  monkeypatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
    fake_gemini.fail_every_request("permission")
    result = cli("sgd", "eval", "--eval", str(eval_file(tmp_path / "eval.jsonl")), "--base-model",
                 str(tiny_model_dir), "--judge", "llm", "--judge-model", f"gemini:gemini-2.5-flash@{fake_gemini.url}",
                 "--max-new-tokens", "4", "--no-cache", "--out", str(tmp_path / "r.json"))
    assert result.exit_code == 1
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: judge gemini:gemini-2.5-flash: 403") and "check the API key" in message
    assert API_KEY not in result.output and not (tmp_path / "r.json").exists()


def test_eval_batch_judges_in_one_job_per_model_and_scores_like_the_synchronous_judge(tiny_model_dir, tmp_path,
                                                                                     monkeypatch) -> None:
    from teachkit.testing.fake_gemini_batch import FakeGeminiBatch

    monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
    monkeypatch.setenv("TEACHKIT_BATCH__POLL_INITIAL_S", "0.01")
    samples = str(eval_file(tmp_path / "eval.jsonl"))
    with FakeGeminiBatch() as fake:
        fake.reply_fn = graded_reply
        args = ["--json", "sgd", "eval", "--eval", samples, "--base-model", str(tiny_model_dir), "--judge", "llm",
                "--judge-model", f"gemini:gemini-2.5-flash@{fake.url}", "--max-new-tokens", "4", "--no-cache"]
        batched = cli(*args, "--batch", "--out", str(tmp_path / "batch.json"))
        assert batched.exit_code == 0, batched.output
        assert len(fake.batch_creates) == 1 and len(fake.batch_items) == 3
        synchronous = cli(*args, "--out", str(tmp_path / "sync.json"))
        assert synchronous.exit_code == 0, synchronous.output
    document, expected = json.loads(batched.stdout), json.loads(synchronous.stdout)
    assert document["base"]["mean"] == expected["base"]["mean"] and document["base"]["scored"] == 3
    assert document["judge_batch"]["requests"] == 3 and not (tmp_path / "batch.json.batch.json").exists()
    acts = cli("sgd", "eval", "--eval", samples, "--base-model", str(tiny_model_dir), "--judge", "acts", "--batch",
               "--out", str(tmp_path / "acts.json"))
    assert acts.exit_code == 2 and "--judge llm" in acts.output
