"""`teachkit crafter format`: episodes (or an already formatted file) to fine-tuning JSONL.

One example per teacher decision: the observation as the user turn and, as the model turn, the reply the system
prompt asks for (`Thought: ...` with --with-thoughts, then `Action: NAME`; a planned sequence of actions is one
decision, `Actions: a, b`). `--history K` puts the K decisions before it (consecutive steps only: a gap left by
`filter` ends the history) into the example as earlier turns. Episodes go whole to the training or the validation
file, never split. Token counts come from `--tokenizer` or an estimate (ESTIMATE_NOTE); the tuning cost estimate is
training tokens x epochs x price per million tokens. The examples are built in `tuning_examples.py`, counted in
`sft_data/tokens.py`, and `--validate` is `sft_data/validation.py`.

Prompts come from `crafter/prompts.py`, shared with rollout and eval, so the student is trained on the system prompt
and user turns it will be shown.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_core import to_json

from teachkit.console import Output
from teachkit.crafter.filter import check_output_path, count_records
from teachkit.crafter.prompts import system_prompt
from teachkit.crafter.tuning_examples import episode_examples
from teachkit.errors import InputError
from teachkit.jsonl import atomic_write, iter_lines, paused_gc, read_records
from teachkit.manifest import now_iso, write_manifest
from teachkit.records import Episode
from teachkit.settings import FormatSettings, Settings
from teachkit.sft_data.formats import (
    TARGETS,
    Example,
    ExampleError,
    detect_target,
    parse,
    render,
)
from teachkit.sft_data.limits import limit_problems
from teachkit.sft_data.tokens import ESTIMATE_NOTE, TokenCounter, tuning_cost_usd, tuning_price

EPISODE_FORMAT = "episodes"


def resolve_system_text(value: str | None) -> str | None:
    """`--system TEXT`, or `--system @FILE` read from a file."""
    if value is None or not value.startswith("@"):
        return value
    path = Path(value[1:]).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"--system {value}: {path} not found; give the text, or @FILE of an existing file") from None
    except UnicodeDecodeError:
        raise InputError(f"--system {value}: {path} is not UTF-8 text") from None
    if not text.strip():
        raise InputError(f"--system {value}: {path} is empty")
    return text.strip()


# --- the format command --------------------------------------------------------------------------------------


@dataclass
class SplitCounts:
    examples: int = 0
    episodes: int = 0
    tokens: int = 0
    max_tokens: int = 0
    bytes: int = 0

    def add(self, tokens: int, size: int) -> None:
        self.examples += 1
        self.tokens += tokens
        self.max_tokens = max(self.max_tokens, tokens)
        self.bytes += size

    def as_dict(self) -> dict[str, Any]:
        return {
            "examples": self.examples,
            "episodes": self.episodes,
            "tokens": self.tokens,
            "max_tokens_per_example": self.max_tokens,
            "mean_tokens_per_example": round(self.tokens / self.examples, 1) if self.examples else 0,
        }


@dataclass
class FormatReport:
    inputs: list[Path]
    output: Path
    target: str
    source: str
    validation_output: Path | None = None
    train: SplitCounts = field(default_factory=SplitCounts)
    validation: SplitCounts = field(default_factory=SplitCounts)
    examples_made: int = 0
    too_long: int = 0
    not_in_subset: int = 0
    token_method: str = ESTIMATE_NOTE
    epochs: int = 1
    price_per_million: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)
    # The distinct system prompts the examples carry, for eval to prompt the student the same way.
    system_prompts: list[str] = field(default_factory=list)
    observation_formats: list[str] = field(default_factory=list)

    @property
    def cost_usd(self) -> float:
        return tuning_cost_usd(self.train.tokens, self.epochs, self.price_per_million)

    def cost_note(self) -> str:
        return (f"estimate: {self.train.tokens:,} training tokens x {self.epochs} epochs x "
                f"${self.price_per_million:g} per million tokens")

    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "input": ", ".join(str(path) for path in self.inputs) + f" ({self.source})",
            "output": f"{self.output} ({self.target})",
            "train_examples": self.train.examples,
            "train_tokens": self.train.tokens,
            "mean_tokens_per_example": self.train.as_dict()["mean_tokens_per_example"],
            "max_tokens_per_example": max(self.train.max_tokens, self.validation.max_tokens),
        }
        if self.source == EPISODE_FORMAT:
            data["train_episodes"] = self.train.episodes
        if self.validation_output is not None:
            data["validation_output"] = str(self.validation_output)
            data["validation_examples"] = self.validation.examples
            data["validation_episodes"] = self.validation.episodes
            data["validation_tokens"] = self.validation.tokens
        if self.not_in_subset:
            data["left_out_by_subset"] = self.not_in_subset
        if self.too_long:
            data["left_out_too_long"] = self.too_long
        data["tokens_counted_by"] = self.token_method
        data["estimated_tuning_cost_usd"] = round(self.cost_usd, 4)
        data["cost_estimate"] = self.cost_note()
        return data

    def manifest_extra(self) -> dict[str, Any]:
        return {
            "format": {"target": self.target, "source": self.source, **self.options,
                       "system_prompts": self.system_prompts, "observation_formats": self.observation_formats},
            "tokens": {
                "method": self.token_method,
                "train": self.train.as_dict(),
                "validation": self.validation.as_dict() if self.validation_output else None,
            },
            "estimated_tuning_cost_usd": round(self.cost_usd, 6),
            "cost_estimate": self.cost_note(),
        }


def input_kind(paths: Sequence[Path]) -> str:
    """`episodes` or the target shape of the input files (all must agree), from each file's first line."""
    kinds = set()
    for path in paths:
        kind = None
        for number, line in iter_lines(path):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise InputError(f"{path}:{number}: not valid JSON ({error.msg}); expected JSON Lines") from None
            if not isinstance(record, dict):
                raise InputError(f"{path}:{number}: expected a JSON object, found {type(record).__name__}")
            kind = EPISODE_FORMAT if "steps" in record or "schema_version" in record else detect_target(record)
            if kind is None:
                raise InputError(
                    f"{path}:{number}: neither a teachkit episode nor a {'/'.join(TARGETS)} example "
                    f"(keys: {', '.join(sorted(record)) or 'none'})"
                )
            break
        if kind is None:
            raise InputError(f"{path}: empty; expected episodes or fine-tuning examples")
        kinds.add(kind)
    if len(kinds) > 1:
        raise InputError(f"inputs mix {' and '.join(sorted(kinds))} files; format one kind at a time")
    return kinds.pop()


class ExampleWriter:
    """Writes examples of one split: streamed, or held as a reservoir sample when a subset is asked for."""

    def __init__(self, handle: Any, counts: SplitCounts, subset: int | None, seed: int):
        self.handle = handle
        self.counts = counts
        self.subset = subset
        self.rng = random.Random(f"subset-{seed}")
        self.offered = 0
        self.reservoir: list[tuple[int, bytes, int]] = []

    def offer(self, line: bytes, tokens: int) -> None:
        index = self.offered
        self.offered += 1
        if self.subset is None:
            self.handle.write(line)
            self.counts.add(tokens, len(line))
            return
        # Algorithm R: every example ends up in the sample with the same probability, one pass, N lines held.
        if index < self.subset:
            self.reservoir.append((index, line, tokens))
        else:
            slot = self.rng.randrange(index + 1)
            if slot < self.subset:
                self.reservoir[slot] = (index, line, tokens)

    def finish(self) -> int:
        """Writes the sample in input order; returns how many examples the subset left out."""
        if self.subset is None:
            return 0
        for _, line, tokens in sorted(self.reservoir):
            self.handle.write(line)
            self.counts.add(tokens, len(line))
        return self.offered - len(self.reservoir)


def validation_path_for(out: Path) -> Path:
    return out.with_name(f"{out.stem}.validation{out.suffix or '.jsonl'}")


def format_examples(
    inputs: Sequence[Path],
    out: Path,
    settings: Settings,
    output: Output | None = None,
    *,
    validation_out: Path | None = None,
    overwrite: bool = False,
) -> FormatReport:
    """Write fine-tuning examples of `settings.crafter.format.target` from episodes or another format."""
    output = output or Output()
    options = settings.crafter.format
    inputs = [Path(path) for path in inputs]
    out = Path(out)
    started = now_iso()
    source = input_kind(inputs)
    splitting = options.validation_fraction > 0
    if splitting and source != EPISODE_FORMAT:
        raise InputError(
            f"--validation-fraction splits by episode, and {inputs[0]} holds {source} examples without episodes; "
            "format the episode file instead"
        )
    validation_out = Path(validation_out) if validation_out else (validation_path_for(out) if splitting else None)
    if validation_out is not None and not splitting:
        raise InputError("--validation-file names the file --validation-fraction writes; give a fraction too")
    check_output_path(out, inputs, overwrite)
    if validation_out is not None:
        if validation_out.resolve() == out.resolve():
            raise InputError(f"--validation-file {validation_out}: the same file as --out; give another file")
        check_output_path(validation_out, inputs, overwrite)
    system = resolve_system_text(options.system)
    if source != EPISODE_FORMAT:
        ignored = [flag for flag, on in (("--history", options.history > 0), ("--with-thoughts", options.with_thoughts),
                                         ("--add-system", options.add_system and not system)) if on]
        if ignored:
            output.warn(f"{', '.join(ignored)}: ignored, {inputs[0]} is already formatted ({source})")
    counter = TokenCounter.from_settings(settings)
    epochs, price_per_million = tuning_price(settings)
    report = FormatReport(
        inputs=inputs, output=out, target=options.target, source=source, validation_output=validation_out,
        token_method=counter.method, epochs=epochs, price_per_million=price_per_million,
        options={
            "history": options.history, "with_thoughts": options.with_thoughts, "add_system": options.add_system,
            "validation_fraction": options.validation_fraction, "subset": options.subset,
            "seed": options.seed, "user_turn": "observation", "max_tokens_per_example": options.max_tokens_per_example,
        },
    )
    # Both files are written to temp files and renamed only once everything succeeded, the limits included.
    with contextlib.ExitStack() as stack:
        train = ExampleWriter(stack.enter_context(atomic_write(out, "wb")), report.train, options.subset, options.seed)
        validation = None
        if validation_out is not None:
            handle = stack.enter_context(atomic_write(validation_out, "wb"))
            validation = ExampleWriter(handle, report.validation, None, options.seed)
        with paused_gc():
            write_all(inputs, source, options, system, counter, train, validation, report, output)
        report.not_in_subset = train.finish()
        check_target_limits(report, out, options.target, "train")
        if validation_out is not None:
            check_target_limits(report, validation_out, options.target, "validation")
    if report.too_long:
        output.warn(
            f"left out {report.too_long} examples over {options.max_tokens_per_example:,} tokens "
            "(crafter.format.max_tokens_per_example)"
        )
    if report.train.examples == 0:
        output.warn(f"{out}: no training examples written")
    for path, split in ((out, report.train), (validation_out, report.validation)):
        if path is not None:
            write_manifest(path, settings=settings, inputs=inputs, counts={"split": "train" if path == out else
                           "validation", **split.as_dict()}, started_at=started, extra=report.manifest_extra())
    return report


def check_target_limits(report: FormatReport, path: Path, target: str, split: str) -> None:
    """The target's tuning service would refuse this file; fail before the rename so no unusable file is left."""
    counts = report.train if split == "train" else report.validation
    problems = limit_problems(target, counts.bytes, counts.examples, split)
    if problems:
        problem, fix = problems[0]
        raise InputError(f"{path}: {problem}: {fix}")


def write_all(
    inputs: Sequence[Path],
    source: str,
    options: FormatSettings,
    system: str | None,
    counter: TokenCounter,
    train: ExampleWriter,
    validation: ExampleWriter | None,
    report: FormatReport,
    output: Output,
) -> None:
    limit = options.max_tokens_per_example

    def emit(examples: list[Example], writer: ExampleWriter) -> None:
        report.examples_made += len(examples)
        for example, tokens in zip(examples, counter.count(examples), strict=True):
            if tokens > limit:
                report.too_long += 1
                continue
            writer.offer(to_json(render(example, options.target)) + b"\n", tokens)

    if source != EPISODE_FORMAT:
        with output.progress("converting", total=None, unit="examples") as bar:
            batch: list[Example] = []
            for example in converted_examples(inputs, source, system, report.system_prompts):
                batch.append(example)
                if len(batch) == 256:
                    emit(batch, train)
                    bar.advance(len(batch))
                    batch = []
            emit(batch, train)
            bar.advance(len(batch))
        return
    total = count_records(inputs)
    held_out: set[int] = set()
    if validation is not None:
        held_out = validation_episodes(total, options.validation_fraction, options.seed)
    with output.progress("formatting", total=total, unit="episodes") as bar:
        index = 0
        for path in inputs:
            for episode in read_records(path, Episode):
                episode_system = system
                if episode_system is None and options.add_system:
                    episode_system = system_prompt(episode.observation_format)
                if episode.observation_format not in report.observation_formats:
                    report.observation_formats.append(episode.observation_format)
                if episode_system is not None and episode_system not in report.system_prompts:
                    report.system_prompts.append(episode_system)
                examples = list(episode_examples(episode, history=options.history,
                                                 with_thoughts=options.with_thoughts, system=episode_system))
                split = report.validation if index in held_out else report.train
                split.episodes += 1
                emit(examples, validation if index in held_out and validation is not None else train)
                index += 1
                bar.advance(1, examples=report.examples_made)


def validation_episodes(total: int, fraction: float, seed: int) -> set[int]:
    """Indices of the episodes held out: round(fraction x total), at least one, never all."""
    count = max(1, round(fraction * total))
    if count >= total:
        raise InputError(
            f"--validation-fraction {fraction}: {total} episode(s) cannot be split into training and validation; "
            "format more episodes or leave out the validation split"
        )
    return set(random.Random(f"validation-{seed}").sample(range(total), count))


def converted_examples(
    inputs: Sequence[Path], source: str, system: str | None, system_prompts: list[str]
) -> Iterator[Example]:
    for path in inputs:
        for number, line in iter_lines(path):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise InputError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            try:
                example = parse(record, source)
            except ExampleError as error:
                raise InputError(f"{path}:{number}: {error}") from None
            if system is not None:
                example.system = system
            if example.system is not None and example.system not in system_prompts:
                system_prompts.append(example.system)
            yield example
