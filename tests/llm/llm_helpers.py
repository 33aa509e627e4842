"""Helpers for the provider-layer tests: fast settings (no real backoff waits) and small request builders."""

from __future__ import annotations

import asyncio
from typing import Any

from teachkit.llm import Message, ModelRequest
from teachkit.settings import Settings, load_settings

API_KEY = "AIza-test-SECRET-0123456789"


def fast_settings(tmp_path, role: str = "teacher", **overrides: Any) -> Settings:
    """Settings whose backoff and timeouts are milliseconds, so retry tests do not sleep.

    Overrides are dotted keys, or field names of the role's section."""
    values: dict[str, Any] = {
        "paths.cache_dir": str(tmp_path / "cache"),
        f"{role}.retry_initial_delay_s": 0.001,
        f"{role}.retry_max_delay_s": 0.05,
        f"{role}.timeout_s": 0.5,
    }
    values.update({(k if "." in k else f"{role}.{k}"): v for k, v in overrides.items()})
    return load_settings(None, values)


def ask(text: str, **options: Any) -> ModelRequest:
    return ModelRequest(messages=[Message(role="user", content=text)], **options)


def run(coroutine):
    return asyncio.run(coroutine)


async def batch(client, requests, close: bool = True):
    try:
        return await client.generate_batch(requests)
    finally:
        if close:
            await client.aclose()
