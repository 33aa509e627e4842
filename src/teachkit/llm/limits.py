"""Requests-per-minute and tokens-per-minute limits, as sliding windows.

A provider counts its quota over a rolling minute, so the limiter does too: a request starts only when fewer than
`rpm` requests started in the last `window_s` seconds and the tokens used in that window plus this request's
estimate stay under `tpm`. A run of 1,000 requests under 60 RPM therefore spreads over about 17 minutes instead of
failing with 429s. The window is a parameter only so that tests need not wait a minute.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from teachkit.llm.base import ModelRequest


def estimate_tokens(request: ModelRequest) -> int:
    """A rough prompt size (4 characters a token) used to admit a request before its real usage is known."""
    return max(1, sum(len(message.content) for message in request.messages) // 4)


class RateLimiter:
    def __init__(self, rpm: int | None = None, tpm: int | None = None, *, window_s: float = 60.0):
        self.rpm = rpm
        self.tpm = tpm
        self.window_s = window_s
        self._starts: deque[float] = deque()
        self._tokens: deque[list[float]] = deque()  # [time, tokens], mutable so `record` can correct an estimate
        self._lock = asyncio.Lock()
        self.waited_s = 0.0

    @property
    def active(self) -> bool:
        return bool(self.rpm or self.tpm)

    def _expire(self, now: float) -> None:
        while self._starts and now - self._starts[0] >= self.window_s:
            self._starts.popleft()
        while self._tokens and now - self._tokens[0][0] >= self.window_s:
            self._tokens.popleft()

    def _delay(self, now: float, estimate: int) -> float:
        delay = 0.0
        if self.rpm and len(self._starts) >= self.rpm:
            delay = max(delay, self._starts[0] + self.window_s - now)
        if self.tpm and self._tokens:
            used = sum(tokens for _, tokens in self._tokens)
            if used + estimate > self.tpm:
                # Wait for enough of the oldest entries to leave the window (all of them if need be: a single
                # request bigger than the whole limit still runs, alone).
                excess = used + estimate - self.tpm
                for started, tokens in self._tokens:
                    excess -= tokens
                    if excess <= 0:
                        delay = max(delay, started + self.window_s - now)
                        break
                else:
                    delay = max(delay, self._tokens[-1][0] + self.window_s - now)
        return delay

    async def acquire(self, estimate: int) -> list[float] | None:
        """Wait for room, then count the request; returns the token entry to correct with `record`."""
        if not self.active:
            return None
        async with self._lock:
            while True:
                now = time.monotonic()
                self._expire(now)
                delay = self._delay(now, estimate)
                if delay <= 0:
                    break
                self.waited_s += delay
                await asyncio.sleep(delay)
            self._starts.append(now)
            entry = [now, float(estimate)]
            if self.tpm:
                self._tokens.append(entry)
            return entry

    @staticmethod
    def record(entry: list[float] | None, tokens: int) -> None:
        """Replace the estimate with the tokens the reply really used."""
        if entry is not None and tokens > 0:
            entry[1] = float(tokens)
