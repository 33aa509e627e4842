"""The model spec string: one way to name a model anywhere teachkit asks for one.

    PROVIDER:MODEL[@BASE_URL]

    gemini:gemini-2.5-flash                                 Gemini API, key from GEMINI_API_KEY
    vertex:gemini-2.5-flash                                 Vertex AI, project from gcp.project
    openai:Qwen/Qwen2.5-7B-Instruct@http://localhost:8000/v1   any OpenAI-compatible server
    openai:gpt-4o-mini                                      OpenAI itself, key from OPENAI_API_KEY
    local:smollm2-135m                                      the embedded default model
    local:./runs/student                                    a local checkpoint, or an HF id

`@BASE_URL` is only recognised when what follows the `@` starts with `http://` or `https://`, so model names that
contain `@` (Vertex model versions) stay whole.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

from teachkit.errors import InputError

ProviderName = Literal["gemini", "vertex", "openai", "local"]
PROVIDERS: tuple[str, ...] = get_args(ProviderName)
EXAMPLE = "gemini:gemini-2.5-flash"
_BASE_URL = re.compile(r"@(https?://\S+)$")


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: ProviderName
    model: str
    base_url: str | None = None

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}" + (f"@{self.base_url}" if self.base_url else "")


def parse_spec(text: str | ModelSpec, *, where: str = "model spec") -> ModelSpec:
    """`PROVIDER:MODEL[@BASE_URL]` -> ModelSpec; anything else is an InputError that shows the grammar.

    `where` names the flag or setting the text came from, for the error message.
    """
    if isinstance(text, ModelSpec):
        return text
    raw = text.strip()
    provider, colon, rest = raw.partition(":")
    provider = provider.strip().lower()
    if not colon:
        raise InputError(
            f"{where} {raw!r}: missing provider; write PROVIDER:MODEL, e.g. {EXAMPLE} "
            f"(providers: {', '.join(PROVIDERS)})"
        )
    if provider not in PROVIDERS:
        raise InputError(f"{where} {raw!r}: unknown provider {provider!r}; use one of {', '.join(PROVIDERS)}")
    base_url = None
    match = _BASE_URL.search(rest)
    if match:
        base_url = match.group(1).rstrip("/")
        rest = rest[: match.start()]
    model = rest.strip()
    if not model:
        raise InputError(f"{where} {raw!r}: missing model name after '{provider}:', e.g. {EXAMPLE}")
    if any(ch.isspace() for ch in model):
        raise InputError(f"{where} {raw!r}: the model name must not contain spaces")
    if provider == "local" and base_url:
        raise InputError(f"{where} {raw!r}: a local model takes no @URL; use openai:MODEL@URL for a server")
    return ModelSpec(provider=provider, model=model, base_url=base_url)
