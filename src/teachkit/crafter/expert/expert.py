"""`ScriptedExpert`: per-episode memory, the per-step view and search, and the goal order of `act`."""

from __future__ import annotations

import numpy as np
from crafter import objects

from teachkit.crafter.expert.goals import GoalsMixin
from teachkit.crafter.expert.search import begin_search, query_search
from teachkit.crafter.expert.shelter import ShelterMixin
from teachkit.crafter.expert.tech_tree import TechTreeMixin
from teachkit.crafter.expert.world import (
    ACTIONS,
    DAY_LENGTH,
    DIRS,
    DO,
    DUSK,
    MORNING,
    MOVE_WORDS,
    MOVES,
    NEAR,
    NIGHT_END,
    NIGHT_START,
    NOOP,
    PROTECTED,
    Materials,
    StepView,
    offset_words,
    sort_objects,
)


class ScriptedExpert(GoalsMixin, ShelterMixin, TechTreeMixin):
    """Privileged Crafter expert; see `teachkit.crafter.expert`. One instance plays one episode at a time."""

    def __init__(self, *, night_start: int = NIGHT_START, night_end: int = NIGHT_END, idle_recheck: int = 100):
        self.night_start = night_start
        self.night_end = night_end
        self.idle_recheck = idle_recheck
        self._materials: Materials | None = None
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
        self._last_answer: tuple[int, str] | None = None

    def _forget_plans(self) -> None:
        """Another policy moved the player: a shelter chosen from where we were is no longer our best plan."""
        self._leave_shelter()
        self._shelter_last = -1

    # -- public API ----------------------------------------------------------------------------------------------

    def act(self, env) -> tuple[str, str]:
        """The next action name for `env` (a raw `crafter.Env`) and why. The state may be one another policy
        reached: if the action just played (`player.action`) was not our last answer, our plans are dropped."""
        step = int(env._step or 0)
        if self._last_answer is not None and self._last_answer != (step - 1, env._player.action):
            self._forget_plans()
        name, why = self._decide(env)
        self._last_answer = (step, name)
        return name, why

    def _decide(self, env) -> tuple[str, str]:
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
            self._materials = Materials(world._mat_ids)
            self._shape = tuple(world.area)
            size = world.area[0] * world.area[1] * 8
            self._dist = np.empty(size, np.int32)
            self._first = np.empty(size, np.int8)
            self._queue = np.empty(size, np.int32)
            self._ctrl = np.zeros(3, np.int64)
            self._everywhere = np.ones(self._shape, np.bool_)
            self._nowhere = np.zeros(self._shape, np.bool_)
            self._mine_cache: dict[tuple, np.ndarray] = {}

    def _observe(self, env) -> StepView:
        world, player = env._world, env._player
        s = StepView()
        s.world, s.player = world, player
        s.inv, s.ach = player.inventory, player.achievements
        s.mat = world._mat_map
        s.px, s.py = int(player.pos[0]), int(player.pos[1])
        s.pf = DIRS.index((int(player.facing[0]), int(player.facing[1])))
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
        near = sort_objects(world, obj_map[x0:s.px + NEAR + 1, y0:s.py + NEAR + 1], x0, y0)
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

    def _creatures(self, s: StepView, cls) -> list:
        """Every creature of a class in the world, as (x, y, object)."""
        if s.everything is None:
            s.everything = sort_objects(s.world, s.world._obj_map, 0, 0)
        return s.everything[cls]

    def _search(self, s: StepView) -> None:
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
                    mat[x, y] = PROTECTED
        s.search_mat = mat
        start = ((s.px * self._shape[1] + s.py) << 2) | s.pf
        begin_search(start, self._dist, self._first, self._queue, self._ctrl)
        s.searched = True

    def _find(self, s: StepView, mask: np.ndarray, stand, facing: bool, max_steps: int) -> int:
        self._search(s)
        m = self._materials
        return query_search(
            s.search_mat, s.occ, m.walk, s.mine, m.avoid, self._dist, self._first, self._queue, self._ctrl,
            mask, self._everywhere if stand is None else stand, facing, max_steps)

    def _search_everything(self, s: StepView) -> None:
        self._find(s, self._nowhere, None, False, 1 << 30)

    def _protected_cells(self, s: StepView) -> list[tuple[int, int]]:
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

    def _go_facing(self, s: StepView, mask: np.ndarray, action: int, max_steps: int = 10_000, stand=None):
        """Act towards the nearest state facing a cell of mask (standing on a `stand` cell); `action` once there.

        Returns (action, steps, (tx, ty)) or None when no such state is reachable within max_steps.
        """
        state = self._find(s, mask, stand, True, max_steps)
        if state < 0:
            return None
        steps = int(self._dist[state])
        x, y, f = self._state_xyf(state)
        target = (x + DIRS[f][0], y + DIRS[f][1])
        if steps == 0:
            return action, 0, target
        return int(self._first[state]), steps, target

    def _go_cell(self, s: StepView, mask: np.ndarray, max_steps: int = 10_000):
        state = self._find(s, mask, None, False, max_steps)
        if state < 0:
            return None
        steps = int(self._dist[state])
        x, y, _ = self._state_xyf(state)
        return (int(self._first[state]) if steps else NOOP), steps, (x, y)

    def _mat_mask(self, s: StepView, mat_id: int) -> np.ndarray:
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

    def _explain(self, s: StepView, goal: str, reason: str, result, arrive: str) -> tuple[int, str]:
        """Wrap a search result into (action, rationale)."""
        action, steps, (tx, ty) = result
        if steps == 0:
            return action, f"Subgoal: {goal}. {reason} {arrive}".rstrip()
        where = offset_words(tx - s.px, ty - s.py)
        if action == DO:
            how = "I dig through what is in front of me on the way"
        elif action in MOVES:
            how = MOVE_WORDS[MOVES.index(action)]
        else:
            how = "I act"
        away = "1 step" if steps == 1 else f"{steps} steps"
        return action, f"Subgoal: {goal}. {reason} The target is {where} ({away} away), so {how}."
