"""A privileged scripted Crafter expert: it plans on the true world state and explains every step.

`ScriptedExpert.act(env)` reads the raw `crafter.Env` internals (`env._world`, `env._player`, `env._step`), never
changes them, and returns one of the 17 action names with a one or two sentence rationale shaped like an LLM
teacher's thought ("Subgoal: ... because ..."), so a student learns from it the same way it learns from a model.

How it decides, once per step:
- One breadth-first search over (cell, facing) states from the player, in numba. Its moves follow Crafter's rules
  exactly: a move into a free walkable cell walks, a move towards anything else only turns, so "face this free
  grass cell" (needed to place a table, a plant or a stone there) is an ordinary search goal. Digging is an edge
  too: with the right pickaxe, "do" on the stone, coal, iron or diamond in front and then a move costs two steps,
  as does felling a tree, so the search tunnels through mountains when that is shorter. It never enters lava and
  never even turns towards it (a move towards lava walks into it).
- Goals are checked in a fixed priority order: stay asleep; fight a zombie or skeleton within reach; drink and eat
  when low; shelter at night (a two-cell pocket walled in with stone: see `_find_pocket`) and sleep there; keep the
  sapling we planted walled in; then the technology tree (wood, table, wood tools, stone, stone tools, furnace,
  coal, iron, iron tools, diamond) and the rest of the achievements (sapling, plant, cow, drink, place stone,
  zombie, skeleton, eat a ripe plant, wake up). The first goal that applies and is reachable gives the action.
- Per-episode memory (reset by `reset()`): the shelter being built, the plant being protected, hysteresis flags for
  drinking, eating and resting. No randomness: the same world state gives the same action.
"""

from __future__ import annotations

import numpy as np
from crafter import constants, objects
from numba import njit

ACTIONS: tuple[str, ...] = tuple(constants.actions)
_INDEX = {name: index for index, name in enumerate(ACTIONS)}
NOOP, DO, SLEEP = _INDEX["noop"], _INDEX["do"], _INDEX["sleep"]
PLACE_STONE, PLACE_TABLE = _INDEX["place_stone"], _INDEX["place_table"]
PLACE_FURNACE, PLACE_PLANT = _INDEX["place_furnace"], _INDEX["place_plant"]
# Facing index d = 0..3 is left, right, up, down: the order of Crafter's move actions, so move action = 1 + d.
_DIRS = ((-1, 0), (1, 0), (0, -1), (0, 1))
_MOVES = tuple(_INDEX[f"move_{name}"] for name in ("left", "right", "up", "down"))
_OPPOSITE = (1, 0, 3, 2)
_DX = np.array([-1, 1, 0, 0], np.int64)
_DY = np.array([0, 0, -1, 1], np.int64)
_MOVE_WORDS = ("I move left (west)", "I move right (east)", "I move up (north)", "I move down (south)")

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
_LUT_SIZE = 32
_PROTECTED = 31  # pseudo material: a wall cell the search must not dig through while it matters


# ----------------------------------------------------------------------------------------------------------------
# Search kernels (numba). A state is (x, y, facing) packed as ((x * H + y) << 2) | facing; states N.. 2N-1 are
# "the cell in front was just dug out", reached by "do" and left by moving into that cell.


@njit(cache=True)
def _begin(start, dist, first, queue, ctrl):
    """Start a new search from state `start`; ctrl holds (head, tail) of the BFS queue."""
    dist[:] = -1
    dist[start] = 0
    first[start] = -1
    queue[0] = start
    ctrl[0] = 0
    ctrl[1] = 1
    ctrl[2] = start


@njit(cache=True)
def _query(mat, occ, walk, mine, avoid, dist, first, queue, ctrl, mask, stand, facing, max_depth):
    """The nearest state (in BFS order) that faces a mask cell from a stand cell (facing=True), or that stands
    on a mask cell (facing=False). The search grows only as far as needed and resumes where the previous query
    of the same step stopped. Returns the state, or -1 when none is within max_depth steps.

    Expanding a state: a move into a free walkable cell walks; a move towards anything else only turns, except
    towards lava, which is never taken (it would walk into the lava); "do" on a diggable cell in front leads to
    the "dug" twin state N + u, whose only move steps into the dug cell.
    """
    width, height = mat.shape
    n = width * height * 4
    start = ctrl[2]
    head = ctrl[0]
    tail = ctrl[1]
    i = 0
    while True:
        while i < tail:
            u = queue[i]
            if dist[u] > max_depth:
                ctrl[0] = head
                ctrl[1] = tail
                return -1
            if u < n:
                cell = u >> 2
                x = cell // height
                y = cell - x * height
                if facing:
                    f = u & 3
                    tx = x + _DX[f]
                    ty = y + _DY[f]
                    if 0 <= tx < width and 0 <= ty < height and mask[tx, ty] and stand[x, y]:
                        ctrl[0] = head
                        ctrl[1] = tail
                        return u
                elif mask[x, y]:
                    ctrl[0] = head
                    ctrl[1] = tail
                    return u
            i += 1
        if head >= tail:
            ctrl[0] = head
            ctrl[1] = tail
            return -1
        u = queue[head]
        head += 1
        du = dist[u] + 1
        if u < n:
            cell = u >> 2
            f = u & 3
            x = cell // height
            y = cell - x * height
            for d in range(4):
                nx = x + _DX[d]
                ny = y + _DY[d]
                if nx < 0 or ny < 0 or nx >= width or ny >= height:
                    continue
                m = mat[nx, ny]
                if avoid[m]:
                    continue
                if walk[m] and not occ[nx, ny]:
                    v = ((nx * height + ny) << 2) | d
                elif d == f:
                    continue
                else:
                    v = (cell << 2) | d
                if dist[v] < 0:
                    dist[v] = du
                    first[v] = first[u] if u != start else 1 + d
                    queue[tail] = v
                    tail += 1
            fx = x + _DX[f]
            fy = y + _DY[f]
            if 0 <= fx < width and 0 <= fy < height and mine[mat[fx, fy]] and not occ[fx, fy]:
                v = n + u
                if dist[v] < 0:
                    dist[v] = du
                    first[v] = first[u] if u != start else 5
                    queue[tail] = v
                    tail += 1
        else:
            w = u - n
            f = w & 3
            cell = w >> 2
            x = cell // height
            y = cell - x * height
            v = (((x + _DX[f]) * height + (y + _DY[f])) << 2) | f
            if dist[v] < 0:
                dist[v] = du
                first[v] = first[u] if u != start else 1 + f
                queue[tail] = v
                tail += 1


@njit(cache=True)
def _find_pocket(mat, occ, dist, open_lut, solid, placeable, danger, water, stones, px, py, near_x, near_y, near_r):
    """The cheapest two-cell pocket to sleep in: cells Y and A = Y + d, entered from X = A + d.

    The five outer neighbours of Y and A must be solid (zombies walk on grass, sand and path only) or free cells
    a stone can go on; X is sealed last, from A, after stepping Y -> A so the player faces X. Y and A may be stone
    to dig out. Returns (ax, ay, d, missing walls) or (-1, ...).
    """
    width, height = mat.shape
    best = 1 << 30
    bx = -1
    by = -1
    bd = -1
    bmiss = -1
    for ax in range(2, width - 2):
        for ay in range(2, height - 2):
            if occ[ax, ay] or not open_lut[mat[ax, ay]] or danger[mat[ax, ay]]:
                continue
            if near_r > 0 and abs(ax - near_x) + abs(ay - near_y) > near_r:
                continue
            for d in range(4):
                dx = _DX[d]
                dy = _DY[d]
                yx = ax - dx
                yy = ay - dy
                xx = ax + dx
                xy = ay + dy
                if occ[yx, yy] or not open_lut[mat[yx, yy]] or danger[mat[yx, yy]]:
                    continue
                mx = mat[xx, xy]
                if danger[mx] or occ[xx, xy] or not open_lut[mx]:
                    continue
                state = ((ax * height + ay) << 2) | _OPPOSITE_ARR[d]
                reach = dist[state]
                if reach < 0:
                    continue
                missing = 0
                wet = 0
                ok = True
                for k in range(5):
                    if k == 0:
                        wx = yx - dx
                        wy = yy - dy
                    elif k == 1:
                        wx = yx + dy
                        wy = yy + dx
                    elif k == 2:
                        wx = yx - dy
                        wy = yy - dx
                    elif k == 3:
                        wx = ax + dy
                        wy = ay + dx
                    else:
                        wx = ax - dy
                        wy = ay - dx
                    m = mat[wx, wy]
                    if danger[m]:
                        ok = False
                        break
                    if m == water:
                        wet = 1
                    if solid[m]:
                        continue
                    if placeable[m] and not occ[wx, wy] and not (wx == px and wy == py):
                        missing += 1
                    else:
                        ok = False
                        break
                if not ok:
                    continue
                need = missing + (0 if solid[mx] else 1)
                if need > stones:
                    continue
                score = reach + 10 * missing + (2 if not open_lut[mat[yx, yy]] else 0) - 12 * wet
                if score < best:
                    best = score
                    bx = ax
                    by = ay
                    bd = d
                    bmiss = missing
    return bx, by, bd, bmiss


_OPPOSITE_ARR = np.array(_OPPOSITE, np.int64)


NEAR = 10  # window (Chebyshev radius) in which creatures are looked at every step


def _sort_objects(world, obj_map: np.ndarray, x0: int, y0: int) -> dict:
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


def _offset_words(dx: int, dy: int) -> str:
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


class _Materials:
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
        lut = np.zeros(_LUT_SIZE, np.bool_)
        for name in names:
            lut[self.ids[name]] = True
        return lut

    def mine_lut(self, inventory: dict) -> np.ndarray:
        lut = np.zeros(_LUT_SIZE, np.bool_)
        for name, info in constants.collect.items():
            if name in ("water", "grass") or info["leaves"] == name:
                continue
            if all(inventory.get(tool, 0) >= amount for tool, amount in info["require"].items()):
                lut[self.ids[name]] = True
        return lut


class _Step:
    """What one call to `act` knows about the world; rebuilt every step."""

    __slots__ = (
        "world", "player", "inv", "ach", "mat", "occ", "px", "py", "pf", "step", "night", "dusk", "morning",
        "zombies_near", "skeletons_near", "arrows_near", "zombie_dist", "everything", "mine", "open", "searched",
        "search_mat",
    )


class ScriptedExpert:
    """Privileged Crafter expert; see the module docstring. One instance plays one episode at a time."""

    def __init__(self, *, night_start: int = NIGHT_START, night_end: int = NIGHT_END, idle_recheck: int = 100):
        self.night_start = night_start
        self.night_end = night_end
        self.idle_recheck = idle_recheck
        self._materials: _Materials | None = None
        self._shape: tuple[int, int] | None = None
        self.reset()

    # -- episode memory ------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything about the previous episode."""
        self._shelter: tuple[int, int, int] | None = None
        self._shelter_steps = 0
        self._shelter_last = -1
        self._shelter_blacklist: set[tuple[int, int, int]] = set()
        self._blacklist_day = 0
        self._plant: tuple[int, int] | None = None
        self._drinking = False
        self._eating = False
        self._resting = False
        self._idle_until = -1

    # -- public API ----------------------------------------------------------------------------------------------

    def act(self, env) -> tuple[str, str]:
        """The next action name for `env` (a raw `crafter.Env`) and why."""
        world, player = env._world, env._player
        if player.sleeping:
            return "noop", (
                f"Subgoal: sleep until energy is full. I am asleep in my shelter with energy "
                f"{player.inventory['energy']}/9, so I keep resting.")
        self._bind(world)
        s = self._observe(env)
        for goal in (
            self._goal_sheltered,
            self._goal_dodge,
            self._goal_threat,
            self._goal_urgent_needs,
            self._goal_night,
            self._goal_dusk,
            self._goal_needs,
            self._goal_protect_plant,
            self._goal_progress,
            self._goal_idle,
        ):
            result = goal(s)
            if result is not None:
                action, why = result
                return ACTIONS[action], why
        return "noop", "Subgoal: wait. Nothing useful is reachable right now, so I stay where I am."

    # -- per-step state ------------------------------------------------------------------------------------------

    def _bind(self, world) -> None:
        if self._materials is None or self._shape != tuple(world.area):
            self._materials = _Materials(world._mat_ids)
            self._shape = tuple(world.area)
            size = world.area[0] * world.area[1] * 8
            self._dist = np.empty(size, np.int32)
            self._first = np.empty(size, np.int8)
            self._queue = np.empty(size, np.int32)
            self._ctrl = np.zeros(3, np.int64)
            self._everywhere = np.ones(self._shape, np.bool_)
            self._nowhere = np.zeros(self._shape, np.bool_)
            self._mine_cache: dict[tuple, np.ndarray] = {}

    def _observe(self, env) -> _Step:
        world, player = env._world, env._player
        s = _Step()
        s.world, s.player = world, player
        s.inv, s.ach = player.inventory, player.achievements
        s.mat = world._mat_map
        s.px, s.py = int(player.pos[0]), int(player.pos[1])
        s.pf = _DIRS.index((int(player.facing[0]), int(player.facing[1])))
        obj_map = world._obj_map
        s.occ = obj_map != 0
        s.occ[s.px, s.py] = False
        s.step = int(env._step or 0)
        phase = s.step % DAY_LENGTH
        if self.night_end < self.night_start:  # the night wraps past the end of the day
            s.night = phase >= self.night_start or phase < self.night_end
        else:
            s.night = self.night_start <= phase < self.night_end
        s.dusk = self.night_start - DUSK <= phase < self.night_start
        s.morning = not s.night and (phase - self.night_end) % DAY_LENGTH < MORNING
        # Creatures near the player, as (x, y, object), read from a window of the object map; the full lists
        # (`_creatures`) are built only when a goal needs them.
        x0, y0 = max(0, s.px - NEAR), max(0, s.py - NEAR)
        near = _sort_objects(world, obj_map[x0:s.px + NEAR + 1, y0:s.py + NEAR + 1], x0, y0)
        s.zombies_near, s.skeletons_near, s.arrows_near = near[objects.Zombie], near[objects.Skeleton], near[
            objects.Arrow]
        s.zombie_dist = min((abs(x - s.px) + abs(y - s.py) for x, y, _ in s.zombies_near), default=1 << 20)
        s.everything = None
        key = tuple(s.inv[t] > 0 for t in ("wood_pickaxe", "stone_pickaxe", "iron_pickaxe"))
        mine = self._mine_cache.get(key)
        if mine is None:
            mine = self._materials.mine_lut(s.inv)
            self._mine_cache[key] = mine
        s.mine = mine
        s.open = self._materials.walk | mine
        s.searched = False
        if s.inv["health"] <= 3:
            self._resting = True
        elif s.inv["health"] >= 8:
            self._resting = False
        return s

    def _creatures(self, s: _Step, cls) -> list:
        """Every creature of a class in the world, as (x, y, object)."""
        if s.everything is None:
            s.everything = _sort_objects(s.world, s.world._obj_map, 0, 0)
        return s.everything[cls]

    def _search(self, s: _Step) -> None:
        """Start the step's search from the player, with protected walls made undiggable; it grows lazily."""
        if s.searched:
            return
        m = self._materials
        mat = s.mat
        protected = self._protected_cells(s)
        if protected:
            mat = mat.copy()
            for x, y in protected:
                if m.solid[mat[x, y]]:
                    mat[x, y] = _PROTECTED
        s.search_mat = mat
        start = ((s.px * self._shape[1] + s.py) << 2) | s.pf
        _begin(start, self._dist, self._first, self._queue, self._ctrl)
        s.searched = True

    def _find(self, s: _Step, mask: np.ndarray, stand, facing: bool, max_steps: int) -> int:
        self._search(s)
        m = self._materials
        return _query(
            s.search_mat, s.occ, m.walk, s.mine, m.avoid, self._dist, self._first, self._queue, self._ctrl,
            mask, self._everywhere if stand is None else stand, facing, max_steps)

    def _search_everything(self, s: _Step) -> None:
        self._find(s, self._nowhere, None, False, 1 << 30)

    def _protected_cells(self, s: _Step) -> list[tuple[int, int]]:
        cells = []
        if self._shelter is not None:
            cells.extend(self._pocket_walls(*self._shelter))
        plant = self._our_plant(s)
        if plant is not None and not plant.ripe:
            cells.extend(self._plant_neighbours())
        return cells

    # -- search helpers ------------------------------------------------------------------------------------------

    def _state_xyf(self, state: int) -> tuple[int, int, int]:
        height = self._shape[1]
        cell = state >> 2
        return cell // height, cell % height, state & 3

    def _go_facing(self, s: _Step, mask: np.ndarray, action: int, max_steps: int = 10_000, stand=None):
        """Act towards the nearest state facing a cell of mask (standing on a `stand` cell); `action` once there.

        Returns (action, steps, (tx, ty)) or None when no such state is reachable within max_steps.
        """
        state = self._find(s, mask, stand, True, max_steps)
        if state < 0:
            return None
        steps = int(self._dist[state])
        x, y, f = self._state_xyf(state)
        target = (x + _DIRS[f][0], y + _DIRS[f][1])
        if steps == 0:
            return action, 0, target
        return int(self._first[state]), steps, target

    def _go_cell(self, s: _Step, mask: np.ndarray, max_steps: int = 10_000):
        state = self._find(s, mask, None, False, max_steps)
        if state < 0:
            return None
        steps = int(self._dist[state])
        x, y, _ = self._state_xyf(state)
        return (int(self._first[state]) if steps else NOOP), steps, (x, y)

    def _mat_mask(self, s: _Step, mat_id: int) -> np.ndarray:
        mask = s.mat == mat_id
        mask &= ~s.occ
        return mask

    def _cells_mask(self, cells) -> np.ndarray:
        mask = np.zeros(self._shape, np.bool_)
        for x, y in cells:
            mask[x, y] = True
        return mask

    def _object_mask(self, objs) -> np.ndarray:
        return self._cells_mask((x, y) for x, y, _ in objs)

    def _explain(self, s: _Step, goal: str, reason: str, result, arrive: str) -> tuple[int, str]:
        """Wrap a search result into (action, rationale)."""
        action, steps, (tx, ty) = result
        if steps == 0:
            return action, f"Subgoal: {goal}. {reason} {arrive}".rstrip()
        where = _offset_words(tx - s.px, ty - s.py)
        if action == DO:
            how = "I dig through what is in front of me on the way"
        elif action in _MOVES:
            how = _MOVE_WORDS[_MOVES.index(action)]
        else:
            how = "I act"
        away = "1 step" if steps == 1 else f"{steps} steps"
        return action, f"Subgoal: {goal}. {reason} The target is {where} ({away} away), so {how}."

    # -- goals, in priority order --------------------------------------------------------------------------------

    def _goal_sheltered(self, s: _Step):
        """Inside a sealed pocket: sleep, wait out the night, wait for the plant, or leave."""
        if self._shelter is None or not self._sealed(s):
            return None
        self._shelter_last = s.step
        inv = s.inv
        plant = self._our_plant(s)
        harden = self._harden_shelter(s)
        if harden is not None:
            return harden
        drink = self._drink_inside(s)
        if drink is not None:
            return drink
        if self._must_leave(s) or (plant is not None and plant.ripe and not s.night):
            self._idle_until = -1
            self._leave_shelter()
            return None
        idle = s.step < self._idle_until
        if idle and s.dusk and (inv["food"] <= 7 or inv["drink"] <= 7):
            idle = False  # top up before the night instead of waiting it out hungry
        if inv["energy"] < 9 and (s.night or inv["energy"] <= 6 or self._resting or idle or s.ach["wake_up"] == 0):
            return SLEEP, (
                f"Subgoal: sleep safely. I am walled in with stone on every side and energy is "
                f"{inv['energy']}/9, so I sleep until it is full.")
        if self._resting:
            return NOOP, (
                f"Subgoal: recover health. Health is {inv['health']}/9 and I am walled in, so I rest here until "
                f"it comes back.")
        if s.night:
            return NOOP, (
                "Subgoal: wait for daylight. It is night and zombies roam the grass, so I stay walled in until "
                "morning.")
        if s.morning and s.zombie_dist <= 6:
            return NOOP, (
                "Subgoal: wait for the zombies to leave. It is early morning and a zombie still lurks outside my "
                "walls; in daylight they vanish, so I wait a little longer.")
        if idle:
            if plant is not None:
                return NOOP, (
                    f"Subgoal: eat my plant when it is ripe. It is {plant.grown}/300 grown and only grows while I "
                    f"am near, so I wait beside it, walled in.")
            return NOOP, (
                "Subgoal: stay safe. Nothing else I can reach is left to do, so I wait walled in and check again "
                "later.")
        self._leave_shelter()
        return None

    def _must_leave(self, s: _Step) -> bool:
        """Whether hunger or thirst forces us out. By day at 3; at night, fighting in the dark is worse than
        starving a little: stay while an empty stat (one health point per ~16 steps) leaves 3 health at dawn."""
        inv = s.inv
        lurking = s.zombie_dist <= 6
        if not s.night and not lurking:
            return inv["drink"] <= 3 or inv["food"] <= 3
        empty = (inv["drink"] == 0) + (inv["food"] == 0)
        if not empty:
            return False
        phase = s.step % DAY_LENGTH
        if s.night:
            wait = (self.night_end - phase) % DAY_LENGTH
        else:  # zombies left over from the night despawn once daylight is back
            wait = max(MORNING - (phase - self.night_end) % DAY_LENGTH, 30)
        return inv["health"] - empty * wait / 16 < 3

    def _harden_shelter(self, s: _Step):
        """Arrows fly over water: when a skeleton is about, turn the pocket's water walls into stone."""
        if s.inv["stone"] == 0:
            return None
        near = any(abs(x - s.px) + abs(y - s.py) <= 10 for x, y, _ in s.skeletons_near)
        if not near:
            return None
        water = self._materials.water
        for d, (dx, dy) in enumerate(_DIRS):
            if s.mat[s.px + dx, s.py + dy] == water:
                if s.pf == d:
                    return PLACE_STONE, (
                        "Subgoal: keep my shelter safe. A skeleton is near and arrows fly over water, so I cover "
                        "the water wall with stone.")
                return _MOVES[d], (
                    "Subgoal: keep my shelter safe. A skeleton is near and arrows fly over water, so I turn to the "
                    "water wall to cover it.")
        ax, ay, d = self._shelter
        (yx, yy), _, _ = self._pocket_cells(ax, ay, d)
        other, step = ((yx, yy), _OPPOSITE[d]) if (s.px, s.py) == (ax, ay) else ((ax, ay), d)
        if any(s.mat[other[0] + dx, other[1] + dy] == water for dx, dy in _DIRS):
            return _MOVES[step], (
                "Subgoal: keep my shelter safe. A skeleton is near and arrows fly over water, so I step over to "
                "cover the other water wall with stone.")
        return None

    def _drink_inside(self, s: _Step):
        """Drink from a water wall of the sealed pocket: turning towards a solid wall never moves us."""
        if s.inv["drink"] >= 9:
            return None
        water = self._materials.water
        for d, (dx, dy) in enumerate(_DIRS):
            if s.mat[s.px + dx, s.py + dy] == water:
                if s.pf == d:
                    return DO, (
                        f"Subgoal: drink water. Drink is {s.inv['drink']}/9 and one wall of my shelter is water, so "
                        f"I drink without leaving.")
                return _MOVES[d], (
                    f"Subgoal: drink water. Drink is {s.inv['drink']}/9 and one wall of my shelter is water, so I "
                    f"turn to face it.")
        if s.inv["drink"] > 6:
            return None
        ax, ay, d = self._shelter
        (yx, yy), _, _ = self._pocket_cells(ax, ay, d)
        other, step = ((yx, yy), _OPPOSITE[d]) if (s.px, s.py) == (ax, ay) else ((ax, ay), d)
        if any(s.mat[other[0] + dx, other[1] + dy] == water for dx, dy in _DIRS):
            return _MOVES[step], (
                f"Subgoal: drink water. Drink is {s.inv['drink']}/9 and water touches the other cell of my shelter, "
                f"so I step there.")
        return None

    def _incoming(self, s: _Step, x: int, y: int) -> bool:
        """Whether an arrow is flying straight at cell (x, y) with nothing in between."""
        m = self._materials
        for ax, ay, arrow in s.arrows_near:
            fx, fy = int(arrow.facing[0]), int(arrow.facing[1])
            for k in range(1, 5):
                cx, cy = ax + k * fx, ay + k * fy
                if (cx, cy) == (x, y):
                    return True
                if not (0 <= cx < self._shape[0] and 0 <= cy < self._shape[1]):
                    break
                if s.occ[cx, cy] or not (m.walk[s.mat[cx, cy]] or s.mat[cx, cy] in (m.water, m.lava)):
                    break
        return False

    def _goal_dodge(self, s: _Step):
        """Step out of the line of an arrow flying at us (arrows deal 2 damage)."""
        if not s.arrows_near or not self._incoming(s, s.px, s.py):
            return None
        m = self._materials
        for d, (dx, dy) in enumerate(_DIRS):
            x, y = s.px + dx, s.py + dy
            if not (0 <= x < self._shape[0] and 0 <= y < self._shape[1]):
                continue
            if m.walk[s.mat[x, y]] and not s.occ[x, y] and not self._incoming(s, x, y):
                return _MOVES[d], (
                    "Subgoal: dodge the arrow. An arrow is flying straight at me and would cost 2 health, so I "
                    "step out of its line.")
        return None

    def _goal_threat(self, s: _Step):
        """Fight a zombie or skeleton that is next to us or about to be."""
        near = [z for z in s.zombies_near if abs(z[0] - s.px) + abs(z[1] - s.py) <= 2] if s.zombie_dist <= 2 else []
        kind = "zombie"
        if not near:
            near = [k for k in s.skeletons_near if abs(k[0] - s.px) + abs(k[1] - s.py) <= 2]
            kind = "skeleton"
        if not near:
            return None
        result = self._go_facing(s, self._object_mask(near), DO, max_steps=2)
        if result is None or (result[0] == DO and result[1] > 0):
            return None  # never dig towards a monster: the wall may be all that keeps it out
        return self._explain(
            s, f"defeat the {kind}",
            f"A {kind} is within reach and would hurt me (health {s.inv['health']}/9), so I fight it with my "
            f"{self._weapon(s)}.", result, "It is right in front of me, so I strike it.")

    def _goal_urgent_needs(self, s: _Step):
        inv = s.inv
        if inv["drink"] <= 3:
            self._drinking = True
            result = self._drink(s)
            if result:
                return result
        if inv["food"] <= 3:
            self._eating = True
            result = self._eat(s)
            if result:
                return result
        return None

    def _goal_night(self, s: _Step):
        """At night, when exhausted, or when badly hurt: top up, then seal ourselves into a pocket."""
        inv = s.inv
        if not (s.night or inv["energy"] <= 2 or self._resting):
            return self._leave_early(s)
        if self._shelter is None and s.step % DAY_LENGTH < self.night_start + 10:
            if inv["drink"] <= 7:
                result = self._drink(s, max_steps=20)
                if result:
                    return result
            if inv["food"] <= 6:
                result = self._eat(s, max_steps=20)
                if result:
                    return result
        return self._shelter_step(s)

    def _leave_early(self, s: _Step):
        """Before nightfall, set off for a shelter early enough to be sealed in when zombies come out."""
        phase = s.step % DAY_LENGTH
        if not self.night_start - DUSK <= phase < self.night_start:
            return None
        if self._shelter is None:
            if s.step % 5 and s.zombie_dist > 8:
                return None
            pocket = self._choose_pocket(s)
            if pocket is None:
                return None
            ax, ay, d = pocket
            reach = int(self._dist[((ax * self._shape[1] + ay) << 2) | _OPPOSITE[d]])
            if phase + reach + 10 < self.night_start and s.zombie_dist > 8:
                return None
            self._shelter, self._shelter_steps, self._shelter_last = pocket, 0, s.step
            s.searched = False
        return self._shelter_step(s)

    def _goal_dusk(self, s: _Step):
        """Before nightfall: fill up drink and food for the long night inside."""
        if not s.dusk:
            return None
        inv = s.inv
        if inv["food"] <= 7:
            result = self._eat(s, max_steps=40)
            if result:
                return result
        if inv["drink"] < 9:
            result = self._drink(s, max_steps=30)
            if result:
                return result
        return None

    def _goal_needs(self, s: _Step):
        inv = s.inv
        if self._drinking or inv["drink"] <= 5:
            self._drinking = inv["drink"] < 9
            if self._drinking:
                result = self._drink(s)
                if result:
                    return result
        if self._eating or inv["food"] <= 6:
            self._eating = inv["food"] < 9
            if self._eating:
                result = self._eat(s)
                if result:
                    return result
        return None

    def _goal_protect_plant(self, s: _Step):
        """Keep the four neighbours of our sapling solid so no cow or zombie tramples it."""
        plant = self._our_plant(s)
        if plant is None or plant.ripe or s.inv["stone"] == 0:
            return None
        gaps = self._plant_gaps(s)
        if not gaps:
            return None
        free = [(x, y) for x, y in gaps if not s.occ[x, y] and (x, y) != (s.px, s.py)]
        # When only the cell we stand on is open, the search steps off it and turns back to face it.
        result = self._go_facing(s, self._cells_mask(free or gaps), PLACE_STONE, max_steps=30)
        if result is None:
            return None
        return self._explain(
            s, "wall in my sapling",
            f"My sapling has {len(gaps)} open side(s) where a cow or zombie could trample it, and I carry "
            f"{s.inv['stone']} stone.", result, "The open side is in front of me, so I place a stone there.")

    def _goal_progress(self, s: _Step):
        for goal in (
            self._get_wood,
            self._get_table,
            self._get_wood_tools,
            self._get_first_stone,
            self._get_stone_tools,
            self._get_place_stone,
            self._get_stone,
            self._get_furnace,
            self._get_first_drink,
            self._get_first_cow,
            self._get_sapling,
            self._get_protected_plant,
            self._get_coal,
            self._get_iron,
            self._get_iron_tools,
            self._get_diamond,
            self._get_zombie,
            self._get_skeleton,
            self._get_ripe_plant,
            self._get_wake_up,
        ):
            result = goal(s)
            if result is not None:
                return result
        return None

    def _goal_idle(self, s: _Step):
        """Everything reachable is done: keep topped up, then wait somewhere safe (beside the plant if any)."""
        inv = s.inv
        if inv["drink"] < 8:
            result = self._drink(s)
            if result:
                return result
        if inv["food"] < 7:
            result = self._eat(s)
            if result:
                return result
        if inv["stone"] < 6 and inv["wood_pickaxe"]:
            result = self._collect(s, "stone", self._materials.stone, 20, "to wall myself in")
            if result:
                return result
        self._idle_until = s.step + self.idle_recheck
        return self._shelter_step(s)

    # -- needs ---------------------------------------------------------------------------------------------------

    def _drink(self, s: _Step, max_steps: int = 10_000):
        result = self._go_facing(s, s.mat == self._materials.water, DO, max_steps=max_steps)
        if result is None:
            return None
        return self._explain(
            s, "drink water", f"Drink is {s.inv['drink']}/9, so I fill it up.", result,
            "Water is in front of me, so I drink.")

    def _eat(self, s: _Step, max_steps: int = 10_000):
        ripe = [p for p in self._creatures(s, objects.Plant) if p[2].ripe]
        if ripe:
            result = self._go_facing(s, self._object_mask(ripe), DO, max_steps=min(max_steps, 25))
            if result:
                return self._explain(
                    s, "eat a ripe plant", f"Food is {s.inv['food']}/9 and a ripe plant is close.", result,
                    "The ripe plant is in front of me, so I eat it.")
        return self._hunt(
            s, self._creatures(s, objects.Cow), "cow", max_steps=max_steps, why=f"Food is {s.inv['food']}/9, so I hunt a cow to eat.")

    def _hunt(self, s: _Step, targets, kind: str, max_steps: int = 10_000, why: str | None = None):
        if not targets:
            return None
        result = self._go_facing(s, self._object_mask(targets), DO, max_steps=max_steps)
        if result is None:
            return None
        if why is None:
            why = (f"I have not defeated a {kind} yet; one is reachable and I have health "
                   f"{s.inv['health']}/9 and my {self._weapon(s)}.")
        return self._explain(s, f"hit the {kind}", why, result, f"The {kind} is in front of me, so I hit it.")

    def _weapon_damage(self, s: _Step) -> int:
        inv = s.inv
        return max(1, 2 * bool(inv["wood_sword"]), 3 * bool(inv["stone_sword"]), 5 * bool(inv["iron_sword"]))

    def _weapon(self, s: _Step) -> str:
        for name in ("iron_sword", "stone_sword", "wood_sword"):
            if s.inv[name]:
                return name.replace("_", " ")
        return "bare hands"

    # -- shelter -------------------------------------------------------------------------------------------------

    def _pocket_cells(self, ax: int, ay: int, d: int):
        """(Y, A, X): the back cell, the front cell and the entrance of a pocket."""
        dx, dy = _DIRS[d]
        return (ax - dx, ay - dy), (ax, ay), (ax + dx, ay + dy)

    def _pocket_walls(self, ax: int, ay: int, d: int) -> list[tuple[int, int]]:
        dx, dy = _DIRS[d]
        yx, yy = ax - dx, ay - dy
        return [(yx - dx, yy - dy), (yx + dy, yy + dx), (yx - dy, yy - dx), (ax + dy, ay + dx), (ax - dy, ay - dx)]

    def _sealed(self, s: _Step) -> bool:
        ax, ay, d = self._shelter
        (yx, yy), _, (xx, xy) = self._pocket_cells(ax, ay, d)
        if (s.px, s.py) not in ((ax, ay), (yx, yy)):
            return False
        solid = self._materials.solid
        for x, y in self._pocket_walls(ax, ay, d) + [(xx, xy)]:
            if not solid[s.mat[x, y]]:
                return False
        other = (yx, yy) if (s.px, s.py) == (ax, ay) else (ax, ay)
        return not s.occ[other]

    def _leave_shelter(self) -> None:
        self._shelter = None
        self._shelter_steps = 0

    def _choose_pocket(self, s: _Step):
        m = self._materials
        day = s.step // DAY_LENGTH
        if day != self._blacklist_day:
            self._blacklist_day = day
            self._shelter_blacklist.clear()
        occ = s.occ
        if self._shelter_blacklist:
            occ = occ.copy()
            for ax, ay, _ in self._shelter_blacklist:
                occ[ax, ay] = True
        self._search_everything(s)
        plant = self._plant if self._waiting_for_plant(s) else None
        for radius in ((8, 0) if plant else (0,)):
            found = _find_pocket(
                s.mat, occ, self._dist, s.open, m.solid, m.place["stone"], m.avoid, m.water, s.inv["stone"],
                s.px, s.py, plant[0] if plant else 0, plant[1] if plant else 0, radius)
            if found[0] >= 0:
                return int(found[0]), int(found[1]), int(found[2])
        return None

    def _shelter_step(self, s: _Step):
        m = self._materials
        if self._shelter is not None and s.step - self._shelter_last > 5:
            self._leave_shelter()
        if self._shelter is not None and (self._shelter_steps > 80 or not self._pocket_valid(s, *self._shelter)):
            self._shelter_blacklist.add(self._shelter)
            self._leave_shelter()
        if self._shelter is None:
            pocket = self._choose_pocket(s)
            if pocket is None:
                if s.inv["wood_pickaxe"] and s.inv["stone"] < 6:
                    return self._collect(s, "stone", m.stone, 40, "to wall myself in")
                return None
            self._shelter = pocket
            self._shelter_steps = 0
            s.searched = False  # the pocket's walls are protected from now on
        self._shelter_last = s.step
        self._shelter_steps += 1
        ax, ay, d = self._shelter
        (yx, yy), _, (xx, xy) = self._pocket_cells(ax, ay, d)
        why = self._shelter_reason(s)
        if self._sealed(s):
            if s.inv["energy"] < 9:
                return SLEEP, f"Subgoal: sleep in my shelter. {why} I am walled in, so I sleep."
            return NOOP, f"Subgoal: stay in my shelter. {why} I am already walled in."
        missing = [(x, y) for x, y in self._pocket_walls(ax, ay, d) if not m.solid[s.mat[x, y]]]
        if missing:
            if s.inv["stone"] == 0:
                self._leave_shelter()
                if s.inv["wood_pickaxe"]:
                    return self._collect(s, "stone", m.stone, 40, "to build the walls of my shelter")
                return None
            free = [(x, y) for x, y in missing if not s.occ[x, y]]
            result = self._go_facing(s, self._cells_mask(free or missing), PLACE_STONE, max_steps=60)
            if result is None:
                self._shelter_blacklist.add(self._shelter)
                self._leave_shelter()
                return None
            return self._explain(
                s, "build a shelter", f"{why} The pocket still has {len(missing)} open wall(s).", result,
                "An open wall cell is in front of me, so I place a stone on it.")
        pos = (s.px, s.py)
        back = _OPPOSITE[d]
        if pos == (ax, ay):
            if s.pf == d and m.place["stone"][s.mat[xx, xy]] and not s.occ[xx, xy]:
                if s.inv["stone"] == 0:
                    self._leave_shelter()
                    return None
                return PLACE_STONE, (
                    f"Subgoal: seal my shelter. {why} Every other side is solid and the entrance is in front of "
                    f"me, so I close it with a stone.")
            if s.pf == back and s.mine[s.mat[yx, yy]]:
                return DO, f"Subgoal: dig my shelter. {why} I dig out the back cell of the pocket."
            return _MOVES[back], (
                f"Subgoal: enter my shelter. {why} I step to the back of the pocket so I can turn and face the "
                f"entrance.")
        if pos == (yx, yy):
            return _MOVES[d], f"Subgoal: seal my shelter. {why} I step back towards the entrance so that I face it."
        result = self._go_cell(s, self._cells_mask([(ax, ay)]), max_steps=80)
        if result is None:
            self._shelter_blacklist.add(self._shelter)
            self._leave_shelter()
            return None
        return self._explain(s, "reach my shelter", why, result, "")

    def _pocket_valid(self, s: _Step, ax: int, ay: int, d: int) -> bool:
        m = self._materials
        (yx, yy), _, (xx, xy) = self._pocket_cells(ax, ay, d)
        for x, y in ((ax, ay), (yx, yy)):
            if not s.open[s.mat[x, y]] or s.occ[x, y]:
                return False
        mx = s.mat[xx, xy]
        if m.avoid[mx] or not (s.open[mx] or m.solid[mx]):
            return False
        for x, y in self._pocket_walls(ax, ay, d):
            mw = s.mat[x, y]
            if m.avoid[mw] or not (m.solid[mw] or m.place["stone"][mw]):
                return False
        return True

    def _shelter_reason(self, s: _Step) -> str:
        inv = s.inv
        if s.night:
            return "It is night, when zombies spawn on grass, so I wall myself in to sleep."
        if s.dusk:
            return "Night falls soon and zombies will spawn on the grass, so I head for a shelter in time."
        if self._resting:
            return f"Health is {inv['health']}/9, so I wall myself in to recover."
        if inv["energy"] <= 6 or s.ach["wake_up"] == 0:
            return f"Energy is {inv['energy']}/9, so I wall myself in to sleep safely."
        if self._waiting_for_plant(s):
            return "My sapling only grows while I am near, so I wait beside it, walled in."
        return "There is nothing left to do nearby, so I wait walled in where zombies cannot reach me."

    # -- plant ---------------------------------------------------------------------------------------------------

    def _our_plant(self, s: _Step):
        """The protected plant we planted, while it still stands and eat_plant is still open."""
        if self._plant is None:
            return None
        plant = s.world[self._plant][1]
        if plant is None or type(plant).__name__ != "Plant" or s.ach["eat_plant"] > 0:
            self._plant = None
            return None
        return plant

    def _plant_neighbours(self) -> list[tuple[int, int]]:
        x, y = self._plant
        width, height = self._shape
        return [(x + dx, y + dy) for dx, dy in _DIRS if 0 <= x + dx < width and 0 <= y + dy < height]

    def _plant_gaps(self, s: _Step) -> list[tuple[int, int]]:
        solid = self._materials.solid
        return [(x, y) for x, y in self._plant_neighbours() if not solid[s.mat[x, y]]]

    def _waiting_for_plant(self, s: _Step) -> bool:
        return self._our_plant(s) is not None

    # -- technology tree -----------------------------------------------------------------------------------------

    def _collect(self, s: _Step, name: str, mat_id: int, max_steps: int, purpose: str):
        result = self._go_facing(s, self._mat_mask(s, mat_id), DO, max_steps=max_steps)
        if result is None:
            return None
        item = "wood" if name == "tree" else name
        return self._explain(
            s, f"collect {item}", f"I have {s.inv[item]} {item} and want more {purpose}.", result,
            f"The {name} is in front of me, so I collect it.")

    def _tool_wood(self, s: _Step, tools) -> int:
        return sum(constants.make[t]["uses"].get("wood", 0) for t in tools if s.inv[t] == 0)

    def _get_wood(self, s: _Step):
        table = constants.place["table"]["uses"]["wood"]
        early = ("wood_pickaxe", "wood_sword", "stone_pickaxe", "stone_sword")
        if s.ach["place_table"] == 0:
            need = spare = table + self._tool_wood(s, early)
        elif s.inv["stone_pickaxe"] == 0 or s.inv["stone_sword"] == 0:
            need = spare = self._tool_wood(s, early)
        else:
            need = self._tool_wood(s, _TOOLS)
            missing_iron = s.inv["iron_pickaxe"] == 0 or s.inv["iron_sword"] == 0
            spare = min(9, need + (table if missing_iron else 0))
        wood = s.inv["wood"]
        if wood >= spare:
            return None
        max_steps = 10_000 if wood < need else 25
        if s.ach["place_table"] == 0:
            purpose = "for a table and tools"
        else:
            purpose = "for tools and a spare table" if spare > need else "for tools"
        return self._collect(s, "tree", self._materials.tree, max_steps, f"{purpose} (I want {spare})")

    def _craft_spot_mask(self, s: _Step, stations) -> np.ndarray:
        """Cells whose 3x3 neighbourhood holds every station (Crafter's `nearby` for making tools)."""
        mask = self._everywhere
        for station in stations:
            near = s.mat == station
            grown = near.copy()
            grown[1:, :] |= near[:-1, :]
            grown[:-1, :] |= near[1:, :]
            rows = grown.copy()
            grown[:, 1:] |= rows[:, :-1]
            grown[:, :-1] |= rows[:, 1:]
            mask = mask & grown
        return mask

    def _place_front(self, s: _Step, action: int, where: str, stand=None, max_steps: int = 20):
        mask = self._materials.place[where][s.mat] & ~s.occ
        mask[s.px, s.py] = False
        return self._go_facing(s, mask, action, max_steps=max_steps, stand=stand)

    def _get_table(self, s: _Step):
        inv = s.inv
        cost = constants.place["table"]["uses"]["wood"]
        if s.ach["place_table"] > 0 or inv["wood"] < cost:
            return None
        result = self._place_front(s, PLACE_TABLE, "table")
        if result is None:
            return None
        return self._explain(
            s, "place a crafting table", f"I have {inv['wood']} wood; a table costs {cost} and every tool needs "
            f"one nearby.", result, "A free cell is in front of me, so I place the table there.")

    def _craft(self, s: _Step, tool: str):
        """Go next to the stations `tool` needs and make it; build a table or furnace here when they are far."""
        info = constants.make[tool]
        inv = s.inv
        if any(inv[k] < v for k, v in info["uses"].items()):
            return None
        m = self._materials
        label = tool.replace("_", " ")
        goal = f"make {'an' if label[0] in 'aeiou' else 'a'} {label}"
        uses = ", ".join(f"{v} {k}" for k, v in info["uses"].items())
        stations = " and a ".join(info["nearby"])
        spot = self._go_cell(s, self._craft_spot_mask(s, [m.ids[n] for n in info["nearby"]]))
        if spot is not None and spot[1] == 0:
            return _INDEX[f"make_{tool}"], (
                f"Subgoal: {goal}. It needs {uses} and a {stations} nearby; I have the materials and the stations "
                f"are next to me, so I craft it now.")
        if spot is None or spot[1] > 20:
            table_cost = constants.place["table"]["uses"]["wood"]
            furnace_cost = constants.place["furnace"]["uses"]["stone"]
            table_spots = self._craft_spot_mask(s, [m.table])
            near_table = self._go_cell(s, table_spots, max_steps=20)
            if near_table is None and inv["wood"] >= table_cost + info["uses"].get("wood", 0):
                result = self._place_front(s, PLACE_TABLE, "table")
                if result:
                    return self._explain(
                        s, goal, f"The nearest table is far away and I have {inv['wood']} wood, so I build a new "
                        "one here.", result, "A free cell is in front of me, so I place a table.")
            if near_table is not None and "furnace" in info["nearby"] and inv["stone"] >= furnace_cost:
                result = self._place_front(s, PLACE_FURNACE, "furnace", stand=table_spots, max_steps=25)
                if result:
                    return self._explain(
                        s, goal, f"A table is near but no furnace; I have {inv['stone']} stone, so I build one "
                        "beside the table.", result, "A free cell next to the table is in front of me, so I place "
                        "the furnace.")
        if spot is None:
            return None
        return self._explain(
            s, goal, f"It needs {uses} and a {stations} nearby; I have the materials, so I walk to the station.",
            spot, "")

    def _get_wood_tools(self, s: _Step):
        for tool in ("wood_pickaxe", "wood_sword"):
            if s.inv[tool] == 0:
                result = self._craft(s, tool)
                if result is not None:
                    return result
        return None

    def _get_first_drink(self, s: _Step):
        if s.ach["collect_drink"] > 0 or s.inv["drink"] >= 9:
            return None
        return self._drink(s, max_steps=30)

    def _get_sapling(self, s: _Step):
        inv = s.inv
        if s.ach["place_plant"] == 0 and inv["sapling"] > 0:
            result = self._place_front(s, PLACE_PLANT, "plant", max_steps=10)
            if result:
                return self._explain(
                    s, "plant a sapling", "I carry a sapling; planting it on grass starts a food source.", result,
                    "Grass is in front of me, so I plant the sapling.")
        if s.ach["collect_sapling"] > 0:
            return None
        return self._search_sapling(s, 15, "I have never found a sapling")

    def _search_sapling(self, s: _Step, max_steps: int, why: str):
        result = self._go_facing(s, self._mat_mask(s, self._materials.grass), DO, max_steps=max_steps)
        if result is None:
            return None
        return self._explain(
            s, "collect a sapling", f"{why}, and grass drops one in about ten tries.", result,
            "I face grass, so I search it for a sapling.")

    def _get_first_cow(self, s: _Step):
        if s.ach["eat_cow"] > 0:
            return None
        return self._hunt(s, self._creatures(s, objects.Cow), "cow", max_steps=30, why="I have never eaten a cow and one is close.")

    def _get_first_stone(self, s: _Step):
        inv = s.inv
        need = (inv["stone_pickaxe"] == 0) + (inv["stone_sword"] == 0)
        if inv["wood_pickaxe"] == 0 or inv["stone"] >= need:
            return None
        return self._collect(s, "stone", self._materials.stone, 10_000, "for a stone pickaxe and sword")

    def _get_stone(self, s: _Step):
        inv = s.inv
        if inv["wood_pickaxe"] == 0:
            return None
        need = 2 + (inv["stone_pickaxe"] == 0) + (inv["stone_sword"] == 0)
        if s.ach["place_furnace"] == 0 or inv["iron_pickaxe"] == 0 or inv["iron_sword"] == 0:
            need += constants.place["furnace"]["uses"]["stone"]
        need = min(9, need)
        if inv["stone"] >= need:
            return None
        return self._collect(s, "stone", self._materials.stone, 10_000, f"for tools, a furnace and walls ({need})")

    def _get_place_stone(self, s: _Step):
        if s.ach["place_stone"] > 0 or s.inv["stone"] == 0:
            return None
        result = self._place_front(s, PLACE_STONE, "stone", max_steps=5)
        if result is None:
            return None
        return self._explain(
            s, "place a stone", "I have stone; placing it is how I build walls and bridges.", result,
            "A free cell is in front of me, so I place a stone.")

    def _get_wake_up(self, s: _Step):
        if s.ach["wake_up"] > 0 or s.inv["energy"] >= 9 or s.inv["stone"] < 1:
            return None
        return self._shelter_step(s)

    def _get_stone_tools(self, s: _Step):
        for tool in ("stone_pickaxe", "stone_sword"):
            if s.inv[tool] == 0:
                result = self._craft(s, tool)
                if result is not None:
                    return result
        return None

    def _get_furnace(self, s: _Step):
        if s.ach["place_furnace"] > 0:
            return None
        cost = constants.place["furnace"]["uses"]["stone"]
        if s.inv["stone"] < cost:
            return None
        table_spots = self._craft_spot_mask(s, [self._materials.table])
        result = self._place_front(s, PLACE_FURNACE, "furnace", stand=table_spots, max_steps=40)
        if result is None:
            result = self._place_front(s, PLACE_FURNACE, "furnace", max_steps=5)
        if result is None:
            return None
        return self._explain(
            s, "place a furnace", f"I have {s.inv['stone']} stone and a furnace costs {cost}; iron tools need one "
            "next to a table.", result, "A free cell next to the table is in front of me, so I place the furnace.")

    def _get_protected_plant(self, s: _Step):
        inv = s.inv
        if s.ach["eat_plant"] > 0 or self._plant is not None or inv["stone_pickaxe"] == 0:
            return None
        if inv["stone"] < 4:
            return self._collect(s, "stone", self._materials.stone, 30, "to wall in a sapling")
        if inv["sapling"] == 0:
            return self._search_sapling(s, 25, "I want a sapling to grow inside stone walls and eat once ripe")
        result = self._place_front(s, PLACE_PLANT, "plant", max_steps=30)
        if result is None:
            return None
        site = self._plant_site_mask(s)
        better = self._go_facing(s, site, PLACE_PLANT, max_steps=30)
        if better is not None:
            result = better
        if result[1] == 0:
            self._plant = result[2]
        return self._explain(
            s, "plant a protected sapling", "I carry a sapling and stone; I plant it where few sides are open and "
            "then wall it in.", result, "A sheltered grass cell is in front of me, so I plant the sapling.")

    def _plant_site_mask(self, s: _Step) -> np.ndarray:
        """Free grass with at most two open sides (the one we stand on included), away from creatures."""
        m = self._materials
        grass = (s.mat == m.grass) & ~s.occ
        open_ = m.walk[s.mat]
        count = np.zeros(self._shape, np.int8)
        count[1:, :] += open_[:-1, :]
        count[:-1, :] += open_[1:, :]
        count[:, 1:] += open_[:, :-1]
        count[:, :-1] += open_[:, 1:]
        creatures = [self._creatures(s, cls) for cls in (objects.Zombie, objects.Cow, objects.Skeleton)]
        for x, y, _ in creatures[0] + creatures[1] + creatures[2]:
            grass[max(0, x - 2):x + 3, max(0, y - 2):y + 3] = False
        return grass & (count <= 2)

    def _get_coal(self, s: _Step):
        inv = s.inv
        need = (inv["iron_pickaxe"] == 0) + (inv["iron_sword"] == 0)
        if inv["wood_pickaxe"] == 0 or inv["coal"] >= need:
            return None
        return self._collect(s, "coal", self._materials.coal, 10_000, "for iron tools")

    def _get_iron(self, s: _Step):
        inv = s.inv
        need = (inv["iron_pickaxe"] == 0) + (inv["iron_sword"] == 0)
        if inv["stone_pickaxe"] == 0 or inv["iron"] >= need:
            return None
        return self._collect(s, "iron", self._materials.iron, 10_000, "for iron tools")

    def _get_iron_tools(self, s: _Step):
        for tool in ("iron_pickaxe", "iron_sword"):
            if s.inv[tool] == 0:
                result = self._craft(s, tool)
                if result is not None:
                    return result
        return None

    def _get_diamond(self, s: _Step):
        if s.inv["iron_pickaxe"] == 0 or s.ach["collect_diamond"] > 0:
            return None
        return self._collect(s, "diamond", self._materials.diamond, 10_000, "because diamonds are the rarest find")

    def _get_zombie(self, s: _Step):
        if s.ach["defeat_zombie"] > 0 or s.inv["health"] < 6:
            return None
        return self._hunt(s, self._creatures(s, objects.Zombie), "zombie", max_steps=40)

    def _get_skeleton(self, s: _Step):
        if s.ach["defeat_skeleton"] > 0 or s.inv["health"] < 6 or self._weapon_damage(s) < 2:
            return None
        return self._hunt(s, self._creatures(s, objects.Skeleton), "skeleton")

    def _get_ripe_plant(self, s: _Step):
        if s.ach["eat_plant"] > 0:
            return None
        ripe = [p for p in self._creatures(s, objects.Plant) if p[2].ripe]
        if not ripe:
            return None
        result = self._go_facing(s, self._object_mask(ripe), DO)
        if result is None:
            return None
        return self._explain(
            s, "eat the ripe plant", "The sapling has ripened, and eating it restores food.", result,
            "The ripe plant is in front of me, so I eat it.")


_TOOLS = ("wood_pickaxe", "wood_sword", "stone_pickaxe", "stone_sword", "iron_pickaxe", "iron_sword")
