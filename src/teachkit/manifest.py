"""The manifest of every output: how it was made (command, settings, teachkit's version and commit), from what
(inputs with their sha256) and what it holds. `<out>.manifest.json` beside a file, `manifest.json` in a folder."""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
import sys
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import teachkit
from teachkit import __version__
from teachkit.jsonl import atomic_write

FOLDER_MANIFEST = "manifest.json"


def manifest_path(out: Path) -> Path:
    """Where the manifest of `out` goes: `<out>.manifest.json` beside a file, `manifest.json` inside a folder."""
    out = Path(out)
    if out.is_dir():
        return out / FOLDER_MANIFEST
    return out.with_name(out.name + ".manifest.json")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


BUILD_COMMIT_FILE = "build_commit.txt"  # in teachkit.data, written by setup.py when a wheel is built


@functools.lru_cache(maxsize=1)
def teachkit_commit() -> str | None:
    """The commit teachkit itself comes from: HEAD of the checkout its package is a tracked part of (an editable
    install), else the commit recorded in the package when its wheel was built; None when neither is known."""
    package = Path(teachkit.__file__).resolve().parent
    # A wheel installed into a venv inside some other repository must not report that repository's commit: only a
    # checkout that tracks teachkit's own files counts.
    if git(package, "ls-files", "--error-unmatch", "__init__.py") is not None:
        commit = git(package, "rev-parse", "HEAD")
        if commit:
            return commit
    try:
        recorded = (resources.files("teachkit.data") / BUILD_COMMIT_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return recorded or None


def cwd_git_commit() -> str | None:
    """The commit of the working directory's repository (the user's project), if it is one."""
    return git(Path.cwd(), "rev-parse", "HEAD")


def git(directory: Path, *args: str) -> str | None:
    """`git -C directory ARGS`'s output; None when git is missing or fails (not a repository)."""
    try:
        result = subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_manifest(
    out: Path,
    *,
    settings: Any,
    inputs: list[Path] | tuple[Path, ...] = (),
    counts: dict[str, Any] | None = None,
    started_at: str,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the manifest for `out`: beside a file as `<out>.manifest.json`, inside a folder as `manifest.json`.

    `settings` is a Settings object (its secrets are masked by its own dump), or None for a command that reads
    none (a chart or a GIF of an existing file).
    """
    document: dict[str, Any] = {
        "output": str(out),
        "command": redact_argv(sys.argv),
        "teachkit_version": __version__,
        "git_commit": teachkit_commit(),
        "started_at": started_at,
        "ended_at": now_iso(),
        "inputs": [{"path": str(p), "sha256": sha256_of(p)} for p in inputs if Path(p).is_file()],
        "counts": counts or {},
        "settings": settings.masked_dump() if hasattr(settings, "masked_dump") else settings,
    }
    cwd_commit = cwd_git_commit()
    if cwd_commit:
        document["cwd_git_commit"] = cwd_commit
    if extra:
        document.update(extra)
    path = manifest_path(out)
    with atomic_write(path) as handle:
        json.dump(document, handle, indent=2, default=str)
        handle.write("\n")
    return path


SECRET_FLAGS = ("--api-key", "--api_key", "--token", "--hf-token")


def redact_argv(argv: list[str]) -> list[str]:
    """The command line with the values of secret-bearing flags replaced."""
    redacted: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            redacted.append("**********")
            hide_next = False
            continue
        flag, eq, _ = arg.partition("=")
        if flag in SECRET_FLAGS:
            if eq:
                redacted.append(f"{flag}=**********")
            else:
                redacted.append(arg)
                hide_next = True
            continue
        redacted.append(arg)
    return redacted
