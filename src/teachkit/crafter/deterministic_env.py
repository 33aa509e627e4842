"""`DeterministicEnv`: stock `crafter.Env` made deterministic across processes and fast when nobody looks at the
pixels, with the creature-spawning difficulties.

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
