"""Gemini through google-genai: the Developer API with an API key, or Vertex AI with a project.

The SDK's own retries are off (`HttpRetryOptions(attempts=1)`): the client retries, counts the retries, honours a
429's `retryDelay` (the SDK does not) and never retries a per-day quota.
"""

from __future__ import annotations

import asyncio
import re
import sys
from typing import Any

from teachkit.errors import ConfigError
from teachkit.llm.base import ModelRequest, ModelResult, ProviderError
from teachkit.llm.cache import endpoint_for_key
from teachkit.llm.structured import parse_reply
from teachkit.records import TokenUsage

BLOCK_REASONS = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY", "OTHER"}
_DURATION = re.compile(r"^([0-9.]+)s$")


class GeminiProvider:
    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        vertex_project: str | None = None,
        vertex_location: str = "us-central1",
        base_url: str | None = None,
        timeout_s: float | None = None,
        credentials: Any = None,
        connections: int = 8,
    ):
        self.name = "vertex" if vertex_project else "gemini"
        self.model = model
        self.base_url = base_url
        self._api_key = api_key
        self._project = vertex_project
        self._location = vertex_location
        self._timeout_ms = int(timeout_s * 1000) if timeout_s else None
        self._credentials = credentials
        self._connections = connections
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        if vertex_project and credentials is None:
            self._credentials = application_default_credentials(model)
        # Imported now, not on the first request: it takes half a second that would stall the event loop.
        from google import genai  # noqa: F401

    @property
    def cache_variant(self) -> str | None:
        return endpoint_for_key(self.base_url)

    def _sdk(self) -> Any:
        """The genai client of the running event loop (its HTTP connections belong to one loop)."""
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is loop:
            return self._client
        from google import genai
        from google.genai import types

        http_options = types.HttpOptions(
            base_url=self.base_url, timeout=self._timeout_ms, retry_options=types.HttpRetryOptions(attempts=1),
            async_client_args={"limits": connection_limits(self._connections)},
        )
        if self._project:
            self._client = genai.Client(vertexai=True, project=self._project, location=self._location,
                                        credentials=self._credentials, http_options=http_options)
        else:
            self._client = genai.Client(api_key=self._api_key, http_options=http_options)
        self._loop = loop
        return self._client

    # Plain dicts, not `types` objects: the SDK validates either, and dicts save half a millisecond of CPU a
    # request, which is a sixth of its cost and matters at hundreds of requests per second.
    @staticmethod
    def _config(request: ModelRequest) -> dict[str, Any]:
        config: dict[str, Any] = {}
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        if system:
            config["system_instruction"] = system
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if request.max_output_tokens is not None:
            config["max_output_tokens"] = request.max_output_tokens
        if request.stop:
            config["stop_sequences"] = list(request.stop)
        if request.enum:
            config["response_mime_type"] = "text/x.enum"
            config["response_schema"] = {"type": "STRING", "enum": list(request.enum)}
        elif request.json_schema is not None:
            # response_json_schema takes any JSON schema; response_schema only the OpenAPI subset.
            config["response_mime_type"] = "application/json"
            config["response_json_schema"] = request.json_schema
        if request.thinking_budget is not None or request.include_thoughts:
            thinking: dict[str, Any] = {}
            if request.thinking_budget is not None:
                thinking["thinking_budget"] = request.thinking_budget
            if request.include_thoughts:
                thinking["include_thoughts"] = True
            config["thinking_config"] = thinking
        return config

    @staticmethod
    def _contents(request: ModelRequest) -> list[dict[str, Any]]:
        return [
            {"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.content}]}
            for m in request.messages
            if m.role != "system"
        ]

    async def generate(self, request: ModelRequest) -> ModelResult:
        client = self._sdk()
        try:
            response = await client.aio.models.generate_content(
                model=self.model, contents=self._contents(request), config=self._config(request)
            )
        except Exception as error:  # noqa: BLE001 - translated, never swallowed: see provider_error
            raise provider_error(error, self.name, self.model) from error
        return read_response(response, request, self.name, self.model)

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aio.aclose()
            client.close()


def connection_limits(connections: int) -> Any:
    """Keep-alive for as many connections as requests in flight: httpx keeps 20 by default, and above that
    every reply closes a connection that the next request opens again. The Limits object also tells
    google-genai which of httpx2/httpx to use (httpx2 first, as it prefers)."""
    try:
        import httpx2 as httpx_module
    except ImportError:
        import httpx as httpx_module
    return httpx_module.Limits(max_connections=max(100, connections), max_keepalive_connections=connections)


def application_default_credentials(model: str) -> Any:
    """Vertex AI's credentials, checked before any work starts."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    except DefaultCredentialsError:
        raise ConfigError(
            f"vertex:{model}: no Google Cloud credentials; run `gcloud auth application-default login` "
            "or set GOOGLE_APPLICATION_CREDENTIALS"
        ) from None
    return credentials


def read_response(response: Any, request: ModelRequest, provider: str, model: str) -> ModelResult:
    """A GenerateContentResponse as a result; a blocked or empty reply is a result with an error."""
    meta = response.usage_metadata
    usage = TokenUsage(
        prompt=(meta.prompt_token_count or 0) if meta else 0,
        output=(meta.candidates_token_count or 0) if meta else 0,
        thoughts=(meta.thoughts_token_count or 0) if meta else 0,
    )
    result = ModelResult(provider=provider, model=model, usage=usage)
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        reason = enum_name(feedback.block_reason)
        result.error, result.error_kind = f"the prompt was blocked ({reason}); rephrase it or change safety settings", "blocked"
        return result
    if not response.candidates:
        result.error, result.error_kind = "the reply had no candidates", "empty"
        return result
    candidate = response.candidates[0]
    result.finish_reason = enum_name(candidate.finish_reason) if candidate.finish_reason else None
    parts = (candidate.content.parts if candidate.content else None) or []
    result.text = "".join(part.text or "" for part in parts if not part.thought)
    thoughts = "".join(part.text or "" for part in parts if part.thought)
    result.thoughts = thoughts or None
    if not result.text:
        if result.finish_reason in BLOCK_REASONS:
            result.error, result.error_kind = f"the reply was blocked ({result.finish_reason})", "blocked"
        elif result.finish_reason == "MAX_TOKENS":
            # The client asks once more with more room, and names the settings to change if that is cut too.
            result.error = (
                f"the reply was cut at max_output_tokens={request.max_output_tokens} before any text "
                f"(thinking used {usage.thoughts} tokens): raise max_output_tokens or lower thinking_budget"
            )
            result.error_kind = "max_tokens"
        else:
            result.error, result.error_kind = f"the reply had no text (finish reason {result.finish_reason})", "empty"
        return result
    result.parsed, problem = parse_reply(result.text, request)
    if problem:
        # Structured output cut mid-way is unreadable for want of room, not for what the model wrote.
        cut = result.finish_reason == "MAX_TOKENS"
        result.error, result.error_kind = problem, "max_tokens" if cut else "malformed"
    return result


def enum_name(value: Any) -> str:
    return str(getattr(value, "value", value))


def retry_delay(details: Any) -> float | None:
    for detail in error_details(details):
        if detail.get("@type", "").endswith("RetryInfo"):
            match = _DURATION.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def quota_ids(details: Any) -> list[str]:
    ids = []
    for detail in error_details(details):
        if detail.get("@type", "").endswith("QuotaFailure"):
            ids.extend(v.get("quotaId", "") for v in detail.get("violations", []) if isinstance(v, dict))
    return ids


def error_reasons(details: Any) -> list[str]:
    return [str(d.get("reason", "")) for d in error_details(details) if d.get("@type", "").endswith("ErrorInfo")]


def error_details(details: Any) -> list[dict[str, Any]]:
    if isinstance(details, dict):
        details = details.get("error", details).get("details", [])
    return [d for d in details or [] if isinstance(d, dict)]


def provider_error(error: Exception, provider: str, model: str) -> ProviderError:
    """An SDK or transport exception as a ProviderError that says what to do. Unknown exceptions re-raise:
    they are bugs to see, not failures to count."""
    from google.genai import errors as genai_errors

    where = f"{provider}:{model}"
    if isinstance(error, genai_errors.APIError):
        code, message = error.code, (error.message or "").strip()
        if code == 429:
            per_day = [q for q in quota_ids(error.details) if "PerDay" in q]
            if per_day:
                return ProviderError(
                    f"{where}: 429 per-day quota exhausted ({per_day[0]}); wait for the daily reset, use another "
                    "model, or raise the quota in Google Cloud", retryable=False, status=429, kind="quota")
            return ProviderError(f"{where}: 429 rate limited: {message}", retryable=True, status=429,
                                 kind="rate_limit", retry_after_s=retry_delay(error.details))
        if code == 408:
            return ProviderError(f"{where}: 408 request timeout", retryable=True, status=code, kind="timeout")
        if code >= 500:
            return ProviderError(f"{where}: {code} {error.status}: {message}", retryable=True, status=code,
                                 kind="server")
        if code == 400 and ("api key" in message.lower() or "API_KEY_INVALID" in error_reasons(error.details)):
            return ProviderError(f"{where}: 400 the API key was rejected ({message}); check GEMINI_API_KEY",
                                 retryable=False, status=code, kind="auth")
        if code == 400 and "thinking" in message.lower():
            return ProviderError(
                f"{where}: 400 {message}; set thinking_budget in [teacher]/[judge] within the model's range, or "
                "leave it unset for the role's default (docs/providers.md)", retryable=False, status=code,
                kind="bad_request")
        if code in (401, 403):
            hint = ("check the API key, and that the Generative Language API is enabled for its project"
                    if provider == "gemini" else
                    "check `gcloud auth application-default login`, the project, and the Vertex AI User role")
            return ProviderError(f"{where}: {code} permission denied ({message}); {hint}", retryable=False,
                                 status=code, kind="auth")
        if code == 404:
            return ProviderError(
                f"{where}: 404 model or endpoint not found ({message}); check the model name"
                + (" and gcp.location" if provider == "vertex" else ""), retryable=False, status=code,
                kind="not_found")
        return ProviderError(f"{where}: {code} {error.status}: {message}; check the request options",
                             retryable=False, status=code, kind="bad_request")
    transport = transport_error(error, where)
    if transport is not None:
        return transport
    if isinstance(error, ValueError):
        # The SDK parses the body itself: a 200 that is not JSON (a proxy's error page) ends here.
        return ProviderError(f"{where}: the reply was not valid JSON ({error})", retryable=True, kind="malformed")
    raise error


def transport_error(error: Exception, where: str) -> ProviderError | None:
    """Timeouts and connection failures of whichever HTTP client the SDK uses: httpx2 or httpx, and for
    google-genai's async calls aiohttp when it is installed (the SDK's faster path)."""
    if isinstance(error, TimeoutError):  # asyncio's and aiohttp's timeouts are TimeoutError
        return ProviderError(f"{where}: no reply in time ({type(error).__name__})", retryable=True, kind="timeout")
    for module_name in ("httpx2", "httpx"):
        module = sys.modules.get(module_name)
        if module is None:
            continue
        if isinstance(error, module.TimeoutException):
            return ProviderError(f"{where}: no reply in time ({type(error).__name__})", retryable=True,
                                 kind="timeout")
        if isinstance(error, module.TransportError):
            return ProviderError(f"{where}: connection failed ({type(error).__name__}: {error})", retryable=True,
                                 kind="connection")
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is not None and isinstance(error, aiohttp.ClientError):
        return ProviderError(f"{where}: connection failed ({type(error).__name__}: {error})", retryable=True,
                             kind="connection")
    return None
