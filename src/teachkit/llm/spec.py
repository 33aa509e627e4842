"""The model spec string: one way to name a model anywhere teachkit asks for one.

    PROVIDER:MODEL[@BASE_URL]

    gemini:gemini-2.5-flash                                 Gemini API, key from GEMINI_API_KEY
    vertex:gemini-2.5-flash                                 Vertex AI, project from gcp.project
    vertex:projects/P/locations/L/endpoints/E               a tuned model's endpoint, in its own project P and region L
    openai:Qwen/Qwen2.5-7B-Instruct@http://localhost:8000/v1   any OpenAI-compatible server
    openai:gpt-4o-mini                                      OpenAI itself, key from OPENAI_API_KEY
    local:smollm2-135m                                      the embedded default model
    local:./runs/student                                    a local checkpoint, or an HF id

`@BASE_URL` is only recognised when what follows the `@` starts with `http://` or `https://`, so model names that
contain `@` (Vertex model versions) stay whole.

Every option that names a model reads the same grammar through `parse_for_role`: a spec above, or a bare local
model (a folder, an HF id, `smollm2-135m`: the same as `local:NAME`), or the built-in Crafter policies `scripted` and
`random`, or a Vertex tuning job record (`<data>.tuning-ID.json`). What a role can use:

    role      options                                           local   served   scripted/random   job record
    student   finetune --model, dagger --student, sgd train      yes
              --model, sgd eval --base-model/--trained
    policy    crafter eval --policy/--baseline                   yes     yes      yes               yes
    teacher   crafter rollout/dagger --teacher, ask --model      yes     yes      yes
    judge     --judge-model, ask --role judge --model            yes     yes

A spec the role cannot use is one InputError naming the roles it can serve. For a teacher or judge a bare name must
be unmistakably local (a folder, ORG/NAME or smollm2-135m): `gemini-2.5-flash` alone would otherwise be looked up
on the Hugging Face hub, so it has to say its provider.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

from teachkit.errors import InputError
from teachkit.llm.providers import provider_names

ProviderName = Literal["gemini", "vertex", "openai", "local"]
PROVIDERS: tuple[str, ...] = get_args(ProviderName)  # the built-in ones; plugins add more (`llm/providers.py`)
EXAMPLE = "gemini:gemini-2.5-flash"
# The embedded default model (`checkpoints.ensure_embedded_model` converts it); a bare name, never a hub id.
EMBEDDED_NAME = "smollm2-135m"
EMBEDDED_ALIASES = {EMBEDDED_NAME, "smollm2-135m-instruct"}
_BASE_URL = re.compile(r"@(https?://\S+)$")
_VERTEX_ENDPOINT = re.compile(r"^projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/endpoints/[^/]+$")


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str  # a registered provider: PROVIDERS or a plugin's (`llm.providers.provider_names`)
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
    known = provider_names()
    if not colon:
        raise InputError(
            f"{where} {raw!r}: missing provider; write PROVIDER:MODEL, e.g. {EXAMPLE} "
            f"(providers: {', '.join(known)})"
        )
    if provider not in known:
        raise InputError(f"{where} {raw!r}: unknown provider {provider!r}; use one of {', '.join(known)}")
    base_url = None
    match = _BASE_URL.search(rest)
    if match:
        base_url = match.group(1).rstrip("/")
        rest = rest[: match.start()]
    model = rest.strip()
    if not model:
        raise InputError(f"{where} {raw!r}: missing model name after '{provider}:', e.g. {EXAMPLE}")
    if provider != "local" and any(ch.isspace() for ch in model):  # a local folder may have spaces in its path
        raise InputError(f"{where} {raw!r}: the model name must not contain spaces")
    if provider == "local" and base_url:
        raise InputError(f"{where} {raw!r}: a local model takes no @URL; use openai:MODEL@URL for a server")
    return ModelSpec(provider=provider, model=model, base_url=base_url)


def endpoint_project_location(model: str) -> tuple[str, str] | None:
    """(project, region) of a Vertex AI endpoint resource name `projects/P/locations/L/endpoints/E`; None for a
    model name. An endpoint answers only in its own project and region."""
    match = _VERTEX_ENDPOINT.match(model)
    return (match.group("project"), match.group("location")) if match else None


# --- the roles a model plays -----------------------------------------------------------------------------------------

Role = Literal["student", "policy", "teacher", "judge"]
Kind = Literal["local", "served", "builtin", "job"]
BUILT_IN = ("scripted", "random")
ROLE_KINDS: dict[Role, tuple[Kind, ...]] = {
    "student": ("local",),
    "policy": ("local", "served", "builtin", "job"),
    "teacher": ("local", "served", "builtin"),
    "judge": ("local", "served"),
}
_ROLE_NAMES = {"student": "a local student (trained or run here)", "policy": "a Crafter eval policy",
               "teacher": "a teacher", "judge": "a judge"}
_ROLE_FORMS = {
    "student": "local:NAME, a folder, an HF id or smollm2-135m",
    "policy": "a student folder, local:NAME, an HF id, smollm2-135m, gemini:/vertex:/openai:MODEL, a tuning job "
              "record, scripted or random",
    "teacher": "scripted, random, gemini:/vertex:/openai:MODEL[@URL], or local:NAME (a folder, an HF id, "
               "smollm2-135m)",
    "judge": "gemini:/vertex:/openai:MODEL[@URL], or local:NAME (a folder, an HF id, smollm2-135m)",
}


@dataclass(frozen=True)
class RoleModel:
    """What a model option names, checked against the role it is asked to play."""

    role: Role
    kind: Kind
    text: str  # as given
    spec: ModelSpec | None = None  # for a local or served model

    @property
    def name(self) -> str:
        """What the role's loader takes: a local model's folder, HF id or embedded name (no `local:`), a served
        model's PROVIDER:MODEL[@URL], the built-in's name or the job record's path."""
        if self.spec is None:
            return self.text
        return self.spec.model if self.kind == "local" else str(self.spec)


def parse_for_role(text: str, role: Role, *, where: str = "model") -> RoleModel:
    """`text` read by the one grammar and checked against `role` (student, policy, teacher, judge).

    A spec the role cannot use is an InputError (exit 2) of one line naming the roles it can serve. `where` names
    the flag or setting the text came from.
    """
    raw = text.strip()
    if not raw:
        raise InputError(f"{where}: empty; give {_ROLE_FORMS[role]}")
    kind, spec = _classify(raw, where)
    if kind not in ROLE_KINDS[role]:  # every role takes a local model
        roles = [name for name, kinds in ROLE_KINDS.items() if kind in kinds]
        what = {"served": f"a model served by {spec.provider if spec else ''}", "job": "a Vertex tuning job record",
                "builtin": f"the built-in {raw} policy"}[kind]
        raise InputError(f"{where} {raw!r}: {what} cannot be {_ROLE_NAMES[role]}; it can serve as "
                         f"{_or([f'a {name}' for name in roles])}. Give {_ROLE_FORMS[role]}")
    if (kind == "local" and role in ("teacher", "judge") and not raw.lower().startswith("local:")
            and not _unmistakably_local(raw)):
        builtins = "scripted, random, " if role == "teacher" else ""
        raise InputError(f"{where} {raw!r}: unknown {role}: missing provider (a bare name here is {builtins}a folder, "
                         f"an ORG/NAME id or smollm2-135m); write gemini:{raw}, vertex:{raw}, openai:{raw}@URL or "
                         f"local:{raw}")
    return RoleModel(role, kind, raw, spec)


def local_model_name(text: str, *, where: str = "model") -> str:
    """The folder, HF id or embedded name a student spec names (`local:./runs/x` -> `./runs/x`)."""
    return parse_for_role(text, "student", where=where).name


def model_to_call(text: str, role: Literal["teacher", "judge"], *, where: str) -> ModelSpec:
    """The spec of a model to send requests to, in `role`: a served or local model, never a built-in policy."""
    choice = parse_for_role(text, role, where=where)
    if choice.spec is None:
        raise InputError(f"{where} {choice.text!r}: the built-in {choice.text} policy plays Crafter without a "
                         f"model; give {_ROLE_FORMS['judge']}")
    return choice.spec


def looks_like_path(name: str) -> bool:
    """A name meant as a folder, not an HF id (`org/name` has a slash too, so only explicit paths count)."""
    return name.startswith((".", os.sep, "~")) or (len(name) > 2 and name[1] == ":" and name[2] in "/\\")


def _classify(raw: str, where: str) -> tuple[Kind, ModelSpec | None]:
    if raw in BUILT_IN:
        return "builtin", None
    if raw.endswith(".json") and Path(raw).expanduser().is_file():
        return "job", None
    # A bare name holds no colon; a path may (C:/models/x), and is read as a path.
    if ":" not in raw or looks_like_path(raw) or Path(raw).expanduser().exists():
        return "local", ModelSpec(provider="local", model=raw)
    spec = parse_spec(raw, where=where)
    return ("local" if spec.provider == "local" else "served"), spec


def _unmistakably_local(name: str) -> bool:
    return (name.lower() in EMBEDDED_ALIASES or "/" in name or looks_like_path(name)
            or Path(name).expanduser().is_dir())


def _or(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
