"""The text a teacher or student reads instead of Crafter's pixels, in two formats.

`full` (about 340 tokens) for API teachers: status, inventory, what the player faces, the visible 9x7 area as a grid
with a legend of the symbols in it, the nearest instance of each visible thing with its offset in steps,
achievements so far, and what the last action did. `compact` (about 130 tokens) for small local students that read
a few hundred prompt tokens per second: the same facts without the grid, in short lines, and the achievements as
whichever list is shorter, those unlocked or those still to get.

Both read the true world state of the area the player sees (9 wide, 7 tall, the player in the centre), which is
exactly what stock Crafter draws in its image.
"""

from __future__ import annotations

from typing import Literal

from crafter import objects

from teachkit.crafter.env import ACHIEVEMENTS, CrafterGame

ObservationFormat = Literal["full", "compact"]
FORMATS: tuple[str, ...] = ("full", "compact")
VIEW_WIDTH, VIEW_HEIGHT = 9, 7

MATERIAL_SYMBOLS = {
    "grass": ".",
    "sand": ":",
    "path": "_",
    "water": "~",
    "stone": "#",
    "tree": "T",
    "lava": "%",
    "coal": "c",
    "iron": "i",
    "diamond": "D",
    "table": "t",
    "furnace": "f",
}
OBJECT_SYMBOLS = {
    "cow": "C",
    "zombie": "Z",
    "skeleton": "S",
    "arrow": "*",
    "sapling": "p",
    "ripe plant": "P",
    "fence": "F",
}
OUTSIDE = "?"
PLAYER = "@"
LEGEND_ORDER = [*MATERIAL_SYMBOLS, *OBJECT_SYMBOLS]
SYMBOLS = {**MATERIAL_SYMBOLS, **OBJECT_SYMBOLS}
# Grass is everywhere and walkable: naming the nearest one would only cost tokens.
NOT_LISTED = {"grass"}
STATUS = ("health", "food", "drink", "energy")
SHORT_DIRECTION = {"north": "N", "south": "S", "east": "E", "west": "W"}


def object_name(obj: objects.Object) -> str:
    if isinstance(obj, objects.Plant):
        return "ripe plant" if obj.ripe else "sapling"
    return type(obj).__name__.lower()


def visible_cells(game: CrafterGame) -> list[list[str | None]]:
    """Names of what occupies each visible cell, rows north to south; None outside the world."""
    world = game.world
    px, py = int(game.player.pos[0]), int(game.player.pos[1])
    width, height = world.area
    names = world._mat_names
    mat_rows = world._mat_map
    obj_rows = world._obj_map
    all_objects = world._objects
    half_w, half_h = VIEW_WIDTH // 2, VIEW_HEIGHT // 2
    grid: list[list[str | None]] = []
    for y in range(py - half_h, py + half_h + 1):
        row: list[str | None] = []
        inside_y = 0 <= y < height
        for x in range(px - half_w, px + half_w + 1):
            if not (inside_y and 0 <= x < width):
                row.append(None)
                continue
            index = obj_rows[x, y]
            if index:
                obj = all_objects[index]
                row.append("player" if obj is game.player else object_name(obj))
            else:
                row.append(names[mat_rows[x, y]])
        grid.append(row)
    return grid


def offset_words(dx: int, dy: int, short: bool = False) -> str:
    parts = []
    if dy:
        parts.append((abs(dy), "north" if dy < 0 else "south"))
    if dx:
        parts.append((abs(dx), "west" if dx < 0 else "east"))
    if short:
        return " ".join(f"{SHORT_DIRECTION[word]}{steps}" for steps, word in parts)
    return ", ".join(f"{steps} {word}" for steps, word in parts)


def nearest_things(grid: list[list[str | None]]) -> list[tuple[str, int, int]]:
    """(name, dx, dy) of the nearest visible instance of each thing, nearest first; ties go north-west first."""
    half_w, half_h = VIEW_WIDTH // 2, VIEW_HEIGHT // 2
    best: dict[str, tuple[int, int, int]] = {}
    for row_index, row in enumerate(grid):
        dy = row_index - half_h
        for column, name in enumerate(row):
            if name is None or name == "player" or name in NOT_LISTED:
                continue
            dx = column - half_w
            distance = abs(dx) + abs(dy)
            if name not in best or distance < best[name][0]:
                best[name] = (distance, dx, dy)
    ordered = sorted(best.items(), key=lambda item: (item[1][0], LEGEND_ORDER.index(item[0])))
    return [(name, dx, dy) for name, (_, dx, dy) in ordered]


def facing(game: CrafterGame) -> tuple[str, str]:
    """(direction word, what is there) for the cell the player faces: the one `do` and `place_*` act on."""
    player = game.player
    fx, fy = int(player.facing[0]), int(player.facing[1])
    material, obj = game.world[(int(player.pos[0]) + fx, int(player.pos[1]) + fy)]
    direction = {(-1, 0): "west", (1, 0): "east", (0, -1): "north", (0, 1): "south"}[(fx, fy)]
    if obj is not None:
        return direction, object_name(obj)
    return direction, material if material is not None else "the world's edge"


def inventory_items(game: CrafterGame) -> list[tuple[str, int]]:
    return [(name, count) for name, count in game.player.inventory.items() if count and name not in STATUS]


def observe(game: CrafterGame, observation_format: str = "full") -> str:
    """The text observation of the game's current state in `observation_format` (full or compact)."""
    if observation_format == "full":
        return full_observation(game)
    if observation_format == "compact":
        return compact_observation(game)
    raise ValueError(f"observation format must be one of {', '.join(FORMATS)}, not {observation_format!r}")


def full_observation(game: CrafterGame) -> str:
    player = game.player
    inventory = player.inventory
    grid = visible_cells(game)
    lines = [f"Step {game.t} of {game.max_steps}, {'night' if game.night else 'day'}."]
    status = ", ".join(f"{name} {inventory[name]}/9" for name in STATUS)
    lines.append(f"Status: {status}." + (" You are asleep." if player.sleeping else ""))
    items = inventory_items(game)
    lines.append(
        "Inventory: " + (", ".join(f"{name} {count}" for name, count in items) if items else "empty") + "."
    )
    direction, ahead = facing(game)
    lines.append(f"Facing {direction}: {ahead}.")
    lines.append(f"Last action: {game.outcome}.")
    lines.append("Map (north up, you are @):")
    seen: set[str] = set()
    for row in grid:
        cells = []
        for name in row:
            if name is None:
                cells.append(OUTSIDE)
            elif name == "player":
                cells.append(PLAYER)
            else:
                cells.append(SYMBOLS[name])
                seen.add(name)
        lines.append(" ".join(cells))
    legend = [f"{SYMBOLS[name]} {name}" for name in LEGEND_ORDER if name in seen]
    if any(name is None for row in grid for name in row):
        legend.append(f"{OUTSIDE} outside the world")
    lines.append("Legend: " + ", ".join(legend) + ".")
    near = nearest_things(grid)
    if near:
        lines.append("Nearest: " + "; ".join(f"{name} {offset_words(dx, dy)}" for name, dx, dy in near) + ".")
    else:
        lines.append("Nearest: only grass in view.")
    unlocked = [name for name in ACHIEVEMENTS if name in game.unlocked]
    lines.append(
        f"Achievements ({len(unlocked)} of {len(ACHIEVEMENTS)}): "
        + (", ".join(unlocked) if unlocked else "none")
        + "."
    )
    return "\n".join(lines)


def compact_observation(game: CrafterGame) -> str:
    player = game.player
    inventory = player.inventory
    grid = visible_cells(game)
    status = " ".join(f"{name[0].upper()}{inventory[name]}" for name in STATUS)
    lines = [
        f"t{game.t} {'night' if game.night else 'day'} {status}" + (" asleep" if player.sleeping else "")
    ]
    lines.append("inv: " + compact_inventory(inventory_items(game)))
    direction, ahead = facing(game)
    lines.append(f"face {SHORT_DIRECTION[direction]}: {ahead}")
    lines.append(f"last: {game.outcome}")
    near = nearest_things(grid)
    lines.append(
        "near: " + ("; ".join(f"{name} {offset_words(dx, dy, short=True)}" for name, dx, dy in near) or "-")
    )
    # Whichever list is shorter: the achievements unlocked so far, or the ones still to get.
    unlocked = [name for name in ACHIEVEMENTS if name in game.unlocked]
    if len(unlocked) <= len(ACHIEVEMENTS) // 2:
        lines.append("done: " + (", ".join(unlocked) if unlocked else "-"))
    else:
        missing = [name for name in ACHIEVEMENTS if name not in game.unlocked]
        lines.append("todo: " + (", ".join(missing) if missing else "-"))
    return "\n".join(lines)


def compact_inventory(items: list[tuple[str, int]]) -> str:
    """Materials with counts, then tools by kind: `wood 4, stone 1; pickaxe: wood, stone; sword: wood`."""
    parts = [", ".join(f"{name} {count}" for name, count in items if "_" not in name)]
    for kind in ("pickaxe", "sword"):
        tools = [name.split("_")[0] for name, _ in items if name.endswith(f"_{kind}")]
        if tools:
            parts.append(f"{kind}: {', '.join(tools)}")
    return "; ".join(part for part in parts if part) or "-"
