"""Reading structured output from reply text, tolerant of what models wrap around it.

A server that enforces the schema returns bare JSON; one that does not (an older vLLM, a local model) returns
JSON inside a code fence or after a sentence. Both read the same here.
"""

from __future__ import annotations

import json
import re
from typing import Any

from teachkit.llm.base import ModelRequest

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


def extract_json(text: str) -> Any:
    """The first JSON value in `text`: bare, fenced, or embedded; raises ValueError when there is none."""
    stripped = text.strip()
    candidates = [stripped]
    candidates.extend(match.group(1).strip() for match in _FENCE.finditer(text))
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            pass
    decoder = json.JSONDecoder()
    for index, char in enumerate(text):
        if char in "{[":
            try:
                value, _ = decoder.raw_decode(text, index)
            except json.JSONDecodeError:
                continue
            return value
    raise ValueError("no JSON value in the reply")


def match_enum(text: str, options: list[str]) -> str:
    """The option the reply names: exactly, ignoring case and quotes, or the one option it contains."""
    cleaned = text.strip().strip("`'\". \n").strip()
    for option in options:
        if cleaned == option:
            return option
    lowered = cleaned.lower()
    for option in options:
        if lowered == option.lower():
            return option
    # Longest first so that "not_relevant" wins over "relevant" when both would match.
    found = [o for o in sorted(options, key=len, reverse=True) if re.search(rf"\b{re.escape(o.lower())}\b", lowered)]
    if found:
        return found[0]
    raise ValueError(f"the reply is none of {options}")


def parse_reply(text: str, request: ModelRequest) -> tuple[Any, str | None]:
    """(the reply as the request's structured type, None) or (None, why it could not be read).

    Providers keep the text in a result whose error says why: a judge can still log what the model wrote.
    """
    try:
        if request.enum:
            return match_enum(text, request.enum), None
        if request.json_schema is not None:
            return extract_json(text), None
    except ValueError as error:
        shown = text.strip().replace("\n", " ")
        shown = shown[:80] + ("..." if len(shown) > 80 else "")
        return None, f"could not read structured output ({error}): {shown!r}"
    return None, None
