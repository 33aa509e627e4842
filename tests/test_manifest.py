import hashlib
import json
import subprocess
from pathlib import Path

import pytest

import teachkit
from teachkit.manifest import manifest_path, redact_argv, teachkit_commit, write_manifest
from teachkit.settings import load_settings


def test_manifest_records_inputs_counts_and_masks_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-secret-value")
    source = tmp_path / "in.jsonl"
    source.write_text('{"a": 1}\n')
    out = tmp_path / "out.jsonl"
    out.write_text("")
    path = write_manifest(out, settings=load_settings(), inputs=[source], counts={"records": 1}, started_at="t0")
    assert path == manifest_path(out) == tmp_path / "out.jsonl.manifest.json"
    text = path.read_text()
    assert "AIza-secret-value" not in text
    document = json.loads(text)
    assert document["inputs"] == [{"path": str(source), "sha256": hashlib.sha256(b'{"a": 1}\n').hexdigest()}]
    assert document["counts"] == {"records": 1}
    assert document["settings"]["gemini_api_key"] == "**********"
    assert document["teachkit_version"]


def test_secret_flags_are_redacted_from_the_command_line():
    argv = ["teachkit", "ask", "hi", "--api-key", "sk-123", "--token=abc", "--model", "x"]
    assert redact_argv(argv) == ["teachkit", "ask", "hi", "--api-key", "**********", "--token=**********", "--model", "x"]


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def test_the_commit_is_teachkits_own_and_the_working_directorys_is_apart(tmp_path, monkeypatch):
    package = Path(teachkit.__file__).resolve().parent
    if subprocess.run(["git", "-C", str(package), "rev-parse", "HEAD"], capture_output=True).returncode != 0:
        pytest.skip("teachkit is not installed from a git checkout here")
    own = git("rev-parse", "HEAD", cwd=package)
    assert teachkit_commit() == own

    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    out = project / "out.jsonl"
    out.write_text("")
    assert "cwd_git_commit" not in json.loads(write_manifest(out, settings=None, started_at="t0").read_text())

    # The user's own repository: its commit is recorded beside teachkit's, never instead of it.
    git("init", "-q", cwd=project)
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", "x", cwd=project)
    document = json.loads(write_manifest(out, settings=None, started_at="t0").read_text())
    assert document["git_commit"] == own
    assert document["cwd_git_commit"] == git("rev-parse", "HEAD", cwd=project) != own


def test_a_folder_gets_its_manifest_inside(tmp_path):
    folder = tmp_path / "student"
    folder.mkdir()
    path = write_manifest(folder, settings=None, started_at="t0", counts={"examples": 3})
    assert path == folder / "manifest.json" == manifest_path(folder)
    assert json.loads(path.read_text())["counts"] == {"examples": 3}
