"""A loopback OpenAI-compatible server (`POST /v1/chat/completions`), for the real openai client.

    with FakeOpenAI() as fake:
        fake.push("hello", rate_limited(), hang())
        client = openai.AsyncOpenAI(api_key="k", base_url=fake.url + "/v1")

Scripting works as for FakeGemini: a queued `str` is a reply with that text, a `dict` a JSON body, a `Reply` is
sent as it is; without a script the fake echoes the last user message.

Structured output behaves like vLLM's by default (`structured_output="vllm"`): a malformed `response_format` is a
400, and a text reply is held to the JSON schema it names, as vLLM's grammar holds the model: an enum (a string root)
comes back as the JSON string of the option the text names (`"do"`; the first option when it names none), an object
as the JSON the text holds (or the smallest valid instance) with strings cut at `maxLength` and arrays at
`maxItems`. `structured_output="refuse"` answers every `response_format` with vLLM's 400 for a schema it cannot
compile; `"openai"` answers a schema whose root is not an object with OpenAI's 400, as OpenAI itself does.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any, Literal

from teachkit.llm.structured import extract_json, match_enum
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


def error(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
          param: str | None = None) -> Reply:
    """OpenAI's error body."""
    return Reply(status, {"error": {"message": message, "type": kind, "code": code, "param": param}})


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


def vllm_refusal(message: str, *, kind: str = "BadRequestError", param: str | None = None) -> Reply:
    """vLLM's 400 (an ErrorResponse): `type` names the exception, `code` is the status."""
    return Reply(400, {"error": {"message": message, "type": kind, "param": param, "code": 400}})


def format_problem(response_format: Any) -> Reply | None:
    """vLLM's 400 for a `response_format` its request model does not accept (as vLLM 0.32 words it), or None."""
    problem: tuple[str, str, str] | None = None  # (location, pydantic error type, message)
    if not isinstance(response_format, dict) or response_format.get("type") not in ("text", "json_object",
                                                                                     "json_schema"):
        problem = ("type", "literal_error", "Input should be 'text', 'json_object' or 'json_schema'")
    elif response_format["type"] == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict):
            problem = ("json_schema", "model_type", "Input should be a valid dictionary or object")
        elif not isinstance(spec.get("name"), str):
            problem = ("json_schema.name", "missing", "Field required")
        elif not isinstance(spec.get("schema"), dict):
            problem = ("json_schema.schema", "dict_type", "Input should be a valid dictionary")
    if problem is None:
        return None
    location, kind, message = problem
    where = f"body.response_format.{location}"
    detail = {"type": kind, "loc": where, "msg": message}
    return vllm_refusal(f"1 validation error:\n  {detail}", kind="Bad Request", param=where)


def smallest_instance(schema: dict[str, Any]) -> Any:
    """The least a grammar lets through for `schema`: what a model that meant nothing structured ends up with."""
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: smallest_instance(properties.get(name, {})) for name in schema.get("required", [])}
    if kind == "array":
        return [smallest_instance(schema.get("items", {})) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        return "x" * schema.get("minLength", 0)
    if kind in ("number", "integer"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    return None


def bounded(value: Any, schema: dict[str, Any]) -> Any:
    """`value` with strings cut at `maxLength` and arrays at `maxItems`: a grammar closes them there."""
    if isinstance(value, str) and "maxLength" in schema:
        return value[: schema["maxLength"]]
    if isinstance(value, list):
        items = value[: schema["maxItems"]] if "maxItems" in schema else value
        return [bounded(item, schema.get("items", {})) for item in items]
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return {key: bounded(item, properties.get(key, {})) for key, item in value.items()}
    return value


def held_to(reply: str, schema: dict[str, Any]) -> str:
    """The text a grammar-constrained server sends when the model meant `reply`: JSON valid under `schema`."""
    if schema.get("type") == "string" and schema.get("enum"):
        try:
            option = match_enum(reply, schema["enum"])
        except ValueError:
            option = schema["enum"][0]
        return json.dumps(option)
    try:
        value = extract_json(reply)
    except ValueError:
        value = smallest_instance(schema)
    return json.dumps(bounded(value, schema))


class FakeOpenAI(ScriptedServer):
    def __init__(self, *, structured_output: Literal["vllm", "refuse", "openai"] = "vllm", **options: Any):
        super().__init__(**options)
        self.structured_output = structured_output

    def route(self, method: str, path: str) -> bool:
        return method == "POST" and path.endswith("/chat/completions")

    def precheck(self, request: RecordedRequest) -> Reply | None:
        if not isinstance(request.body, dict) or "response_format" not in request.body:
            return None
        response_format = request.body["response_format"]
        refused = format_problem(response_format)
        if refused is not None:
            return refused
        if self.structured_output == "refuse":
            return vllm_refusal("The provided JSON schema contains features not supported by xgrammar.")
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        if self.structured_output == "openai" and response_format["type"] == "json_schema" and \
                schema.get("type") != "object":
            name = response_format["json_schema"]["name"]
            return error(400, f"Invalid schema for response_format '{name}': schema must be a JSON Schema of "
                              f"'type: \"object\"', got 'type: \"{schema.get('type')}\"'.",
                         param="response_format")
        return None

    def render(self, reply: ReplyLike | None, request: RecordedRequest) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        model = str(body.get("model", "fake"))
        prompt, last_user = request_texts(body)
        if reply is None:
            reply = f"echo: {last_user}"
        if isinstance(reply, str):
            response_format = body.get("response_format") or {}
            if response_format.get("type") == "json_schema":
                reply = held_to(reply, response_format["json_schema"]["schema"])
            reply = text(reply, model=model, prompt_tokens=word_count(prompt))
        if isinstance(reply, dict):
            return Reply(200, reply)
        return reply

    def failure(self, status: int) -> Reply:
        return rate_limited() if status == 429 else unavailable()
