"""GRPO training: prompts that fit the student, the reward function, a real TRL run on the tiny model, the CLI,
and a run killed mid-training that resumes from its checkpoint with its judge scores kept."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.jsonl import write_records
from teachkit.records import ChatMessage, Sample
from teachkit.settings import load_settings
from teachkit.sgd.judges import SCORE_CACHE_FILE, ActsJudge, ScoreCache, open_judge
from teachkit.sgd.prompt_fit import count_prompt_tokens, fit_prompt
from teachkit.sgd.rewards import JudgeReward
from teachkit.sgd.train import prepare_run
from teachkit.students.chat_template import ChatRules
from tests.conftest import GEMMA2_TEMPLATE
from tests.sgd.test_judges import API_KEY, OFFER, REQUEST_CITY, graded_reply, make_sample


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def long_dialogue(turns: int) -> Sample:
    """A sample whose conversation has `turns` user/assistant turns before the last user turn."""
    messages = [ChatMessage(role="system", content="You are a virtual assistant. Service results: none yet.")]
    for index in range(turns):
        role = "user" if index % 2 == 0 else "assistant"
        messages.append(ChatMessage(role=role, content=f"turn {index}: " + "I booked a table for two at 7 pm. " * 3))
    messages.append(ChatMessage(role="user", content="latest: Which city are you looking in?"))
    return REQUEST_CITY.model_copy(update={"prompt": messages})


def test_system_message_is_folded_into_the_first_user_turn_for_gemma(tokenizer) -> None:
    original = tokenizer.chat_template
    try:
        tokenizer.chat_template = GEMMA2_TEMPLATE
        chat = ChatRules.detect(tokenizer)
        fitted = fit_prompt(OFFER, tokenizer, chat, max_tokens=4096)
        assert [m["role"] for m in fitted.prompt] == ["user", "assistant", "user"]
        assert fitted.prompt[0]["content"].startswith("You are a virtual assistant.")
        assert fitted.prompt[0]["content"].endswith("Hi, I'm hungry.")
        rendered = tokenizer.apply_chat_template(fitted.prompt, tokenize=False, add_generation_prompt=True)
        assert "Service results (2)" in rendered and rendered.endswith("<start_of_turn>model\n")
    finally:
        tokenizer.chat_template = original


def test_max_prompt_length_cuts_the_oldest_turns_first(tokenizer) -> None:
    chat = ChatRules.detect(tokenizer)
    sample = long_dialogue(8)
    full = fit_prompt(sample, tokenizer, chat, max_tokens=100_000)
    assert full.turns_dropped == 0 and len(full.prompt) == 10
    limit = full.tokens * 2 // 3
    fitted = fit_prompt(sample, tokenizer, chat, max_tokens=limit)
    assert not fitted.over_limit
    assert fitted.tokens <= limit == limit and fitted.tokens == count_prompt_tokens(tokenizer, fitted.prompt)
    assert fitted.prompt[0]["role"] == "system" and fitted.prompt[1]["role"] == "user"
    assert fitted.prompt[-1]["content"] == "latest: Which city are you looking in?"
    kept = [m["content"].split(":")[0] for m in fitted.prompt[1:-1]]
    # The newest turns are the ones kept, in order, and one more turn would not fit.
    assert kept == [f"turn {i}" for i in range(8 - len(kept), 8)]
    assert fitted.turns_dropped == 8 - len(kept)
    one_more = sample.model_copy(update={"prompt": sample.prompt[:1] + sample.prompt[1 + fitted.turns_dropped - 2:]})
    assert fit_prompt(one_more, tokenizer, chat, max_tokens=100_000).tokens > limit
    # Too short for even the system message and the latest turn: kept whole, flagged.
    tight = fit_prompt(sample, tokenizer, chat, max_tokens=5)
    assert tight.over_limit and [m["role"] for m in tight.prompt] == ["system", "user"]


def test_text_prompts_are_cut_by_whole_lines(tokenizer) -> None:
    lines = [f"User: question {i} about restaurants in the city" if i % 2 == 0 else f"Assistant: answer {i}"
             for i in range(10)]
    prompt = "Instructions.\n\nConversation:\n" + "\n".join(lines) + "\nAssistant:"
    sample = REQUEST_CITY.model_copy(update={"prompt": prompt})
    full = count_prompt_tokens(tokenizer, prompt)
    fitted = fit_prompt(sample, tokenizer, None, max_tokens=full // 2)
    assert fitted.tokens <= full // 2
    assert fitted.prompt.startswith("Instructions.\n\nConversation:\n")
    assert fitted.prompt.endswith("User: question 8 about restaurants in the city\nAssistant: answer 9\nAssistant:")


def test_reward_scores_a_batch_logs_counters_and_returns_none_for_failures(gemini_judge_settings) -> None:
    logged: list[tuple[str, float]] = []
    reward = JudgeReward(ActsJudge(), {OFFER.id: OFFER})
    completions = [[{"role": "assistant", "content": "How about Bamboo Garden in Fremont?"}],
                   [{"role": "assistant", "content": "I found 2 restaurants. Sushi Ran in Fremont is a nice one."}]]
    scores = asyncio.run(reward(prompts=[[], []], completions=completions, sample_id=[OFFER.id] * 2,
                                log_metric=lambda name, value: logged.append((name, value)), trainer_state=None))
    assert scores == [pytest.approx(0.25), 1.0]
    assert ("judge/failures", 0) in logged

    settings, fake = gemini_judge_settings
    fake.reply_fn = None
    fake.push(*(["not json"] * 2))
    judge = open_judge(settings)
    reward = JudgeReward(judge, {OFFER.id: OFFER})
    logged.clear()

    async def score():
        try:
            return await reward(prompts=["p", "p"], completions=["a", "b"], sample_id=[OFFER.id] * 2,
                                log_metric=lambda name, value: logged.append((name, value)))
        finally:
            await judge.aclose()

    assert asyncio.run(score()) == [None, None]
    assert dict(logged) == {"judge/calls": 2, "judge/cache_hits": 0, "judge/failures": 2}
    assert reward.failures_seen == 2


@pytest.fixture
def gemini_judge_settings(fake_gemini, monkeypatch, tmp_path):
    monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
    fake_gemini.reply_fn = graded_reply
    values = {
        "paths.cache_dir": str(tmp_path / "cache"), "judge.kind": "llm", "judge.base_url": fake_gemini.url,
        "judge.retry_initial_delay_s": 0.001, "judge.max_attempts": 1, "judge.timeout_s": 10,
    }
    return load_settings(None, values), fake_gemini


def training_samples(path: Path) -> Path:
    samples = [
        make_sample([("REQUEST", "city", [])], "Which city?", sample_id=f"train/1_0000{i}/1") for i in range(3)
    ] + [OFFER]
    write_records(path, samples)
    return path


def tiny_train_overrides(tiny_model_dir: Path, output_dir: Path, steps: int = 2) -> dict[str, object]:
    return {
        "sgd.train.model": str(tiny_model_dir), "sgd.train.output_dir": str(output_dir),
        "sgd.train.max_steps": steps, "sgd.train.num_generations": 2, "sgd.train.per_device_train_batch_size": 2,
        "sgd.train.max_completion_length": 8, "sgd.train.learning_rate": 0.05, "sgd.train.save_steps": 1,
        "sgd.train.lora_r": 4, "sgd.train.lora_alpha": 8, "sgd.train.max_prompt_length": 512,
    }


def test_two_grpo_steps_change_the_lora_weights_and_not_the_base(tiny_model_dir, tmp_path, gemini_judge_settings):
    settings, fake = gemini_judge_settings
    overrides = {**tiny_train_overrides(tiny_model_dir, tmp_path / "run"), **{"judge.kind": "llm"}}
    settings = load_settings(None, {**overrides, "paths.cache_dir": settings.paths.cache_dir,
                                    "judge.base_url": fake.url, "judge.max_attempts": 1})
    run = prepare_run(training_samples(tmp_path / "train.jsonl"), settings)
    model = run.trainer.model
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    lora = [name for name in before if "lora_" in name]
    assert lora and all(not model.get_parameter(name).requires_grad for name in before if "lora_" not in name)
    try:
        run.trainer.train()
    finally:
        asyncio.run_coroutine_threadsafe(run.judge.aclose(), run.trainer.async_loop).result()
    after = dict(model.named_parameters())
    changed = [name for name in lora if not before[name].equal(after[name].detach())]
    assert changed, "no LoRA weight moved in two GRPO steps"
    assert all(before[name].equal(after[name].detach()) for name in before if "lora_" not in name)
    # The judge saw every completion of both steps (2 prompts x 2 completions... as the batch shape says).
    assert run.trainer.state.global_step == 2
    assert len(fake.requests) + run.judge.stats.cache_hits >= 2
    logged = [entry for entry in run.trainer.state.log_history if "reward" in entry]
    assert len(logged) == 2 and all("judge/calls" in entry and "judge/failures" in entry for entry in logged)


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_cli_train_with_seed_flags_saves_the_adapter_and_its_record(tiny_model_dir, tmp_path) -> None:
    train_file = training_samples(tmp_path / "train.jsonl")
    out_dir = tmp_path / "grpo"
    common = ["--num-generations", "2", "--per_device_train_batch_size", "2", "--max-completion-length", "8",
              "--save-steps", "1", "--judge", "acts", "--learning_rate", "0.01"]
    first = cli("--json", "sgd", "train", "--train_jsonl", str(train_file), "--model_name", str(tiny_model_dir),
                "--output_dir", str(out_dir), "--max_steps", "1", *common)
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["steps"] == 1 and summary["judge"] == "acts-v2" and summary["judge_failures"] == 0
    assert len(summary["history"]) == 1 and "reward" in summary["history"][0]
    assert (out_dir / "checkpoint-1").is_dir() and (out_dir / "adapter_model.safetensors").is_file()
    record = json.loads((out_dir / "teachkit-training.json").read_text())
    assert record["method"] == "grpo-lora" and record["base_model"] == str(tiny_model_dir)
    assert record["metrics"]["steps"] == 1 and record["settings"]["judge"] == "acts-v2"
    assert "grpo-lora" in (out_dir / "README.md").read_text()

    again = cli("sgd", "train", "--train", str(train_file), "--model", str(tiny_model_dir), "--output-dir",
                str(out_dir), "--max-steps", "2", *common)
    assert again.exit_code == 2 and "add --resume" in again.stderr


def test_a_gemma2_student_trains_with_grpo_and_is_evaluated(tiny_gemma2_dir, tmp_path) -> None:
    train_file = training_samples(tmp_path / "train.jsonl")
    out_dir = tmp_path / "grpo-gemma"
    result = cli("--json", "sgd", "train", "--train", str(train_file), "--model", str(tiny_gemma2_dir),
                 "--output-dir", str(out_dir), "--max-steps", "1", "--num-generations", "2",
                 "--per-device-train-batch-size", "2", "--max-completion-length", "6", "--judge", "acts")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["steps"] == 1 and summary["judge_failures"] == 0
    assert summary["chat_format"] == {"system_role": False, "alternation_required": True}
    assert (out_dir / "adapter_model.safetensors").is_file()

    report = tmp_path / "eval.json"
    evaluated = cli("--json", "sgd", "eval", "--eval", str(train_file), "--trained", str(out_dir), "--n", "2",
                    "--judge", "acts", "--max-new-tokens", "4", "--out", str(report))
    assert evaluated.exit_code == 0, evaluated.output
    document = json.loads(evaluated.stdout)
    assert document["base"]["model"] == str(tiny_gemma2_dir)  # from the adapter's record
    assert document["base"]["scored"] == document["trained"]["scored"] == 2 and document["difference"]["pairs"] == 2


def test_cli_train_rejects_a_batch_that_does_not_hold_whole_groups(tmp_path) -> None:
    result = cli("sgd", "train", "--train", str(training_samples(tmp_path / "t.jsonl")), "--num-generations", "4",
                 "--per-device-train-batch-size", "6")
    assert result.exit_code == 2
    assert "must be divisible by --num-generations 4" in result.stderr


def test_killed_run_resumes_from_its_checkpoint_and_keeps_its_judge_scores(tiny_model_dir, tmp_path, fake_gemini):
    """SIGKILL during training; --resume finishes the run and never asks the judge again for a scored reply."""
    fake_gemini.reply_fn = graded_reply
    train_file = training_samples(tmp_path / "train.jsonl")
    out_dir = tmp_path / "grpo"
    cache_dir = tmp_path / "cache"
    env = {**os.environ, "GEMINI_API_KEY": API_KEY, "TEACHKIT_PATHS__CACHE_DIR": str(cache_dir),
           "TEACHKIT_JUDGE__BASE_URL": fake_gemini.url, "TEACHKIT_JUDGE__MAX_ATTEMPTS": "1"}
    args = ["sgd", "train", "--train", str(train_file), "--model", str(tiny_model_dir), "--output-dir",
            str(out_dir), "--max-steps", "3", "--save-steps", "1", "--num-generations", "2",
            "--per-device-train-batch-size", "2", "--max-completion-length", "8", "--judge", "llm",
            "--learning-rate", "0.05"]
    process = subprocess.Popen([sys.executable, "-m", "teachkit", "--quiet", *args], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    # Killed as soon as checkpoint-2 is being written: it is incomplete, checkpoint-1 is whole.
    while not (out_dir / "checkpoint-2").is_dir():
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoint-2 within 120 s"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()
    assert not (out_dir / "teachkit-training.json").exists()

    cache = ScoreCache(cache_dir / SCORE_CACHE_FILE)
    kept = {(entry["sample_id"], entry["response"]) for entry in cache.entries()}
    cache.close()
    assert len(kept) >= 1
    asked_before = len(fake_gemini.requests)

    for name, value in env.items():
        if name.startswith("TEACHKIT_") or name == "GEMINI_API_KEY":
            os.environ[name] = value
    try:
        resumed = cli("--json", *args, "--resume")
    finally:
        for name in ("GEMINI_API_KEY", "TEACHKIT_PATHS__CACHE_DIR", "TEACHKIT_JUDGE__BASE_URL",
                     "TEACHKIT_JUDGE__MAX_ATTEMPTS"):
            os.environ.pop(name, None)
    assert resumed.exit_code == 0, resumed.output
    summary = json.loads(resumed.stdout)
    assert summary["steps"] == 3 and int(summary["resumed_from"].rsplit("-", 1)[1]) >= 1
    assert len(summary["history"]) == 3 - int(summary["resumed_from"].rsplit("-", 1)[1])
    samples = {json.loads(line)["id"]: json.loads(line)["ground_truth"] for line in train_file.read_text().splitlines()}
    for request in fake_gemini.requests[asked_before:]:
        prompt = json.dumps(request.body)
        graded = json.loads(prompt)  # the request body, for the reply it grades
        text = " ".join(p.get("text", "") for c in graded["contents"] for p in c["parts"])
        reply = text.rsplit("Reply to grade: ", 1)[1].strip()
        reference = text.split("Reference reply: ", 1)[1].split("\n", 1)[0]
        ids = {sid for sid, gt in samples.items() if gt == reference}
        assert not any((sid, reply) in kept for sid in ids), f"asked again for a kept score: {reply!r}"
