"""The client every teacher and judge call goes through: defaults, cache, concurrency, rate limits, retries, ledger.

    client = open_client("gemini:gemini-2.5-flash", settings, role="judge", max_cost=2.0)
    results = await client.generate_batch(requests)    # order kept; a failure is `result.error`
    client.ledger.summary()                              # requests, cache hits, retries, errors, tokens, cost
    await client.aclose()

Retries happen here rather than in the SDKs: one loop for every provider that counts retries for the summary,
honours a 429's retryDelay, and does not retry what cannot pass (a per-day quota, a 400, a 403, a 404). What cannot
pass stops the run: `generate` raises `ProviderFault` for it (and for every request after it), as it does when the
circuit breaker finds that the service stopped answering. A reply cut by thinking before its answer is asked once
more with more room (`thinking.py` decides the budgets).
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Callable, Sequence

from teachkit.errors import ConfigError, ProviderFault
from teachkit.llm.base import FATAL_KINDS, ModelRequest, ModelResult, Provider, ProviderError
from teachkit.llm.breaker import CircuitBreaker
from teachkit.llm.cache import ResponseCache, cache_path, request_key
from teachkit.llm.ledger import CostLedger
from teachkit.llm.limits import RateLimiter, estimate_tokens
from teachkit.llm.providers import ProviderContext, provider_factory
from teachkit.llm.spec import ModelSpec, model_to_call
from teachkit.llm.thinking import Role, cut_retry_tokens, thinking_plan
from teachkit.settings import ModelSettings, PriceSettings, Settings

# Beyond the SDK's own timeout: first-use set-up (an SSL context, a connection) must not count as a hung server.
TIMEOUT_GRACE_S = 5.0
FROM_SETTINGS = object()


class ModelClient:
    """One model behind one provider, with everything a run of many requests needs around it.

    `settings` gives the request defaults (temperature, max output tokens, thinking budget: see `thinking.py` for
    what the `role` changes) and the limits (concurrency, rpm, tpm, attempts, backoff, circuit breaker). The provider's SDK enforces `timeout_s` on each attempt; the
    client cancels an attempt that outlives it by `TIMEOUT_GRACE_S` (a server that trickles bytes forever).
    `timeout_s` defaults to the settings' value; None means no timeout (a local model).
    """

    def __init__(
        self,
        provider: Provider,
        settings: ModelSettings | None = None,
        *,
        cache: ResponseCache | None = None,
        price: PriceSettings | None = None,
        max_cost: float | None = None,
        timeout_s: float | None | object = FROM_SETTINGS,
        rate_window_s: float = 60.0,
        secrets: Sequence[str] = (),
        role: Role = "teacher",
    ):
        self.provider = provider
        self.settings = settings or ModelSettings()
        self.role = role
        self.cache = cache
        self.max_cost = max_cost
        self.timeout_s: float | None = self.settings.timeout_s if timeout_s is FROM_SETTINGS else timeout_s  # type: ignore[assignment]
        self.ledger = CostLedger(provider.name, provider.model, price)
        self.limiter = RateLimiter(self.settings.rpm, self.settings.tpm, window_s=rate_window_s)
        self._secrets = [secret for secret in secrets if secret]
        self._semaphore: asyncio.Semaphore | None = None
        self.breaker = CircuitBreaker(self.settings.breaker_failures, self.settings.breaker_window_s)
        # The first fault that no retry mends; every request after it raises it without being sent.
        self.fault: ProviderFault | None = None

    @property
    def spec(self) -> str:
        return f"{self.provider.name}:{self.provider.model}"

    @property
    def budget_exceeded(self) -> bool:
        """True once the estimated cost reached `max_cost`: callers stop starting new work."""
        return self.max_cost is not None and self.ledger.cost_usd >= self.max_cost

    def with_defaults(self, request: ModelRequest) -> ModelRequest:
        """The request as it will be sent (and as it enters the cache key): unset options take this model's settings,
        and on a Gemini model that thinks, the thinking budget is the role's and `max_output_tokens` (the room for
        the answer) gets the thinking room on top. A request goes through this once."""
        plan = thinking_plan(
            self.provider.name,
            self.provider.model,
            self.role,
            answer_tokens=request.max_output_tokens or self.settings.max_output_tokens,
            budget=request.thinking_budget if request.thinking_budget is not None else self.settings.thinking_budget,
            include_thoughts=request.include_thoughts,
        )
        updates = {"max_output_tokens": plan.max_output_tokens, "thinking_budget": plan.thinking_budget}
        if request.temperature is None:
            updates["temperature"] = self.settings.temperature
        return request.model_copy(update=updates)

    def sent_options(self) -> dict[str, float | int | None]:
        """The options a request that sets none is sent with: for caches of what the model answered."""
        sent = self.with_defaults(ModelRequest(messages=[]))
        return {"temperature": sent.temperature, "max_output_tokens": sent.max_output_tokens,
                "thinking_budget": sent.thinking_budget}

    async def generate(self, request: ModelRequest) -> ModelResult:
        """One request: from the cache, or sent with retries.

        A failed request is a result with an error, except a fault that no retry mends (`FATAL_KINDS`) or a tripped
        circuit breaker: those raise `ProviderFault`, now and for every later request, which are then not sent.
        """
        if self.fault is not None:
            raise self.fault
        request = self.with_defaults(request)
        key = None
        if self.cache is not None:
            key = request_key(self.provider.name, self.provider.model, self.provider.cache_variant, request)
            cached = self.cache.get(key)
            if cached is not None:
                self.ledger.add(cached)
                return cached
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.settings.concurrency)
        async with self._semaphore:
            if self.budget_exceeded:
                result = self._failure(
                    ProviderError(f"not sent: the estimated cost reached --max-cost {self.max_cost:g} USD",
                                  retryable=False, kind="budget"),
                    attempts=0,
                    latency_s=0.0,
                )
            else:
                result = await self._send(request)
        if key is not None and result.ok:
            self.cache.put(key, result)
        self.ledger.add(result)
        if self.fault is not None:
            raise self.fault
        return result

    async def generate_batch(
        self,
        requests: Sequence[ModelRequest],
        on_result: Callable[[int, ModelResult], None] | None = None,
    ) -> list[ModelResult]:
        """Every request at once under the concurrency and rate limits; results in the order of the requests.

        `on_result(index, result)` is called as each one finishes (for progress bars and incremental saving).
        """

        async def one(index: int, request: ModelRequest) -> ModelResult:
            result = await self.generate(request)
            if on_result is not None:
                on_result(index, result)
            return result

        tasks = [asyncio.ensure_future(one(i, r)) for i, r in enumerate(requests)]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            # A fault (or a cancellation) ends the batch: nothing of it stays in flight.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _send(self, request: ModelRequest) -> ModelResult:
        result = await self._send_with_retries(request)
        if result.error_kind == "max_tokens":
            room = cut_retry_tokens(self.provider.name, self.provider.model, request.max_output_tokens or 0)
            if room is not None:
                self.ledger.count_cut()
                retried = await self._send_with_retries(request.model_copy(update={"max_output_tokens": room}))
                retried.attempts += result.attempts
                retried.latency_s += result.latency_s
                retried.usage = retried.usage + result.usage  # the cut reply's thinking is billed too
                result = retried
            if result.error_kind == "max_tokens":
                result.error = self._cut_message(request, result, room)
        return result

    def _cut_message(self, request: ModelRequest, result: ModelResult, room: int | None) -> str:
        retried = f", and again with {room} on the retry" if room is not None else ""
        return (
            f"{self.spec}: the reply was cut at max_output_tokens={request.max_output_tokens}{retried} before its "
            f"answer (thinking used {result.usage.thoughts} tokens); set {self.role}.thinking_budget lower (0 turns "
            f"thinking off on Flash and Flash-Lite) or {self.role}.max_output_tokens higher"
        )

    async def _send_with_retries(self, request: ModelRequest) -> ModelResult:
        estimate = estimate_tokens(request)
        started = time.monotonic()
        attempt = 0
        while True:
            if self.fault is not None:
                raise self.fault
            attempt += 1
            entry = await self.limiter.acquire(estimate)
            try:
                if self.timeout_s is None:
                    result = await self.provider.generate(request)
                else:
                    result = await asyncio.wait_for(self.provider.generate(request),
                                                    self.timeout_s + TIMEOUT_GRACE_S)
            except (asyncio.TimeoutError, TimeoutError):
                error = ProviderError(
                    f"no reply within {self.timeout_s + TIMEOUT_GRACE_S:g} s (timeout_s + {TIMEOUT_GRACE_S:g} s)",
                    retryable=True, kind="timeout")
            except ProviderError as raised:
                error = raised
            else:
                self.limiter.record(entry, result.usage.total)
                self.breaker.succeeded()
                result.latency_s = time.monotonic() - started
                result.attempts = attempt
                if result.error is not None:
                    result.error = self._scrub(result.error)
                return result
            if not error.retryable or attempt >= self.settings.max_attempts:
                failure = self._failure(error, attempts=attempt, latency_s=time.monotonic() - started)
                if error.kind in FATAL_KINDS:
                    self._stop(f"{self.role} {failure.error}; no retry mends this")
                elif error.retryable and self.breaker.failed():
                    self._stop(
                        f"{self.role} {self.spec}: the last {self.breaker.streak} requests all failed after "
                        f"{self.settings.max_attempts} attempts each, none answered for "
                        f"{self.settings.breaker_window_s:g} s (last: {failure.error}); the service looks down: "
                        f"stopped instead of going on without replies (limits: {self.role}.breaker_failures, "
                        f"{self.role}.breaker_window_s)"
                    )
                return failure
            await asyncio.sleep(self._backoff(attempt, error.retry_after_s))

    def _stop(self, message: str) -> None:
        """Remember the first fault that stops the run; `generate` raises it once the failure is counted."""
        if self.fault is None:
            self.fault = ProviderFault(self._scrub(message))

    def _backoff(self, attempt: int, retry_after_s: float | None) -> float:
        cap = self.settings.retry_max_delay_s
        if retry_after_s is not None:
            return min(cap, retry_after_s)
        delay = self.settings.retry_initial_delay_s * 2 ** (attempt - 1)
        # Full jitter on half the delay, so that many tasks failing together do not retry together.
        return min(cap, delay * (0.5 + random.random() * 0.5))

    def _failure(self, error: ProviderError, *, attempts: int, latency_s: float) -> ModelResult:
        return ModelResult(
            provider=self.provider.name,
            model=self.provider.model,
            attempts=attempts,
            latency_s=latency_s,
            error=self._scrub(str(error)),
            error_kind=error.kind,
        )

    def _scrub(self, message: str) -> str:
        for secret in self._secrets:
            message = message.replace(secret, "**********")
        return message

    async def aclose(self) -> None:
        await self.provider.aclose()
        if self.cache is not None:
            self.cache.close()

    async def __aenter__(self) -> ModelClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def role_settings(settings: Settings, role: Role) -> ModelSettings:
    if role == "teacher":
        return settings.teacher
    if role == "judge":
        return settings.judge
    raise ValueError(f"role must be 'teacher' or 'judge', not {role!r}")


def open_client(
    spec: str | ModelSpec | None,
    settings: Settings,
    role: Role = "teacher",
    use_cache: bool | None = None,
    max_cost: float | None = None,
    where: str | None = None,
) -> ModelClient:
    """The client for `spec` (None: the [teacher] or [judge] settings), checked before any work starts.

    A malformed spec, a spec the role cannot use (`llm.spec.parse_for_role`), an unknown provider, a missing key or
    project, or a missing SDK is an InputError (exit 2); `where` names the flag in those messages. Nothing is loaded
    or sent here: SDK clients and local models are created on the first request.
    """
    defaults = role_settings(settings, role)
    if spec is None:
        model_spec = ModelSpec(provider=defaults.provider, model=defaults.model, base_url=defaults.base_url)
        where = f"{role}.model"
    else:
        where = where or ("--judge-model" if role == "judge" else "--model")
        model_spec = spec if isinstance(spec, ModelSpec) else model_to_call(spec, role, where=where)
        # The role's endpoint and key belong to the role's provider only: never send a Gemini key to another server.
        if model_spec.provider == defaults.provider and model_spec.base_url is None and defaults.base_url:
            model_spec = model_spec.model_copy(update={"base_url": defaults.base_url})
    same_provider = model_spec.provider == defaults.provider
    role_key = defaults.api_key.get_secret_value() if (same_provider and defaults.api_key) else None
    build = provider_factory(model_spec.provider)(ProviderContext(
        model=model_spec.model, base_url=model_spec.base_url, settings=settings, role=role, defaults=defaults,
        role_key=role_key, where=f"{where} {model_spec}"))

    cache = None
    if settings.cache if use_cache is None else use_cache:
        path = cache_path(settings.paths.cache_dir)
        try:
            cache = ResponseCache(path)
        except (OSError, sqlite3.Error) as error:
            raise ConfigError(f"paths.cache_dir: cannot open the response cache {path} ({error}); "
                              "set paths.cache_dir to a writable folder, or use --no-cache") from None
    return ModelClient(build.provider, defaults, cache=cache, price=build.price, max_cost=max_cost,
                       timeout_s=build.timeout_s, secrets=build.secrets, role=role)
