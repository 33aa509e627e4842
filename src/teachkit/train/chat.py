"""The chat template a student is trained and prompted with.

Training data is chat-shaped (system, user, model turns), so the tokenizer needs a chat template. Instruction-tuned
models ship one; a base model without one gets ChatML, which is saved with the trained tokenizer so that the
student is prompted at eval time exactly as it was trained.
"""

from __future__ import annotations

from typing import Any

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def ensure_chat_template(tokenizer: Any) -> bool:
    """Give `tokenizer` the ChatML template if it has none; True when it was added."""
    if getattr(tokenizer, "chat_template", None):
        return False
    tokenizer.chat_template = CHATML
    return True
