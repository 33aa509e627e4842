"""SGD dialogues -> single-step RL samples: one `Sample` per system turn, the conversation so far as its prompt.

The writer streams: one dialogues file in memory at a time, samples out as JSON lines as soon as they are built.
Prompts are assembled from pieces encoded once per dialogue (each turn's JSON is reused by every later sample of
that dialogue), which keeps compiling a split within twice the cost of parsing it; `build_prompt` in prompts.py
renders the same prompt from scratch, and a test holds the two to the same output.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

from teachkit.console import Output
from teachkit.errors import InputError
from teachkit.jsonl import atomic_write
from teachkit.records import SCHEMA_VERSION
from teachkit.sgd.prompts import (
    CONVERSATION_HEADER,
    PromptFormat,
    compose_system,
    describe_task,
    render_service_results,
    text_line,
)
from teachkit.sgd.reader import ReadReport, ServiceSchema, iter_dialogues, read_schema, select_services
from teachkit.sgd.summary import SampleStats


def _reject(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _make_encoder() -> Any:
    """One reusable C encoder: `json.dumps` builds a new one per call, which costs more than the encoding does for
    the small lists and objects of a sample, several hundred thousand times per split."""
    if c_make_encoder is None:  # pragma: no cover - CPython always has it
        return json.JSONEncoder(ensure_ascii=False).encode
    encoder = c_make_encoder(None, _reject, encode_basestring, None, ": ", ", ", False, False, True)
    return lambda value: "".join(encoder(value, 0))


_dumps = _make_encoder()
_str = encode_basestring


@dataclass
class CompileOptions:
    splits: list[str] = field(default_factory=lambda: ["train"])
    prompt_format: PromptFormat = "messages"
    tool_results: bool = True
    max_context_turns: int | None = None
    limit: int | None = None
    sample: int | None = None
    seed: int = 0
    dedupe: bool = True
    eval_fraction: float = 0.0
    services: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    skip_bad: bool = False


@dataclass(slots=True)
class CompiledLine:
    """One sample as its JSON line, with what the summary and the eval split need to know about it."""

    dialogue_key: str
    line: str
    split: str
    services: tuple[str, ...]
    acts: tuple[str, ...]
    prompt_length: int
    digest: bytes = b""


@dataclass
class CompileResult:
    out: Path
    eval_out: Path | None
    samples: int = 0
    eval_samples: int = 0
    dialogues: int = 0
    eval_dialogues: int = 0
    built: int = 0
    duplicates: int = 0
    report: ReadReport = field(default_factory=ReadReport)
    stats: SampleStats = field(default_factory=SampleStats)
    inputs: list[Path] = field(default_factory=list)


class DialogueCompiler:
    """Turns the checked dialogues of one split into sample lines.

    Everything a dialogue's samples share is encoded once: each history turn's JSON piece (and its digest for
    duplicate removal), the system message for each (task, service call) pair, each call and its results.
    """

    def __init__(self, split: str, schema: dict[str, ServiceSchema], options: CompileOptions,
                 services: set[str] | None):
        self.split = split
        self.split_json = _str(split)
        self._services_json: dict[tuple[str, ...], str] = {}
        self.schema = schema
        self.options = options
        self.services = services
        self._tasks: dict[tuple[tuple[str, ...], str, str | None], tuple[str, str]] = {}

    def task_description(self, services: tuple[str, ...], service: str, intent: str | None) -> tuple[str, str]:
        """The task text and its JSON, cached: a split has few (services, service, intent) combinations."""
        key = (services, service, intent)
        cached = self._tasks.get(key)
        if cached is None:
            text = describe_task(self.schema, services, service, intent)
            cached = self._tasks[key] = (text, _str(text))
        return cached

    def samples(self, dialogue: dict[str, Any]) -> Iterator[CompiledLine]:
        options = self.options
        as_text = options.prompt_format == "text"
        dedupe = options.dedupe
        max_turns = options.max_context_turns
        dialogue_id = dialogue["dialogue_id"]
        key = f"{self.split}/{dialogue_id}"
        head = f'{{"schema_version": {SCHEMA_VERSION}, "id": '
        middle = f', "dialogue_id": {_str(dialogue_id)}, "turn_index": '
        turns = dialogue["turns"]
        dialogue_services = tuple(dialogue.get("services") or dict.fromkeys(
            frame["service"] for turn in turns for frame in turn["frames"]))
        # Per history turn: role, encoded JSON piece, content length, digest of the piece.
        roles: list[str] = []
        pieces: list[str] = []
        lengths: list[int] = []
        digests: list[bytes] = []
        latest: dict[str, dict[str, Any]] = {}
        active: dict[str, str | None] = {}
        systems: dict[tuple[str, int], tuple[str, int, bytes]] = {}
        calls: dict[int, tuple[str, str, str | None]] = {}
        for index, turn in enumerate(turns):
            frames = turn["frames"]
            utterance = turn["utterance"]
            if turn["speaker"] == "USER":
                for frame in frames:
                    state = frame.get("state")
                    if state:
                        active[frame["service"]] = state.get("active_intent")
                role = "user"
            else:
                role = "assistant"
                for frame in frames:
                    if "service_call" in frame:
                        latest[frame["service"]] = frame
                turn_services = (frames[0]["service"],) if len(frames) == 1 else tuple(
                    dict.fromkeys(frame["service"] for frame in frames))
                if self.services is None or not self.services.isdisjoint(turn_services):
                    service = turn_services[0]
                    task, task_json = self.task_description(dialogue_services, service, active.get(service))
                    call_frame = latest.get(service)
                    call = call_frame["service_call"] if call_frame is not None else None
                    results = (call_frame.get("service_results") or []) if call_frame is not None else []
                    encoded_call = calls.get(id(call))
                    if encoded_call is None:
                        encoded_call = calls[id(call)] = (
                            "null" if call is None else _dumps({"method": call["method"],
                                                                "parameters": call.get("parameters", {})}),
                            _dumps(results),
                            render_service_results(call, results) if options.tool_results else None,
                        )
                    system = systems.get((task, id(call)))
                    if system is None:
                        text = compose_system(task, encoded_call[2])
                        piece = _str(text)[1:-1] if as_text else f'{{"role": "system", "content": {_str(text)}}}'
                        system = systems[(task, id(call))] = (piece, len(text), _digest(piece))
                    start = 0 if max_turns is None else max(0, len(pieces) - max_turns)
                    while start < len(pieces) - 1 and roles[start] != "user":
                        start += 1
                    if as_text:
                        body = "\\n".join(pieces[start:])
                        prompt_json = f'"{system[0]}\\n\\n{CONVERSATION_HEADER}\\n{body}\\nAssistant:"'
                        prompt_length = (system[1] + len(CONVERSATION_HEADER) + 3 + sum(lengths[start:])
                                         + len(pieces) - start + 10)
                    else:
                        prompt_json = f'[{system[0]}, {", ".join(pieces[start:])}]'
                        prompt_length = system[1] + sum(lengths[start:]) + len(pieces) - start
                    if dedupe:
                        digest = _digest_bytes(b"".join([system[2], *digests[start:], utterance.encode()]))
                    else:
                        digest = b""
                    actions = [
                        {
                            "act": item["act"],
                            "slot": item.get("slot", ""),
                            "values": item.get("values", []),
                            "canonical_values": item.get("canonical_values", item.get("values", [])),
                        }
                        for frame in frames
                        for item in frame["actions"]
                    ]
                    services_json = self._services_json.get(turn_services)
                    if services_json is None:
                        services_json = self._services_json[turn_services] = _dumps(list(turn_services))
                    line = (
                        f'{head}{_str(f"{key}/{index}")}{middle}{index}, "split": {self.split_json}, '
                        f'"services": {services_json}, "prompt": {prompt_json}, '
                        f'"ground_truth": {_str(utterance)}, "system_actions": {_dumps(actions)}, '
                        f'"service_call": {encoded_call[0]}, "service_results": {encoded_call[1]}, '
                        f'"task_description": {task_json}, "rubric": null}}\n'
                    )
                    yield CompiledLine(key, line, self.split, turn_services,
                                       tuple(item["act"] for item in actions), prompt_length, digest)
            roles.append(role)
            if as_text:
                text = text_line({"role": role, "content": utterance})
                piece = _str(text)[1:-1]
                lengths.append(len(text))
            else:
                piece = f'{{"role": "{role}", "content": {_str(utterance)}}}'
                lengths.append(len(utterance))
            pieces.append(piece)
            if dedupe:
                digests.append(_digest(piece))


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def _digest_bytes(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def iter_compiled(root: Path, options: CompileOptions, result: CompileResult) -> Iterator[CompiledLine]:
    """Every sample of the chosen splits in dataset order, duplicates removed and `--limit` applied."""
    schemas = {split: read_schema(root, split) for split in options.splits}
    result.inputs = [Path(root) / split / "schema.json" for split in options.splits]
    services = select_services(schemas, options.services, options.domains)
    seen: set[bytes] = set()
    for split in options.splits:
        compiler = DialogueCompiler(split, schemas[split], options, services)
        for dialogue in iter_dialogues(root, split, schemas[split], services=services, skip_bad=options.skip_bad,
                                       report=result.report):
            for compiled in compiler.samples(dialogue):
                result.built += 1
                if options.dedupe:
                    if compiled.digest in seen:
                        result.duplicates += 1
                        continue
                    seen.add(compiled.digest)
                yield compiled
                if options.limit is not None and result.built - result.duplicates >= options.limit:
                    return


def reservoir(items: Iterator[CompiledLine], size: int, seed: int) -> list[CompiledLine]:
    """A uniform random `size` of `items` (reproducible for a seed), kept in their original order."""
    rng = random.Random(seed)
    kept: list[tuple[int, CompiledLine]] = []
    for number, item in enumerate(items):
        if number < size:
            kept.append((number, item))
        else:
            slot = rng.randrange(number + 1)
            if slot < size:
                kept[slot] = (number, item)
    return [item for _, item in sorted(kept, key=lambda pair: pair[0])]


def choose_eval_dialogues(keys: list[str], fraction: float, seed: int) -> set[str]:
    """round(fraction x dialogues) dialogues, at least one when there are two or more; the same for a seed."""
    if fraction <= 0 or len(keys) < 2:
        return set()
    count = min(len(keys) - 1, max(1, round(fraction * len(keys))))
    return set(random.Random(f"eval:{seed}").sample(sorted(keys), count))


def default_eval_out(out: Path) -> Path:
    return out.with_name(f"{out.stem}.eval{out.suffix or '.jsonl'}")


def compile_samples(
    root: Path,
    out: Path,
    options: CompileOptions,
    *,
    eval_out: Path | None = None,
    overwrite: bool = False,
    output: Output | None = None,
) -> CompileResult:
    """Compile `root`'s chosen splits into `out` (and `eval_out` when `options.eval_fraction` > 0).

    Nothing is written unless the whole compile succeeds: a bad dialogue (without --skip-bad) leaves no file.
    """
    output = output or Output()
    root, out = Path(root), Path(out)
    if options.eval_fraction > 0:
        eval_out = Path(eval_out) if eval_out is not None else default_eval_out(out)
        if eval_out.resolve() == out.resolve():
            raise InputError(f"--eval-out {eval_out}: must differ from --out")
    else:
        eval_out = None
    for path in (out, eval_out):
        if path is not None and path.exists() and not overwrite:
            raise InputError(f"{path}: already exists; pass --overwrite to replace it")
    if not root.is_dir():
        raise InputError(f"{root}: no such folder; run `teachkit sgd download` or pass --sgd-root")
    result = CompileResult(out=out, eval_out=eval_out)

    stream = iter_compiled(root, options, result)
    total = options.limit if options.sample is None else None
    with output.progress("compiling", total=total, unit="samples") as bar:
        def counted(items: Iterator[CompiledLine]) -> Iterator[CompiledLine]:
            # The bar moves every 512 samples: a rich update per sample would cost more than the sample.
            pending = 0
            for item in items:
                pending += 1
                if pending == 512:
                    bar.advance(pending)
                    pending = 0
                yield item
            bar.advance(pending)

        stream = counted(stream)
        if options.sample is not None:
            stream = iter(reservoir(stream, options.sample, options.seed))
        if eval_out is None:
            with atomic_write(out) as handle:
                dialogues: set[str] = set()
                for item in stream:
                    handle.write(item.line)
                    dialogues.add(item.dialogue_key)
                    result.stats.add(item.split, item.services, item.acts, item.prompt_length)
                    result.samples += 1
                result.dialogues = len(dialogues)
        else:
            _write_with_eval_split(stream, out, eval_out, options, result)
    return result


def _write_with_eval_split(stream: Iterator[CompiledLine], out: Path, eval_out: Path, options: CompileOptions,
                           result: CompileResult) -> None:
    # Which dialogues go to eval is known only once all are seen: spool the lines, then route them by dialogue.
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, spool_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".spool", dir=out.parent)
    spool = Path(spool_name)
    try:
        keys: list[str] = []
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for item in stream:
                handle.write(item.line)
                keys.append(item.dialogue_key)
                result.stats.add(item.split, item.services, item.acts, item.prompt_length)
        distinct = list(dict.fromkeys(keys))
        eval_keys = choose_eval_dialogues(distinct, options.eval_fraction, options.seed)
        result.dialogues = len(distinct) - len(eval_keys)
        result.eval_dialogues = len(eval_keys)
        with atomic_write(out) as train, atomic_write(eval_out) as held_out, spool.open(encoding="utf-8") as lines:
            for key, line in zip(keys, lines, strict=True):
                if key in eval_keys:
                    held_out.write(line)
                    result.eval_samples += 1
                else:
                    train.write(line)
                    result.samples += 1
    finally:
        with contextlib.suppress(FileNotFoundError):
            spool.unlink()

