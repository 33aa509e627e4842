"""The rollout loop and `teachkit crafter rollout`: batching, plans, resume after kill -9, workers, faults."""

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
from teachkit.crafter.play import PlayConfig, play_episodes
from teachkit.crafter.rollout import parse_shard, shard_seeds
from teachkit.crafter.teachers import Decision, RandomTeacher, Turn
from teachkit.errors import InputError
from teachkit.jsonl import read_records
from teachkit.records import Episode, TokenUsage

runner = CliRunner()


class ScriptedPolicy:
    """A teacher that plays a fixed cycle of answers and records how it was called."""

    spec = "test-policy"
    cpu_bound = False

    def __init__(
        self, answers: list[Decision], batch_size: int | None = None, delays: dict[int, float] | None = None
    ):
        self.answers = answers
        self.batch_size = batch_size
        self.delays = delays or {}
        self.calls: list[list[str]] = []
        self.begun: list[str] = []
        self.ended: list[str] = []
        self.count = 0

    def begin_episode(self, episode_id: str, seed: int) -> None:
        self.begun.append(episode_id)

    def end_episode(self, episode_id: str) -> None:
        self.ended.append(episode_id)

    async def decide(self, turns: list[Turn]) -> list[Decision]:
        self.calls.append([turn.episode_id for turn in turns])
        delay = max(self.delays.get(turn.seed, 0.0) for turn in turns)
        if delay:
            await asyncio.sleep(delay)
        decisions = []
        for _ in turns:
            decisions.append(self.answers[self.count % len(self.answers)])
            self.count += 1
        return decisions

    async def aclose(self) -> None:
        return None


def play(seeds, teacher, config, **kwargs) -> list[Episode]:
    async def collect() -> list[Episode]:
        return [episode async for episode in play_episodes(seeds, teacher, config, **kwargs)]

    return asyncio.run(collect())


def test_one_call_decides_for_every_episode_in_flight() -> None:
    teacher = ScriptedPolicy([Decision(actions=["noop"])])
    episodes = play([1, 2, 3, 4], teacher, PlayConfig(max_steps=5), concurrency=3)
    assert sorted(e.id for e in episodes) == ["seed-1", "seed-2", "seed-3", "seed-4"]
    assert teacher.calls[0] == ["seed-1", "seed-2", "seed-3"]
    assert max(len(call) for call in teacher.calls) == 3
    assert sorted(teacher.ended) == sorted(teacher.begun)
    episode = next(e for e in episodes if e.seed == 2)
    assert [step.t for step in episode.steps] == [0, 1, 2, 3, 4]
    assert episode.totals.steps == 5 and episode.totals.death_cause is None
    assert episode.steps[1].observation.startswith("Step 1 of 5")
    assert "Last action: noop: nothing happened." in episode.steps[1].observation
    assert episode.steps[0].inventory["health"] == 9


def test_api_teachers_get_one_call_per_episode_and_no_episode_waits_for_another() -> None:
    teacher = ScriptedPolicy([Decision(actions=["noop"])], batch_size=1, delays={1: 0.1})
    slow_calls_when_fast_ended: list[int] = []

    async def collect() -> list[str]:
        order = []
        async for episode in play_episodes([1, 2], teacher, PlayConfig(max_steps=6), concurrency=2):
            order.append(episode.id)
            slow_calls_when_fast_ended.append(sum(call == ["seed-1"] for call in teacher.calls))
        return order

    assert asyncio.run(collect()) == ["seed-2", "seed-1"]
    assert all(len(call) == 1 for call in teacher.calls)
    # In lockstep the fast episode would wait for each slow reply: 6 calls each.
    assert slow_calls_when_fast_ended[0] <= 2


def test_a_plan_of_several_actions_plays_without_asking_again() -> None:
    plan = Decision(
        actions=["move_left", "move_left", "do"],
        response="Actions: left, left, do",
        thought="go",
        tokens=TokenUsage(prompt=100, output=5),
        cost_usd=0.01,
    )
    teacher = ScriptedPolicy([plan])
    episode = play([0], teacher, PlayConfig(max_steps=7, actions_per_call=3))[0]
    assert len(teacher.calls) == 3
    assert [step.plan_index for step in episode.steps] == [0, 1, 2, 0, 1, 2, 0]
    assert [step.action for step in episode.steps[:3]] == ["move_left", "move_left", "do"]
    assert episode.steps[0].response == "Actions: left, left, do" and episode.steps[1].response is None
    assert episode.steps[1].tokens.total == 0
    assert episode.totals.tokens.prompt == 300 and episode.totals.cost_usd == pytest.approx(0.03)


def test_invalid_replies_play_noop_and_say_why_next_time() -> None:
    bad = Decision(actions=["noop"], valid=False, invalid_reason="no 'Action: NAME' line", response="hmm")
    unknown = Decision(actions=["teleport"])
    teacher = ScriptedPolicy([bad, unknown])
    episode = play([0], teacher, PlayConfig(max_steps=3))[0]
    assert [step.valid for step in episode.steps] == [False, False, False]
    assert episode.steps[1].invalid_reason == "'teleport' is not an action"
    assert episode.steps[1].action == "noop"
    assert "Last action: your reply was invalid (no 'Action: NAME' line), so noop was played." in (
        episode.steps[1].observation
    )
    assert episode.totals.invalid_actions == 3


def test_a_teacher_that_answers_for_the_wrong_number_of_turns_is_a_bug() -> None:
    class Broken(ScriptedPolicy):
        async def decide(self, turns):
            return []

    with pytest.raises(RuntimeError, match="returned 0 decisions for 1 turns"):
        play([0], Broken([]), PlayConfig(max_steps=3))


def test_history_window_reaches_the_teacher() -> None:
    seen: list[list[int]] = []

    class Watching(ScriptedPolicy):
        async def decide(self, turns):
            seen.append([entry.t for entry in turns[0].history])
            return await super().decide(turns)

    play([0], Watching([Decision(actions=["noop"])]), PlayConfig(max_steps=5, history=2))
    assert seen == [[], [0], [0, 1], [1, 2], [2, 3]]


def test_stopping_drops_the_episodes_in_flight() -> None:
    teacher = ScriptedPolicy([Decision(actions=["noop"])])
    calls = {"n": 0}

    def should_stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 4

    episodes = play([0, 1, 2], teacher, PlayConfig(max_steps=50), concurrency=2, should_stop=should_stop)
    assert episodes == []


def test_shards_partition_the_seeds() -> None:
    assert parse_shard(None) == (1, 1)
    assert parse_shard("2/3") == (2, 3)
    parts = [shard_seeds(10, 8, (k, 3)) for k in (1, 2, 3)]
    assert sorted(sum(parts, [])) == list(range(10, 18))
    assert parts[1] == [11, 14, 17]
    for bad in ("0/3", "4/3", "x", "1/0", "1-2"):
        with pytest.raises(InputError, match="--shard"):
            parse_shard(bad)


def rollout(*args: str):
    return runner.invoke(app, ["crafter", "rollout", *args])


def test_rollout_command_writes_episodes_manifest_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "random.jsonl"
    result = rollout(
        "--teacher",
        "random",
        "-n",
        "4",
        "--max-steps",
        "40",
        "--seed",
        "100",
        "--shard",
        "2/2",
        "--out",
        str(out),
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["episodes"] == 2 and summary["teacher"] == "random"
    assert len(summary["achievements"]) == 22
    episodes = list(read_records(out, Episode))
    assert [e.seed for e in episodes] == [101, 103]
    manifest = json.loads(out.with_name("random.jsonl.manifest.json").read_text())
    assert manifest["counts"]["episodes"] == 2 and manifest["seeds"]["shard"] == "2/2"
    assert manifest["settings_hash"] == episodes[0].settings_hash

    again = rollout("--teacher", "random", "-n", "4", "--max-steps", "40", "--seed", "100", "--out", str(out))
    assert again.exit_code == 2 and "--resume" in again.output
    other = rollout(
        "--teacher", "random", "-n", "4", "--max-steps", "41", "--seed", "100", "--out", str(out), "--resume"
    )
    assert other.exit_code == 2 and "other settings" in other.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--teacher", "gpt-9"], "unknown teacher"),
        (["--episodes", "0"], "episodes"),
        (["--shard", "5/2"], "--shard"),
        (["--workers", "2", "--teacher", "openai:m@http://127.0.0.1:9"], "--workers 2"),
    ],
)
def test_bad_rollout_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "x.jsonl"
    result = rollout(*args, "--out", str(out))
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_workers_give_the_same_episodes_as_one_process(tmp_path: Path) -> None:
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    for out, workers in ((one, "1"), (two, "2")):
        result = rollout(
            "--teacher", "random", "-n", "3", "--max-steps", "60", "--workers", workers, "--out", str(out)
        )
        assert result.exit_code == 0, result.output
    assert sorted(one.read_text().splitlines()) == sorted(two.read_text().splitlines())


def test_resume_after_kill_9_loses_and_repeats_nothing(tmp_path: Path) -> None:
    out = tmp_path / "killed.jsonl"
    command = [
        sys.executable,
        "-m",
        "teachkit",
        "--quiet",
        "crafter",
        "rollout",
        "--teacher",
        "random",
        "-n",
        "24",
        "--max-steps",
        "150",
        "--out",
        str(out),
    ]
    process = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= 2:
            break
        time.sleep(0.01)
    assert process.poll() is None, "the run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    lines_before = out.read_bytes().count(b"\n")
    assert 2 <= lines_before < 24
    # The resume runs in this process: only the killed run needs to be a process of its own.
    resumed = rollout("--teacher", "random", "-n", "24", "--max-steps", "150", "--out", str(out), "--resume")
    assert resumed.exit_code == 0, resumed.output
    episodes = list(read_records(out, Episode))
    assert sorted(e.seed for e in episodes) == list(range(24))
    # Deterministic: what was played before and after the kill is what one uninterrupted run plays.
    fresh = {
        e.id: e
        for e in play(
            [0, 23], RandomTeacher(), PlayConfig(max_steps=150, settings_hash=episodes[0].settings_hash)
        )
    }
    for episode in episodes:
        if episode.id in fresh:
            assert episode.model_dump() == fresh[episode.id].model_dump()


@pytest.fixture
def gemini_teacher_spec(fake_gemini, monkeypatch) -> str:
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    monkeypatch.setenv("TEACHKIT_TEACHER__RETRY_INITIAL_DELAY_S", "0")
    monkeypatch.setenv("TEACHKIT_TEACHER__MAX_ATTEMPTS", "2")
    return f"gemini:gemini-2.5-flash@{fake_gemini.url}"


def test_a_teacher_that_answers_garbage_plays_noops_at_a_100_percent_invalid_rate(
    fake_gemini, gemini_teacher_spec: str, tmp_path: Path
) -> None:
    fake_gemini.reply_fn = lambda request: "I would rather talk about turtles."
    out = tmp_path / "garbage.jsonl"
    result = rollout(
        "--teacher",
        gemini_teacher_spec,
        "-n",
        "2",
        "--max-steps",
        "4",
        "--no-structured",
        "--out",
        str(out),
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["invalid_rate_%"] == 100.0 and summary["episodes"] == 2
    assert summary["tokens"] > 0
    steps = [step for episode in read_records(out, Episode) for step in episode.steps]
    assert {step.action for step in steps} == {"noop"} and not any(step.valid for step in steps)
    assert steps[0].response == "I would rather talk about turtles."


def test_provider_faults_are_retried_and_reported(
    fake_gemini, gemini_teacher_spec: str, tmp_path: Path
) -> None:
    fake_gemini.failure_rate = 0.5
    fake_gemini.reply_fn = lambda request: "do"
    out = tmp_path / "faults.jsonl"
    result = rollout(
        "--teacher",
        gemini_teacher_spec,
        "-n",
        "3",
        "--max-steps",
        "6",
        "--concurrency",
        "3",
        "--out",
        str(out),
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["episodes"] == 3 and summary["steps"] == 18
    assert fake_gemini.injected_failures > 0
    ledger = json.loads(out.with_name("faults.jsonl.manifest.json").read_text())["teacher_ledger"]
    assert ledger["retries"] > 0 and summary["retries"] == ledger["retries"]
    assert summary["requests"] == 18
    steps = [step for episode in read_records(out, Episode) for step in episode.steps]
    failed = [step for step in steps if step.invalid_reason == "no reply from the teacher"]
    assert len(failed) == summary["teacher_errors"]
    assert all(step.action == "do" for step in steps if step.valid)


def test_max_cost_stops_new_work_and_resume_plays_the_rest(
    fake_gemini, gemini_teacher_spec: str, tmp_path: Path
) -> None:
    fake_gemini.reply_fn = lambda request: "noop"
    out = tmp_path / "budget.jsonl"
    args = [
        "--teacher",
        gemini_teacher_spec,
        "-n",
        "3",
        "--max-steps",
        "3",
        "--concurrency",
        "1",
        "--out",
        str(out),
    ]
    stopped = rollout(*args, "--max-cost", "0.0000001", "--json")
    assert stopped.exit_code == 0, stopped.output
    assert json.loads(stopped.stdout)["unfinished"] == 3
    assert "stopped at --max-cost" in stopped.stderr
    assert list(read_records(out, Episode)) == []
    resumed = rollout(*args, "--resume", "--json")
    assert resumed.exit_code == 0, resumed.output
    assert sorted(e.seed for e in read_records(out, Episode)) == [0, 1, 2]


@pytest.mark.parametrize(("fault", "fix"), [("permission", "check the API key"), ("not_found", "check the model name")])
def test_a_teacher_fault_no_retry_mends_stops_the_rollout_and_resume_plays_the_episodes_later(
    fake_gemini, gemini_teacher_spec: str, tmp_path: Path, fault: str, fix: str
) -> None:
    fake_gemini.fail_every_request(fault)
    out = tmp_path / "faulty.jsonl"
    args = ["--teacher", gemini_teacher_spec, "-n", "4", "--max-steps", "5", "--concurrency", "2", "--out", str(out)]
    stopped = rollout(*args)
    assert stopped.exit_code == 1, stopped.output
    message = stopped.stderr.strip().splitlines()[-1]
    assert message.startswith("error: teacher gemini:gemini-2.5-flash") and fix in message
    assert "0 of 4 episodes finished" in message and "--resume" in message and "test-key" not in stopped.output
    # Two episodes were in flight, each asked once; nothing was played as noops or recorded as finished.
    assert len(fake_gemini.requests) <= 2
    assert not out.exists() or list(read_records(out, Episode)) == []

    fake_gemini.fail_every_request(None)
    fake_gemini.reply_fn = lambda request: "noop"
    resumed = rollout(*args, "--resume", "--json")
    assert resumed.exit_code == 0, resumed.output
    episodes = list(read_records(out, Episode))
    assert sorted(e.seed for e in episodes) == [0, 1, 2, 3]
    assert all(step.valid and step.action == "noop" for e in episodes for step in e.steps)


def test_a_teacher_that_stays_down_trips_the_breaker_instead_of_playing_noops(
    fake_gemini, gemini_teacher_spec: str, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("TEACHKIT_TEACHER__BREAKER_FAILURES", "4")
    monkeypatch.setenv("TEACHKIT_TEACHER__BREAKER_WINDOW_S", "0")
    fake_gemini.failure_rate = 1.0
    fake_gemini.failure_statuses = (503,)
    out = tmp_path / "down.jsonl"
    result = rollout("--teacher", gemini_teacher_spec, "-n", "3", "--max-steps", "50", "--concurrency", "1",
                     "--out", str(out))
    assert result.exit_code == 1, result.output
    assert "the last 4 requests all failed" in result.stderr and "looks down" in result.stderr
    # Four steps of one episode, two attempts each, then the stop: not 150 noops.
    assert len(fake_gemini.requests) == 8
    assert not out.exists() or list(read_records(out, Episode)) == []


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.5-pro"])
def test_enable_thinking_records_the_teachers_thoughts_on_every_thinking_model(
    fake_gemini, gemini_teacher_spec: str, tmp_path: Path, model: str
) -> None:
    fake_gemini.reply_fn = lambda request: "do"
    out = tmp_path / "thoughts.jsonl"
    spec = gemini_teacher_spec.replace("gemini-2.5-flash", model)
    result = rollout("--teacher", spec, "-n", "1", "--max-steps", "3", "--enable-thinking", "--out", str(out),
                     "--json")
    assert result.exit_code == 0, result.output
    steps = [step for episode in read_records(out, Episode) for step in episode.steps]
    assert len(steps) == 3 and all(step.action == "do" and step.valid for step in steps)
    assert all(step.thought and step.thought.startswith("**Thinking it over**") for step in steps)
    assert all(step.tokens.thoughts > 0 for step in steps)
