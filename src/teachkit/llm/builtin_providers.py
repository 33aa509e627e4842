"""teachkit's own providers, registered in pyproject.toml under the entry point group `teachkit.providers` like
any plugin's (see `llm/providers.py`). Each checks its keys or project and imports its SDK only when chosen."""

from __future__ import annotations

import importlib.util

from teachkit.errors import ConfigError, MissingDependencyError
from teachkit.llm.providers import ProviderBuild, ProviderContext
from teachkit.llm.spec import endpoint_project_location


def require_sdk(module: str, package: str, purpose: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(package, purpose)


def gemini(context: ProviderContext) -> ProviderBuild:
    """`gemini:MODEL`: the Gemini API, key from GEMINI_API_KEY (or the role's api_key)."""
    require_sdk("google.genai", "google-genai", context.where)
    from teachkit.llm.gemini import GeminiProvider

    settings, defaults = context.settings, context.defaults
    key = context.role_key or (settings.gemini_api_key.get_secret_value() if settings.gemini_api_key else None)
    if not key:
        raise ConfigError(
            f"{context.where}: no Gemini API key; set GEMINI_API_KEY (or {context.role}.api_key in "
            "teachkit.toml), or use vertex:MODEL with gcp.project"
        )
    provider = GeminiProvider(context.model, api_key=key, base_url=context.base_url,
                              timeout_s=defaults.timeout_s, connections=defaults.concurrency)
    return ProviderBuild(provider, secrets=[key], price=context.price, timeout_s=defaults.timeout_s)


def vertex(context: ProviderContext) -> ProviderBuild:
    """`vertex:MODEL` or a tuned model's endpoint: Vertex AI, project from gcp.project (or the endpoint's own)."""
    require_sdk("google.genai", "google-genai", context.where)
    from teachkit.llm.gemini import GeminiProvider

    settings, defaults = context.settings, context.defaults
    # A tuned model's endpoint lives in its own project and region, whatever gcp.project/location say.
    project, location = (endpoint_project_location(context.model)
                         or (settings.gcp.project, settings.gcp.location))
    if not project:
        raise ConfigError(
            f"{context.where}: no Google Cloud project; set GOOGLE_CLOUD_PROJECT or gcp.project "
            "(and run `gcloud auth application-default login`)"
        )
    secrets = []
    credentials = None
    if settings.gcp.access_token is not None:
        from google.oauth2.credentials import Credentials

        secrets.append(settings.gcp.access_token.get_secret_value())
        credentials = Credentials(token=settings.gcp.access_token.get_secret_value())
    provider = GeminiProvider(context.model, vertex_project=project, vertex_location=location,
                              base_url=context.base_url or settings.gcp.vertex_endpoint,
                              credentials=credentials,
                              timeout_s=defaults.timeout_s, connections=defaults.concurrency)
    return ProviderBuild(provider, secrets=secrets, price=context.price, timeout_s=defaults.timeout_s)


def openai(context: ProviderContext) -> ProviderBuild:
    """`openai:MODEL[@URL]`: OpenAI, or any OpenAI-compatible server at URL."""
    require_sdk("openai", "openai", context.where)
    from teachkit.llm.openai_compatible import OpenAICompatibleProvider

    settings, defaults = context.settings, context.defaults
    key = context.role_key or (settings.openai_api_key.get_secret_value() if settings.openai_api_key else None)
    if not key and not context.base_url:
        raise ConfigError(
            f"{context.where}: no OpenAI API key; set OPENAI_API_KEY, or name a server with "
            "openai:MODEL@http://HOST:PORT/v1"
        )
    provider = OpenAICompatibleProvider(context.model, api_key=key, base_url=context.base_url,
                                        timeout_s=defaults.timeout_s)
    return ProviderBuild(provider, secrets=[key] if key else [], price=context.price, timeout_s=defaults.timeout_s)


def local(context: ProviderContext) -> ProviderBuild:
    """`local:NAME`: a transformers model in this process (a folder, an HF id, smollm2-135m)."""
    require_sdk("transformers", "transformers", context.where)
    from teachkit.llm.local import LocalProvider

    provider = LocalProvider(context.model, context.settings, batch_size=context.defaults.concurrency)
    # No price, and no timeout: a local model has no network to wait for; a long batch on a CPU is not a hung server.
    return ProviderBuild(provider)
