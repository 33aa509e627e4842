"""The one place that decides thinking budgets and output tokens, per provider, model family and role."""

import pytest

from teachkit.llm.thinking import cut_retry_tokens, thinking_family, thinking_plan


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("gemini-2.5-flash", "flash"),
        ("gemini-2.5-flash-preview-09-2025", "flash"),
        ("gemini-2.5-flash-lite", "flash-lite"),
        ("gemini-flash-lite-latest", "flash-lite"),
        ("gemini-2.5-pro", "pro"),
        ("publishers/google/models/gemini-2.5-pro", "pro"),
        ("gemini-3-pro-preview", "3+"),
        ("gemini-2.0-flash", None),
        ("gemini-1.5-pro", None),
        ("gemma-3-27b-it", None),
        ("projects/p/locations/us-central1/endpoints/123", None),
    ],
)
def test_the_family_is_read_from_the_model_name(model, family):
    found = thinking_family("gemini", model)
    assert (found.name if found else None) == family


@pytest.mark.parametrize(
    ("model", "role", "budget", "thoughts", "expected"),
    [
        # Judging and rubrics: thinking off where it can be, Pro's smallest budget where it cannot.
        ("gemini-2.5-flash", "judge", None, False, (0, 512)),
        ("gemini-2.5-flash-lite", "judge", None, False, (0, 512)),
        ("gemini-2.5-pro", "judge", None, False, (128, 512 + 128)),
        ("gemini-3-pro-preview", "judge", None, False, (128, 512 + 128)),
        # A teacher keeps the model's own default, with room for the most the model may think.
        ("gemini-2.5-flash", "teacher", None, False, (None, 512 + 24576)),
        ("gemini-2.5-pro", "teacher", None, False, (None, 512 + 32768)),
        ("gemini-2.5-flash-lite", "teacher", None, False, (None, 512)),
        # Thoughts asked of a model that does not think by default: dynamic thinking.
        ("gemini-2.5-flash-lite", "teacher", None, True, (-1, 512 + 24576)),
        ("gemini-2.5-flash", "teacher", None, True, (None, 512 + 24576)),
        # A budget set by hand wins, with its room on top; below the model's minimum the model uses its minimum.
        ("gemini-2.5-flash", "judge", 256, False, (256, 512 + 256)),
        ("gemini-2.5-flash-lite", "judge", 100, False, (100, 512 + 512)),
        ("gemini-2.5-flash", "teacher", -1, False, (-1, 512 + 24576)),
        ("gemini-2.5-pro", "judge", 0, False, (0, 512)),  # refused by the model with a 400 that names the fix
        # Models that do not think are sent what the settings say.
        ("gemini-2.0-flash", "judge", None, False, (None, 512)),
    ],
)
def test_thinking_plan_per_role_and_family(model, role, budget, thoughts, expected):
    plan = thinking_plan("gemini", model, role, answer_tokens=512, budget=budget, include_thoughts=thoughts)
    assert (plan.thinking_budget, plan.max_output_tokens) == expected


def test_other_providers_get_the_settings_unchanged():
    plan = thinking_plan("openai", "gemini-2.5-flash", "judge", answer_tokens=300, budget=None,
                         include_thoughts=False)
    assert (plan.thinking_budget, plan.max_output_tokens, plan.family) == (None, 300, None)
    assert thinking_plan("vertex", "gemini-2.5-flash", "judge", answer_tokens=300, budget=None,
                         include_thoughts=False).thinking_budget == 0


def test_the_retry_of_a_cut_reply_has_more_room_within_the_models_limit():
    assert cut_retry_tokens("gemini", "gemini-2.5-flash", 512) == 2048
    assert cut_retry_tokens("gemini", "gemini-2.5-flash", 30000) == 65535
    assert cut_retry_tokens("gemini", "gemini-2.5-flash", 65535) is None
    assert cut_retry_tokens("gemini", "gemini-2.0-flash", 4096) == 8192
