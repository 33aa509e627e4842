"""The 17 Crafter actions: what each one does and costs (read from `crafter.constants`), and reading them from text.

A reply names its action as `Action: NAME` (or `Actions: A, B, C` when a teacher may plan several). Reading is
tolerant: case, spaces, hyphens, markdown, and aliases such as "move north", "go west", "craft wooden pickaxe" or
"place crafting table" all resolve. A reply with no readable action is invalid: the caller plays noop and tells the
teacher why in the next observation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from crafter import constants

from teachkit.crafter.env import ACTIONS

NOOP = "noop"
MOVE_DIRECTIONS = {"move_left": "west", "move_right": "east", "move_up": "north", "move_down": "south"}

# Words that mean the same thing in a reply; applied word by word before lookup.
WORD_SYNONYMS = {
    "north": "up",
    "south": "down",
    "west": "left",
    "east": "right",
    "northward": "up",
    "southward": "down",
    "westward": "left",
    "eastward": "right",
    "upward": "up",
    "downward": "down",
    "upwards": "up",
    "downwards": "down",
    "wooden": "wood",
    "craft": "make",
    "build": "make",
    "create": "make",
    "put": "place",
    "sapling": "plant",
    "pick": "pickaxe",
    "pickax": "pickaxe",
    "workbench": "table",
    "bench": "table",
    "walk": "move",
    "go": "move",
    "step": "move",
    "moving": "move",
}
FILLER = {"the", "a", "an", "to", "one", "crafting", "craftingtable", "action", "i", "will", "choose"}
SINGLE_WORD = {
    "noop": NOOP,
    "nothing": NOOP,
    "wait": NOOP,
    "idle": NOOP,
    "none": NOOP,
    "no_op": NOOP,
    "stay": NOOP,
    "do_nothing": NOOP,
    "interact": "do",
    "collect": "do",
    "attack": "do",
    "hit": "do",
    "mine": "do",
    "chop": "do",
    "drink": "do",
    "eat": "do",
    "use": "do",
    "gather": "do",
    "fight": "do",
    "harvest": "do",
    "do": "do",
    "rest": "sleep",
    "sleep": "sleep",
    "left": "move_left",
    "right": "move_right",
    "up": "move_up",
    "down": "move_down",
}
ACTION_LINE = re.compile(
    r"^[\s>*_`#\-]*actions?[\s*_`]*[:=][ \t]*(?P<rest>.*)$", re.IGNORECASE | re.MULTILINE
)
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s*")
THOUGHT_LABEL = re.compile(
    r"^[\s*_`#]*(?:thought|thoughts|reasoning|reason|think)[\s*_`]*[:=]\s*", re.IGNORECASE
)
SPLIT_ACTIONS = re.compile(r"\s*(?:,|;|\||->|=>|\bthen\b|\band\b|\n)\s*", re.IGNORECASE)


def normalize_action(text: str) -> str | None:
    """The action `text` names, or None. Accepts exact names and the usual paraphrases."""
    cleaned = re.sub(r"[`*\"'\[\](){}.!<>]", " ", text.strip().lower())
    words = [word for word in re.split(r"[\s_\-]+", cleaned) if word]
    words = [WORD_SYNONYMS.get(word, word) for word in words if word not in FILLER]
    if not words:
        return None
    joined = "_".join(words)
    if joined in ACTIONS:
        return joined
    if joined in SINGLE_WORD:
        return SINGLE_WORD[joined]
    if words[0] == "move" and len(words) == 2 and f"move_{words[1]}" in ACTIONS:
        return f"move_{words[1]}"
    if words[0] in ("place", "make") and len(words) >= 2:
        candidate = f"{words[0]}_{'_'.join(words[1:])}"
        if candidate in ACTIONS:
            return candidate
        # "make table" / "make furnace" / "make stone" mean placing; "place pickaxe" means making.
        other = "make" if words[0] == "place" else "place"
        candidate = f"{other}_{'_'.join(words[1:])}"
        if candidate in ACTIONS:
            return candidate
    return None


@dataclass
class ParsedReply:
    actions: list[str] = field(default_factory=lambda: [NOOP])
    valid: bool = True
    invalid_reason: str | None = None
    thought: str | None = None


def invalid(reason: str, thought: str | None = None) -> ParsedReply:
    return ParsedReply(actions=[NOOP], valid=False, invalid_reason=reason, thought=thought)


def parse_reply(text: str, max_actions: int = 1, parsed: Any = None) -> ParsedReply:
    """Read up to `max_actions` actions from a teacher's reply (`parsed`: its structured output, if any)."""
    if parsed is not None:
        return from_structured(parsed, max_actions)
    stripped = (text or "").strip()
    if not stripped:
        return invalid("the reply was empty")
    if stripped.startswith("{") or stripped.startswith("["):
        try:
            return from_structured(json.loads(stripped), max_actions)
        except json.JSONDecodeError:
            pass
    matches = list(ACTION_LINE.finditer(stripped))
    if matches:
        match = matches[-1]
        thought = clean_thought(stripped[: match.start()])
        names = match.group("rest").strip()
        if not names:
            # "Actions:" followed by a list, one action per line.
            following = stripped[match.end() :].strip().splitlines()
            items = []
            for line in following:
                if not line.strip():
                    break
                items.append(LIST_ITEM.sub("", line))
            names = "\n".join(items)
        return from_names(split_names(names), max_actions, thought)
    whole = normalize_action(stripped)
    if whole is not None:
        return ParsedReply(actions=[whole])
    lines = [line for line in stripped.splitlines() if line.strip()]
    last = normalize_action(lines[-1]) if lines else None
    if last is not None:
        return ParsedReply(actions=[last], thought=clean_thought("\n".join(lines[:-1])))
    return invalid("no 'Action: NAME' line", clean_thought(stripped))


def split_names(text: str) -> list[str]:
    return [part for part in SPLIT_ACTIONS.split(text.strip()) if part.strip()]


def from_names(names: list[str], max_actions: int, thought: str | None) -> ParsedReply:
    if not names:
        return invalid("the Action line named no action", thought)
    actions = []
    for name in names[:max_actions]:
        action = normalize_action(name)
        if action is None:
            return invalid(f"{name.strip()[:40]!r} is not an action", thought)
        actions.append(action)
    return ParsedReply(actions=actions, thought=thought)


def from_structured(value: Any, max_actions: int) -> ParsedReply:
    thought = None
    if isinstance(value, dict):
        thought = value.get("thought") or value.get("reasoning")
        value = value.get("actions", value.get("action"))
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return invalid("the structured reply held no action name", thought)
    return from_names(value, max_actions, thought)


def clean_thought(text: str) -> str | None:
    text = THOUGHT_LABEL.sub("", text.strip()).strip()
    return text or None


def action_schema(max_actions: int) -> dict[str, Any]:
    """The JSON schema of a structured reply that plans up to `max_actions` actions."""
    return {
        "type": "object",
        "properties": {
            "actions": {
                "type": "array",
                "items": {"type": "string", "enum": list(ACTIONS)},
                "minItems": 1,
                "maxItems": max_actions,
            }
        },
        "required": ["actions"],
    }


def costs(uses: dict[str, int]) -> str:
    return " + ".join(f"{amount} {item}" for item, amount in uses.items())


def action_reference() -> list[str]:
    """One line per action, with the costs and conditions of this crafter version's own tables."""
    walkable = ", ".join(constants.walkable)
    lines = [f"{NOOP}: do nothing."]
    for action, direction in MOVE_DIRECTIONS.items():
        lines.append(f"{action}: face {direction} and step there if it is {walkable} (lava kills).")
    lines.append(
        "do: act on the cell you face: collect a material, drink water, hit a creature, eat a ripe plant."
    )
    lines.append("sleep: sleep until energy is full; damage wakes you.")
    for name, info in constants.place.items():
        where = ", ".join(info["where"])
        lines.append(f"place_{name}: uses {costs(info['uses'])}; onto the cell you face if it is {where}.")
    for name, info in constants.make.items():
        nearby = " and ".join(info["nearby"])
        lines.append(f"make_{name}: uses {costs(info['uses'])}; needs a {nearby} nearby (within 1 cell).")
    return lines


def collect_reference() -> list[str]:
    """What `do` collects from each material, and the tool it needs."""
    lines = []
    for material, info in constants.collect.items():
        got = ", ".join(f"{item}" for item in info["receive"])
        need = ", ".join(info["require"]) or "no tool"
        chance = f", with probability {info['probability']}" if "probability" in info else ""
        lines.append(f"{material} -> {got} ({need}{chance})")
    return lines


def compact_recipes() -> str:
    """All recipes on one line, for the compact system prompt; tools with the same recipe share one entry."""
    parts = [f"{name} {costs(info['uses'])}" for name, info in constants.place.items()]
    groups: dict[str, list[str]] = {}
    for name, info in constants.make.items():
        recipe = f"{costs(info['uses'])} near {'+'.join(info['nearby'])}"
        groups.setdefault(recipe, []).append(name)
    parts.extend(f"{'/'.join(names)} {recipe}" for recipe, names in groups.items())
    tools = [
        f"{material} needs {'+'.join(info['require'])}"
        for material, info in constants.collect.items()
        if info["require"]
    ]
    return "; ".join(parts) + ". Mining: " + "; ".join(tools) + "."
