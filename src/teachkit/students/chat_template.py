"""How a student's chat template takes a conversation, and ChatML for a tokenizer that has none.

Templates differ in what they accept, and are probed by rendering, not by model name:
- a system role: Gemma's template raises `System role not supported`, others drop a system message silently; without
  one the system text opens the first user turn;
- strict alternation: Gemma's template raises on two turns of one role in a row; those are merged into one.

A tokenizer without a template (a base model) gets ChatML. Its `<|im_start|>` / `<|im_end|>` are registered as
special tokens (one token each, never split by the tokenizer) and `<|im_end|>` becomes the end-of-sequence token, of
the tokenizer and of the model's generation config, so a trained student learns to stop and generation stops there.
The template is saved with the trained tokenizer, so the student is prompted at eval time exactly as it was trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from teachkit.errors import InputError

IM_START, IM_END = "<|im_start|>", "<|im_end|>"
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
_PROBE = "teachkit-system-probe"


@dataclass(frozen=True)
class ChatRules:
    """What a chat template accepts."""

    system_role: bool
    alternation_required: bool

    @classmethod
    def detect(cls, tokenizer: Any, model_name: str = "the model") -> ChatRules:
        if not getattr(tokenizer, "chat_template", None):
            raise InputError(f"{model_name}: its tokenizer has no chat template; use an instruction-tuned (chat) "
                             "model, or load it through teachkit.students.loading (which adds ChatML)")
        probe = [{"role": "system", "content": _PROBE}, {"role": "user", "content": "hello"}]
        rendered = render_or_none(tokenizer, probe)
        doubled = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
        return cls(system_role=rendered is not None and _PROBE in rendered,
                   alternation_required=render_or_none(tokenizer, doubled) is None)

    def fit(self, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        """The messages in a form the template accepts: every system message folded into the first user turn when
        it has no system role, consecutive turns of one role merged when it requires alternation."""
        messages = [dict(m) for m in messages]
        if not self.system_role:
            system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
            messages = [m for m in messages if m["role"] != "system"]
            if system:
                first_user = next((m for m in messages if m["role"] == "user"), None)
                if first_user is None:
                    messages.insert(0, {"role": "user", "content": system})
                else:
                    first_user["content"] = f"{system}\n\n{first_user['content']}"
        if self.alternation_required:
            merged: list[dict[str, str]] = []
            for message in messages:
                if merged and merged[-1]["role"] == message["role"]:
                    merged[-1]["content"] += "\n\n" + message["content"]
                else:
                    merged.append(message)
            messages = merged
        return messages


def render_or_none(tokenizer: Any, messages: list[dict[str, str]]) -> str | None:
    from jinja2.exceptions import TemplateError

    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except TemplateError:  # what a template's raise_exception(...) raises
        return None


class StudentChat:
    """A tokenizer with a chat template and the rules it follows: conversations in, text or token ids out."""

    def __init__(self, tokenizer: Any, model_name: str = "the model"):
        ensure_chat_template(tokenizer)
        self.tokenizer = tokenizer
        self.rules = ChatRules.detect(tokenizer, model_name)

    def messages(self, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        return self.rules.fit(messages)

    def text(self, messages: list[dict[str, str]], *, generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(self.rules.fit(messages), tokenize=False,
                                                  add_generation_prompt=generation_prompt)

    def ids(self, messages: list[dict[str, str]], *, generation_prompt: bool) -> list[int]:
        encoded = self.tokenizer.apply_chat_template(self.rules.fit(messages), tokenize=True, return_dict=True,
                                                     add_generation_prompt=generation_prompt)
        return list(encoded["input_ids"])


def ensure_chat_template(tokenizer: Any, model: Any = None) -> bool:
    """Give `tokenizer` ChatML if it has no template; True when it was added.

    `<|im_start|>` and `<|im_end|>` become special tokens and `<|im_end|>` the EOS token. With `model`, its
    embeddings grow when tokens were new to the vocabulary, and its generation config stops at `<|im_end|>` too.
    """
    if getattr(tokenizer, "chat_template", None):
        return False
    tokenizer.chat_template = CHATML
    previous_eos = tokenizer.eos_token_id
    tokenizer.add_special_tokens({"additional_special_tokens": [IM_START, IM_END]},
                                 replace_extra_special_tokens=False)
    tokenizer.eos_token = IM_END
    if tokenizer.pad_token is None:
        # Not <|im_end|>: a pad equal to EOS would hide the end of every reply from the loss.
        tokenizer.pad_token = tokenizer.convert_ids_to_tokens(previous_eos) if previous_eos is not None else IM_START
    if model is not None:
        fit_model_to_tokenizer(model, tokenizer)
    return True


def fit_model_to_tokenizer(model: Any, tokenizer: Any) -> None:
    """Embeddings as large as the tokenizer's vocabulary, and generation that stops at the tokenizer's EOS (beside
    the checkpoint's own EOS ids), so a ChatML student stops at `<|im_end|>`."""
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    config = model.generation_config
    if config is None or tokenizer.eos_token_id is None:
        return
    configured = config.eos_token_id
    configured = [configured] if isinstance(configured, int) else list(configured or [])
    config.eos_token_id = [tokenizer.eos_token_id, *[i for i in configured if i != tokenizer.eos_token_id]]
    if config.pad_token_id is None:
        config.pad_token_id = tokenizer.pad_token_id


def end_of_turn_ids(model: Any, tokenizer: Any) -> set[int]:
    """Every token that ends a reply: the generation config's EOS ids (Gemma: `<eos>` and `<end_of_turn>`) and the
    tokenizer's EOS."""
    ids: set[int] = set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(configured)
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids
