"""A loopback fake of the Gemini REST API (`:generateContent`), for the real google-genai client.

It answers `POST .../models/{model}:generateContent` on every path version: the Developer API (`/v1/...`,
`/v1beta/...`) and Vertex AI (`/v1beta1/projects/{p}/locations/{l}/publishers/google/models/{model}:...`).

    with FakeGemini(latency_s=0.01) as fake:
        fake.push("hello", rate_limited(retry_delay_s=0.01), hang())
        client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=fake.url))

A queued `str` is a model reply with that text; a `dict` is sent as the JSON body (status 200, or the `error.code`
it holds); a `Reply` is sent as it is. Without a script the fake echoes the last user message. Token counts are
word counts, so tests can predict usage and cost.

A `str` reply (and the echo) is answered the way Gemini 2.5 answers, thinking included:
- `gemini-2.5-flash` and `-pro` think before they answer when no `thinkingBudget` is given (or -1): as many tokens as
  `fake.dynamic_thinking` says for the model (else its family's default in `DYNAMIC_THINKING`); with a budget, at most
  that. `gemini-2.5-flash-lite` thinks only when given a budget. Budget 0 turns thinking off, except on a `*pro*`
  model, which answers 400 "Budget 0 is invalid. This model only works in thinking mode.".
- Thought tokens count against `maxOutputTokens`: when thinking reaches it, the reply is `finishReason: MAX_TOKENS`
  with `thoughtsTokenCount` and no text part; the answer is cut at what thinking leaves over.
- `includeThoughts` adds a thought part. Models before 2.5 do not think.

`fake.fail_every_request("api_key" | "unauthenticated" | "permission" | "not_found" | "bad_request")` makes every
request meet the fault Gemini sends for that (its real error bodies); `fail_every_request(None)` mends it.
"""

from __future__ import annotations

import re
from typing import Any

from teachkit.testing.scripted_server import RecordedRequest, Reply, ReplyLike, ScriptedServer, word_count

_GENERATE = re.compile(r"/models/(?P<model>[^/:]+):generateContent$")
_VERSION = re.compile(r"gemini-(\d+(?:\.\d+)?)")
# Tokens a model thinks when left to decide (real ones vary from hundreds to thousands with the prompt).
DYNAMIC_THINKING = {"flash": 600, "flash-lite": 600, "pro": 1200}


def request_texts(body: Any) -> tuple[str, str]:
    """(all prompt text, the last user message) of a generateContent body."""
    if not isinstance(body, dict):
        return "", ""
    texts: list[str] = []
    last_user = ""
    system = body.get("systemInstruction") or body.get("system_instruction") or {}
    texts.extend(part.get("text", "") for part in system.get("parts", []))
    for content in body.get("contents", []):
        text = " ".join(part.get("text", "") for part in content.get("parts", []))
        texts.append(text)
        if content.get("role", "user") == "user":
            last_user = text
    return " ".join(texts), last_user


def text(
    reply: str,
    *,
    thoughts: str | None = None,
    finish_reason: str = "STOP",
    prompt_tokens: int = 10,
    output_tokens: int | None = None,
    thoughts_tokens: int | None = None,
) -> dict[str, Any]:
    """A successful reply body; `thoughts` adds a thought part (what `include_thoughts` returns)."""
    parts: list[dict[str, Any]] = []
    if thoughts is not None:
        parts.append({"text": thoughts, "thought": True})
    parts.append({"text": reply})
    usage = {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": word_count(reply) if output_tokens is None else output_tokens,
    }
    if thoughts is not None or thoughts_tokens is not None:
        usage["thoughtsTokenCount"] = word_count(thoughts or "") if thoughts_tokens is None else thoughts_tokens
    usage["totalTokenCount"] = sum(usage.values())
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish_reason, "index": 0}],
        "usageMetadata": usage,
        "modelVersion": "fake",
    }


def error(status: int, message: str, status_name: str, details: list[dict[str, Any]] | None = None) -> Reply:
    body: dict[str, Any] = {"error": {"code": status, "message": message, "status": status_name}}
    if details:
        body["error"]["details"] = details
    return Reply(status, body)


def api_key_not_valid() -> Reply:
    """What the Developer API answers to a wrong key: a 400, not a 401."""
    message = "API key not valid. Please pass a valid API key."
    return error(400, message, "INVALID_ARGUMENT", [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com",
         "metadata": {"service": "generativelanguage.googleapis.com"}},
        {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": message},
    ])


def unauthenticated() -> Reply:
    """Vertex AI with an expired or wrong access token."""
    return error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
                 "other valid authentication credential. See https://developers.google.com/identity/sign-in/web/"
                 "devconsole-project.", "UNAUTHENTICATED")


def permission_denied() -> Reply:
    return error(403, "The caller does not have permission", "PERMISSION_DENIED")


def model_not_found(model: str) -> Reply:
    return error(404, f"models/{model} is not found for API version v1, or is not supported for generateContent. "
                 "Call ListModels to see the list of available models and their supported methods.", "NOT_FOUND")


def invalid_argument(message: str = "Invalid JSON payload received. Unknown name \"topQ\" at 'generation_config': "
                     "Cannot find field.") -> Reply:
    return error(400, message, "INVALID_ARGUMENT")


FAULTS = {
    "api_key": lambda request: api_key_not_valid(),
    "unauthenticated": lambda request: unauthenticated(),
    "permission": lambda request: permission_denied(),
    "not_found": lambda request: model_not_found(request.model or "?"),
    "bad_request": lambda request: invalid_argument(),
}


def rate_limited(retry_delay_s: float | None = None, *, per_day: bool = False) -> Reply:
    """A 429 as Gemini sends it: a QuotaFailure naming the quota, and a RetryInfo when a retry may pass."""
    quota = "GenerateRequestsPerDayPerProjectPerModel-FreeTier" if per_day else "GenerateRequestsPerMinutePerProjectPerModel"
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                            "quotaId": quota}],
        }
    ]
    if retry_delay_s is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_delay_s}s"})
    return error(429, "You exceeded your current quota, please check your plan and billing details.",
                 "RESOURCE_EXHAUSTED", details)


def unavailable() -> Reply:
    return error(503, "The model is overloaded. Please try again later.", "UNAVAILABLE")


def hang() -> Reply:
    """Accept the request and never answer (until the server stops)."""
    return Reply(hang=True)


def malformed() -> Reply:
    """A 200 whose body is not JSON."""
    return Reply(200, "<html>upstream proxy error</html>")


def empty() -> dict[str, Any]:
    """A candidate with no text at all."""
    return {
        "candidates": [{"content": {"role": "model"}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 10, "totalTokenCount": 10},
    }


def blocked(where: str = "prompt", reason: str = "SAFETY") -> dict[str, Any]:
    """A safety block: of the prompt (no candidates, `promptFeedback`), or of the reply (finishReason SAFETY)."""
    if where == "prompt":
        return {"promptFeedback": {"blockReason": reason}, "usageMetadata": {"promptTokenCount": 10,
                                                                              "totalTokenCount": 10}}
    return {
        "candidates": [{"finishReason": reason, "index": 0,
                        "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH",
                                           "blocked": True}]}],
        "usageMetadata": {"promptTokenCount": 10, "totalTokenCount": 10},
    }


def thinking_family(model: str) -> str | None:
    name = model.lower()
    match = _VERSION.search(name)
    if not match or float(match.group(1)) < 2.5:
        return None
    return next((family for family in ("flash-lite", "flash", "pro") if family in name), None)


def config_value(config: dict[str, Any], camel: str, snake: str) -> Any:
    # google-genai sends generationConfig's own fields in camelCase but thinkingConfig's as it got them (snake_case
    # from a dict or a ThinkingConfig); the real API reads both spellings.
    return config.get(camel, config.get(snake))


class FakeGemini(ScriptedServer):
    def __init__(self, *, dynamic_thinking: dict[str, int] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.dynamic_thinking: dict[str, int] = dict(dynamic_thinking or {})

    def fail_every_request(self, fault: str | None) -> None:
        """Answer every request with one of `FAULTS` (None: answer normally again)."""
        self.fault = FAULTS[fault] if fault is not None else None

    def route(self, method: str, path: str) -> str | None:
        match = _GENERATE.search(path)
        return match.group("model") if method == "POST" and match else None

    def prompt_text(self, request: RecordedRequest) -> str:
        return request_texts(request.body)[1]

    def answer(self, reply: str, request: RecordedRequest) -> dict[str, Any] | Reply:
        """A model's answer `reply`, after the thinking its model and generationConfig call for."""
        prompt, last_user = request_texts(request.body)
        body = request.body if isinstance(request.body, dict) else {}
        config = body.get("generationConfig") or {}
        thinking = config_value(config, "thinkingConfig", "thinking_config") or {}
        budget = config_value(thinking, "thinkingBudget", "thinking_budget")
        include = bool(config_value(thinking, "includeThoughts", "include_thoughts"))
        max_output = config_value(config, "maxOutputTokens", "max_output_tokens")
        family = thinking_family(request.model or "")
        thoughts = 0
        if family is not None:
            if budget == 0 and family == "pro":
                return invalid_argument("Budget 0 is invalid. This model only works in thinking mode.")
            dynamic = self.dynamic_thinking.get(request.model or "", DYNAMIC_THINKING[family])
            if budget is None:
                thoughts = 0 if family == "flash-lite" else dynamic
            elif budget < 0:
                thoughts = dynamic
            else:
                thoughts = min(dynamic, budget)
        if max_output is not None and thoughts >= max_output:
            usage = {"promptTokenCount": word_count(prompt), "thoughtsTokenCount": max_output}
            usage["totalTokenCount"] = sum(usage.values())
            return {"candidates": [{"content": {"role": "model"}, "finishReason": "MAX_TOKENS", "index": 0}],
                    "usageMetadata": usage, "modelVersion": "fake"}
        finish = "STOP"
        if max_output is not None and word_count(reply) > max_output - thoughts:
            reply, finish = " ".join(reply.split()[: max_output - thoughts]), "MAX_TOKENS"
        summary = f"**Thinking it over** I was asked: {last_user[:60]}" if include and thoughts else None
        return text(reply, thoughts=summary, finish_reason=finish, prompt_tokens=word_count(prompt),
                    thoughts_tokens=thoughts or None)

    def render(self, reply: ReplyLike | None, request: RecordedRequest) -> Reply:
        if reply is None:
            reply = self.answer(f"echo: {request_texts(request.body)[1]}", request)
        elif isinstance(reply, str):
            reply = self.answer(reply, request)
        if isinstance(reply, dict):
            status = reply.get("error", {}).get("code", 200) if isinstance(reply.get("error"), dict) else 200
            return Reply(status, reply)
        return reply

    def failure(self, status: int) -> Reply:
        return rate_limited() if status == 429 else error(status, "injected failure", "UNAVAILABLE")
