"""The client through the real google-genai SDK against the loopback fake: order, limits, retries, timeouts,
faults that stop a run, the circuit breaker, replies cut by thinking, cache, budget, ledger and secrets."""

import logging
import threading
import time

import pytest

from teachkit.errors import ProviderFault
from teachkit.llm.cache import cache_path
from teachkit.manifest import now_iso, write_manifest
from teachkit.testing.fake_gemini import (
    api_key_not_valid,
    error,
    hang,
    malformed,
    model_not_found,
    permission_denied,
    rate_limited,
    text,
    unavailable,
)
from tests.llm.llm_helpers import API_KEY, ask, batch, fast_settings, run


def test_batch_keeps_order_and_respects_the_concurrency_limit(gemini_client, fake_gemini):
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def slow_echo(request):
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.1)  # long enough for the client to fill every slot even on a busy machine
        with lock:
            in_flight -= 1
        return f"reply to {request.body['contents'][-1]['parts'][0]['text']}"

    fake_gemini.reply_fn = slow_echo
    client = gemini_client(concurrency=3)
    results = run(batch(client, [ask(f"q{i}") for i in range(10)]))
    assert [r.text for r in results] == [f"reply to q{i}" for i in range(10)]
    assert peak == 3
    assert all(r.provider == "gemini" and r.model == "gemini-2.5-flash" and r.attempts == 1 for r in results)


def test_random_429_and_503_all_end_in_success_and_the_retries_are_counted(gemini_client, fake_gemini):
    # The fake draws each failure from (seed, request, attempt): the same requests fail the same way every run.
    fake_gemini.failure_rate = 0.3
    client = gemini_client(concurrency=8, max_attempts=5, timeout_s=10.0)
    results = run(batch(client, [ask(f"q{i}") for i in range(60)]))
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert all(r.attempts <= 5 for r in results)
    summary = client.ledger.summary()
    assert fake_gemini.injected_failures > 5
    assert summary["retries"] == fake_gemini.injected_failures == sum(r.attempts - 1 for r in results)
    assert summary["requests"] == 60 and summary["errors"] == {}


def test_a_server_that_never_answers_fails_each_request_after_the_timeout(gemini_client, fake_gemini):
    fake_gemini.reply_fn = lambda request: hang()
    client = gemini_client(timeout_s=0.3, max_attempts=2)
    started = time.monotonic()
    results = run(batch(client, [ask(f"q{i}") for i in range(4)]))
    elapsed = time.monotonic() - started
    assert all(r.error_kind == "timeout" and r.attempts == 2 for r in results)
    assert "timeout" in results[0].error.lower() or "in time" in results[0].error
    assert elapsed < 3.0  # two attempts of 0.3 s each, all four at once: nothing hangs
    assert client.ledger.summary()["errors"] == {"timeout": 4}


@pytest.mark.parametrize(
    ("reply", "kind", "fix"),
    [
        (rate_limited(per_day=True), "quota", "wait for the daily reset"),
        (model_not_found("gemini-9"), "not_found", "check the model name"),
        (permission_denied(), "auth", "check the API key"),
        (api_key_not_valid(), "auth", "check GEMINI_API_KEY"),
        (error(400, "Invalid value at generation_config.temperature", "INVALID_ARGUMENT"), "bad_request",
         "check the request options"),
    ],
    ids=["per-day-quota", "404", "403", "bad-key", "400"],
)
def test_a_fault_no_retry_mends_stops_the_batch_and_says_what_to_fix(gemini_client, fake_gemini, reply, kind, fix):
    fake_gemini.fault = lambda request: reply
    client = gemini_client(concurrency=4)
    with pytest.raises(ProviderFault) as stopped:
        run(batch(client, [ask(f"q{i}") for i in range(40)]))
    message = str(stopped.value)
    assert fix in message and "no retry mends this" in message and API_KEY not in message
    assert "\n" not in message and message.startswith("teacher gemini:gemini-2.5-flash: ")
    # Only the requests already in flight were sent, once each; the other 36 never left. Those still in flight when
    # the first fault came back were cancelled, so at least one fault is counted.
    assert len(fake_gemini.requests) <= 4 and client.ledger.retries == 0
    assert 1 <= client.ledger.errors[kind] <= len(fake_gemini.requests)
    # The client stays stopped: a later request raises the same fault without being sent.
    with pytest.raises(ProviderFault):
        run(batch(client, [ask("later")]))
    assert len(fake_gemini.requests) <= 4


def test_a_service_that_stays_down_trips_the_breaker_and_a_storm_does_not(gemini_client, fake_gemini):
    fake_gemini.reply_fn = lambda request: unavailable()
    client = gemini_client(concurrency=1, max_attempts=2, breaker_failures=3, breaker_window_s=0)
    with pytest.raises(ProviderFault) as stopped:
        run(batch(client, [ask(f"q{i}") for i in range(50)]))
    assert "the last 3 requests all failed after 2 attempts each" in str(stopped.value)
    assert "looks down" in str(stopped.value) and len(fake_gemini.requests) == 6
    assert client.ledger.errors == {"server": 3}

    # Two failures in a row, then an answer: the streak starts again and the run goes on with its failures counted.
    fake_gemini.clear()
    fake_gemini.reply_fn = lambda request: unavailable() if "fail" in request.body["contents"][-1]["parts"][0]["text"] \
        else "fine"
    client = gemini_client(concurrency=1, max_attempts=1, breaker_failures=3, breaker_window_s=0)
    prompts = ["fail", "fail", "ok", "fail", "fail", "ok", "fail", "fail"]
    results = run(batch(client, [ask(f"{p} {i}") for i, p in enumerate(prompts)]))
    assert [r.ok for r in results] == [p == "ok" for p in prompts]
    assert client.ledger.errors == {"server": 6} and client.fault is None


def test_the_breaker_waits_out_its_window_before_it_trips(gemini_client, fake_gemini):
    fake_gemini.reply_fn = lambda request: unavailable()
    client = gemini_client(concurrency=1, max_attempts=1, breaker_failures=3, breaker_window_s=3600)
    results = run(batch(client, [ask(f"q{i}") for i in range(10)]))
    assert all(r.error_kind == "server" for r in results) and client.fault is None


def cut_unless_room(needed: int):
    """A model that thinks until `needed` output tokens are allowed: below that, MAX_TOKENS and no text."""

    def reply(request):
        room = request.body["generationConfig"]["maxOutputTokens"]
        if room < needed:
            return {"candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS", "index": 0}],
                    "usageMetadata": {"promptTokenCount": 5, "thoughtsTokenCount": room, "totalTokenCount": room + 5}}
        return "the answer"

    return reply


def test_a_reply_cut_by_thinking_is_asked_once_more_with_more_room_and_counted(gemini_client, fake_gemini):
    fake_gemini.reply_fn = cut_unless_room(1000)
    client = gemini_client(role="judge", max_output_tokens=300)
    result = run(batch(client, [ask("q")]))[0]
    assert result.ok and result.text == "the answer"
    assert [r.body["generationConfig"]["maxOutputTokens"] for r in fake_gemini.requests] == [300, 1200]
    summary = client.ledger.summary()
    assert summary["max_tokens_retries"] == 1 and summary["errors"] == {}
    assert summary["tokens"]["thoughts"] == 300  # the cut reply's thinking was paid for

    fake_gemini.clear()
    fake_gemini.reply_fn = cut_unless_room(100_000)
    client = gemini_client(role="judge", max_output_tokens=300)
    result = run(batch(client, [ask("q")]))[0]
    assert result.error_kind == "max_tokens" and len(fake_gemini.requests) == 2
    assert "cut at max_output_tokens=300, and again with 1200 on the retry" in result.error
    assert "judge.thinking_budget" in result.error and "judge.max_output_tokens" in result.error
    assert client.ledger.summary()["max_tokens_retries"] == 1 and client.ledger.errors == {"max_tokens": 1}


def test_retry_delay_from_the_server_is_honoured_up_to_the_cap(gemini_client, fake_gemini):
    fake_gemini.push(rate_limited(retry_delay_s=0.25), "ok")
    started = time.monotonic()
    result = run(batch(gemini_client(retry_max_delay_s=5.0), [ask("q")]))[0]
    assert result.ok and result.attempts == 2
    assert time.monotonic() - started >= 0.25
    fake_gemini.push(rate_limited(retry_delay_s=30.0), "ok")
    started = time.monotonic()
    result = run(batch(gemini_client(retry_max_delay_s=0.05), [ask("q")]))[0]
    assert result.ok and time.monotonic() - started < 5.0


def test_broken_replies_become_results_with_errors_and_the_batch_goes_on(gemini_client, fake_gemini):
    fake_gemini.push(malformed(), malformed(), unavailable(), unavailable())
    client = gemini_client(concurrency=1, max_attempts=2)
    results = run(batch(client, [ask("a"), ask("b"), ask("c")]))
    assert results[0].error_kind == "malformed" and results[0].attempts == 2
    assert results[1].error_kind == "server" and results[1].attempts == 2
    assert results[2].ok and results[2].text == "echo: c"


def test_second_pass_comes_from_the_cache_and_samples_are_separate_entries(gemini_client, fake_gemini, tmp_path):
    requests = [ask("same prompt", temperature=1.0, sample_index=i) for i in range(3)] + [ask("other")]
    first = run(batch(gemini_client(use_cache=True), requests))
    assert len(fake_gemini.requests) == 4 and not any(r.from_cache for r in first)
    client = gemini_client(use_cache=True)
    second = run(batch(client, requests))
    assert len(fake_gemini.requests) == 4
    assert all(r.from_cache for r in second) and [r.text for r in second] == [r.text for r in first]
    assert client.ledger.summary()["cache_hits"] == 4 and client.ledger.cost_usd == 0.0
    run(batch(gemini_client(use_cache=False), requests))
    assert len(fake_gemini.requests) == 8


def test_failed_results_are_not_cached(gemini_client, fake_gemini):
    fake_gemini.push(unavailable())
    assert not run(batch(gemini_client(use_cache=True, max_attempts=1), [ask("q")]))[0].ok
    assert run(batch(gemini_client(use_cache=True, max_attempts=1), [ask("q")]))[0].ok
    assert len(fake_gemini.requests) == 2


def test_max_cost_stops_starting_new_requests(gemini_client, fake_gemini):
    # gemini-2.5-flash is priced 0.30 USD per million prompt tokens: each reply below costs 0.30 USD.
    fake_gemini.reply_fn = lambda request: text("ok", prompt_tokens=1_000_000, output_tokens=0)
    client = gemini_client(concurrency=1, max_cost=0.5)
    results = run(batch(client, [ask(f"q{i}") for i in range(5)]))
    assert [r.ok for r in results] == [True, True, False, False, False]
    assert {r.error_kind for r in results[2:]} == {"budget"} and "--max-cost" in results[2].error
    assert len(fake_gemini.requests) == 2 and client.budget_exceeded
    summary = client.ledger.summary()
    assert summary["cost_usd"] == 0.6 and summary["cost_is_estimate"] is True
    assert summary["tokens"] == {"prompt": 2_000_000, "output": 0, "thoughts": 0}


def test_the_api_key_appears_in_no_error_log_cache_summary_or_manifest(gemini_client, fake_gemini, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    # One request at a time, each with its own reply: nothing depends on which of two concurrent requests is first.
    fake_gemini.reply_to("store me", "fine")
    # A server (or proxy) that echoes the key back in its error message: a fault that stops the run.
    fake_gemini.reply_to("reject me", error(400, f"API key not valid: {API_KEY}", "INVALID_ARGUMENT"))
    client = gemini_client(use_cache=True)
    stored_reply = run(batch(client, [ask("store me")], close=False))[0]
    with pytest.raises(ProviderFault) as stopped:
        run(batch(client, [ask("reject me")]))
    assert stored_reply.ok and stored_reply.text == "fine"
    assert fake_gemini.requests[1].header("x-goog-api-key") == API_KEY  # it was sent, to the server only
    message = str(stopped.value)
    assert "auth" in client.ledger.errors and API_KEY not in message and "GEMINI_API_KEY" in message
    assert API_KEY not in caplog.text
    manifest = write_manifest(tmp_path / "out.jsonl", settings=fast_settings(tmp_path), started_at=now_iso(),
                              extra={"llm": client.ledger.summary()})
    assert API_KEY not in manifest.read_text() and '"cost_usd"' in manifest.read_text()
    assert API_KEY not in str(client.ledger.summary())
    stored = b"".join(p.read_bytes() for p in cache_path(tmp_path / "cache").parent.glob("responses.sqlite*"))
    assert b"fine" in stored and API_KEY.encode() not in stored
