"""The sidecar `<out>.manifest.json` beside every output file: how it was made, from what, and what it holds."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from teachkit import __version__
from teachkit.jsonl import atomic_write


def manifest_path(out: Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".manifest.json")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
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
    """Write the manifest for `out`. `settings` is a Settings object; its secrets are masked by its own dump."""
    document = {
        "output": str(out),
        "command": redact_argv(sys.argv),
        "teachkit_version": __version__,
        "git_commit": git_commit(),
        "started_at": started_at,
        "ended_at": now_iso(),
        "inputs": [{"path": str(p), "sha256": sha256_of(p)} for p in inputs if Path(p).is_file()],
        "counts": counts or {},
        "settings": settings.masked_dump() if hasattr(settings, "masked_dump") else settings,
    }
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
