"""teachkit from its wheel, as a newcomer installs it: in a fresh venv, run from a folder with no checkout.

The venv sees this environment's dependencies through a path file (nothing is downloaded), but not the editable
teachkit: a plain path line in a .pth file adds that folder only, without running the folder's own .pth files, so
the editable install's path to src/ never reaches sys.path.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{' '.join(args)}\n{result.stdout}\n{result.stderr}"
    return result


def checkout_commit() -> str | None:
    result = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


BUILD_INPUTS = ("pyproject.toml", "setup.py", "README.md", "src")


def source_tree(dest: Path) -> Path:
    """What the build reads, from the working tree (tracked and new files, not ignored ones), in `dest`: the wheel is
    built from a copy, so that suites running at once never share a build/ folder."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard",
                             "--", *BUILD_INPUTS], capture_output=True, text=True, check=False)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the wheel test copies the working tree that git lists")
    for name in filter(None, listed.stdout.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is listed too
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A venv holding only the teachkit wheel (its dependencies seen from this environment), and its env vars."""
    work = tmp_path_factory.mktemp("wheel")
    tree = source_tree(work / "tree")
    # setup.py reads the commit with git; the copy has no .git, so point git at the checkout's.
    build_env = {**os.environ, "GIT_DIR": str(ROOT / ".git")}
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--wheel-dir", str(work / "dist"), str(tree)], cwd=work, env=build_env)
    [wheel] = (work / "dist").glob("teachkit-*.whl")

    venv = work / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=work)
    python = venv / "bin" / "python"
    purelib = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       cwd=work).stdout.strip())
    (purelib / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index",
         str(wheel)], cwd=work)

    env = {name: value for name, value in os.environ.items()
           if name not in {"PYTHONPATH", "VIRTUAL_ENV", "GIT_DIR", "GIT_WORK_TREE"} and not name.startswith("TEACHKIT_")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return venv, env


def test_the_wheel_runs_outside_the_checkout(installed, tmp_path):
    venv, env = installed
    teachkit = str(venv / "bin" / "teachkit")
    python = str(venv / "bin" / "python")
    elsewhere = tmp_path / "project"
    elsewhere.mkdir()

    where = run([python, "-c", "import teachkit, teachkit.data as d; print(teachkit.__file__); "
                 "print(d.example_sgd_root())"], cwd=elsewhere, env=env).stdout.split()
    package, corpus = Path(where[0]), Path(where[1])
    assert venv in package.parents and ROOT not in package.parents
    assert venv in corpus.parents and (corpus / "train" / "schema.json").is_file()

    assert "0.1.0" in run([teachkit, "--version"], cwd=elsewhere, env=env).stdout
    doctor = json.loads(run([teachkit, "doctor", "--json"], cwd=elsewhere, env=env).stdout)
    assert doctor

    compiled = run([teachkit, "--json", "sgd", "compile", "--sgd-root", str(corpus), "--split", "train",
                    "--out", "samples.jsonl"], cwd=elsewhere, env=env)
    assert json.loads(compiled.stdout)["samples"] >= 300
    manifest = json.loads((elsewhere / "samples.jsonl.manifest.json").read_text())
    commit = checkout_commit()
    if commit is not None:
        # The commit the wheel was built from, recorded in it; the project folder is no repository.
        assert manifest["git_commit"] == commit
    assert "cwd_git_commit" not in manifest

    rollout = run([teachkit, "crafter", "rollout", "--teacher", "scripted", "--episodes", "1", "--max-steps", "30",
                   "--out", "episodes.jsonl"], cwd=elsewhere, env=env)
    assert "rollout" in rollout.stderr
    assert len((elsewhere / "episodes.jsonl").read_text().splitlines()) == 1
    assert (elsewhere / "episodes.jsonl.manifest.json").is_file()
