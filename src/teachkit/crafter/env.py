"""Crafter in process: seeded, deterministic across processes, and fast when nobody looks at the pixels.

`CrafterGame` wraps one `DeterministicEnv` (a `crafter.Env` subclass, exposed as `game.env` for privileged teachers
that read `env._world` and `env._player`) and is reused across episodes: `reset(seed)` regenerates the world in about
0.02 s of CPU once numba has compiled the noise functions (a one-off 1-2 s, cached on disk).

What differs from stock `crafter.Env`, and why:
- Determinism. Stock balancing picks which creature to despawn from a Python set of objects, whose order follows
  memory addresses and so differs between processes: two runs of the same seed and actions diverge. Here a chunk's
  creatures are sorted by position first. Stock night-time rendering also draws its noise from the world's random
  state, so merely rendering a frame changed the game; here frames use their own random state.
- Speed. World generation is vectorized (`worldgen.py`, the same worlds). No image is rendered and no semantic map
  is built unless frames are asked for; the per-object distance check and the per-chunk material counts are computed
  once per step instead of once per object; textures are loaded once per process. `tests/crafter/test_env.py`
  checks that the world evolves exactly as under the stock step loop.
- Difficulty. `normal` is stock Crafter; `easy` and `hard` change creature spawning only (see DIFFICULTIES).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import crafter
import numpy as np
from crafter import constants, engine, objects

from teachkit.crafter.worldgen import generate_world

ACTIONS: tuple[str, ...] = tuple(constants.actions)
ACHIEVEMENTS: tuple[str, ...] = tuple(constants.achievements)
ACTION_INDEX = {name: index for index, name in enumerate(ACTIONS)}
LIFE_STATS = ("health", "food", "drink", "energy")
DIRECTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}


@dataclass(frozen=True)
class Difficulty:
    """Creature balancing, as multipliers and offsets on stock Crafter's `_balance_chunk` numbers.

    Stock: zombies spawn on grass with probability 0.3 per balance towards 3.5 - 3 * daylight per grassy chunk
    (about 0 by day, 3 at night); skeletons keep 1-2 per tunnel chunk; cows keep 1 to 1.5 + daylight per grassy
    chunk, spawning with probability 0.01.
    """

    name: str
    description: str
    zombie_spawn_prob: float = 0.3
    zombie_target_scale: float = 1.0
    zombie_target_extra: float = 0.0
    skeleton_min: int = 1
    skeleton_max: int = 2
    cow_spawn_prob: float = 0.01
    cow_min: int = 1


DIFFICULTIES: dict[str, Difficulty] = {
    "easy": Difficulty(
        "easy",
        "half as many zombies at night (half the target, half the spawn probability); cows respawn 3x as often and "
        "at least 2 stay per grassy chunk",
        zombie_spawn_prob=0.15,
        zombie_target_scale=0.5,
        cow_spawn_prob=0.03,
        cow_min=2,
    ),
    "normal": Difficulty("normal", "stock Crafter"),
    "hard": Difficulty(
        "hard",
        "one more zombie per grassy chunk day and night, spawning with probability 0.5; at least 2 skeletons per "
        "tunnel chunk; cows respawn half as often",
        zombie_spawn_prob=0.5,
        zombie_target_extra=1.0,
        skeleton_min=2,
        skeleton_max=3,
        cow_spawn_prob=0.005,
    ),
}


@functools.lru_cache(maxsize=1)
def shared_textures() -> engine.Textures:
    """Crafter's textures; read-only apart from a cache of resized copies, so every env can share them."""
    return engine.Textures(constants.root / "assets")


class FrameView(engine.LocalView):
    """The stock local view with its night noise drawn from its own random state, not the world's."""

    def __init__(self, world: engine.World, textures: engine.Textures, grid: list[int]):
        super().__init__(world, textures, grid)
        self.noise_random = np.random.RandomState(0)

    def _noise(self, canvas: np.ndarray, amount: float, stddev: float) -> np.ndarray:
        noise = self.noise_random.uniform(32, 127, canvas.shape[:2])[..., None]
        mask = amount * self._vignette(canvas.shape, stddev)[..., None]
        return (1 - mask) * canvas + mask * noise


class DeterministicEnv(crafter.Env):
    """`crafter.Env` with a stable balancing order, an optional image, and a faster step with the same dynamics.

    `step` returns `(obs, reward, done, info)` like stock; `obs` is None unless `frames=True`, and `info` has no
    `semantic` map.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        length: int = 10000,
        difficulty: str = "normal",
        frames: bool = False,
        frame_size: int = 64,
    ):
        # Stock __init__, with the textures loaded once per process rather than once per env (40 ms each).
        view = np.array((9, 9))
        self._area = (64, 64)
        self._view = view
        self._size = np.array((frame_size, frame_size))
        self._reward = True
        self._length = length
        self._seed = seed
        self._episode = 0
        self._world = engine.World(self._area, constants.materials, (12, 12))
        self._textures = shared_textures()
        item_rows = int(np.ceil(len(constants.items) / view[0]))
        self._local_view = FrameView(self._world, self._textures, [view[0], view[1] - item_rows])
        self._item_view = engine.ItemView(self._textures, [view[0], item_rows])
        self._step = None
        self._player = None
        self._last_health = None
        self._unlocked = None
        self.reward_range = None
        self.metadata = None
        self.difficulty = DIFFICULTIES[difficulty]
        self.frames = frames
        self._reach = 2 * max(self._view)
        self._chunk_starts = np.arange(0, self._world.area[0], self._world._chunk_size[0])
        self._chunk_starts_y = np.arange(0, self._world.area[1], self._world._chunk_size[1])

    def reset_to(self, seed: int) -> np.ndarray | None:
        """Start the first episode of `seed`: the same world as `crafter.Env(seed=seed).reset()`."""
        self._seed = seed
        self._episode = 0
        self._local_view.noise_random.seed(seed % (2**32))
        return self.reset()

    def reset(self) -> np.ndarray | None:
        # Stock reset, with the vectorized world generation (same worlds, see worldgen.py).
        center = (self._world.area[0] // 2, self._world.area[1] // 2)
        self._episode += 1
        self._step = 0
        self._world.reset(seed=hash((self._seed, self._episode)) % (2**31 - 1))
        self._update_time()
        self._player = objects.Player(self._world, center)
        self._last_health = self._player.health
        self._world.add(self._player)
        self._unlocked = set()
        generate_world(self._world, self._player)
        return self._obs()

    def _obs(self) -> np.ndarray | None:
        return self.render() if self.frames else None

    def step(self, action: int):  # noqa: ANN201 - the stock gym-style tuple
        self._step += 1
        self._update_time()
        player = self._player
        player.action = constants.actions[action]
        objs = self._world.objects
        # The player is the world's first object and no object moves another, so after the player's update the
        # positions below are the ones the stock loop reads just before each object's own update.
        player.update()
        if len(objs) > 1:
            others = objs[1:]
            positions = np.array([obj.pos for obj in others])
            near = np.abs(positions - player.pos).sum(axis=1) < self._reach
            for obj, close in zip(others, near.tolist(), strict=True):
                if close:
                    obj.update()
        if self._step % 10 == 0:
            self._balance_all()
        obs = self._obs()
        reward = (player.health - self._last_health) / 10
        self._last_health = player.health
        unlocked = {
            name for name, count in player.achievements.items() if count > 0 and name not in self._unlocked
        }
        if unlocked:
            self._unlocked |= unlocked
            reward += 1.0
        dead = player.health <= 0
        over = self._length and self._step >= self._length
        info = {
            "inventory": player.inventory.copy(),
            "achievements": player.achievements.copy(),
            "discount": 1 - float(dead),
            "player_pos": player.pos,
            "reward": reward,
        }
        if not self._reward:
            reward = 0.0
        return obs, reward, bool(dead or over), info

    def _balance_all(self) -> None:
        world = self._world
        grass = self._chunk_counts(world._mat_ids["grass"])
        path = self._chunk_counts(world._mat_ids["path"])
        for chunk, objs in world.chunks.items():
            self._balance_chunk(chunk, objs, grass, path)

    def _chunk_counts(self, material_id: int) -> np.ndarray:
        """Cells of one material per chunk, indexed by chunk row and column."""
        mask = (self._world._mat_map == material_id).astype(np.int32)
        rows = np.add.reduceat(mask, self._chunk_starts, axis=0)
        return np.add.reduceat(rows, self._chunk_starts_y, axis=1)

    def _balance_chunk(self, chunk, objs, grass=None, path=None):  # noqa: ANN001 - stock signature
        if grass is None:
            grass = self._chunk_counts(self._world._mat_ids["grass"])
            path = self._chunk_counts(self._world._mat_ids["path"])
        cx = chunk[0] // self._world._chunk_size[0]
        cy = chunk[2] // self._world._chunk_size[1]
        grass_cells, path_cells = int(grass[cx, cy]), int(path[cx, cy])
        light = self._world.daylight
        level = self.difficulty
        ordered = sorted(objs, key=lambda obj: (int(obj.pos[0]), int(obj.pos[1])))
        zombie_max = (3.5 - 3 * light) * level.zombie_target_scale + level.zombie_target_extra
        zombie_min = (0 if grass_cells < 50 else 3.5 - 3 * light) * level.zombie_target_scale
        if grass_cells >= 50:
            zombie_min += level.zombie_target_extra
        self._balance_object(
            chunk,
            ordered,
            objects.Zombie,
            "grass",
            grass_cells,
            6,
            0,
            level.zombie_spawn_prob,
            0.4,
            lambda pos: objects.Zombie(self._world, pos, self._player),
            zombie_min,
            zombie_max,
        )
        self._balance_object(
            chunk,
            ordered,
            objects.Skeleton,
            "path",
            path_cells,
            7,
            7,
            0.1,
            0.1,
            lambda pos: objects.Skeleton(self._world, pos, self._player),
            0 if path_cells < 6 else level.skeleton_min,
            level.skeleton_max,
        )
        self._balance_object(
            chunk,
            ordered,
            objects.Cow,
            "grass",
            grass_cells,
            5,
            5,
            level.cow_spawn_prob,
            0.1,
            lambda pos: objects.Cow(self._world, pos),
            0 if grass_cells < 30 else level.cow_min,
            1.5 + light,
        )

    def _balance_object(  # noqa: PLR0913 - mirrors the stock method
        self,
        chunk,
        objs,
        cls,
        material,
        cells,
        span_dist,
        despan_dist,
        spawn_prob,
        despawn_prob,
        ctor,
        target_min,
        target_max,
    ):
        # Same random draws, in the same order, as stock `_balance_object`.
        xmin, xmax, ymin, ymax = chunk
        random = self._world.random
        creatures = [obj for obj in objs if isinstance(obj, cls)]
        if len(creatures) < int(target_min) and random.uniform() < spawn_prob:
            mask = self._world.mask(*chunk, material)
            xs, ys = np.nonzero(mask)
            i = random.randint(0, cells)
            pos = np.array((xs[i] + xmin, ys[i] + ymin))
            empty = self._world[pos][1] is None
            away = self._player.distance(pos) >= span_dist
            if empty and away:
                self._world.add(ctor(pos))
        elif len(creatures) > int(target_max) and random.uniform() < despawn_prob:
            obj = creatures[random.randint(0, len(creatures))]
            away = self._player.distance(obj.pos) >= despan_dist
            if away:
                self._world.remove(obj)


@dataclass
class Snapshot:
    """The player's state before an action, to say afterwards what the action did."""

    pos: tuple[int, int]
    facing: tuple[int, int]
    inventory: dict[str, int]
    achievements: dict[str, int]
    sleeping: bool
    target_material: str | None
    target_object: objects.Object | None
    nearby: tuple[str, ...]


@dataclass
class StepResult:
    reward: float
    done: bool
    new_achievements: list[str]
    outcome: str
    death_cause: str | None = None


class CrafterGame:
    """One Crafter player, reused across episodes: reset to a seed, step by action name, read its state.

    `outcome` says in words what the last action did; it goes into the next text observation.
    """

    def __init__(
        self,
        *,
        max_steps: int = 10000,
        difficulty: str = "normal",
        frames: bool = False,
        frame_size: int = 64,
    ):
        if difficulty not in DIFFICULTIES:
            raise ValueError(f"difficulty must be one of {', '.join(DIFFICULTIES)}, not {difficulty!r}")
        self.max_steps = max_steps
        self.difficulty = difficulty
        self.env = DeterministicEnv(
            length=max_steps, difficulty=difficulty, frames=frames, frame_size=frame_size
        )
        self.last_frame: np.ndarray | None = None
        self.seed: int | None = None
        self.t = 0
        self.done = False
        self.outcome = "the episode started"
        self.unlocked: list[str] = []
        self.death_cause: str | None = None

    def reset(self, seed: int) -> None:
        self.last_frame = self.env.reset_to(seed)
        self.seed = seed
        self.t = 0
        self.done = False
        self.outcome = "the episode started"
        self.unlocked = []
        self.death_cause = None

    @property
    def player(self) -> objects.Player:
        return self.env._player

    @property
    def world(self) -> engine.World:
        return self.env._world

    @property
    def inventory(self) -> dict[str, int]:
        """Items and life stats with a non-zero count."""
        return {name: count for name, count in self.player.inventory.items() if count}

    @property
    def night(self) -> bool:
        return self.world.daylight < 0.35

    def step(self, action: str, note: str | None = None) -> StepResult:
        """Play `action`; `note` replaces the description of what it did (an invalid reply played as noop)."""
        if self.done:
            raise RuntimeError("the episode is over; reset() first")
        before = self._snapshot()
        health_before = self.player.health
        frame, reward, done, _ = self.env.step(ACTION_INDEX[action])
        self.last_frame = frame
        self.t += 1
        new = [
            name for name in ACHIEVEMENTS if self.player.achievements[name] > 0 and name not in self.unlocked
        ]
        self.unlocked.extend(new)
        self.outcome = note or describe_outcome(action, before, self)
        damage = health_before - self.player.health
        if damage > 0:
            self.outcome += f"; you lost {damage} health"
        if new:
            self.outcome += f"; achievement unlocked: {', '.join(new)}"
        self.done = bool(done)
        if self.player.health <= 0:
            self.death_cause = self._death_cause(damage)
        return StepResult(
            reward=float(reward),
            done=self.done,
            new_achievements=new,
            outcome=self.outcome,
            death_cause=self.death_cause,
        )

    def _snapshot(self) -> Snapshot:
        player = self.player
        px, py = int(player.pos[0]), int(player.pos[1])
        fx, fy = int(player.facing[0]), int(player.facing[1])
        material, obj = self.world[(px + fx, py + fy)]
        nearby, _ = self.world.nearby(player.pos, 1)
        return Snapshot(
            pos=(px, py),
            facing=(fx, fy),
            inventory=dict(player.inventory),
            achievements=dict(player.achievements),
            sleeping=player.sleeping,
            target_material=material,
            target_object=obj,
            nearby=nearby,
        )

    def _death_cause(self, damage: int) -> str:
        player = self.player
        px, py = int(player.pos[0]), int(player.pos[1])
        if self.world[(px, py)][0] == "lava":
            return "lava"
        adjacent_zombie = any(
            isinstance(obj, objects.Zombie) and not obj.removed and obj.distance(player) <= 1
            for obj in self.world.objects
        )
        if adjacent_zombie:
            return "zombie"
        for stat, cause in (("food", "starvation"), ("drink", "thirst"), ("energy", "exhaustion")):
            if player.inventory[stat] <= 0 and damage == 1:
                return cause
        # With food, drink and energy above 0 health cannot fall by itself: the hit came from an arrow.
        return "arrow" if damage > 0 else "unknown"


def direction_name(dx: int, dy: int) -> str:
    return {(-1, 0): "west", (1, 0): "east", (0, -1): "north", (0, 1): "south"}.get((dx, dy), "nowhere")


def thing_name(material: str | None, obj: objects.Object | None) -> str:
    if obj is not None:
        if isinstance(obj, objects.Plant):
            return "ripe plant" if obj.ripe else "sapling"
        return type(obj).__name__.lower()
    return material if material is not None else "the world's edge"


def missing_items(uses: dict[str, int], inventory: dict[str, int]) -> list[str]:
    return [
        f"{item} {amount} (have {inventory.get(item, 0)})"
        for item, amount in uses.items()
        if inventory.get(item, 0) < amount
    ]


def describe_outcome(action: str, before: Snapshot, game: CrafterGame) -> str:
    """What `action` did, from the state before it and the game after it, in a few words."""
    player = game.player
    gained = {
        name: count - before.inventory.get(name, 0)
        for name, count in player.inventory.items()
        if name not in LIFE_STATS and count > before.inventory.get(name, 0)
    }
    prefix = ""
    if before.sleeping:
        if player.achievements["wake_up"] > before.achievements["wake_up"]:
            prefix = "you woke up rested; "
        elif player.sleeping:
            energy = player.inventory["energy"]
            if action == "sleep":
                return f"sleeping (energy {energy}/9)"
            return f"{action} ignored: you are asleep until rested (energy {energy}/9) or hurt"
        else:
            return "you were woken up by damage"
    return prefix + describe_action(action, before, game, gained)


def describe_action(action: str, before: Snapshot, game: CrafterGame, gained: dict[str, int]) -> str:
    player = game.player
    target = thing_name(before.target_material, before.target_object)
    if action == "noop":
        return "noop: nothing happened"
    if action.startswith("move_"):
        direction = direction_name(*DIRECTIONS[action[len("move_") :]])
        pos = (int(player.pos[0]), int(player.pos[1]))
        if pos != before.pos:
            return f"moved {direction}"
        fx, fy = DIRECTIONS[action[len("move_") :]]
        material, obj = game.world[(before.pos[0] + fx, before.pos[1] + fy)]
        return f"blocked by {thing_name(material, obj)} to the {direction} (now facing it)"
    if action == "do":
        return describe_do(before, game, target, gained)
    if action == "sleep":
        if player.sleeping:
            return "fell asleep"
        if before.inventory["energy"] < constants.items["energy"]["max"]:
            return "fell asleep and was woken up by damage"
        return f"cannot sleep: energy is full ({before.inventory['energy']}/9)"
    if action.startswith("place_"):
        name = action[len("place_") :]
        if player.achievements[action] > before.achievements[action]:
            return f"placed {'sapling' if name == 'plant' else name}"
        info = constants.place[name]
        if before.target_object is not None:
            return f"cannot place {name}: {target} is in the way"
        if before.target_material not in info["where"]:
            return f"cannot place {name} on {target}; it goes on {', '.join(info['where'])}"
        return f"cannot place {name}: need {', '.join(missing_items(info['uses'], before.inventory))}"
    if action.startswith("make_"):
        name = action[len("make_") :]
        if player.achievements[action] > before.achievements[action]:
            return f"made {name}"
        info = constants.make[name]
        absent = [util for util in info["nearby"] if util not in before.nearby]
        if absent:
            return f"cannot make {name}: no {' and '.join(absent)} nearby"
        return f"cannot make {name}: need {', '.join(missing_items(info['uses'], before.inventory))}"
    return action


def describe_do(before: Snapshot, game: CrafterGame, target: str, gained: dict[str, int]) -> str:
    player = game.player
    obj = before.target_object
    if obj is not None:
        if isinstance(obj, objects.Plant):
            if player.achievements["eat_plant"] > before.achievements["eat_plant"]:
                return "ate the ripe plant"
            return "hit the sapling; it is not ripe yet"
        if isinstance(obj, (objects.Zombie, objects.Skeleton, objects.Cow)):
            if player.achievements["eat_cow"] > before.achievements["eat_cow"]:
                return "killed and ate the cow"
            for name in ("defeat_zombie", "defeat_skeleton"):
                if player.achievements[name] > before.achievements[name]:
                    return f"defeated the {target}"
            return f"hit the {target} (health {max(0, obj.health)} left)"
        return f"hit the {target}"
    material = before.target_material
    if material == "water":
        return "drank water"
    if gained:
        got = ", ".join(f"{name}" if amount == 1 else f"{name} x{amount}" for name, amount in gained.items())
        return f"collected {got}"
    info = constants.collect.get(material) if material else None
    if info is None:
        return f"nothing to collect from {target}"
    lacking = [tool for tool, amount in info["require"].items() if before.inventory.get(tool, 0) < amount]
    if lacking:
        return f"cannot collect {material}: needs {' and '.join(lacking)}"
    if material == "grass":
        return "searched the grass; no sapling this time (10% chance)"
    return f"nothing happened to the {material}"
