"""The scripted expert's goals in priority order (after the shelter's own), and the needs they share."""

from __future__ import annotations

from crafter import objects

from teachkit.crafter.expert.world import DAY_LENGTH, DIRS, DO, DUSK, MOVES, OPPOSITE, PLACE_STONE, StepView


class GoalsMixin:
    """Dodge, fight, drink and eat, the night, the plant's walls, the technology tree, and idling; part of
    `ScriptedExpert`, which holds the state these methods read."""

    def _incoming(self, s: StepView, x: int, y: int) -> bool:
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

    def _goal_dodge(self, s: StepView):
        """Step out of the line of an arrow flying at us (arrows deal 2 damage)."""
        if not s.arrows_near or not self._incoming(s, s.px, s.py):
            return None
        m = self._materials
        for d, (dx, dy) in enumerate(DIRS):
            x, y = s.px + dx, s.py + dy
            if not (0 <= x < self._shape[0] and 0 <= y < self._shape[1]):
                continue
            if m.walk[s.mat[x, y]] and not s.occ[x, y] and not self._incoming(s, x, y):
                return MOVES[d], (
                    "Subgoal: dodge the arrow. An arrow is flying straight at me and would cost 2 health, so I "
                    "step out of its line.")
        return None

    def _goal_threat(self, s: StepView):
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

    def _goal_urgent_needs(self, s: StepView):
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

    def _goal_night(self, s: StepView):
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

    def _leave_early(self, s: StepView):
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
            reach = int(self._dist[((ax * self._shape[1] + ay) << 2) | OPPOSITE[d]])
            if phase + reach + 10 < self.night_start and s.zombie_dist > 8:
                return None
            self._shelter, self._shelter_steps, self._shelter_last = pocket, 0, s.step
            s.searched = False
        return self._shelter_step(s)

    def _goal_dusk(self, s: StepView):
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

    def _goal_needs(self, s: StepView):
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

    def _goal_protect_plant(self, s: StepView):
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

    def _goal_progress(self, s: StepView):
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

    def _goal_idle(self, s: StepView):
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

    def _drink(self, s: StepView, max_steps: int = 10_000):
        result = self._go_facing(s, s.mat == self._materials.water, DO, max_steps=max_steps)
        if result is None:
            return None
        return self._explain(
            s, "drink water", f"Drink is {s.inv['drink']}/9, so I fill it up.", result,
            "Water is in front of me, so I drink.")

    def _eat(self, s: StepView, max_steps: int = 10_000):
        ripe = [p for p in self._creatures(s, objects.Plant) if p[2].ripe]
        if ripe:
            result = self._go_facing(s, self._object_mask(ripe), DO, max_steps=min(max_steps, 25))
            if result:
                return self._explain(
                    s, "eat a ripe plant", f"Food is {s.inv['food']}/9 and a ripe plant is close.", result,
                    "The ripe plant is in front of me, so I eat it.")
        return self._hunt(
            s, self._creatures(s, objects.Cow), "cow", max_steps=max_steps, why=f"Food is {s.inv['food']}/9, so I hunt a cow to eat.")

    def _hunt(self, s: StepView, targets, kind: str, max_steps: int = 10_000, why: str | None = None):
        if not targets:
            return None
        result = self._go_facing(s, self._object_mask(targets), DO, max_steps=max_steps)
        if result is None:
            return None
        if why is None:
            why = (f"I have not defeated a {kind} yet; one is reachable and I have health "
                   f"{s.inv['health']}/9 and my {self._weapon(s)}.")
        return self._explain(s, f"hit the {kind}", why, result, f"The {kind} is in front of me, so I hit it.")

    def _weapon_damage(self, s: StepView) -> int:
        inv = s.inv
        return max(1, 2 * bool(inv["wood_sword"]), 3 * bool(inv["stone_sword"]), 5 * bool(inv["iron_sword"]))

    def _weapon(self, s: StepView) -> str:
        for name in ("iron_sword", "stone_sword", "wood_sword"):
            if s.inv[name]:
                return name.replace("_", " ")
        return "bare hands"
