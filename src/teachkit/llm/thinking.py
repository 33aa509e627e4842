"""How much a Gemini model may think, and how many output tokens that leaves for its answer: decided here only.

Gemini 2.5+ models think before they answer, and the thought tokens count against `maxOutputTokens`: a judge with
512 output tokens and dynamic thinking gets back `finishReason: MAX_TOKENS` and no text. So `max_output_tokens` in
the settings is the room for the visible answer, and the request sends the answer's room plus the thinking room.

    plan = thinking_plan("gemini", "gemini-2.5-pro", "judge", answer_tokens=512, budget=None,
                         include_thoughts=False)
    plan.thinking_budget, plan.max_output_tokens     # 128, 640: Pro cannot turn thinking off

Defaults per role (a setting or a request's own `thinking_budget` always wins):
- judge (judging and rubrics): thinking off (budget 0) where the model allows it, else the model's smallest budget.
- teacher: the model's own default (dynamic thinking on Flash and Pro, none on Flash-Lite); with thoughts asked for
  (`--enable-thinking`) a model that does not think by default gets dynamic thinking (-1), so it has thoughts to show.
Thinking room: the budget itself, or the model's largest budget for dynamic thinking. Output tokens are billed as
used, so a generous cap costs nothing unless the model thinks that much.

Other providers (OpenAI-compatible servers, local models) pass the settings through unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Role = Literal["teacher", "judge"]
GEMINI_PROVIDERS = ("gemini", "vertex")
# The most output tokens a Gemini 2.5+ model returns (65,535 on Vertex AI, 65,536 on the Developer API), and an
# older one (2.0).
GEMINI_OUTPUT_LIMIT = 65535
OLDER_GEMINI_OUTPUT_LIMIT = 8192
# A reply cut by thinking is asked once more with this many times the output tokens.
CUT_RETRY_FACTOR = 4
_VERSION = re.compile(r"gemini-(\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class ThinkingFamily:
    """What a family of models accepts (ai.google.dev/gemini-api/docs/thinking)."""

    name: str
    thinks_by_default: bool
    can_turn_off: bool
    min_budget: int
    max_budget: int


FLASH = ThinkingFamily("flash", thinks_by_default=True, can_turn_off=True, min_budget=1, max_budget=24576)
FLASH_LITE = ThinkingFamily("flash-lite", thinks_by_default=False, can_turn_off=True, min_budget=512,
                            max_budget=24576)
PRO = ThinkingFamily("pro", thinks_by_default=True, can_turn_off=False, min_budget=128, max_budget=32768)
# Gemini 3 thinks at a level rather than a budget and turns thinking fully off on no model; it still takes a budget.
LATER = ThinkingFamily("3+", thinks_by_default=True, can_turn_off=False, min_budget=128, max_budget=32768)


def thinking_family(provider: str, model: str) -> ThinkingFamily | None:
    """The family of a Gemini model that thinks, or None (Gemini 2.0 and older, Gemma, tuned endpoints, other
    providers), read from the model name: `gemini-2.5-flash-lite-preview-06-17` is Flash-Lite."""
    if provider not in GEMINI_PROVIDERS:
        return None
    name = model.lower().rsplit("/", 1)[-1]
    match = _VERSION.search(name)
    if match:
        version = float(match.group(1))
        if version < 2.5:
            return None
        if version >= 3:
            return LATER
    elif not (name.startswith("gemini-") and name.endswith("-latest")):
        return None
    if "flash-lite" in name:
        return FLASH_LITE
    if "flash" in name:
        return FLASH
    if "pro" in name:
        return PRO
    return None


@dataclass(frozen=True)
class ThinkingPlan:
    thinking_budget: int | None  # None: send no budget (the model's default)
    max_output_tokens: int  # the answer's room plus the thinking room
    family: ThinkingFamily | None


def thinking_plan(
    provider: str,
    model: str,
    role: Role,
    *,
    answer_tokens: int,
    budget: int | None,
    include_thoughts: bool,
) -> ThinkingPlan:
    """The thinking budget and output tokens to send; `budget` is the request's or the settings' (None: the role's
    default), `answer_tokens` the room for the visible answer."""
    family = thinking_family(provider, model)
    if family is None:
        return ThinkingPlan(budget, answer_tokens, None)
    if budget is None:
        budget = role_default(family, role, include_thoughts)
    return ThinkingPlan(budget, min(GEMINI_OUTPUT_LIMIT, answer_tokens + thinking_room(family, budget)), family)


def role_default(family: ThinkingFamily, role: Role, include_thoughts: bool) -> int | None:
    if role == "judge":
        return 0 if family.can_turn_off else family.min_budget
    if include_thoughts and not family.thinks_by_default:
        return -1
    return None


def thinking_room(family: ThinkingFamily, budget: int | None) -> int:
    if budget is None:
        return family.max_budget if family.thinks_by_default else 0
    if budget < 0:
        return family.max_budget
    if budget == 0:
        return 0
    return max(budget, family.min_budget)


def cut_retry_tokens(provider: str, model: str, sent: int) -> int | None:
    """The output tokens for the one retry of a reply cut before its answer; None when no more can be given."""
    more = sent * CUT_RETRY_FACTOR
    if provider in GEMINI_PROVIDERS:
        limit = GEMINI_OUTPUT_LIMIT if thinking_family(provider, model) is not None else OLDER_GEMINI_OUTPUT_LIMIT
        more = min(limit, more)
    return more if more > sent else None
