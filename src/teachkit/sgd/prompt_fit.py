"""A sample's prompt in the form a student accepts (its chat template's rules), cut to the prompt length limit by
dropping the oldest turns: what `sgd train` trains on and `sgd eval` generates from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from teachkit.errors import InputError
from teachkit.records import Sample
from teachkit.sgd.prompts import CONVERSATION_HEADER, window_start
from teachkit.students.chat_template import ChatRules


@dataclass
class FittedPrompt:
    prompt: list[dict[str, str]] | str
    tokens: int
    turns_dropped: int
    over_limit: bool


def count_prompt_tokens(tokenizer: Any, prompt: list[dict[str, str]] | str) -> int:
    if isinstance(prompt, str):
        return len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def fit_prompt(sample: Sample, tokenizer: Any, chat: ChatRules | None, max_tokens: int) -> FittedPrompt:
    """The sample's prompt in a form the student accepts, cut to `max_tokens` by dropping the oldest turns.

    The system message (instructions, task, service results) and the latest user turn are always kept; the kept
    window opens on a user turn. A prompt still too long with only those is kept whole and flagged `over_limit`.
    """
    if isinstance(sample.prompt, str):
        return fit_text_prompt(sample.prompt, tokenizer, max_tokens)
    if chat is None:
        raise InputError(f"sample {sample.id}: chat messages need a tokenizer with a chat template")
    messages = [{"role": m.role, "content": m.content} for m in sample.prompt]
    system = [m for m in messages[:1] if m["role"] == "system"]
    turns = messages[len(system):]

    def build(start: int) -> list[dict[str, str]]:
        return chat.fit(system + turns[start:])

    full = build(0)
    tokens = count_prompt_tokens(tokenizer, full)
    if tokens <= max_tokens:
        return FittedPrompt(full, tokens, 0, False)
    # Windows that open on a user turn, longest first; take the first that fits (binary search: shorter windows
    # never have more tokens).
    starts = sorted({window_start(turns, keep) for keep in range(len(turns), 0, -1)})
    low, high = 0, len(starts) - 1
    best: tuple[int, int] | None = None
    while low <= high:
        middle = (low + high) // 2
        count = count_prompt_tokens(tokenizer, build(starts[middle]))
        if count <= max_tokens:
            best = (starts[middle], count)
            high = middle - 1
        else:
            low = middle + 1
    if best is None:
        start = starts[-1]
        return FittedPrompt(build(start), count_prompt_tokens(tokenizer, build(start)), start, True)
    return FittedPrompt(build(best[0]), best[1], best[0], False)


def fit_text_prompt(prompt: str, tokenizer: Any, max_tokens: int) -> FittedPrompt:
    """A one-string prompt (`--prompt-format text`) cut by whole conversation lines, oldest first."""
    tokens = count_prompt_tokens(tokenizer, prompt)
    head, header, rest = prompt.partition(CONVERSATION_HEADER + "\n")
    if tokens <= max_tokens or not header:
        return FittedPrompt(prompt, tokens, 0, tokens > max_tokens)
    lines = rest.split("\n")
    # The last line is the "Assistant:" cue and the one before it the latest user turn: both stay.
    dropped = 0
    while len(lines) > 2:
        lines.pop(0)
        dropped += 1
        candidate = head + header + "\n".join(lines)
        tokens = count_prompt_tokens(tokenizer, candidate)
        if tokens <= max_tokens:
            return FittedPrompt(candidate, tokens, dropped, False)
    candidate = head + header + "\n".join(lines)
    return FittedPrompt(candidate, count_prompt_tokens(tokenizer, candidate), dropped, True)
