import asyncio
import time

from teachkit.llm.limits import RateLimiter, estimate_tokens
from tests.llm.llm_helpers import ask


def starts_under(limiter: RateLimiter, count: int, estimate: int = 1) -> list[float]:
    async def go():
        began = time.monotonic()
        moments = []

        async def one():
            await limiter.acquire(estimate)
            moments.append(time.monotonic() - began)

        await asyncio.gather(*(one() for _ in range(count)))
        return sorted(moments)

    return asyncio.run(go())


def test_rpm_spreads_requests_over_windows_instead_of_failing():
    # 7 requests at "3 per window" of 0.3 s: 3 now, 3 after one window, 1 after two. The lower bounds are the
    # limiter's promise; the upper bounds only leave room for a busy machine.
    moments = starts_under(RateLimiter(rpm=3, window_s=0.3), 7)
    assert all(m < 0.15 for m in moments[:3])
    assert all(0.29 <= m < 0.59 for m in moments[3:6])
    assert 0.59 <= moments[6] < 1.2


def test_tpm_admits_requests_while_their_tokens_fit():
    limiter = RateLimiter(tpm=100, window_s=0.3)
    moments = starts_under(limiter, 4, estimate=40)  # two fit (80), the next two wait a window
    assert all(m < 0.15 for m in moments[:2]) and all(m >= 0.29 for m in moments[2:])


def test_recorded_usage_replaces_the_estimate():
    limiter = RateLimiter(tpm=100, window_s=0.2)

    async def go():
        entry = await limiter.acquire(10)
        RateLimiter.record(entry, 95)  # the reply was much bigger than the prompt estimate
        began = time.monotonic()
        await limiter.acquire(10)
        return time.monotonic() - began

    assert asyncio.run(go()) >= 0.15


def test_no_limits_means_no_waiting_and_estimates_are_prompt_sized():
    assert starts_under(RateLimiter(), 50)[-1] < 0.15
    assert estimate_tokens(ask("x" * 400)) == 100
