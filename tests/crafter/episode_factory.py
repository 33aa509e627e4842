"""Episode records built directly, with observations in the shape of the `full` text observation.

Tests of scoring, filter and format use these instead of playing Crafter: each test states exactly which steps are
invalid, looping or achieving, and the records are the same ones a rollout writes.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from pathlib import Path

from teachkit.records import Episode, EpisodeTotals, Step

MAP_SYMBOLS = ". . . . . T T # ~ :".split()


def observation_text(
    t: int,
    *,
    max_steps: int = 10000,
    place: int = 0,
    facing: str = "grass",
    last: str = "moved west",
    inventory: dict[str, int] | None = None,
    achievements: Sequence[str] = (),
) -> str:
    """A `full` observation; `place` picks the map, so two steps with the same place and facing look alike."""
    rng = random.Random(place)
    rows = [[rng.choice(MAP_SYMBOLS) for _ in range(9)] for _ in range(7)]
    rows[3][4] = "@"
    items = ", ".join(f"{name} {count}" for name, count in (inventory or {}).items()) or "empty"
    return "\n".join([
        f"Step {t} of {max_steps}, day.",
        "Status: health 9/9, food 8/9, drink 7/9, energy 9/9.",
        f"Inventory: {items}.",
        f"Facing west: {facing}.",
        f"Last action: {last}.",
        "Map (north up, you are @):",
        *(" ".join(row) for row in rows),
        "Legend: . grass, T tree, # stone, ~ water, : sand.",
        "Nearest: tree 1 west; water 3 south, 2 east.",
        f"Achievements ({len(achievements)} of 22): {', '.join(achievements) if achievements else 'none'}.",
    ])


def make_episode(
    episode_id: str = "seed-0",
    *,
    actions: Sequence[str] | None = None,
    places: Sequence[int] | None = None,
    achievements_at: dict[int, list[str]] | None = None,
    invalid_at: Iterable[int] = (),
    thoughts: bool = True,
    death_cause: str | None = None,
    max_steps: int = 10000,
    seed: int = 0,
    teacher: str = "scripted",
    observation_format: str = "full",
    plan_index: dict[int, int] | None = None,
) -> Episode:
    """An episode of len(actions) steps. Step t sees map `places[t]` (default: a new place every step)."""
    actions = list(actions if actions is not None else ["move_left", "do", "move_up", "do", "place_table"])
    places = list(places) if places is not None else [seed * 100_000 + t for t in range(len(actions))]
    achievements_at = achievements_at or {}
    invalid = set(invalid_at)
    plan_index = plan_index or {}
    unlocked: list[str] = []
    steps = []
    for t, action in enumerate(actions):
        new = achievements_at.get(t, [])
        steps.append(Step(
            t=t,
            observation=observation_text(t, max_steps=max_steps, place=places[t], achievements=unlocked,
                                         last="moved west" if t else "the episode started"),
            response=None,
            thought=f"Subgoal {t}: get wood for a table; the tree is 1 west." if thoughts else None,
            action="noop" if t in invalid else action,
            valid=t not in invalid,
            invalid_reason="'jump' is not an action" if t in invalid else None,
            plan_index=plan_index.get(t, 0),
            outcome="moved west",
            inventory={"wood": 1 + t // 2, "health": 9},
            new_achievements=new,
        ))
        unlocked.extend(new)
    return Episode(
        id=episode_id,
        seed=seed,
        teacher=teacher,
        settings_hash="0123abcd",
        max_steps=max_steps,
        observation_format=observation_format,
        steps=steps,
        totals=EpisodeTotals(
            achievements=unlocked,
            steps=len(steps),
            invalid_actions=len(invalid),
            death_cause=death_cause,
        ),
    )


def write_episodes(path: Path, episodes: Iterable[Episode]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for episode in episodes:
            handle.write(episode.model_dump_json() + "\n")
    return path


def varied_episodes(count: int, steps: int = 12) -> list[Episode]:
    """`count` episodes whose achievement counts grow with their index (episode i unlocks i achievements)."""
    names = ["collect_wood", "place_table", "make_wood_pickaxe", "collect_stone", "collect_coal", "collect_iron"]
    episodes = []
    for index in range(count):
        achieved = {t: [name] for t, name in enumerate(names[: min(index, steps)])}
        episodes.append(make_episode(f"seed-{index}", seed=index, actions=["move_left", "do"] * (steps // 2),
                                     achievements_at=achieved))
    return episodes
