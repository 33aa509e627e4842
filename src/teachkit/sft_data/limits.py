"""What a tuning service refuses in a file of a target format: the vertex target's limits for Gemini 2.5 Flash /
Flash-Lite supervised tuning (the token limit per example is a setting, `crafter.format.max_tokens_per_example`);
the messages and prompt-completion targets have none. Checked by every `format` before it renames its files into
place, and by every check of a file."""

from __future__ import annotations

VERTEX_MAX_FILE_BYTES = 1 << 30
VERTEX_MAX_VALIDATION_EXAMPLES = 5000


def limit_problems(target: str | None, size_bytes: int, examples: int, split: str) -> list[tuple[str, str]]:
    """What the service of `target` would refuse in a file of this size and example count, as (problem, fix)
    pairs."""
    if target != "vertex":
        return []
    problems = []
    if size_bytes > VERTEX_MAX_FILE_BYTES:
        size = f"{size_bytes / 2**30:.2f} GiB; Vertex AI takes files up to 1 GB"
        problems.append((size, "write fewer examples with --subset N"))
    if split == "validation" and examples > VERTEX_MAX_VALIDATION_EXAMPLES:
        count = f"{examples:,} validation examples; Vertex AI takes at most {VERTEX_MAX_VALIDATION_EXAMPLES:,}"
        problems.append((count, "lower --validation-fraction"))
    return problems
