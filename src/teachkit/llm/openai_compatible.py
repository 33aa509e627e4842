"""Any OpenAI-compatible chat server through the openai SDK: vLLM, Ollama, llama.cpp server, OpenAI itself.

Structured output is asked for with `response_format`: a JSON schema as it is, an enum as a JSON schema whose root is
a string with that enum (vLLM, llama.cpp and Ollama hold the reply to it by grammar; the reply is then a JSON string,
`"do"`, read back to the bare option). A server that refuses one of the two with a 400 is asked again without it, and
the refusal is remembered for that kind of structure once the plain request goes through. Replies are read
tolerantly in any case (fenced or embedded JSON, a named option).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from teachkit.llm.base import ModelRequest, ModelResult, ProviderError
from teachkit.llm.cache import endpoint_for_key
from teachkit.llm.gemini import transport_error
from teachkit.llm.structured import parse_reply
from teachkit.records import TokenUsage

# A key for servers that need none: the SDK refuses an empty one.
NO_KEY = "not-needed"


class OpenAICompatibleProvider:
    name = "openai"

    def __init__(self, model: str, *, api_key: str | None = None, base_url: str | None = None,
                 timeout_s: float | None = None):
        self.model = model
        self.base_url = base_url
        self._api_key = api_key or NO_KEY
        self._timeout_s = timeout_s
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # The kinds of structure ("enum", "json_schema") this server refused: OpenAI itself takes object schemas
        # but refuses a string root, so one refusal must not cost the other.
        self.refused_structures: set[str] = set()
        # Imported now, not on the first request: it takes half a second that would stall the event loop.
        import openai  # noqa: F401

    @property
    def cache_variant(self) -> str | None:
        return endpoint_for_key(self.base_url)

    def _sdk(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is loop:
            return self._client
        import openai

        self._client = openai.AsyncOpenAI(api_key=self._api_key, base_url=self.base_url,
                                          timeout=self._timeout_s, max_retries=0)
        self._loop = loop
        return self._client

    def _structure(self, request: ModelRequest) -> tuple[str, dict[str, Any]] | None:
        """(kind, response_format) for a request that asks for structure and a server that has not refused it."""
        if request.enum:
            kind, response_format = "enum", {
                "type": "json_schema",
                "json_schema": {"name": "choice", "schema": {"type": "string", "enum": list(request.enum)},
                                "strict": True},
            }
        elif request.json_schema is not None:
            kind, response_format = "json_schema", {
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": request.json_schema},
            }
        else:
            return None
        return None if kind in self.refused_structures else (kind, response_format)

    def _arguments(self, request: ModelRequest, structure: tuple[str, dict[str, Any]] | None) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
        if request.temperature is not None:
            arguments["temperature"] = request.temperature
        if request.max_output_tokens is not None:
            # OpenAI's own reasoning models refuse max_tokens; compatible servers know max_tokens best.
            arguments["max_tokens" if self.base_url else "max_completion_tokens"] = request.max_output_tokens
        if request.stop:
            arguments["stop"] = request.stop
        if structure is not None:
            arguments["response_format"] = structure[1]
        return arguments

    async def generate(self, request: ModelRequest) -> ModelResult:
        return await self._complete(request, self._structure(request))

    async def _complete(self, request: ModelRequest, structure: tuple[str, dict[str, Any]] | None) -> ModelResult:
        client = self._sdk()
        arguments = self._arguments(request, structure)
        try:
            completion = await client.chat.completions.create(**arguments)
        except Exception as error:  # noqa: BLE001 - translated, never swallowed: see provider_error
            translated = provider_error(error, self.model)
            if structure is not None and translated.kind == "bad_request":
                # Perhaps the server does not do this structure: ask once more without, and read the reply
                # tolerantly. Remembered only when the plain request is accepted; if it is refused too, the 400 was
                # about something else (a prompt over the context length) and that error is the one to report.
                result = await self._complete(request, None)
                self.refused_structures.add(structure[0])
                return result
            raise translated from error
        if isinstance(completion, str):
            # The SDK hands back the raw body when the server did not answer JSON (a proxy's error page).
            raise ProviderError(f"openai:{self.model}: the reply was not a chat completion: {completion[:80]!r}",
                                retryable=True, kind="malformed")
        return read_completion(completion, request, self.model)

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()


def read_completion(completion: Any, request: ModelRequest, model: str) -> ModelResult:
    usage = TokenUsage()
    if completion.usage is not None:
        details = getattr(completion.usage, "completion_tokens_details", None)
        reasoning = (getattr(details, "reasoning_tokens", None) or 0) if details else 0
        completion_tokens = completion.usage.completion_tokens or 0
        usage = TokenUsage(prompt=completion.usage.prompt_tokens or 0,
                           output=max(0, completion_tokens - reasoning), thoughts=reasoning)
    result = ModelResult(provider="openai", model=model, usage=usage)
    if not completion.choices:
        result.error, result.error_kind = "the reply had no choices", "empty"
        return result
    choice = completion.choices[0]
    result.finish_reason = choice.finish_reason
    message = choice.message
    result.text = (message.content or "") if message else ""
    # vLLM and DeepSeek-style servers return the reasoning beside the content.
    extra = (message.model_extra or {}) if message else {}
    result.thoughts = extra.get("reasoning_content") or extra.get("reasoning") or None
    if not result.text:
        if choice.finish_reason == "content_filter":
            result.error, result.error_kind = "the reply was blocked by the server's content filter", "blocked"
        else:
            result.error, result.error_kind = f"the reply had no text (finish reason {choice.finish_reason})", "empty"
        return result
    if request.enum:
        result.text = unquote_choice(result.text)
    result.parsed, problem = parse_reply(result.text, request)
    if problem:
        result.error, result.error_kind = problem, "malformed"
    return result


def unquote_choice(text: str) -> str:
    """The bare option of an enum reply held to a string schema: the server sends the JSON string `"do"`."""
    stripped = text.strip()
    if stripped.startswith('"'):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError:
            return text
        if isinstance(value, str):
            return value
    return text


def retry_after(error: Any) -> float | None:
    response = getattr(error, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def provider_error(error: Exception, model: str) -> ProviderError:
    """An openai SDK exception as a ProviderError; unknown exceptions re-raise (bugs to see, not to count)."""
    import openai

    where = f"openai:{model}"
    if isinstance(error, openai.APITimeoutError):
        return ProviderError(f"{where}: no reply in time", retryable=True, kind="timeout")
    if isinstance(error, openai.APIConnectionError):
        return ProviderError(f"{where}: connection failed ({error.message}); is the server running?",
                             retryable=True, kind="connection")
    if isinstance(error, openai.APIStatusError):
        code = error.status_code
        body = error.body if isinstance(error.body, dict) else {}
        message = str(body.get("message") or error.message)
        if code == 429:
            if body.get("code") == "insufficient_quota" or body.get("type") == "insufficient_quota":
                return ProviderError(f"{where}: 429 quota exhausted ({message}); check the plan and billing",
                                     retryable=False, status=code, kind="quota")
            return ProviderError(f"{where}: 429 rate limited: {message}", retryable=True, status=code,
                                 kind="rate_limit", retry_after_s=retry_after(error))
        if code == 408:
            return ProviderError(f"{where}: 408 request timeout", retryable=True, status=code, kind="timeout")
        if code >= 500:
            return ProviderError(f"{where}: {code}: {message}", retryable=True, status=code, kind="server")
        if code in (401, 403):
            return ProviderError(f"{where}: {code} not authorised ({message}); check OPENAI_API_KEY or the "
                                 "server's key", retryable=False, status=code, kind="auth")
        if code == 404:
            return ProviderError(f"{where}: 404 not found ({message}); check the model name the server serves "
                                 "and that the URL ends in /v1", retryable=False, status=code, kind="not_found")
        return ProviderError(f"{where}: {code}: {message}; check the request options", retryable=False,
                             status=code, kind="bad_request")
    transport = transport_error(error, where)
    if transport is not None:
        return transport
    if isinstance(error, ValueError):
        return ProviderError(f"{where}: the reply was not valid JSON ({error})", retryable=True, kind="malformed")
    raise error
