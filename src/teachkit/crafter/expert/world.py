"""What the scripted expert knows about Crafter: action ids, directions, the day's timetable, material lookup
tables of one world, and the per-step view of the state that every goal reads."""

from __future__ import annotations

import numpy as np
from crafter import constants, objects

ACTIONS: tuple[str, ...] = tuple(constants.actions)
ACTION_INDEX = {name: index for index, name in enumerate(ACTIONS)}
NOOP, DO, SLEEP = ACTION_INDEX["noop"], ACTION_INDEX["do"], ACTION_INDEX["sleep"]
PLACE_STONE, PLACE_TABLE = ACTION_INDEX["place_stone"], ACTION_INDEX["place_table"]
PLACE_FURNACE, PLACE_PLANT = ACTION_INDEX["place_furnace"], ACTION_INDEX["place_plant"]
# Facing index d = 0..3 is left, right, up, down: the order of Crafter's move actions, so move action = 1 + d.
DIRS = ((-1, 0), (1, 0), (0, -1), (0, 1))
MOVES = tuple(ACTION_INDEX[f"move_{name}"] for name in ("left", "right", "up", "down"))
OPPOSITE = (1, 0, 3, 2)
MOVE_WORDS = ("I move left (west)", "I move right (east)", "I move up (north)", "I move down (south)")

DAY_LENGTH = 300
# The part of each 300-step day the expert spends walled in. Crafter keeps int(3.5 - 3 * daylight) zombies per
# grassy chunk: one from about step 116 of the day (daylight < 0.83) until step 4 of the next, two or three
# between steps 148 and 272; once daylight is back above 0.83 they despawn. Every zombie that reaches us deals 2
# damage before we can strike, so the expert is sealed in for the crowded hours (and stays while zombies linger in
# the morning). A longer night (110 to 20) cost fewer fights but starved it: a day costs about 10 food and a cow
# gives 6, so hours spent waiting inside are hours not spent eating and building.
NIGHT_START, NIGHT_END = 140, 290
DUSK = 40  # steps before NIGHT_START spent topping up drink and food
MORNING = 70  # for this many steps after the night, stay in while a zombie lingers nearby
LUT_SIZE = 32
PROTECTED = 31  # pseudo material: a wall cell the search must not dig through while it matters

NEAR = 10  # window (Chebyshev radius) in which creatures are looked at every step


def sort_objects(world, obj_map: np.ndarray, x0: int, y0: int) -> dict:
    """The objects in a window of the object map, by class, as (x, y, object) in world coordinates."""
    found = {objects.Zombie: [], objects.Skeleton: [], objects.Cow: [], objects.Plant: [], objects.Arrow: []}
    xs, ys = np.nonzero(obj_map)
    if len(xs):
        every = world._objects
        for x, y, index in zip(xs.tolist(), ys.tolist(), obj_map[xs, ys].tolist(), strict=True):
            obj = every[index]
            bucket = found.get(type(obj))
            if bucket is not None:
                bucket.append((x + x0, y + y0, obj))
    return found


def offset_words(dx: int, dy: int) -> str:
    parts = []
    if dy < 0:
        parts.append(f"{-dy} north")
    elif dy > 0:
        parts.append(f"{dy} south")
    if dx > 0:
        parts.append(f"{dx} east")
    elif dx < 0:
        parts.append(f"{-dx} west")
    return ", ".join(parts) if parts else "right here"


class Materials:
    """Material ids and lookup tables of one world (ids come from `world._mat_ids`)."""

    def __init__(self, mat_ids: dict):
        ids = {name: index for name, index in mat_ids.items() if name is not None}
        self.ids = ids
        self.names = {index: name for name, index in ids.items()}
        self.water, self.grass, self.stone = ids["water"], ids["grass"], ids["stone"]
        self.path, self.sand, self.tree, self.lava = ids["path"], ids["sand"], ids["tree"], ids["lava"]
        self.coal, self.iron, self.diamond = ids["coal"], ids["iron"], ids["diamond"]
        self.table, self.furnace = ids["table"], ids["furnace"]
        self.walk = self._lut(constants.walkable)
        self.avoid = self._lut(["lava"])
        self.solid = ~self.walk & ~self.avoid
        self.solid[0] = False  # id 0 is "no material": never seen inside the map
        self.place = {name: self._lut(info["where"]) for name, info in constants.place.items()}
        self.place["stone"][self.lava] = False  # facing lava means a move towards it, which walks into it

    def _lut(self, names) -> np.ndarray:
        lut = np.zeros(LUT_SIZE, np.bool_)
        for name in names:
            lut[self.ids[name]] = True
        return lut

    def mine_lut(self, inventory: dict) -> np.ndarray:
        lut = np.zeros(LUT_SIZE, np.bool_)
        for name, info in constants.collect.items():
            if name in ("water", "grass") or info["leaves"] == name:
                continue
            if all(inventory.get(tool, 0) >= amount for tool, amount in info["require"].items()):
                lut[self.ids[name]] = True
        return lut


class StepView:
    """What one call to `act` knows about the world; rebuilt every step."""

    __slots__ = (
        "world", "player", "inv", "ach", "mat", "occ", "px", "py", "pf", "step", "night", "dusk", "morning",
        "zombies_near", "skeletons_near", "arrows_near", "zombie_dist", "everything", "mine", "open", "searched",
        "search_mat",
    )


TOOLS = ("wood_pickaxe", "wood_sword", "stone_pickaxe", "stone_sword", "iron_pickaxe", "iron_sword")
