"""`sgd eval`: statistics, the paired bootstrap, and base vs trained on the tiny model through the CLI."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.jsonl import read_records, write_records
from teachkit.records import SgdEvalPair, TrainedModel
from teachkit.sgd.evaluate import paired_bootstrap, score_stats, spread
from teachkit.train.artifacts import write_record
from tests.sgd.test_judges import API_KEY, CONFIRM, OFFER, REQUEST_CITY, graded_reply


def test_score_stats_leave_failures_out_and_count_them() -> None:
    stats = score_stats([0.2, None, 0.6, 1.0])
    assert stats == {"scored": 3, "failed": 1, "mean": pytest.approx(0.6), "stdev": pytest.approx(0.4),
                     "min": 0.2, "max": 1.0}
    assert score_stats([None])["mean"] is None


def test_paired_bootstrap_interval() -> None:
    base = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    better = [b + d for b, d in zip(base, [0.1, 0.2, 0.05, 0.15, 0.1, 0.2, 0.1, 0.1], strict=True)]
    result = paired_bootstrap(base, better, resamples=2000, seed=1)
    assert result["pairs"] == 8
    assert result["mean_difference"] == pytest.approx(statistics.fmean([0.1, 0.2, 0.05, 0.15, 0.1, 0.2, 0.1, 0.1]))
    low, high = result["ci95"]
    assert 0.05 <= low < result["mean_difference"] < high <= 0.2
    assert result["interval_above_zero"] is True
    assert paired_bootstrap(base, better, resamples=2000, seed=1) == result  # seeded: the same interval

    # Differences of both signs: the interval straddles zero.
    mixed = [b + d for b, d in zip(base, [0.3, -0.3, 0.2, -0.2, 0.1, -0.1, 0.05, -0.05], strict=True)]
    straddle = paired_bootstrap(base, mixed, resamples=2000, seed=1)
    assert straddle["ci95"][0] < 0 < straddle["ci95"][1] and not straddle["interval_above_zero"]

    # A pair where either score failed is left out.
    partial = paired_bootstrap([0.1, None, 0.5], [0.3, 0.9, None], resamples=500, seed=0)
    assert partial["pairs"] == 1 and partial["mean_difference"] == pytest.approx(0.2)
    assert partial["ci95"] == [pytest.approx(0.2), pytest.approx(0.2)]
    assert paired_bootstrap([None], [0.5], resamples=100, seed=0)["ci95"] is None


def test_bootstrap_by_dialogue_is_wider_when_turns_of_a_dialogue_move_together() -> None:
    # Four dialogues of five turns: two gain 0.4 on every turn, two gain nothing.
    gains = [0.4] * 10 + [0.0] * 10
    groups = [f"d{i // 5}" for i in range(20)]
    result = paired_bootstrap([0.0] * 20, gains, resamples=4000, seed=2, groups=groups)
    assert result["groups"] == 4 and result["mean_difference"] == pytest.approx(0.2)
    per_sample, per_dialogue = result["ci95"], result["ci95_by_group"]
    assert per_dialogue[1] - per_dialogue[0] > 1.5 * (per_sample[1] - per_sample[0])
    assert per_dialogue[0] <= 0.0 + 1e-9 < per_sample[0]


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
        # The fourth request fails for good: one response of one model goes unscored.
        return {"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}} if calls["n"] == 4 else \
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
