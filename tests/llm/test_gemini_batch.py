"""The Gemini Batch API path (`llm/gemini_batch.py`): the real google-genai `client.batches` against the loopback
fake of the batch endpoints, compared with the synchronous client on the same fake replies."""

from __future__ import annotations

import json

import pytest

from teachkit.errors import InputError, ProviderFault
from teachkit.llm import open_client
from teachkit.llm.gemini_batch import BatchClient, BatchPending, job_record_path, read_job_record
from teachkit.testing.fake_gemini import rate_limited, unavailable
from teachkit.testing.fake_gemini_batch import FakeGeminiBatch
from tests.llm.llm_helpers import API_KEY, ask, fast_settings, run

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


@pytest.fixture
def fake():
    with FakeGeminiBatch() as server:
        server.reply_fn = lambda request: json.dumps({"answer": f"reply to {request.body['contents'][-1]['parts'][0]['text']}"})
        yield server


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
    return fast_settings(tmp_path, "judge", **{"batch.poll_initial_s": 0.01, "batch.poll_max_s": 0.02})


def client_on(fake, settings, use_cache=True):
    return open_client(f"gemini:gemini-2.5-flash@{fake.url}", settings, role="judge", use_cache=use_cache)


def requests(n=5):
    return [ask(f"question {i}", json_schema=SCHEMA) for i in range(n)]


async def in_batch(batch, items):
    try:
        return await batch.generate_batch(items)
    finally:
        await batch.aclose()


async def synchronously(client, items):
    try:
        return await client.generate_batch(items)
    finally:
        await client.aclose()


def comparable(result):
    return result.model_dump(include={"text", "parsed", "finish_reason", "usage", "error", "error_kind", "thoughts"})


def test_one_job_answers_like_the_synchronous_client_and_fills_its_cache(fake, settings, tmp_path) -> None:
    record = job_record_path(tmp_path / "out.jsonl")
    batch = BatchClient(client_on(fake, settings), record, poll=settings.batch)
    results = run(in_batch(batch, requests()))
    assert len(fake.batch_creates) == 1 and len(fake.batch_items) == 5
    states = [r for r in fake.requests if r.method == "GET"]
    assert len(states) == 3  # PENDING, RUNNING, SUCCEEDED
    # The same replies, read the same way, as the synchronous path on an uncached client.
    expected = run(synchronously(client_on(fake, settings, use_cache=False), requests()))
    assert [comparable(r) for r in results] == [comparable(r) for r in expected]
    assert results[3].parsed == {"answer": "reply to question 3"}
    # What went into the job is what a synchronous request sends (those arrive in any order).
    sent = sorted(json.dumps(r.body, sort_keys=True) for r in fake.requests if r.path.endswith(":generateContent"))
    assert sorted(json.dumps(item.body, sort_keys=True) for item in fake.batch_items) == sent
    # The cache holds every reply under the synchronous client's keys: a synchronous rerun sends nothing.
    before = len(fake.requests)
    again = run(synchronously(client_on(fake, settings), requests()))
    assert len(fake.requests) == before and all(r.from_cache for r in again)
    # Priced at the batch share of the price (0.5 by default).
    sync_ledger = client_on(fake, settings, use_cache=False)
    for result in expected:
        sync_ledger.ledger.add(result)
    assert batch.ledger.cost_usd == pytest.approx(sync_ledger.ledger.cost_usd * settings.prices["gemini-2.5-flash"].batch)
    assert batch.ledger.cost_usd > 0 and batch.ledger.summary()["requests"] == 5
    assert API_KEY not in record.read_text()


def test_no_wait_records_the_job_and_a_resumed_run_fetches_it_without_submitting_again(fake, settings, tmp_path) -> None:
    record = job_record_path(tmp_path / "out.jsonl")
    first = BatchClient(client_on(fake, settings), record, poll=settings.batch, wait=False)
    with pytest.raises(BatchPending) as pending:
        run(in_batch(first, requests()))
    saved = read_job_record(record)
    assert len(saved.jobs) == 1 and pending.value.jobs[0].name == saved.jobs[0].name
    assert len(saved.jobs[0].keys) == 5 and saved.jobs[0].name.startswith("batches/")
    assert not [r for r in fake.requests if r.method == "GET"]

    resumed = BatchClient(client_on(fake, settings), record, poll=settings.batch)
    results = run(in_batch(resumed, requests()))
    assert len(fake.batch_creates) == 1 and all(r.ok for r in results)
    assert resumed.jobs_submitted == 0 and resumed.jobs_fetched == 1
    # A request that no recorded job holds is submitted in a job of its own; the others come from the cache.
    more = BatchClient(client_on(fake, settings), record, poll=settings.batch)
    results = run(in_batch(more, requests(6)))
    assert len(fake.batch_creates) == 2 and len(fake.batch_items) == 6 and results[5].parsed == {
        "answer": "reply to question 5"}
    # `batch fetch` submits nothing: a request outside the recorded jobs and the cache is an input error.
    fetch_only = BatchClient(client_on(fake, settings), record, poll=settings.batch, submit=False)
    with pytest.raises(InputError, match="do not hold 1 of the 1 requests"):
        run(in_batch(fetch_only, [ask("a question never submitted", json_schema=SCHEMA)]))


def test_failed_requests_inside_a_job_are_results_with_the_synchronous_error_kinds(fake, settings, tmp_path) -> None:
    fake.reply_to("question 1", unavailable())
    fake.reply_to("question 2", rate_limited(per_day=True))
    fake.reply_to("question 3", "not json at all")
    batch = BatchClient(client_on(fake, settings), job_record_path(tmp_path / "out.jsonl"), poll=settings.batch)
    results = run(in_batch(batch, requests()))
    # A job's failed request carries a gRPC code and a message, no details: a 429 reads as a rate limit.
    assert [r.error_kind for r in results] == [None, "server", "rate_limit", "malformed", None]
    assert "503" in results[1].error and "429" in results[2].error
    assert batch.ledger.summary()["errors"] == {"server": 1, "rate_limit": 1, "malformed": 1}
    # Failures are not cached: a later run asks again (here synchronously).
    before = len(fake.requests)
    run(synchronously(client_on(fake, settings), requests()))
    assert len(fake.requests) - before == 3


@pytest.mark.parametrize("end_state", ["BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED"])
def test_a_job_that_ends_without_results_stops_the_run_and_resume_submits_again(fake, settings, tmp_path,
                                                                                  end_state) -> None:
    fake.end_state = end_state
    record = job_record_path(tmp_path / "out.jsonl")
    batch = BatchClient(client_on(fake, settings), record, poll=settings.batch)
    with pytest.raises(ProviderFault, match=f"ended {end_state.removeprefix('BATCH_STATE_')}.*--resume"):
        run(in_batch(batch, requests(3)))
    assert read_job_record(record).jobs == []
    fake.end_state = "BATCH_STATE_SUCCEEDED"
    again = BatchClient(client_on(fake, settings), record, poll=settings.batch)
    assert all(r.ok for r in run(in_batch(again, requests(3))))
    assert len(fake.batch_creates) == 2


def test_results_in_a_responses_file_read_the_same(settings, tmp_path) -> None:
    with FakeGeminiBatch(responses_file=True, pending_gets=0, running_gets=0) as fake:
        fake.reply_fn = lambda request: json.dumps({"answer": "from the file"})
        batch = BatchClient(client_on(fake, settings), job_record_path(tmp_path / "o.jsonl"), poll=settings.batch)
        results = run(in_batch(batch, requests(3)))
        assert [r.parsed for r in results] == [{"answer": "from the file"}] * 3
        assert any(":download" in r.path for r in fake.requests)


def test_a_reply_cut_by_thinking_is_asked_again_with_more_room_in_a_second_job(fake, settings, tmp_path) -> None:
    cut = {"candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS", "index": 0}],
           "usageMetadata": {"promptTokenCount": 3, "thoughtsTokenCount": 512, "totalTokenCount": 515}}
    fake.reply_to("question 0", cut)
    batch = BatchClient(client_on(fake, settings), job_record_path(tmp_path / "o.jsonl"), poll=settings.batch)
    results = run(in_batch(batch, requests(2)))
    assert all(r.ok for r in results) and len(fake.batch_creates) == 2
    first, second = (item.body["generationConfig"]["maxOutputTokens"] for item in fake.batch_items
                     if "question 0" in json.dumps(item.body))
    assert second > first
    assert results[0].usage.thoughts == 512 and batch.ledger.max_tokens_retries == 1


def test_a_rejected_key_at_submission_stops_the_run_without_a_record(fake, settings, tmp_path) -> None:
    fake.fail_every_request("api_key")
    record = job_record_path(tmp_path / "o.jsonl")
    batch = BatchClient(client_on(fake, settings), record, poll=settings.batch)
    with pytest.raises(ProviderFault, match="could not submit the batch job.*API key") as fault:
        run(in_batch(batch, requests(2)))
    assert API_KEY not in str(fault.value) and not record.exists()


def test_only_the_gemini_developer_api_runs_batch_jobs(settings, tmp_path, fake_openai) -> None:
    vertex = open_client("vertex:gemini-2.5-flash", fast_settings(tmp_path, "judge", **{"gcp.project": "p",
                                                                                         "gcp.access_token": "t"}),
                         role="judge", use_cache=False)
    with pytest.raises(InputError, match="Vertex AI batch prediction .* not supported"):
        BatchClient(vertex, tmp_path / "r.batch.json")
    other = open_client(f"openai:m@{fake_openai.url}/v1", settings, role="judge", use_cache=False)
    with pytest.raises(InputError, match="need a Gemini model"):
        BatchClient(other, tmp_path / "r.batch.json")


def test_a_damaged_record_is_an_input_error_naming_the_file(fake, settings, tmp_path) -> None:
    record = job_record_path(tmp_path / "o.jsonl")
    record.write_text('{"spec": "gemini:gemini-2.5-flash", "jobs": [{"name": 3}]}')
    with pytest.raises(InputError, match=r"o\.jsonl\.batch\.json: not a batch job record \(out"):
        BatchClient(client_on(fake, settings), record, poll=settings.batch)
