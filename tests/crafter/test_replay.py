"""Replays re-simulate an episode from its seed and actions: the same frames as recorded, as a GIF."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.crafter.replay import find_episode, replay_frames
from teachkit.errors import InputError, TeachkitError
from teachkit.jsonl import read_records, write_records
from teachkit.records import Episode

runner = CliRunner()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("replay")
    out = folder / "run.jsonl"
    result = runner.invoke(
        app,
        [
            "crafter",
            "rollout",
            "--teacher",
            "random",
            "-n",
            "2",
            "--max-steps",
            "30",
            "--record-frames",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def test_replayed_frames_equal_the_recorded_frames(recorded: Path) -> None:
    episode = find_episode(recorded, "seed-1")
    frames = np.stack(list(replay_frames(episode, size=64)))
    folder = recorded.with_name("run.frames")
    assert sorted(path.name for path in folder.iterdir()) == ["seed-0.npz", "seed-1.npz"]  # no spool left
    saved = np.load(folder / "seed-1.npz")["frames"]
    assert frames.shape == saved.shape == (len(episode.steps) + 1, 64, 64, 3)
    assert np.array_equal(frames, saved)


def test_replay_command_writes_a_gif(recorded: Path, tmp_path: Path) -> None:
    gif = tmp_path / "episode.gif"
    result = runner.invoke(
        app,
        [
            "crafter",
            "replay",
            str(recorded),
            "--episode",
            "0",
            "--gif",
            str(gif),
            "--size",
            "72",
            "--every",
            "2",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    frames = iio.imread(gif, index=None)
    assert frames.shape[1:3] == (72, 72) and 2 <= len(frames) <= 16


def test_a_record_that_does_not_replay_is_reported(recorded: Path, tmp_path: Path) -> None:
    episode = next(iter(read_records(recorded, Episode)))
    episode.steps[3].inventory = {"diamond": 9}
    tampered = tmp_path / "tampered.jsonl"
    write_records(tampered, [episode])
    with pytest.raises(TeachkitError, match="differs from the record at step 3"):
        list(replay_frames(find_episode(tampered, episode.id)))
    with pytest.raises(InputError, match="no episode with id 'seed-99'"):
        find_episode(recorded, "seed-99")
