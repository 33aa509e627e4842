"""The client through the real google-genai SDK against the loopback fake: order, limits, retries, timeouts,
cache, budget, ledger and secrets."""

import logging
import threading
import time

from teachkit.llm.cache import cache_path
from teachkit.manifest import now_iso, write_manifest
from teachkit.testing.fake_gemini import error, hang, malformed, rate_limited, text, unavailable
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


def test_final_errors_are_not_retried_and_say_what_to_do(gemini_client, fake_gemini):
    fake_gemini.push(
        rate_limited(per_day=True),
        error(404, "models/gemini-9 is not found", "NOT_FOUND"),
        error(403, "Permission denied", "PERMISSION_DENIED"),
        error(400, "Invalid value at generation_config.temperature", "INVALID_ARGUMENT"),
    )
    client = gemini_client(concurrency=1)
    results = run(batch(client, [ask(f"q{i}") for i in range(4)]))
    assert [r.error_kind for r in results] == ["quota", "not_found", "auth", "bad_request"]
    assert all(r.attempts == 1 for r in results) and len(fake_gemini.requests) == 4
    assert "per-day quota" in results[0].error and "check the model name" in results[1].error
    assert client.ledger.retries == 0


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
    fake_gemini.push(error(400, "bad", "INVALID_ARGUMENT"))
    assert not run(batch(gemini_client(use_cache=True), [ask("q")]))[0].ok
    assert run(batch(gemini_client(use_cache=True), [ask("q")]))[0].ok
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
    # A server (or proxy) that echoes the key back in its error message.
    fake_gemini.push(error(400, f"API key not valid: {API_KEY}", "INVALID_ARGUMENT"), "fine")
    client = gemini_client(use_cache=True)
    results = run(batch(client, [ask("a"), ask("b")]))
    assert API_KEY not in caplog.text
    manifest = write_manifest(tmp_path / "out.jsonl", settings=fast_settings(tmp_path), started_at=now_iso(),
                              extra={"llm": client.ledger.summary()})
    assert API_KEY not in manifest.read_text() and '"cost_usd"' in manifest.read_text()
    assert results[0].error_kind == "auth" and API_KEY not in results[0].error and "GEMINI_API_KEY" in results[0].error
    assert fake_gemini.requests[0].header("x-goog-api-key") == API_KEY  # it was sent, to the server only
    assert API_KEY not in str(client.ledger.summary())
    stored = b"".join(p.read_bytes() for p in cache_path(tmp_path / "cache").parent.glob("responses.sqlite*"))
    assert b"fine" in stored or results[1].ok
    assert API_KEY.encode() not in stored
