"""The scripted expert's technology tree (wood, table, tools, stone, furnace, coal, iron, diamond, the other
achievements) and the sapling it plants and walls in."""

from __future__ import annotations

import numpy as np
from crafter import constants, objects

from teachkit.crafter.expert.world import (
    ACTION_INDEX,
    DIRS,
    DO,
    PLACE_FURNACE,
    PLACE_PLANT,
    PLACE_STONE,
    PLACE_TABLE,
    TOOLS,
    StepView,
)


class TechTreeMixin:
    """Part of `ScriptedExpert`, which holds the state these methods read."""

    # -- plant ---------------------------------------------------------------------------------------------------

    def _our_plant(self, s: StepView):
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
        return [(x + dx, y + dy) for dx, dy in DIRS if 0 <= x + dx < width and 0 <= y + dy < height]

    def _plant_gaps(self, s: StepView) -> list[tuple[int, int]]:
        solid = self._materials.solid
        return [(x, y) for x, y in self._plant_neighbours() if not solid[s.mat[x, y]]]

    def _waiting_for_plant(self, s: StepView) -> bool:
        return self._our_plant(s) is not None

    # -- technology tree -----------------------------------------------------------------------------------------

    def _collect(self, s: StepView, name: str, mat_id: int, max_steps: int, purpose: str):
        result = self._go_facing(s, self._mat_mask(s, mat_id), DO, max_steps=max_steps)
        if result is None:
            return None
        item = "wood" if name == "tree" else name
        return self._explain(
            s, f"collect {item}", f"I have {s.inv[item]} {item} and want more {purpose}.", result,
            f"The {name} is in front of me, so I collect it.")

    def _tool_wood(self, s: StepView, tools) -> int:
        return sum(constants.make[t]["uses"].get("wood", 0) for t in tools if s.inv[t] == 0)

    def _get_wood(self, s: StepView):
        table = constants.place["table"]["uses"]["wood"]
        early = ("wood_pickaxe", "wood_sword", "stone_pickaxe", "stone_sword")
        if s.ach["place_table"] == 0:
            need = spare = table + self._tool_wood(s, early)
        elif s.inv["stone_pickaxe"] == 0 or s.inv["stone_sword"] == 0:
            need = spare = self._tool_wood(s, early)
        else:
            need = self._tool_wood(s, TOOLS)
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

    def _craft_spot_mask(self, s: StepView, stations) -> np.ndarray:
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

    def _place_front(self, s: StepView, action: int, where: str, stand=None, max_steps: int = 20):
        mask = self._materials.place[where][s.mat] & ~s.occ
        mask[s.px, s.py] = False
        return self._go_facing(s, mask, action, max_steps=max_steps, stand=stand)

    def _get_table(self, s: StepView):
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

    def _craft(self, s: StepView, tool: str):
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
            return ACTION_INDEX[f"make_{tool}"], (
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

    def _get_wood_tools(self, s: StepView):
        for tool in ("wood_pickaxe", "wood_sword"):
            if s.inv[tool] == 0:
                result = self._craft(s, tool)
                if result is not None:
                    return result
        return None

    def _get_first_drink(self, s: StepView):
        if s.ach["collect_drink"] > 0 or s.inv["drink"] >= 9:
            return None
        return self._drink(s, max_steps=30)

    def _get_sapling(self, s: StepView):
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

    def _search_sapling(self, s: StepView, max_steps: int, why: str):
        result = self._go_facing(s, self._mat_mask(s, self._materials.grass), DO, max_steps=max_steps)
        if result is None:
            return None
        return self._explain(
            s, "collect a sapling", f"{why}, and grass drops one in about ten tries.", result,
            "I face grass, so I search it for a sapling.")

    def _get_first_cow(self, s: StepView):
        if s.ach["eat_cow"] > 0:
            return None
        return self._hunt(s, self._creatures(s, objects.Cow), "cow", max_steps=30, why="I have never eaten a cow and one is close.")

    def _get_first_stone(self, s: StepView):
        inv = s.inv
        need = (inv["stone_pickaxe"] == 0) + (inv["stone_sword"] == 0)
        if inv["wood_pickaxe"] == 0 or inv["stone"] >= need:
            return None
        return self._collect(s, "stone", self._materials.stone, 10_000, "for a stone pickaxe and sword")

    def _get_stone(self, s: StepView):
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

    def _get_place_stone(self, s: StepView):
        if s.ach["place_stone"] > 0 or s.inv["stone"] == 0:
            return None
        result = self._place_front(s, PLACE_STONE, "stone", max_steps=5)
        if result is None:
            return None
        return self._explain(
            s, "place a stone", "I have stone; placing it is how I build walls and bridges.", result,
            "A free cell is in front of me, so I place a stone.")

    def _get_wake_up(self, s: StepView):
        if s.ach["wake_up"] > 0 or s.inv["energy"] >= 9 or s.inv["stone"] < 1:
            return None
        return self._shelter_step(s)

    def _get_stone_tools(self, s: StepView):
        for tool in ("stone_pickaxe", "stone_sword"):
            if s.inv[tool] == 0:
                result = self._craft(s, tool)
                if result is not None:
                    return result
        return None

    def _get_furnace(self, s: StepView):
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

    def _get_protected_plant(self, s: StepView):
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

    def _plant_site_mask(self, s: StepView) -> np.ndarray:
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

    def _get_coal(self, s: StepView):
        inv = s.inv
        need = (inv["iron_pickaxe"] == 0) + (inv["iron_sword"] == 0)
        if inv["wood_pickaxe"] == 0 or inv["coal"] >= need:
            return None
        return self._collect(s, "coal", self._materials.coal, 10_000, "for iron tools")

    def _get_iron(self, s: StepView):
        inv = s.inv
        need = (inv["iron_pickaxe"] == 0) + (inv["iron_sword"] == 0)
        if inv["stone_pickaxe"] == 0 or inv["iron"] >= need:
            return None
        return self._collect(s, "iron", self._materials.iron, 10_000, "for iron tools")

    def _get_iron_tools(self, s: StepView):
        for tool in ("iron_pickaxe", "iron_sword"):
            if s.inv[tool] == 0:
                result = self._craft(s, tool)
                if result is not None:
                    return result
        return None

    def _get_diamond(self, s: StepView):
        if s.inv["iron_pickaxe"] == 0 or s.ach["collect_diamond"] > 0:
            return None
        return self._collect(s, "diamond", self._materials.diamond, 10_000, "because diamonds are the rarest find")

    def _get_zombie(self, s: StepView):
        if s.ach["defeat_zombie"] > 0 or s.inv["health"] < 6:
            return None
        return self._hunt(s, self._creatures(s, objects.Zombie), "zombie", max_steps=40)

    def _get_skeleton(self, s: StepView):
        if s.ach["defeat_skeleton"] > 0 or s.inv["health"] < 6 or self._weapon_damage(s) < 2:
            return None
        return self._hunt(s, self._creatures(s, objects.Skeleton), "skeleton")

    def _get_ripe_plant(self, s: StepView):
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
