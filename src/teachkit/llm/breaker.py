"""The circuit breaker: a service that has stopped answering stops the run instead of feeding it failures.

Retries mend a storm (some 503s, a burst of 429s); they cannot mend an outage, a dead proxy or a server that was
never started, and a rollout would then play thousands of noops. The breaker trips when the last `failures`
requests all failed every attempt with errors that a retry might have mended (429, 5xx, timeouts, dropped
connections) and none succeeded for `window_s` seconds. Both conditions, so that the requests in flight when a
short outage begins (dozens at once) do not trip it, and a slow trickle of failures cannot either.
"""

from __future__ import annotations

import time


class CircuitBreaker:
    def __init__(self, failures: int, window_s: float):
        self.failures = failures
        self.window_s = window_s
        self.streak = 0
        self._streak_started: float | None = None

    def succeeded(self) -> None:
        """A request got an answer (even one the caller cannot use: the service is up)."""
        self.streak = 0
        self._streak_started = None

    def failed(self) -> bool:
        """A request failed every attempt with a transient error; True when the breaker trips."""
        now = time.monotonic()
        if self._streak_started is None:
            self._streak_started = now
        self.streak += 1
        return self.streak >= self.failures and now - self._streak_started >= self.window_s
