"""The three fine-tuning file shapes: render one example, read one back, and list what is wrong with a line.

- `vertex` (Vertex AI Gemini supervised tuning):
  `{"systemInstruction": {"role": "system", "parts": [{"text": ...}]},
    "contents": [{"role": "user", "parts": [{"text": ...}]}, {"role": "model", "parts": [{"text": ...}]}]}`
- `messages` (chat, TRL SFTTrainer): `{"messages": [{"role": "system"|"user"|"assistant", "content": ...}, ...]}`
- `prompt-completion` (TRL, loss on the completion only):
  `{"prompt": [{"role": ..., "content": ...}, ...], "completion": [{"role": "assistant", "content": ...}]}`;
  the plain-text form (`"prompt": "...", "completion": "..."`) is read and checked too.

All three carry the same `Example`: an optional system prompt and turns that alternate user, model, ..., model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Target = Literal["vertex", "messages", "prompt-completion"]
TARGETS: tuple[str, ...] = ("vertex", "messages", "prompt-completion")
USER, MODEL = "user", "model"
# What each shape calls the model's turn.
MODEL_ROLE = {"vertex": "model", "messages": "assistant", "prompt-completion": "assistant"}


@dataclass
class Example:
    """One fine-tuning example: turns alternate user/model, starting with user and ending with the model turn."""

    system: str | None
    turns: list[tuple[str, str]]

    def chat(self) -> list[dict[str, str]]:
        """As chat messages (system/user/assistant), the form chat templates take."""
        messages = [{"role": "system", "content": self.system}] if self.system else []
        messages.extend({"role": "assistant" if role == MODEL else USER, "content": text} for role, text in self.turns)
        return messages


def render(example: Example, target: str) -> dict[str, Any]:
    """The example as one JSON object of the target shape."""
    if target == "vertex":
        record: dict[str, Any] = {}
        if example.system:
            record["systemInstruction"] = {"role": "system", "parts": [{"text": example.system}]}
        record["contents"] = [{"role": role, "parts": [{"text": text}]} for role, text in example.turns]
        return record
    messages = example.chat()
    if target == "messages":
        return {"messages": messages}
    if target == "prompt-completion":
        return {"prompt": messages[:-1], "completion": messages[-1:]}
    raise ValueError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")


def detect_target(record: dict[str, Any]) -> str | None:
    """Which shape a JSON object has, from its keys; None when it is none of them."""
    if "contents" in record:
        return "vertex"
    if "messages" in record:
        return "messages"
    if "prompt" in record and "completion" in record:
        return "prompt-completion"
    return None


class ExampleError(ValueError):
    """A line that cannot be read as an example of its shape; the message names the field."""


def parse(record: dict[str, Any], target: str) -> Example:
    """Read one line of a target shape back into an Example; raises ExampleError naming the first problem."""
    problems = check(record, target)
    if problems:
        raise ExampleError(problems[0])
    if target == "vertex":
        system = record.get("systemInstruction")
        turns = [(item["role"], part_text(item["parts"])) for item in record["contents"]]
        return Example(system=part_text(system["parts"]) if system else None, turns=turns)
    if target == "messages":
        return example_from_chat(record["messages"])
    prompt, completion = record["prompt"], record["completion"]
    if isinstance(prompt, str):
        return Example(system=None, turns=[(USER, prompt), (MODEL, completion)])
    return example_from_chat([*prompt, *completion])


def part_text(parts: list[dict[str, Any]]) -> str:
    return "".join(part["text"] for part in parts)


def example_from_chat(messages: list[dict[str, Any]]) -> Example:
    system = None
    if messages and messages[0]["role"] == "system":
        system, messages = messages[0]["content"], messages[1:]
    return Example(system=system, turns=[(MODEL if m["role"] == "assistant" else USER, m["content"]) for m in messages])


def check(record: Any, target: str) -> list[str]:
    """Every problem of one parsed line as `field: problem`; empty when the line is a good example."""
    if not isinstance(record, dict):
        return [f"expected a JSON object, found {type(record).__name__}"]
    found = detect_target(record)
    if found != target:
        keys = ", ".join(sorted(record)) or "none"
        what = f"a {found} example" if found else f"no example (keys: {keys})"
        return [f"expected a {target} example, found {what}"]
    if target == "vertex":
        return check_vertex(record)
    if target == "messages":
        return check_chat(record.get("messages"), "messages", last="assistant")
    return check_prompt_completion(record)


def check_vertex(record: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    system = record.get("systemInstruction")
    if system is not None:
        if not isinstance(system, dict):
            problems.append("systemInstruction: expected an object with parts")
        else:
            problems.extend(check_parts(system.get("parts"), "systemInstruction"))
    contents = record.get("contents")
    if not isinstance(contents, list) or not contents:
        return [*problems, "contents: expected a non-empty list of turns"]
    previous = None
    for index, turn in enumerate(contents):
        where = f"contents[{index}]"
        if not isinstance(turn, dict):
            problems.append(f"{where}: expected an object with role and parts")
            continue
        role = turn.get("role")
        if role not in (USER, MODEL):
            hint = " (vertex calls it model)" if role == "assistant" else ""
            problems.append(f"{where}.role: {role!r} is not user or model{hint}")
        elif index == 0 and role != USER:
            problems.append(f"{where}.role: the first turn must be user, not {role}")
        elif role == previous:
            problems.append(f"{where}.role: two {role} turns in a row; turns must alternate user/model")
        previous = role
        problems.extend(check_parts(turn.get("parts"), where))
    last = contents[-1]
    if isinstance(last, dict) and last.get("role") == USER:
        problems.append(f"contents[{len(contents) - 1}].role: the last turn must be model")
    return problems


def check_parts(parts: Any, where: str) -> list[str]:
    if not isinstance(parts, list) or not parts:
        return [f"{where}.parts: expected a non-empty list of {{\"text\": ...}}"]
    problems = []
    for index, part in enumerate(parts):
        text = part.get("text") if isinstance(part, dict) else None
        if not isinstance(text, str):
            problems.append(f"{where}.parts[{index}].text: missing; expected a string")
        elif not text.strip():
            problems.append(f"{where}.parts[{index}].text: empty")
    return problems


def check_chat(messages: Any, where: str, *, last: str) -> list[str]:
    """A chat list: optional system first, then user/assistant alternating from user, ending with `last`."""
    if not isinstance(messages, list) or not messages:
        return [f"{where}: expected a non-empty list of messages"]
    problems = []
    previous = None
    for index, message in enumerate(messages):
        at = f"{where}[{index}]"
        if not isinstance(message, dict):
            problems.append(f"{at}: expected an object with role and content")
            continue
        role, content = message.get("role"), message.get("content")
        if role == "system" and index == 0:
            pass
        elif role not in (USER, "assistant"):
            hint = " (messages call it assistant)" if role == MODEL else ""
            problems.append(f"{at}.role: {role!r} is not user or assistant{hint}")
        elif previous in (None, "system") and role != USER:
            problems.append(f"{at}.role: the first turn must be user, not {role}")
        elif role == previous:
            problems.append(f"{at}.role: two {role} turns in a row; turns must alternate user/assistant")
        previous = role
        if not isinstance(content, str):
            problems.append(f"{at}.content: missing; expected a string")
        elif not content.strip():
            problems.append(f"{at}.content: empty")
    if previous not in (None, "system") and previous != last and isinstance(messages[-1], dict):
        problems.append(f"{where}[{len(messages) - 1}].role: the last message must be {last}")
    if previous == "system":
        problems.append(f"{where}: only a system message; add the user turn")
    return problems


def check_prompt_completion(record: dict[str, Any]) -> list[str]:
    prompt, completion = record.get("prompt"), record.get("completion")
    if isinstance(prompt, str) and isinstance(completion, str):
        problems = []
        if not prompt.strip():
            problems.append("prompt: empty")
        if not completion.strip():
            problems.append("completion: empty")
        return problems
    if isinstance(prompt, str) or isinstance(completion, str):
        return ["prompt, completion: must both be text or both be message lists"]
    problems = check_chat(prompt, "prompt", last=USER)
    if not isinstance(completion, list) or len(completion) != 1:
        problems.append("completion: expected a list of one assistant message")
        return problems
    message = completion[0]
    if not isinstance(message, dict) or message.get("role") != "assistant":
        problems.append("completion[0].role: must be assistant")
    elif not isinstance(message.get("content"), str):
        problems.append("completion[0].content: missing; expected a string")
    elif not message["content"].strip():
        problems.append("completion[0].content: empty")
    return problems
