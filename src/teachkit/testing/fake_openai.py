"""A loopback OpenAI-compatible server (`POST /v1/chat/completions`), for the real openai client.

    with FakeOpenAI() as fake:
        fake.push("hello", rate_limited(), hang())
        client = openai.AsyncOpenAI(api_key="k", base_url=fake.url + "/v1")

Scripting works as for FakeGemini: a queued `str` is a reply with that text, a `dict` a JSON body, a `Reply` is
sent as it is; without a script the fake echoes the last user message. `reject_response_format=True` makes it
answer 400 to a `response_format`, like a server without structured output.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from teachkit.testing.scripted_server import RecordedRequest, Reply, ReplyLike, ScriptedServer, word_count

_ids = itertools.count(1)


def request_texts(body: Any) -> tuple[str, str]:
    """(all prompt text, the last user message) of a chat completions body."""
    if not isinstance(body, dict):
        return "", ""
    messages = body.get("messages", [])
    texts = [str(m.get("content", "")) for m in messages]
    users = [str(m.get("content", "")) for m in messages if m.get("role") == "user"]
    return " ".join(texts), users[-1] if users else ""


def text(
    reply: str,
    *,
    model: str = "fake",
    finish_reason: str = "stop",
    prompt_tokens: int = 10,
    completion_tokens: int | None = None,
    reasoning: str | None = None,
) -> dict[str, Any]:
    completion = word_count(reply) if completion_tokens is None else completion_tokens
    message: dict[str, Any] = {"role": "assistant", "content": reply}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    return {
        "id": f"chatcmpl-{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                  "total_tokens": prompt_tokens + completion},
    }


def error(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None) -> Reply:
    return Reply(status, {"error": {"message": message, "type": kind, "code": code, "param": None}})


def rate_limited(retry_after_s: float | None = None) -> Reply:
    reply = error(429, "Rate limit reached for requests", "requests", "rate_limit_exceeded")
    if retry_after_s is not None:
        reply.headers["retry-after"] = str(retry_after_s)
    return reply


def quota_exhausted() -> Reply:
    return error(429, "You exceeded your current quota", "insufficient_quota", "insufficient_quota")


def unavailable() -> Reply:
    return error(503, "The server is overloaded", "server_error")


def hang() -> Reply:
    """Accept the request and never answer (until the server stops)."""
    return Reply(hang=True)


def malformed() -> Reply:
    return Reply(200, "<html>upstream proxy error</html>")


def empty() -> dict[str, Any]:
    body = text("")
    body["choices"][0]["message"]["content"] = None
    return body


def blocked() -> dict[str, Any]:
    body = empty()
    body["choices"][0]["finish_reason"] = "content_filter"
    return body


class FakeOpenAI(ScriptedServer):
    def __init__(self, *, reject_response_format: bool = False, **options: Any):
        super().__init__(**options)
        self.reject_response_format = reject_response_format

    def route(self, method: str, path: str) -> bool:
        return method == "POST" and path.endswith("/chat/completions")

    def precheck(self, request: RecordedRequest) -> Reply | None:
        if self.reject_response_format and isinstance(request.body, dict) and "response_format" in request.body:
            return error(400, "response_format is not supported by this server")
        return None

    def render(self, reply: ReplyLike | None, request: RecordedRequest) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        model = str(body.get("model", "fake"))
        prompt, last_user = request_texts(body)
        if reply is None:
            reply = text(f"echo: {last_user}", model=model, prompt_tokens=word_count(prompt))
        elif isinstance(reply, str):
            reply = text(reply, model=model, prompt_tokens=word_count(prompt))
        if isinstance(reply, dict):
            return Reply(200, reply)
        return reply

    def failure(self, status: int) -> Reply:
        return rate_limited() if status == 429 else unavailable()
