"""The client every teacher and judge call goes through: defaults, cache, concurrency, rate limits, retries, ledger.

    client = open_client("gemini:gemini-2.5-flash", settings, role="judge", max_cost=2.0)
    results = await client.generate_batch(requests)    # order kept; a failure is `result.error`, never an exception
    client.ledger.summary()                              # requests, cache hits, retries, errors, tokens, cost
    await client.aclose()

Retries happen here rather than in the SDKs: one loop for every provider that counts retries for the summary,
honours a 429's retryDelay, and does not retry what cannot pass (a per-day quota, a 400, a 403, a 404).
"""

from __future__ import annotations

import asyncio
import importlib.util
import random
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Literal

from teachkit.errors import ConfigError, MissingDependencyError
from teachkit.llm.base import ModelRequest, ModelResult, Provider, ProviderError
from teachkit.llm.cache import ResponseCache, cache_path, request_key
from teachkit.llm.ledger import CostLedger
from teachkit.llm.limits import RateLimiter, estimate_tokens
from teachkit.llm.spec import ModelSpec, parse_spec
from teachkit.settings import ModelSettings, PriceSettings, Settings

Role = Literal["teacher", "judge"]
# Beyond the SDK's own timeout: first-use set-up (an SSL context, a connection) must not count as a hung server.
TIMEOUT_GRACE_S = 5.0
FROM_SETTINGS = object()


class ModelClient:
    """One model behind one provider, with everything a run of many requests needs around it.

    `settings` gives the request defaults (temperature, max output tokens, thinking budget) and the limits
    (concurrency, rpm, tpm, attempts, backoff). The provider's SDK enforces `timeout_s` on each attempt; the
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
    ):
        self.provider = provider
        self.settings = settings or ModelSettings()
        self.cache = cache
        self.max_cost = max_cost
        self.timeout_s: float | None = self.settings.timeout_s if timeout_s is FROM_SETTINGS else timeout_s  # type: ignore[assignment]
        self.ledger = CostLedger(provider.name, provider.model, price)
        self.limiter = RateLimiter(self.settings.rpm, self.settings.tpm, window_s=rate_window_s)
        self._secrets = [secret for secret in secrets if secret]
        self._semaphore: asyncio.Semaphore | None = None

    @property
    def spec(self) -> str:
        return f"{self.provider.name}:{self.provider.model}"

    @property
    def budget_exceeded(self) -> bool:
        """True once the estimated cost reached `max_cost`: callers stop starting new work."""
        return self.max_cost is not None and self.ledger.cost_usd >= self.max_cost

    def with_defaults(self, request: ModelRequest) -> ModelRequest:
        """The request as it will be sent: unset options take this model's settings (and enter the cache key)."""
        updates = {}
        if request.temperature is None:
            updates["temperature"] = self.settings.temperature
        if request.max_output_tokens is None:
            updates["max_output_tokens"] = self.settings.max_output_tokens
        if request.thinking_budget is None and self.settings.thinking_budget is not None:
            updates["thinking_budget"] = self.settings.thinking_budget
        return request.model_copy(update=updates) if updates else request

    async def generate(self, request: ModelRequest) -> ModelResult:
        """One request: from the cache, or sent with retries. Never raises for a failed request."""
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

        return list(await asyncio.gather(*(one(i, r) for i, r in enumerate(requests))))

    async def _send(self, request: ModelRequest) -> ModelResult:
        estimate = estimate_tokens(request)
        started = time.monotonic()
        attempt = 0
        while True:
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
                result.latency_s = time.monotonic() - started
                result.attempts = attempt
                if result.error is not None:
                    result.error = self._scrub(result.error)
                return result
            if not error.retryable or attempt >= self.settings.max_attempts:
                return self._failure(error, attempts=attempt, latency_s=time.monotonic() - started)
            await asyncio.sleep(self._backoff(attempt, error.retry_after_s))

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


def require_sdk(module: str, package: str, purpose: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(package, purpose)


def open_client(
    spec: str | ModelSpec | None,
    settings: Settings,
    role: Role = "teacher",
    use_cache: bool | None = None,
    max_cost: float | None = None,
) -> ModelClient:
    """The client for `spec` (None: the [teacher] or [judge] settings), checked before any work starts.

    A malformed spec, an unknown provider, a missing key or project, or a missing SDK is an InputError (exit 2).
    Nothing is loaded or sent here: SDK clients and local models are created on the first request.
    """
    defaults = role_settings(settings, role)
    if spec is None:
        model_spec = ModelSpec(provider=defaults.provider, model=defaults.model, base_url=defaults.base_url)
        where = f"{role}.model"
    else:
        model_spec = parse_spec(spec, where="--model" if isinstance(spec, str) else "model spec")
        where = "--model"
        # The role's endpoint and key belong to the role's provider only: never send a Gemini key to another server.
        if model_spec.provider == defaults.provider and model_spec.base_url is None and defaults.base_url:
            model_spec = model_spec.model_copy(update={"base_url": defaults.base_url})
    same_provider = model_spec.provider == defaults.provider
    role_key = defaults.api_key.get_secret_value() if (same_provider and defaults.api_key) else None
    provider: Provider
    secrets: list[str] = []
    price = settings.price_for(model_spec.model)
    timeout_s: float | None = defaults.timeout_s

    if model_spec.provider in ("gemini", "vertex"):
        require_sdk("google.genai", "google-genai", f"{where} {model_spec}")
        from teachkit.llm.gemini import GeminiProvider

        if model_spec.provider == "gemini":
            key = role_key or (settings.gemini_api_key.get_secret_value() if settings.gemini_api_key else None)
            if not key:
                raise ConfigError(
                    f"{where} {model_spec}: no Gemini API key; set GEMINI_API_KEY (or {role}.api_key in "
                    "teachkit.toml), or use vertex:MODEL with gcp.project"
                )
            secrets.append(key)
            provider = GeminiProvider(model_spec.model, api_key=key, base_url=model_spec.base_url,
                                      timeout_s=defaults.timeout_s, connections=defaults.concurrency)
        else:
            if not settings.gcp.project:
                raise ConfigError(
                    f"{where} {model_spec}: no Google Cloud project; set GOOGLE_CLOUD_PROJECT or gcp.project "
                    "(and run `gcloud auth application-default login`)"
                )
            provider = GeminiProvider(model_spec.model, vertex_project=settings.gcp.project,
                                      vertex_location=settings.gcp.location, base_url=model_spec.base_url,
                                      timeout_s=defaults.timeout_s, connections=defaults.concurrency)
    elif model_spec.provider == "openai":
        require_sdk("openai", "openai", f"{where} {model_spec}")
        from teachkit.llm.openai_compatible import OpenAICompatibleProvider

        key = role_key or (settings.openai_api_key.get_secret_value() if settings.openai_api_key else None)
        if not key and not model_spec.base_url:
            raise ConfigError(
                f"{where} {model_spec}: no OpenAI API key; set OPENAI_API_KEY, or name a server with "
                "openai:MODEL@http://HOST:PORT/v1"
            )
        if key:
            secrets.append(key)
        provider = OpenAICompatibleProvider(model_spec.model, api_key=key, base_url=model_spec.base_url,
                                            timeout_s=defaults.timeout_s)
    else:
        require_sdk("transformers", "transformers", f"{where} {model_spec}")
        from teachkit.llm.local import LocalProvider

        provider = LocalProvider(model_spec.model, settings, batch_size=defaults.concurrency)
        price = None
        # A local model has no network to wait for; a long batch on a CPU is not a hung server.
        timeout_s = None

    cache = None
    if settings.cache if use_cache is None else use_cache:
        path = cache_path(settings.paths.cache_dir)
        try:
            cache = ResponseCache(path)
        except (OSError, sqlite3.Error) as error:
            raise ConfigError(f"paths.cache_dir: cannot open the response cache {path} ({error}); "
                              "set paths.cache_dir to a writable folder, or use --no-cache") from None
    return ModelClient(provider, defaults, cache=cache, price=price, max_cost=max_cost, timeout_s=timeout_s,
                       secrets=secrets)
