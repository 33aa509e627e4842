"""`teachkit sgd rubric --batch` and `teachkit batch status|fetch` on 500 samples, against the loopback fake of the
Gemini Batch API (the real google-genai client), compared record for record with the synchronous path."""

from __future__ import annotations

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
from teachkit.data import example_sgd_root
from teachkit.jsonl import read_records, write_records
from teachkit.llm.gemini_batch import job_record_path, read_job_record
from teachkit.manifest import manifest_path
from teachkit.records import Sample
from teachkit.sgd.compile import CompileOptions, compile_samples
from teachkit.testing.fake_gemini_batch import FakeGeminiBatch
from tests.sgd.test_rubric import good_reply

API_KEY = "test-key-rubric-batch-0123456789"
SAMPLES = 500
runner = CliRunner()


@pytest.fixture(scope="module")
def five_hundred(tmp_path_factory) -> Path:
    """500 samples: every split of the example corpus compiled (680 samples today), the first 500 kept; should the
    corpus shrink below 500, variants (another id and reference turn, so each asks something new) fill it up."""
    folder = tmp_path_factory.mktemp("rubric-batch")
    compiled = folder / "compiled.jsonl"
    compile_samples(example_sgd_root(), compiled, CompileOptions(splits=["train", "dev", "test"]))
    originals = list(read_records(compiled, Sample))
    samples = list(originals)
    variant = 0
    while len(samples) < SAMPLES:
        variant += 1
        samples.extend(s.model_copy(update={"id": f"{s.id}~v{variant}", "ground_truth": f"{s.ground_truth} (v{variant})"})
                       for s in originals[: SAMPLES - len(samples)])
    path = folder / "samples.jsonl"
    write_records(path, samples[:SAMPLES])
    return path


@pytest.fixture
def fake():
    with FakeGeminiBatch() as server:
        server.reply_fn = good_reply
        yield server


@pytest.fixture
def judge_env(fake, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
    monkeypatch.setenv("TEACHKIT_JUDGE__BASE_URL", fake.url)
    monkeypatch.setenv("TEACHKIT_JUDGE__MAX_ATTEMPTS", "1")
    monkeypatch.setenv("TEACHKIT_PATHS__CACHE_DIR", str(tmp_path / "cache-batch"))
    monkeypatch.setenv("TEACHKIT_BATCH__POLL_INITIAL_S", "0.01")
    monkeypatch.setenv("TEACHKIT_BATCH__POLL_MAX_S", "0.02")
    return monkeypatch


def rubric(*args: str):
    return runner.invoke(app, ["--json", "sgd", "rubric", *args])


def records(path: Path) -> list[dict]:
    return [sample.model_dump(mode="json") for sample in read_records(path, Sample)]


def synchronous_records(samples: Path, tmp_path: Path, judge_env) -> tuple[list[dict], dict]:
    judge_env.setenv("TEACHKIT_PATHS__CACHE_DIR", str(tmp_path / "cache-sync"))
    result = rubric(str(samples), "--out", "sync.jsonl")
    judge_env.setenv("TEACHKIT_PATHS__CACHE_DIR", str(tmp_path / "cache-batch"))
    assert result.exit_code == 0, result.output
    return records(Path("sync.jsonl")), json.loads(result.stdout)


def test_one_batch_job_writes_the_records_of_the_synchronous_path(five_hundred, fake, judge_env, tmp_path) -> None:
    result = rubric(str(five_hundred), "--out", "batch.jsonl", "--batch")
    assert result.exit_code == 0, result.output
    assert len(fake.batch_creates) == 1 and len(fake.batch_items) == SAMPLES
    assert not [r for r in fake.requests if r.path.endswith(":generateContent")]
    assert "submitted batch job batches/" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["written"] == SAMPLES and summary["failed"] == 0 and summary["requests"] == SAMPLES

    expected, sync_summary = synchronous_records(five_hundred, tmp_path, judge_env)
    assert records(Path("batch.jsonl")) == expected
    # The same tokens at the batch price: half.
    assert summary["cost_usd"] == pytest.approx(sync_summary["cost_usd"] / 2, rel=1e-4)
    assert not job_record_path(Path("batch.jsonl")).exists()
    manifest = json.loads(manifest_path(Path("batch.jsonl")).read_text())
    assert manifest["batch_jobs"] == [f"batches/{job_id}" for job_id in fake.jobs]
    assert API_KEY not in json.dumps(manifest)

    # The batch filled the response cache under the synchronous keys: a synchronous rerun asks nothing.
    sent = len(fake.requests)
    again = rubric(str(five_hundred), "--out", "batch.jsonl", "--overwrite")
    assert again.exit_code == 0 and json.loads(again.stdout)["cache_hits"] == SAMPLES
    assert len(fake.requests) == sent


def test_no_wait_then_status_then_fetch_picks_up_the_same_job(five_hundred, fake, judge_env, tmp_path) -> None:
    submitted = rubric(str(five_hundred), "--out", "r.jsonl", "--batch", "--no-wait")
    assert submitted.exit_code == 0, submitted.output
    record = job_record_path(Path("r.jsonl"))
    pending = json.loads(submitted.stdout)
    assert pending["requests"] == SAMPLES and pending["record"] == str(record)
    job = read_job_record(record).jobs[0]
    assert pending["jobs"] == job.name and len(job.keys) == SAMPLES
    assert not [r for r in fake.requests if r.method == "GET"] and not list(read_records(Path("r.jsonl"), Sample))

    status = runner.invoke(app, ["--json", "batch", "status", str(record)])
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["jobs"][0] == {**json.loads(status.stdout)["jobs"][0], "job": job.name,
                                                    "state": "JOB_STATE_PENDING", "requests": SAMPLES}
    # Without --resume a rerun would pay twice: refused.
    refused = rubric(str(five_hundred), "--out", "r.jsonl", "--batch")
    assert refused.exit_code == 2 and "--resume" in refused.output

    fetched = runner.invoke(app, ["--json", "batch", "fetch", str(record)])
    assert fetched.exit_code == 0, fetched.output
    assert len(fake.batch_creates) == 1 and json.loads(fetched.stdout)["written"] == SAMPLES
    assert not record.exists()
    expected, _ = synchronous_records(five_hundred, tmp_path, judge_env)
    assert records(Path("r.jsonl")) == expected


def test_a_run_killed_while_waiting_resumes_by_fetching_the_same_job(five_hundred, fake, judge_env, tmp_path) -> None:
    # The subprocess waits a minute between polls: it is killed while waiting, after the job is recorded.
    env = {**os.environ, "TEACHKIT_BATCH__POLL_INITIAL_S": "60", "TEACHKIT_BATCH__POLL_MAX_S": "60"}
    record = job_record_path(tmp_path / "killed.jsonl")
    process = subprocess.Popen([sys.executable, "-m", "teachkit", "--quiet", "sgd", "rubric", str(five_hundred),
                                "--out", "killed.jsonl", "--batch"], cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not record.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert record.exists(), process.stderr.read().decode() if process.poll() is not None else "no record"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    job = read_job_record(record).jobs[0]
    assert len(fake.batch_creates) == 1

    resumed = rubric(str(five_hundred), "--out", "killed.jsonl", "--batch", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert len(fake.batch_creates) == 1 and f"{job.name}: submitted" in resumed.stderr
    assert json.loads(resumed.stdout)["written"] == SAMPLES
    expected, _ = synchronous_records(five_hundred, tmp_path, judge_env)
    assert records(Path("killed.jsonl")) == expected


def test_failed_requests_are_listed_and_an_expired_job_stops_with_exit_1(five_hundred, fake, judge_env) -> None:
    small = Path("small.jsonl")
    write_records(small, list(read_records(five_hundred, Sample))[:8])
    originals = list(read_records(small, Sample))
    fake.reply_to(f"Reference next turn: {originals[2].ground_truth}", {"error": {"code": 500, "status": "INTERNAL",
                                                                              "message": "boom"}})
    result = rubric(str(small), "--out", "s.jsonl", "--batch")
    assert result.exit_code == 1 and "1 sample(s) got no rubric" in result.output
    assert originals[2].id in result.output and json.loads(result.stdout)["failed"] == 1

    fake.end_state = "BATCH_STATE_EXPIRED"
    expired = rubric(str(small), "--out", "s.jsonl", "--batch", "--resume")
    assert expired.exit_code == 1 and "ended EXPIRED" in expired.output and "--resume" in expired.output
    fake.end_state = "BATCH_STATE_SUCCEEDED"
    finished = rubric(str(small), "--out", "s.jsonl", "--batch", "--resume")
    assert finished.exit_code == 0, finished.output
    assert sorted(s.id for s in read_records(Path("s.jsonl"), Sample)) == sorted(s.id for s in originals)
    assert len(fake.batch_creates) == 3
