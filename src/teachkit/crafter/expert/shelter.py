"""The scripted expert's shelter: a two-cell pocket walled in with stone, chosen, built, sealed, slept in and left."""

from __future__ import annotations

from teachkit.crafter.expert.search import find_pocket
from teachkit.crafter.expert.world import (
    DAY_LENGTH,
    DIRS,
    DO,
    MORNING,
    MOVES,
    NOOP,
    OPPOSITE,
    PLACE_STONE,
    SLEEP,
    StepView,
)


class ShelterMixin:
    """Part of `ScriptedExpert`, which holds the state these methods read."""

    def _goal_sheltered(self, s: StepView):
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

    def _must_leave(self, s: StepView) -> bool:
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

    def _harden_shelter(self, s: StepView):
        """Arrows fly over water: when a skeleton is about, turn the pocket's water walls into stone."""
        if s.inv["stone"] == 0:
            return None
        near = any(abs(x - s.px) + abs(y - s.py) <= 10 for x, y, _ in s.skeletons_near)
        if not near:
            return None
        water = self._materials.water
        for d, (dx, dy) in enumerate(DIRS):
            if s.mat[s.px + dx, s.py + dy] == water:
                if s.pf == d:
                    return PLACE_STONE, (
                        "Subgoal: keep my shelter safe. A skeleton is near and arrows fly over water, so I cover "
                        "the water wall with stone.")
                return MOVES[d], (
                    "Subgoal: keep my shelter safe. A skeleton is near and arrows fly over water, so I turn to the "
                    "water wall to cover it.")
        ax, ay, d = self._shelter
        (yx, yy), _, _ = self._pocket_cells(ax, ay, d)
        other, step = ((yx, yy), OPPOSITE[d]) if (s.px, s.py) == (ax, ay) else ((ax, ay), d)
        if any(s.mat[other[0] + dx, other[1] + dy] == water for dx, dy in DIRS):
            return MOVES[step], (
                "Subgoal: keep my shelter safe. A skeleton is near and arrows fly over water, so I step over to "
                "cover the other water wall with stone.")
        return None

    def _drink_inside(self, s: StepView):
        """Drink from a water wall of the sealed pocket: turning towards a solid wall never moves us."""
        if s.inv["drink"] >= 9:
            return None
        water = self._materials.water
        for d, (dx, dy) in enumerate(DIRS):
            if s.mat[s.px + dx, s.py + dy] == water:
                if s.pf == d:
                    return DO, (
                        f"Subgoal: drink water. Drink is {s.inv['drink']}/9 and one wall of my shelter is water, so "
                        f"I drink without leaving.")
                return MOVES[d], (
                    f"Subgoal: drink water. Drink is {s.inv['drink']}/9 and one wall of my shelter is water, so I "
                    f"turn to face it.")
        if s.inv["drink"] > 6:
            return None
        ax, ay, d = self._shelter
        (yx, yy), _, _ = self._pocket_cells(ax, ay, d)
        other, step = ((yx, yy), OPPOSITE[d]) if (s.px, s.py) == (ax, ay) else ((ax, ay), d)
        if any(s.mat[other[0] + dx, other[1] + dy] == water for dx, dy in DIRS):
            return MOVES[step], (
                f"Subgoal: drink water. Drink is {s.inv['drink']}/9 and water touches the other cell of my shelter, "
                f"so I step there.")
        return None
    # -- shelter -------------------------------------------------------------------------------------------------

    def _pocket_cells(self, ax: int, ay: int, d: int):
        """(Y, A, X): the back cell, the front cell and the entrance of a pocket."""
        dx, dy = DIRS[d]
        return (ax - dx, ay - dy), (ax, ay), (ax + dx, ay + dy)

    def _pocket_walls(self, ax: int, ay: int, d: int) -> list[tuple[int, int]]:
        dx, dy = DIRS[d]
        yx, yy = ax - dx, ay - dy
        return [(yx - dx, yy - dy), (yx + dy, yy + dx), (yx - dy, yy - dx), (ax + dy, ay + dx), (ax - dy, ay - dx)]

    def _sealed(self, s: StepView) -> bool:
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

    def _choose_pocket(self, s: StepView):
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
            found = find_pocket(
                s.mat, occ, self._dist, s.open, m.solid, m.place["stone"], m.avoid, m.water, s.inv["stone"],
                s.px, s.py, plant[0] if plant else 0, plant[1] if plant else 0, radius)
            if found[0] >= 0:
                return int(found[0]), int(found[1]), int(found[2])
        return None

    def _shelter_step(self, s: StepView):
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
        back = OPPOSITE[d]
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
            return MOVES[back], (
                f"Subgoal: enter my shelter. {why} I step to the back of the pocket so I can turn and face the "
                f"entrance.")
        if pos == (yx, yy):
            return MOVES[d], f"Subgoal: seal my shelter. {why} I step back towards the entrance so that I face it."
        result = self._go_cell(s, self._cells_mask([(ax, ay)]), max_steps=80)
        if result is None:
            self._shelter_blacklist.add(self._shelter)
            self._leave_shelter()
            return None
        return self._explain(s, "reach my shelter", why, result, "")

    def _pocket_valid(self, s: StepView, ax: int, ay: int, d: int) -> bool:
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

    def _shelter_reason(self, s: StepView) -> str:
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
