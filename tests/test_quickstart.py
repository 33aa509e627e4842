"""The quickstart end to end with a tiny student: every stage runs and leaves the outputs it lists, each with a
manifest naming teachkit's commit."""

import json
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.manifest import manifest_path, teachkit_commit
from teachkit.quickstart import DEFAULT_SIZE, plan
from teachkit.students.artifacts import TRAINING_RECORD

runner = CliRunner()


def test_quickstart_runs_every_stage_and_resumes(tiny_model_dir, tmp_path):
    directory = tmp_path / "qs"
    args = ["--json", "quickstart", "--dir", str(directory), "--student", str(tiny_model_dir), "--tiny"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["stages_run"] == len(plan(directory, str(tiny_model_dir), DEFAULT_SIZE))
    outputs = [Path(row["output"]) for row in summary["outputs"]]
    assert len(outputs) >= len(summary["outputs"]) > 10
    assert all(path.stat().st_size > 0 for path in outputs)
    assert Image.open(directory / "crafter" / "episodes.png").format == "PNG"
    assert Image.open(directory / "crafter" / "seed-0.gif").n_frames > 1
    assert any("gemini" in row["command"] for row in summary["next_steps"])
    for path in outputs:
        # A training record marks a finished model folder: the folder's manifest is inside it.
        manifest = manifest_path(path.parent if path.name == TRAINING_RECORD else path)
        assert manifest.is_file(), f"{path}: no manifest"
        assert json.loads(manifest.read_text())["git_commit"] == teachkit_commit() is not None, manifest

    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--resume" in again.stderr

    resumed = runner.invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["stages_skipped"] == summary["stages_run"]
