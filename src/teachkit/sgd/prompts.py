"""The prompt a student sees for one system turn: instructions, the task, the service results, the conversation.

The service call and results the system had at that turn go into the system message by default: reference turns
quote names, times and prices from them, and a student that never saw them can only invent. They sit in the system
message rather than beside the last user turn so that cutting the oldest turns to fit a length limit never drops
them. `build_prompt` is the one renderer; compile uses a faster equivalent for whole splits (same output, tested),
and the trainer re-renders a sample with `build_prompt(parts_from_sample(sample), ...)`.

Chat prompts start with a system message. A student whose chat template has no system role (Gemma 2) gets it folded
into the first user turn by the trainer; the text format is one string ending in "Assistant:".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any, Literal

from teachkit.errors import InputError
from teachkit.records import Sample
from teachkit.sgd.reader import ServiceSchema

PromptFormat = Literal["messages", "text"]

INSTRUCTIONS = (
    "You are a virtual assistant that helps a user through the services below. Write only the assistant's next "
    "turn in the conversation, short and natural. Ask for the details the service still needs, offer and report "
    "only what the service results say, confirm the details before you book or buy anything, and never invent "
    "names, times, prices or other facts."
)
NO_RESULTS = "Service results: none yet; no service has been called in this conversation."
ROLE_LABELS = {"user": "User", "assistant": "Assistant"}
CONVERSATION_HEADER = "Conversation:"


@dataclass
class PromptParts:
    """Everything a prompt is made of. `turns` alternate user/assistant, oldest first, ending with the user."""

    task_description: str
    turns: list[dict[str, str]]
    service_call: dict[str, Any] | None = None
    service_results: list[dict[str, Any]] = field(default_factory=list)


def describe_task(
    schema: dict[str, ServiceSchema], services: Sequence[str], service: str, active_intent: str | None
) -> str:
    """The services of the dialogue, and the intent the user is pursuing with the turn's service."""
    listed = "; ".join(
        f"{name} ({schema[name].description})" if name in schema and schema[name].description else name
        for name in services
    )
    lines = [f"Services: {listed}"]
    intent = schema[service].intents.get(active_intent or "") if service in schema else None
    if intent is not None:
        line = f"Current task: {intent.name} with {service}"
        if intent.description:
            line += f" ({intent.description})"
        line += "."
        if intent.required_slots:
            line += f" Required: {', '.join(intent.required_slots)}."
        if intent.optional_slots:
            line += f" Optional: {', '.join(intent.optional_slots)}."
        lines.append(line)
    return "\n".join(lines)


def render_service_results(call: dict[str, Any] | None, results: Sequence[dict[str, Any]]) -> str:
    if call is None:
        return NO_RESULTS
    arguments = ", ".join(
        f"{name}={encode_basestring(str(value))}" for name, value in call.get("parameters", {}).items()
    )
    lines = [f"Last service call: {call.get('method', '?')}({arguments})"]
    if not results:
        lines.append("Service results: none (the call found nothing or failed).")
    else:
        lines.append(f"Service results ({len(results)}):")
        for number, result in enumerate(results, start=1):
            lines.append(f"{number}. " + "; ".join(f"{name}: {value}" for name, value in result.items()))
    return "\n".join(lines)


def system_text(
    task_description: str,
    service_call: dict[str, Any] | None,
    service_results: Sequence[dict[str, Any]],
    *,
    tool_results: bool = True,
) -> str:
    block = render_service_results(service_call, service_results) if tool_results else None
    return compose_system(task_description, block)


def compose_system(task_description: str, service_block: str | None) -> str:
    """The system message: instructions, the task, and the rendered service results (None leaves them out)."""
    parts = [INSTRUCTIONS]
    if task_description:
        parts.append(task_description)
    if service_block is not None:
        parts.append(service_block)
    return "\n\n".join(parts)


def window_start(turns: Sequence[dict[str, str]], max_context_turns: int | None) -> int:
    """Index of the first turn kept: the last `max_context_turns`, moved forward so the window opens on a user."""
    start = 0 if max_context_turns is None else max(0, len(turns) - max_context_turns)
    while start < len(turns) - 1 and turns[start]["role"] != "user":
        start += 1
    return start


def text_line(turn: dict[str, str]) -> str:
    return f"{ROLE_LABELS.get(turn['role'], turn['role'])}: {turn['content']}"


def build_prompt(
    parts: PromptParts,
    *,
    prompt_format: PromptFormat = "messages",
    tool_results: bool = True,
    max_context_turns: int | None = None,
) -> list[dict[str, str]] | str:
    """Chat messages (a system message, then the turns) or one text ending in `Assistant:`."""
    system = system_text(parts.task_description, parts.service_call, parts.service_results, tool_results=tool_results)
    turns = parts.turns[window_start(parts.turns, max_context_turns):]
    if prompt_format == "messages":
        return [{"role": "system", "content": system}, *({"role": t["role"], "content": t["content"]} for t in turns)]
    lines = "\n".join(text_line(turn) for turn in turns)
    return f"{system}\n\n{CONVERSATION_HEADER}\n{lines}\nAssistant:"


def parts_from_sample(sample: Sample) -> PromptParts:
    """A compiled sample taken apart again, so the trainer can re-render it (shorter, or in another format)."""
    if isinstance(sample.prompt, str):
        raise InputError(
            f"sample {sample.id}: its prompt is one text; recompile without --prompt-format text to re-render it"
        )
    turns = [{"role": m.role, "content": m.content} for m in sample.prompt if m.role != "system"]
    return PromptParts(
        task_description=sample.task_description,
        turns=turns,
        service_call=sample.service_call.model_dump() if sample.service_call else None,
        service_results=list(sample.service_results),
    )
