"""A local transformers model as a provider: an HF id, a checkpoint folder, or the embedded `smollm2-135m`.

Concurrent `generate` calls are gathered into batches (up to `batch_size` requests that share generation options)
and run on a worker thread with the chat template (fitted to it as students are: `students.chat_template`), left
padding and one `model.generate`. Each model is loaded once per process (`students.loading`) and shared by every
provider that names it.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from pathlib import Path
from typing import Any

from teachkit.checkpoints import embedded_gguf, embedded_model_dir, resolve_model
from teachkit.llm.base import ModelRequest, ModelResult, ProviderError
from teachkit.llm.spec import EMBEDDED_ALIASES
from teachkit.llm.structured import parse_reply
from teachkit.records import TokenUsage
from teachkit.settings import Settings
from teachkit.students.chat_template import StudentChat, end_of_turn_ids

_LOADED: dict[tuple[str, str | None, str | None], tuple[Any, StudentChat]] = {}
_LOAD_LOCK = threading.Lock()


def shared_model(path: str, settings: Settings, device: str | None, dtype: Any) -> tuple[Any, StudentChat]:
    """(model, its chat) for `path`, loaded on first use and kept for the life of the process."""
    from teachkit.students.loading import load_student

    key = (path, device, None if dtype is None else str(dtype))
    with _LOAD_LOCK:
        if key not in _LOADED:
            student = load_student(path, settings, device=device, dtype=dtype)
            _LOADED[key] = (student.model, StudentChat(student.tokenizer, path))
        return _LOADED[key]


def weights_fingerprint(path: str) -> str:
    """What changes when a checkpoint folder is retrained in place: names, sizes and times of its files."""
    folder = Path(path)
    if not folder.is_dir():
        return path  # an HF id: the hub revision is not known offline, the id is the best identity we have
    digest = hashlib.sha256(str(folder.resolve()).encode())
    for file in sorted(folder.iterdir()):
        if file.is_file() and file.suffix in (".json", ".safetensors", ".bin", ".model", ".jinja"):
            stat = file.stat()
            digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


class LocalProvider:
    name = "local"

    def __init__(self, model: str, settings: Settings, *, batch_size: int = 8, device: str | None = None,
                 dtype: Any = None):
        self.model = model
        self.batch_size = batch_size
        self._settings = settings
        self._device = device
        self._dtype = dtype
        self._path: str | None = None
        self._fingerprint: str | None = None
        self._pending: list[tuple[ModelRequest, asyncio.Future[ModelResult]]] = []
        self._worker: asyncio.Task[None] | None = None
        # Fail before any work: a missing folder or a missing embedded package is a setup error.
        if model.lower() in EMBEDDED_ALIASES:
            if not (embedded_model_dir(settings) / "config.json").is_file():
                embedded_gguf()
        else:
            self._path = resolve_model(model, settings)

    @property
    def path(self) -> str:
        if self._path is None:
            self._path = resolve_model(self.model, self._settings)
        return self._path

    @property
    def cache_variant(self) -> str | None:
        if self._fingerprint is None:
            self._fingerprint = weights_fingerprint(self.path)
        return self._fingerprint

    async def generate(self, request: ModelRequest) -> ModelResult:
        future: asyncio.Future[ModelResult] = asyncio.get_running_loop().create_future()
        self._pending.append((request, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            # Let every caller that is about to enqueue do so, so the batch is as full as it can be.
            await asyncio.sleep(0)
            key = generation_key(self._pending[0][0])
            batch = [item for item in self._pending if generation_key(item[0]) == key][: self.batch_size]
            for item in batch:
                self._pending.remove(item)
            live = [(request, future) for request, future in batch if not future.done()]
            if not live:
                continue
            try:
                results = await asyncio.to_thread(self._generate_batch, [request for request, _ in live])
            except BaseException as error:  # noqa: BLE001 - handed to every waiting caller, traceback intact
                for _, future in live:
                    if not future.done():
                        future.set_exception(error)
                if not isinstance(error, Exception):
                    raise
                continue
            for (_, future), result in zip(live, results, strict=True):
                if not future.done():
                    future.set_result(result)

    def _generate_batch(self, requests: list[ModelRequest]) -> list[ModelResult]:
        import torch

        model, chat = shared_model(self.path, self._settings, self._device, self._dtype)
        tokenizer = chat.tokenizer
        first = requests[0]
        prompts = [chat.text([{"role": m.role, "content": m.content} for m in r.messages], generation_prompt=True)
                   for r in requests]
        # The template already holds the special tokens.
        encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        encoded = encoded.to(model.device)
        sampling = bool(first.temperature)
        options: dict[str, Any] = {
            "max_new_tokens": first.max_output_tokens or 256,
            "do_sample": sampling,
            "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": sorted(end_of_turn_ids(model, tokenizer)),
        }
        if sampling:
            options["temperature"] = first.temperature
        else:
            # The checkpoint's own sampling defaults would only warn under greedy decoding.
            options.update(temperature=None, top_p=None, top_k=None)
        if first.stop:
            options["stop_strings"] = list(first.stop)
            options["tokenizer"] = tokenizer
        try:
            with torch.inference_mode():
                output = model.generate(**encoded, **options)
        except torch.cuda.OutOfMemoryError:
            raise ProviderError(f"local:{self.model}: out of GPU memory; lower the concurrency (batch size)",
                                retryable=False, kind="other") from None
        prompt_width = encoded["input_ids"].shape[1]
        eos_ids = end_of_turn_ids(model, tokenizer)
        results = []
        for row, request in enumerate(requests):
            new_tokens = output[row, prompt_width:].tolist()
            length = len(new_tokens)
            finish = "length"
            for index, token in enumerate(new_tokens):
                if token in eos_ids:
                    length, finish = index, "stop"
                    break
            text = tokenizer.decode(new_tokens[:length], skip_special_tokens=True)
            for stop in request.stop or []:
                if stop in text:
                    text, finish = text[: text.index(stop)], "stop"
            usage = TokenUsage(prompt=int(encoded["attention_mask"][row].sum()), output=length)
            result = ModelResult(text=text, finish_reason=finish, usage=usage, provider=self.name, model=self.model)
            if not text:
                result.error, result.error_kind = f"the reply had no text (finish reason {finish})", "empty"
            else:
                result.parsed, problem = parse_reply(text, request)
                if problem:
                    result.error, result.error_kind = problem, "malformed"
            results.append(result)
        return results

    async def aclose(self) -> None:
        # The model stays loaded for the process: other clients (a judge beside a student) may share it.
        if self._worker is not None and not self._worker.done():
            await self._worker


def generation_key(request: ModelRequest) -> tuple[Any, ...]:
    """Requests that can share one `generate` call."""
    return (request.temperature or 0.0, request.max_output_tokens, tuple(request.stop or ()))
