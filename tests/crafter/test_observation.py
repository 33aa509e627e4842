"""Text observations: exact about what is where, short, and the same facts in both formats."""

from __future__ import annotations

import pytest
from crafter import objects

from teachkit.crafter.env import ACHIEVEMENTS, CrafterGame
from teachkit.crafter.observation import compact_inventory, nearest_things, observe, visible_cells


def clear_view(game: CrafterGame) -> tuple[int, int]:
    """Grass everywhere the player sees, no creatures; returns the player's position."""
    px, py = int(game.player.pos[0]), int(game.player.pos[1])
    for x in range(px - 4, px + 5):
        for y in range(py - 3, py + 4):
            obj = game.world[(x, y)][1]
            if obj is not None and obj is not game.player:
                game.world.remove(obj)
            game.world[(x, y)] = "grass"
    return px, py


@pytest.fixture
def game() -> CrafterGame:
    game = CrafterGame(max_steps=500)
    game.reset(0)
    return game


def test_full_observation_lists_status_inventory_facing_map_nearest_and_achievements(
    game: CrafterGame,
) -> None:
    px, py = clear_view(game)
    game.world[(px + 2, py - 1)] = "tree"  # 2 east, 1 north
    game.world[(px - 4, py + 3)] = "water"  # the bottom-left corner of the view
    game.world.add(objects.Cow(game.world, (px - 1, py)))
    game.player.facing = (-1, 0)
    game.player.inventory["wood"] = 2
    game.unlocked.append("collect_wood")
    text = observe(game, "full")
    lines = text.splitlines()
    assert lines[0] == "Step 0 of 500, day."
    assert lines[1] == "Status: health 9/9, food 9/9, drink 9/9, energy 9/9."
    assert lines[2] == "Inventory: wood 2."
    assert lines[3] == "Facing west: cow."
    assert lines[4] == "Last action: the episode started."
    grid = lines[6:13]
    assert grid[3] == ". . . C @ . . . ."
    assert grid[2] == ". . . . . . T . ."
    assert grid[6] == "~ . . . . . . . ."
    assert all(len(row.split(" ")) == 9 for row in grid)
    assert lines[13] == "Legend: . grass, ~ water, T tree, C cow."
    assert lines[14] == "Nearest: cow 1 west; tree 1 north, 2 east; water 3 south, 4 west."
    assert lines[15] == "Achievements (1 of 22): collect_wood."


def test_compact_observation_has_the_same_facts_in_fewer_words(game: CrafterGame) -> None:
    px, py = clear_view(game)
    game.world[(px, py + 2)] = "stone"
    game.player.inventory["sapling"] = 1
    compact = observe(game, "compact")
    assert compact.splitlines() == [
        "t0 day H9 F9 D9 E9",
        "inv: sapling 1",
        "face S: grass",
        "last: the episode started",
        "near: stone S2",
        "done: -",
    ]
    assert len(observe(game, "full")) > 2 * len(compact)


def test_compact_inventory_groups_tools_and_achievements_show_the_shorter_list(game: CrafterGame) -> None:
    items = [("wood", 4), ("coal", 1), ("wood_pickaxe", 1), ("stone_pickaxe", 1), ("wood_sword", 1)]
    assert compact_inventory(items) == "wood 4, coal 1; pickaxe: wood, stone; sword: wood"
    assert compact_inventory([("iron_sword", 1)]) == "sword: iron"
    assert compact_inventory([]) == "-"
    game.unlocked.extend(ACHIEVEMENTS[:11])
    assert observe(game, "compact").splitlines()[-1].startswith("done: collect_coal, ")
    game.unlocked.extend(ACHIEVEMENTS[11:20])
    assert observe(game, "compact").splitlines()[-1] == "todo: place_table, wake_up"


def test_cells_outside_the_world_are_marked(game: CrafterGame) -> None:
    game.world.move(game.player, (1, 1))
    grid = visible_cells(game)
    assert grid[0][0] is None and grid[3][4] == "player"
    text = observe(game, "full")
    assert "? outside the world" in text
    assert text.splitlines()[6].startswith("? ? ?")


def test_nearest_keeps_the_closest_of_each_thing() -> None:
    grid = [["grass"] * 9 for _ in range(7)]
    grid[3][4] = "player"
    grid[0][0] = "tree"
    grid[3][6] = "tree"
    grid[6][4] = "zombie"
    assert nearest_things(grid) == [("tree", 2, 0), ("zombie", 0, 3)]


def test_unknown_format_is_an_error(game: CrafterGame) -> None:
    with pytest.raises(ValueError, match="full, compact"):
        observe(game, "verbose")
