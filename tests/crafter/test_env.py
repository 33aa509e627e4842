"""The Crafter environment: same dynamics as stock, deterministic across processes, frames that change nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import crafter
import numpy as np
import pytest

from teachkit.crafter.deterministic_env import DIFFICULTIES, DeterministicEnv
from teachkit.crafter.env import ACTIONS, CrafterGame


class StockWithStableBalancing(crafter.Env):
    """Stock `crafter.Env.step`, with only the balancing order made stable and the image skipped."""

    def _obs(self):
        return None

    def _balance_chunk(self, chunk, objs):
        return super()._balance_chunk(chunk, sorted(objs, key=lambda obj: (int(obj.pos[0]), int(obj.pos[1]))))


def world_state(env: crafter.Env) -> tuple:
    world = env._world
    objects = tuple((type(obj).__name__, tuple(int(v) for v in obj.pos), obj.health) for obj in world.objects)
    return (world._mat_map.tobytes(), world._obj_map.tobytes(), objects, tuple(env._player.inventory.items()))


@pytest.mark.parametrize("seed", [0, 7])
def test_fast_step_evolves_the_world_exactly_like_the_stock_step(seed: int) -> None:
    stock = StockWithStableBalancing(seed=seed)
    fast = DeterministicEnv(seed=seed)
    stock.reset()
    fast.reset()
    actions = np.random.RandomState(seed).randint(len(ACTIONS), size=400)
    for t, action in enumerate(actions):
        _, stock_reward, stock_done, stock_info = stock.step(int(action))
        _, fast_reward, fast_done, fast_info = fast.step(int(action))
        assert (fast_reward, fast_done) == (stock_reward, stock_done), f"step {t}"
        assert fast_info["inventory"] == stock_info["inventory"]
        assert world_state(fast) == world_state(stock), f"the worlds differ after step {t}"
        if stock_done:
            break
    assert t > 100


def test_reset_to_a_seed_gives_the_world_of_a_fresh_stock_env() -> None:
    game = CrafterGame()
    game.reset(11)
    game.reset(3)  # reuse: a second reset to another seed
    fresh = crafter.Env(seed=3)
    fresh.reset()
    assert np.array_equal(game.world._mat_map, fresh._world._mat_map)
    assert [tuple(obj.pos) for obj in game.world.objects] == [tuple(obj.pos) for obj in fresh._world.objects]


TRAJECTORY_SCRIPT = textwrap.dedent(
    """
    import hashlib
    import numpy as np
    from teachkit.crafter.env import CrafterGame
    from teachkit.crafter.observation import observe

    def trajectory():
        game = CrafterGame(max_steps=400)
        game.reset(5)
        digest = hashlib.sha256()
        choices = ["noop", "noop", "noop", "move_left", "move_up", "do", "sleep"]
        for action in np.random.RandomState(1).choice(choices, 400):
            result = game.step(str(action))
            digest.update(observe(game).encode())
            digest.update(game.world._obj_map.tobytes())
            if result.done:
                break
        return f"{game.t} {digest.hexdigest()}"

    if __name__ == "__main__":
        print(trajectory())
    """
)


def test_same_seed_and_actions_give_byte_identical_trajectories_in_two_processes(tmp_path) -> None:
    # Stock crafter diverges here within ~150 steps: its balancing iterates a set ordered by memory addresses.
    script = tmp_path / "trajectory.py"
    script.write_text(TRAJECTORY_SCRIPT)
    there = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    namespace: dict = {}
    exec(compile(TRAJECTORY_SCRIPT, str(script), "exec"), namespace)
    here = namespace["trajectory"]()
    assert there.stdout.strip() == here
    assert int(here.split()[0]) > 100  # long enough to cross many balancing rounds (every 10 steps)


def test_frames_do_not_change_the_game() -> None:
    # Stock night-time rendering draws noise from the world's random state; ours must not.
    plain, filmed = CrafterGame(max_steps=260), CrafterGame(max_steps=260, frames=True)
    plain.reset(7)
    filmed.reset(7)
    assert filmed.last_frame is not None and filmed.last_frame.shape == (64, 64, 3)
    nights = 0
    while not plain.done:
        plain.step("noop")
        filmed.step("noop")
        nights += plain.world.daylight < 0.5  # when stock rendering adds its noise
        assert world_state(plain.env) == world_state(filmed.env), f"step {plain.t}"
    assert nights > 40 and plain.last_frame is None


def zombie_steps(difficulty: str) -> int:
    game = CrafterGame(max_steps=300, difficulty=difficulty)
    total = 0
    for seed in range(2):
        game.reset(seed)
        while not game.done:
            game.step("noop")
            total += sum(type(obj).__name__ == "Zombie" for obj in game.world.objects)
    return total


def test_difficulty_presets_change_zombie_numbers() -> None:
    assert set(DIFFICULTIES) == {"easy", "normal", "hard"}
    assert zombie_steps("easy") < zombie_steps("normal") < zombie_steps("hard")


def face(game: CrafterGame, material: str, direction: str = "down") -> tuple[int, int]:
    """Turn the player towards `direction` and put `material` in the cell it faces."""
    dx, dy = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}[direction]
    player = game.player
    player.facing = (dx, dy)
    target = (int(player.pos[0]) + dx, int(player.pos[1]) + dy)
    obj = game.world[target][1]
    if obj is not None:
        game.world.remove(obj)
    game.world[target] = material
    return target


def test_outcomes_say_what_the_action_did() -> None:
    game = CrafterGame()
    game.reset(0)
    face(game, "tree")
    result = game.step("do")
    assert result.outcome.startswith("collected wood")
    assert "achievement unlocked: collect_wood" in result.outcome and result.new_achievements == [
        "collect_wood"
    ]
    assert game.inventory["wood"] == 1

    face(game, "grass")
    assert game.step("place_table").outcome == "cannot place table: need wood 2 (have 1)"
    assert game.step("make_wood_pickaxe").outcome == "cannot make wood_pickaxe: no table nearby"
    face(game, "stone")
    assert game.step("do").outcome == "cannot collect stone: needs wood_pickaxe"
    face(game, "water", "left")
    assert game.step("move_left").outcome == "blocked by water to the west (now facing it)"
    assert game.step("do").outcome.startswith("drank water")
    for _ in range(2):
        face(game, "tree", "right")
        game.step("do")
    face(game, "grass", "right")
    assert game.step("place_table").outcome.startswith("placed table")
    assert game.step("make_wood_pickaxe").outcome.startswith("made wood_pickaxe")
    assert game.step("sleep").outcome == "cannot sleep: energy is full (9/9)"
    assert game.step("noop", note="your reply was invalid (x), so noop was played").outcome.startswith(
        "your reply was invalid (x)"
    )


def test_lava_kills_and_is_named_as_the_cause() -> None:
    game = CrafterGame()
    game.reset(0)
    face(game, "lava", "up")
    result = game.step("move_up")
    assert result.done and result.death_cause == "lava"


def test_step_limit_ends_the_episode() -> None:
    game = CrafterGame(max_steps=5)
    game.reset(0)
    results = [game.step("noop") for _ in range(5)]
    assert [r.done for r in results] == [False] * 4 + [True]
    assert results[-1].death_cause is None
    with pytest.raises(RuntimeError):
        game.step("noop")
