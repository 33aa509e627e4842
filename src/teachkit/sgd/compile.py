"""SGD dialogues -> single-step RL samples: one `Sample` per system turn, the conversation so far as its prompt.

The writer streams: one dialogues file in memory at a time, samples out as JSON lines as soon as they are built.
Prompts are assembled from pieces encoded once per dialogue (each turn's JSON is reused by every later sample of
that dialogue), which keeps compiling a split within twice the cost of parsing it; `build_prompt` in prompts.py
renders the same prompt from scratch, and a test holds the two to the same output.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

from teachkit.console import Output
from teachkit.errors import InputError
from teachkit.jsonl import atomic_write, paused_gc
from teachkit.records import SCHEMA_VERSION
from teachkit.sgd.prompts import (
    CONVERSATION_HEADER,
    INSTRUCTIONS,
    ROLE_LABELS,
    PromptFormat,
    describe_task,
    render_service_results,
)
from teachkit.sgd.reader import (
    BadDialogue,
    ReadReport,
    ServiceSchema,
    check_dialogue,
    dialogue_files,
    dialogue_name,
    iter_dialogue_files,
    read_schema,
    select_services,
    skip_or_raise,
)
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
SPEAKERS = ("USER", "SYSTEM")


class Malformed(Exception):
    """A dialogue that compile cannot use; `check_dialogue` says why."""


# What a malformed dialogue raises on its way through `DialogueCompiler.build`.
MALFORMED = (Malformed, KeyError, IndexError, TypeError, AttributeError)
_str = encode_basestring
# Prompts are assembled from already escaped pieces (JSON escaping is character by character, so escaping the parts
# and joining them gives the escaped whole); inside a JSON string a newline is these two characters.
JSON_NEWLINE = "\\n"
PARAGRAPH = JSON_NEWLINE * 2
TEXT_HEADER = f"{PARAGRAPH}{CONVERSATION_HEADER}{JSON_NEWLINE}"
INSTRUCTIONS_ESCAPED = _str(INSTRUCTIONS)[1:-1]


def encode_actions(actions: list[dict[str, Any]]) -> str:
    """The system_actions JSON: the four fields a SystemAction has (SGD has no others), whatever else an action holds."""
    return "[" + ", ".join([
        f'{{"act": {_str(item["act"])}, "slot": {_str(item.get("slot", ""))}, '
        f'"values": [{", ".join(map(_str, item.get("values", ())))}], '
        f'"canonical_values": [{", ".join(map(_str, item.get("canonical_values", ())))}]}}'
        for item in actions
    ]) + "]"


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
    duplicate_key: tuple[str, ...] = ()


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
    """Turns the dialogues of one split into sample lines, checking each as it goes.

    Everything a dialogue's samples share is encoded once: each history turn's JSON piece, the system message for
    each (task, service call) pair, each call and its results.
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

    def build(self, dialogue: dict[str, Any]) -> list[CompiledLine]:
        """The samples of one dialogue. Raises `Malformed` (or the KeyError, TypeError... that a malformed
        dialogue causes) instead of returning part of them: the caller then asks `check_dialogue` what is wrong.
        Checking as it goes costs a fraction of a separate pass over every turn."""
        options = self.options
        schema = self.schema
        tasks = self._tasks
        samples: list[CompiledLine] = []
        as_text = options.prompt_format == "text"
        max_turns = options.max_context_turns
        dedupe = options.dedupe
        dialogue_id = dialogue["dialogue_id"]
        key = f"{self.split}/{dialogue_id}"
        head = (f'{{"schema_version": {SCHEMA_VERSION}, "id": {_str(key + "/")[:-1]}')
        middle = f'", "dialogue_id": {_str(dialogue_id)}, "turn_index": '
        turns = dialogue["turns"]
        if dialogue.get("services", ()).__class__ not in (list, tuple):
            raise Malformed
        dialogue_services = tuple(dialogue.get("services") or dict.fromkeys(
            frame["service"] for turn in turns for frame in turn["frames"]))
        # Per history turn: role, encoded JSON piece, running total of content lengths.
        roles: list[str] = []
        pieces: list[str] = []
        totals: list[int] = [0]
        latest: dict[str, dict[str, Any]] = {}
        active: dict[str, str | None] = {}
        systems: dict[tuple[str, int], tuple[str, int]] = {}
        calls: dict[int, tuple[str, str, str | None, int]] = {}
        for index, turn in enumerate(turns):
            frames = turn["frames"]
            utterance = turn["utterance"]
            encoded = _str(utterance)
            if not frames or turn["speaker"] != SPEAKERS[index % 2]:
                raise Malformed
            if index % 2 == 0:
                for frame in frames:
                    if frame["service"] not in schema:
                        raise Malformed
                    state = frame.get("state")
                    if state:
                        active[frame["service"]] = state.get("active_intent")
                role = "user"
            else:
                role = "assistant"
                for frame in frames:
                    if frame["service"] not in schema:
                        raise Malformed
                    if "service_call" in frame:
                        latest[frame["service"]] = frame
                turn_services = (frames[0]["service"],) if len(frames) == 1 else tuple(
                    dict.fromkeys(frame["service"] for frame in frames))
                if self.services is None or not self.services.isdisjoint(turn_services):
                    service = turn_services[0]
                    task_key = (dialogue_services, service, active.get(service))
                    cached_task = tasks.get(task_key)
                    task, task_json = cached_task if cached_task is not None else self.task_description(*task_key)
                    call_frame = latest.get(service)
                    call = call_frame["service_call"] if call_frame is not None else None
                    encoded_call = calls.get(id(call))
                    if encoded_call is None:
                        results = (call_frame.get("service_results") or []) if call_frame is not None else []
                        block = render_service_results(call, results) if options.tool_results else None
                        encoded_call = calls[id(call)] = (
                            "null" if call is None else _dumps({"method": call["method"],
                                                                "parameters": call.get("parameters", {})}),
                            _dumps(results),
                            None if block is None else _str(block)[1:-1],
                            0 if block is None else len(block),
                        )
                    system = systems.get((task, id(call)))
                    if system is None:
                        # The system message as `prompts.compose_system` joins it, escaped from escaped parts.
                        content = INSTRUCTIONS_ESCAPED
                        length = len(INSTRUCTIONS)
                        if task:
                            content = f"{content}{PARAGRAPH}{task_json[1:-1]}"
                            length += 2 + len(task)
                        if encoded_call[2] is not None:
                            content = f"{content}{PARAGRAPH}{encoded_call[2]}"
                            length += 2 + encoded_call[3]
                        piece = content if as_text else f'{{"role": "system", "content": "{content}"}}'
                        system = systems[(task, id(call))] = (piece, length)
                    start = 0 if max_turns is None else max(0, len(pieces) - max_turns)
                    while start < len(pieces) - 1 and roles[start] != "user":
                        start += 1
                    window = pieces[start:] if start else pieces
                    if as_text:
                        body = JSON_NEWLINE.join(window)
                        prompt_json = f'"{system[0]}{TEXT_HEADER}{body}{JSON_NEWLINE}Assistant:"'
                        prompt_length = (system[1] + len(CONVERSATION_HEADER) + 3 + totals[-1] - totals[start]
                                         + len(window) + 10)
                    else:
                        prompt_json = f'[{system[0]}, {", ".join(window)}]'
                        prompt_length = system[1] + totals[-1] - totals[start] + len(window)
                    # Equal keys <=> equal prompt and ground truth: the key holds the very pieces the line is made
                    # of (their hashes are computed once per piece; a match is confirmed by comparing strings).
                    duplicate_key = (system[0], *pieces[start:], encoded) if dedupe else ()
                    actions = frames[0]["actions"] if len(frames) == 1 else [
                        item for frame in frames for item in frame["actions"]]
                    acts = tuple([item["act"] for item in actions])
                    services_json = self._services_json.get(turn_services)
                    if services_json is None:
                        services_json = self._services_json[turn_services] = _dumps(list(turn_services))
                    line = (
                        f'{head}{index}{middle}{index}, "split": {self.split_json}, '
                        f'"services": {services_json}, "prompt": {prompt_json}, '
                        f'"ground_truth": {encoded}, "system_actions": {encode_actions(actions)}, '
                        f'"service_call": {encoded_call[0]}, "service_results": {encoded_call[1]}, '
                        f'"task_description": {task_json}, "rubric": null}}\n'
                    )
                    samples.append(CompiledLine(key, line, self.split, turn_services, acts, prompt_length,
                                                duplicate_key))
            roles.append(role)
            if as_text:
                label = ROLE_LABELS[role]
                pieces.append(f"{label}: {encoded[1:-1]}")
                totals.append(totals[-1] + len(label) + 2 + len(utterance))
            else:
                pieces.append(f'{{"role": "{role}", "content": {encoded}}}')
                totals.append(totals[-1] + len(utterance))
        return samples


def iter_compiled(root: Path, options: CompileOptions, result: CompileResult,
                  on_file: Callable[[], None] | None = None) -> Iterator[CompiledLine]:
    """Every sample of the chosen splits in dataset order, duplicates removed and `--limit` applied.
    `on_file` is called after each dialogues file (for a progress bar)."""
    schemas = {split: read_schema(root, split) for split in options.splits}
    result.inputs = [Path(root) / split / "schema.json" for split in options.splits]
    services = select_services(schemas, options.services, options.domains)
    seen: set[tuple[str, ...]] = set()
    limit, dedupe = options.limit, options.dedupe
    for split in options.splits:
        compiler = DialogueCompiler(split, schemas[split], options, services)
        schema = schemas[split]
        for path, dialogues in iter_dialogue_files(root, split, skip_bad=options.skip_bad, report=result.report):
            for number, dialogue in enumerate(dialogues):
                if services is not None and isinstance(dialogue, dict) and dialogue.get("services") and \
                        services.isdisjoint(dialogue["services"]):
                    continue
                try:
                    built = compiler.build(dialogue)
                except MALFORMED:
                    problem = check_dialogue(dialogue, schema, split)
                    if problem is None:
                        raise  # the dialogue is fine: this is a bug in compile, keep its traceback
                    skip_or_raise(result.report, BadDialogue(path, dialogue_name(dialogue, number), problem),
                                  options.skip_bad)
                    continue
                result.report.dialogues += 1
                for compiled in built:
                    if limit is not None and result.built - result.duplicates >= limit:
                        return
                    result.built += 1
                    if dedupe:
                        if compiled.duplicate_key in seen:
                            result.duplicates += 1
                            continue
                        seen.add(compiled.duplicate_key)
                    yield compiled
                if limit is not None and result.built - result.duplicates >= limit:
                    return
            if on_file is not None:
                on_file()


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

    for split in options.splits:
        read_schema(root, split)  # a missing schema is reported before anything else
    files = sum(len(dialogue_files(root, split)) for split in options.splits)
    with paused_gc(), output.progress("compiling", total=files, unit="files") as bar:
        stream = iter_compiled(root, options, result,
                               on_file=lambda: bar.advance(1, samples=result.built - result.duplicates))
        if options.sample is not None:
            stream = iter(reservoir(stream, options.sample, options.seed))
        if eval_out is None:
            with atomic_write(out) as handle:
                dialogues: set[str] = set()
                pending: list[str] = []
                add = result.stats.add
                for item in stream:
                    pending.append(item.line)
                    if len(pending) == 256:
                        handle.write("".join(pending))
                        pending.clear()
                    dialogues.add(item.dialogue_key)
                    add(item.split, item.services, item.acts, item.prompt_length)
                handle.write("".join(pending))
                result.samples = result.stats.samples
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
