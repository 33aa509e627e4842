"""Tokens of fine-tuning examples (a real tokenizer, as the student is trained on them, or an estimate) and the
supervised tuning cost estimate: training tokens x epochs x price per million tokens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from teachkit.settings import Settings
from teachkit.sft_data.formats import Example

CHARS_PER_TOKEN = 3
TOKENS_PER_TURN = 4
ESTIMATE_NOTE = (
    f"estimate: ceil(characters / {CHARS_PER_TOKEN}) per turn + {TOKENS_PER_TURN} per turn for the role markers; "
    "give --tokenizer for exact counts"
)


class TokenCounter:
    """Tokens of an example: with a real tokenizer, as the student is trained on it (its chat template, the system
    prompt folded into the first user turn where the template has no system role, ChatML where it has no
    template), else the estimate."""

    def __init__(self, tokenizer: Any = None, name: str | None = None):
        from teachkit.students.chat_template import StudentChat

        self.chat = StudentChat(tokenizer, name or "the tokenizer") if tokenizer is not None else None
        self.method = f"tokenizer {name}" if tokenizer is not None else ESTIMATE_NOTE

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenCounter:
        name = settings.crafter.format.tokenizer
        if not name:
            return cls()
        from teachkit.checkpoints import load_tokenizer

        return cls(load_tokenizer(name, settings), name)

    def count(self, examples: Sequence[Example]) -> list[int]:
        if self.chat is None:
            return [estimate_tokens(example) for example in examples]
        if not examples:
            return []
        texts = [self.chat.text(example.chat(), generation_prompt=False) for example in examples]
        ids = self.chat.tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [len(row) for row in ids]


def estimate_tokens(example: Example) -> int:
    tokens = sum(-(-len(text) // CHARS_PER_TOKEN) for _, text in example.turns) + TOKENS_PER_TURN * len(example.turns)
    if example.system:
        tokens += -(-len(example.system) // CHARS_PER_TOKEN) + TOKENS_PER_TURN
    return tokens


def tuning_price(settings: Settings) -> tuple[int, float]:
    """(epochs, price per million training tokens) every format's cost estimate assumes: supervised tuning as
    `[vertex]` configures it."""
    return settings.vertex.epochs, settings.vertex.price_per_million_training_tokens


def tuning_cost_usd(training_tokens: int, epochs: int, price_per_million: float) -> float:
    """Estimated supervised tuning cost: training tokens x epochs x price per million tokens."""
    return training_tokens * epochs * price_per_million / 1e6
