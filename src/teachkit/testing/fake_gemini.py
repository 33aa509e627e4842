"""A loopback fake of the Gemini REST API (`:generateContent`), for the real google-genai client.

It answers `POST .../models/{model}:generateContent` on every path version: the Developer API (`/v1/...`,
`/v1beta/...`) and Vertex AI (`/v1beta1/projects/{p}/locations/{l}/publishers/google/models/{model}:...`).

    with FakeGemini(latency_s=0.01) as fake:
        fake.push("hello", rate_limited(retry_delay_s=0.01), hang())
        client = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=fake.url))

A queued `str` is a model reply with that text; a `dict` is sent as the JSON body (status 200, or the `error.code`
it holds); a `Reply` is sent as it is. Without a script the fake echoes the last user message. Token counts are
word counts, so tests can predict usage and cost.
"""

from __future__ import annotations

import re
from typing import Any

from teachkit.testing.scripted_server import RecordedRequest, Reply, ReplyLike, ScriptedServer, word_count

_GENERATE = re.compile(r"/models/(?P<model>[^/:]+):generateContent$")


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


class FakeGemini(ScriptedServer):
    def route(self, method: str, path: str) -> str | None:
        match = _GENERATE.search(path)
        return match.group("model") if method == "POST" and match else None

    def render(self, reply: ReplyLike | None, request: RecordedRequest) -> Reply:
        if reply is None:
            prompt, last_user = request_texts(request.body)
            reply = text(f"echo: {last_user}", prompt_tokens=word_count(prompt))
        elif isinstance(reply, str):
            prompt, _ = request_texts(request.body)
            reply = text(reply, prompt_tokens=word_count(prompt))
        if isinstance(reply, dict):
            status = reply.get("error", {}).get("code", 200) if isinstance(reply.get("error"), dict) else 200
            return Reply(status, reply)
        return reply

    def failure(self, status: int) -> Reply:
        return rate_limited() if status == 429 else error(status, "injected failure", "UNAVAILABLE")
