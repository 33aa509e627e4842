"""`teachkit crafter replay`: re-simulate a recorded episode from its seed and actions, and draw it as a GIF.

Episodes are deterministic (see `env.py`), so the seed and the action list are the whole episode; the replay
checks each step's reward and inventory against the record and stops at the first difference (a file written
with another crafter version or other game settings).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from teachkit.crafter.env import CrafterGame
from teachkit.errors import InputError, TeachkitError
from teachkit.jsonl import atomic_write, read_records
from teachkit.manifest import now_iso, write_manifest
from teachkit.records import Episode


def find_episode(path: Path, episode_id: str) -> Episode:
    """The episode with this id (or, if the id is a number, this seed) from a rollout file."""
    seen: list[str] = []
    for episode in read_records(path, Episode):
        if episode.id == episode_id or (episode_id.isdigit() and episode.seed == int(episode_id)):
            return episode
        if len(seen) < 5:
            seen.append(episode.id)
    shown = ", ".join(seen) + (", ..." if len(seen) == 5 else "")
    raise InputError(f"{path}: no episode with id {episode_id!r} (ids there: {shown or 'none'})")


def replay_frames(episode: Episode, size: int = 256, every: int = 1) -> Iterator[np.ndarray]:
    """Frames of the episode from its seed and actions: the start, then every `every`-th step and the last."""
    game = CrafterGame(
        max_steps=episode.max_steps, difficulty=episode.difficulty, frames=True, frame_size=size
    )
    game.reset(episode.seed)
    yield game.last_frame
    last = len(episode.steps) - 1
    for index, step in enumerate(episode.steps):
        note = None if step.valid else f"your reply was invalid ({step.invalid_reason}), so noop was played"
        result = game.step(step.played or step.action, note)  # DAgger steps record the label as action
        inventory = game.inventory
        if step.inventory and (inventory != step.inventory or abs(result.reward - step.reward) > 1e-6):
            raise TeachkitError(
                f"episode {episode.id}: the replay differs from the record at step {step.t} "
                f"(recorded inventory {step.inventory}, replayed {inventory}); was it recorded with another "
                "crafter version or difficulty?"
            )
        if (index + 1) % every == 0 or index == last:
            yield game.last_frame


def write_gif(
    path: Path, episode_id: str, out: Path, *, size: int = 256, fps: float = 10.0, every: int = 1
) -> int:
    """Write the episode as an animated GIF (atomically); returns the number of frames."""
    import imageio.v3 as iio

    if size < 9 or every < 1 or fps <= 0:
        raise InputError("crafter replay: --size must be at least 9, --every at least 1, --fps above 0")
    started_at = now_iso()
    episode = find_episode(path, episode_id)
    frames = list(replay_frames(episode, size=size, every=every))
    with atomic_write(out, "wb") as handle:
        iio.imwrite(handle, np.stack(frames), extension=".gif", duration=1000.0 / fps, loop=0)
    write_manifest(out, settings=None, inputs=[Path(path)], started_at=started_at, counts={"frames": len(frames)},
                   extra={"episode": episode.id, "seed": episode.seed, "size": size, "fps": fps, "every": every})
    return len(frames)
