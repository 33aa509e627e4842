"""Fixtures for the provider-layer tests: clients on the loopback fakes with fast settings."""

from __future__ import annotations

import pytest

from teachkit.llm import open_client
from tests.llm.llm_helpers import API_KEY, fast_settings


@pytest.fixture
def gemini_key(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
    return API_KEY


@pytest.fixture
def gemini_client(fake_gemini, gemini_key, tmp_path):
    """A factory: open_client on the fake Gemini with fast settings (and any overrides)."""

    def make(role: str = "teacher", use_cache: bool | None = False, max_cost: float | None = None, **overrides):
        settings = fast_settings(tmp_path, role, **overrides)
        return open_client(f"gemini:gemini-2.5-flash@{fake_gemini.url}", settings, role=role,
                           use_cache=use_cache, max_cost=max_cost)

    return make
