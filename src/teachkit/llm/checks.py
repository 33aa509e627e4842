"""Checks a person runs by hand: `teachkit ask` (one prompt, one reply) and `teachkit doctor --live`."""

from __future__ import annotations

import asyncio
from typing import Any

from teachkit.errors import InputError, ProviderFault
from teachkit.llm.base import Message, ModelRequest, ModelResult
from teachkit.llm.client import Role, open_client
from teachkit.settings import Settings

LIVE_PROMPT = "Reply with the single word: ready"


def ask(
    prompt: str,
    settings: Settings,
    *,
    spec: str | None = None,
    role: Role = "teacher",
    system: str | None = None,
    temperature: float | None = None,
    max_output_tokens: int | None = None,
    thinking_budget: int | None = None,
    include_thoughts: bool = False,
    use_cache: bool | None = None,
) -> tuple[ModelResult, dict[str, Any]]:
    """Send one prompt; returns the result and the ledger summary. A failed request is in `result.error`; a fault no
    retry mends (a rejected key, a wrong model name) raises `ProviderFault`."""
    messages = ([Message(role="system", content=system)] if system else []) + [Message(role="user", content=prompt)]
    request = ModelRequest(messages=messages, temperature=temperature, max_output_tokens=max_output_tokens,
                           thinking_budget=thinking_budget, include_thoughts=include_thoughts)
    client = open_client(spec, settings, role=role, use_cache=use_cache)

    async def run() -> ModelResult:
        async with client:
            return await client.generate(request)

    result = asyncio.run(run())
    return result, client.ledger.summary()


def live_checks(settings: Settings) -> list[dict[str, Any]]:
    """One tiny uncached request to the configured teacher and judge: latency and tokens, or the error."""
    rows = []
    for role in ("teacher", "judge"):
        model = getattr(settings, role)
        spec = f"{model.provider}:{model.model}" + (f"@{model.base_url}" if model.base_url else "")
        if role == "judge" and settings.judge.kind == "acts":
            rows.append({"role": role, "model": spec, "ok": True, "latency_s": None, "tokens": None,
                         "reply": None, "error": "skipped: judge.kind is acts (offline, no model)"})
            continue
        try:
            result, _ = ask(LIVE_PROMPT, settings, role=role, use_cache=False)  # type: ignore[arg-type]
        except (InputError, ProviderFault) as error:
            rows.append({"role": role, "model": spec, "ok": False, "latency_s": None, "tokens": None,
                         "reply": None, "error": str(error)})
            continue
        rows.append({
            "role": role,
            "model": spec,
            "ok": result.ok,
            "latency_s": round(result.latency_s, 3),
            "tokens": result.usage.total,
            "reply": result.text.strip()[:60] or None,
            "error": result.error,
        })
    return rows
