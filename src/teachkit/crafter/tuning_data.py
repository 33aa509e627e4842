"""`teachkit crafter format`: episodes (or an already formatted file) to fine-tuning JSONL, and `--validate`.

One example per teacher decision: the observation as the user turn and, as the model turn, the reply the system
prompt asks for (`Thought: ...` with --with-thoughts, then `Action: NAME`; a planned sequence of actions is one
decision, `Actions: a, b`). `--history K` puts the K decisions before it (consecutive steps only: a gap left by
`filter` ends the history) into the example as earlier turns. Episodes go whole to the training or the validation
file, never split. Token counts come from `--tokenizer` or an estimate (ESTIMATE_NOTE); the tuning cost estimate is
training tokens x epochs x price per million tokens.

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
from teachkit.crafter.formats import (
    MODEL,
    TARGETS,
    USER,
    Example,
    ExampleError,
    check,
    detect_target,
    parse,
    render,
)
from teachkit.crafter.prompts import response_text, system_prompt, user_prompt
from teachkit.errors import InputError
from teachkit.jsonl import atomic_write, iter_lines, paused_gc, read_records
from teachkit.manifest import now_iso, write_manifest
from teachkit.records import Episode, Step
from teachkit.settings import FormatSettings, Settings

# Vertex AI limits for Gemini 2.5 Flash / Flash-Lite tuning data (the token limit is a setting).
VERTEX_MAX_FILE_BYTES = 1 << 30
VERTEX_MAX_VALIDATION_EXAMPLES = 5000
CHARS_PER_TOKEN = 3
TOKENS_PER_TURN = 4
ESTIMATE_NOTE = (
    f"estimate: ceil(characters / {CHARS_PER_TOKEN}) per turn + {TOKENS_PER_TURN} per turn for the role markers; "
    "give --tokenizer for exact counts"
)
EPISODE_FORMAT = "episodes"


def model_reply(actions: Sequence[str], thought: str | None) -> str:
    return response_text(list(actions) if len(actions) > 1 else actions[0], thought)


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


# --- tokens and cost -----------------------------------------------------------------------------------------


class TokenCounter:
    """Tokens of an example: with a real tokenizer (its chat template when it has one), else the estimate."""

    def __init__(self, tokenizer: Any = None, name: str | None = None):
        self.tokenizer = tokenizer
        self.method = f"tokenizer {name}" if tokenizer is not None else ESTIMATE_NOTE

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenCounter:
        name = settings.crafter.format.tokenizer
        if not name:
            return cls()
        from teachkit.models import load_tokenizer

        return cls(load_tokenizer(name, settings), name)

    def count(self, examples: Sequence[Example]) -> list[int]:
        if self.tokenizer is None:
            return [estimate_tokens(example) for example in examples]
        tokenizer = self.tokenizer
        if getattr(tokenizer, "chat_template", None):
            texts = [tokenizer.apply_chat_template(example.chat(), tokenize=False) for example in examples]
        else:
            texts = ["\n".join(f"{m['role']}: {m['content']}" for m in example.chat()) for example in examples]
        if not texts:
            return []
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
        return [len(row) for row in ids]


def estimate_tokens(example: Example) -> int:
    tokens = sum(-(-len(text) // CHARS_PER_TOKEN) for _, text in example.turns) + TOKENS_PER_TURN * len(example.turns)
    if example.system:
        tokens += -(-len(example.system) // CHARS_PER_TOKEN) + TOKENS_PER_TURN
    return tokens


def tuning_cost_usd(training_tokens: int, epochs: int, price_per_million: float) -> float:
    """Estimated supervised tuning cost: training tokens x epochs x price per million tokens."""
    return training_tokens * epochs * price_per_million / 1e6


# --- examples from episodes ----------------------------------------------------------------------------------


@dataclass
class Decision:
    """One teacher decision: the step it was made at and the actions it chose (several for a plan)."""

    steps: list[Step]

    @property
    def first(self) -> Step:
        return self.steps[0]

    def follows(self, other: Decision) -> bool:
        return self.first.t == other.steps[-1].t + 1


def decisions_of(steps: Sequence[Step]) -> list[Decision]:
    """Group the later actions of a plan (plan_index > 0, consecutive) with the step that planned them."""
    decisions: list[Decision] = []
    for step in steps:
        previous = decisions[-1] if decisions else None
        if step.plan_index > 0 and previous is not None and step.t == previous.steps[-1].t + 1:
            previous.steps.append(step)
        else:
            decisions.append(Decision([step]))
    return decisions


def episode_examples(
    episode: Episode, *, history: int, with_thoughts: bool, system: str | None
) -> Iterator[Example]:
    decisions = decisions_of(episode.steps)
    turns = [
        (
            user_prompt(decision.first.observation),
            model_reply([s.action for s in decision.steps], decision.first.thought if with_thoughts else None),
        )
        for decision in decisions
    ]
    for index, (user, model) in enumerate(turns):
        start = index
        while start > 0 and index - start < history and decisions[start].follows(decisions[start - 1]):
            start -= 1
        example_turns: list[tuple[str, str]] = []
        for earlier_user, earlier_model in turns[start:index]:
            example_turns.append((USER, earlier_user))
            example_turns.append((MODEL, earlier_model))
        example_turns.append((USER, user))
        example_turns.append((MODEL, model))
        yield Example(system=system, turns=example_turns)


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
    report = FormatReport(
        inputs=inputs, output=out, target=options.target, source=source, validation_output=validation_out,
        token_method=counter.method, epochs=settings.crafter.finetune.epochs,
        price_per_million=options.price_per_million_training_tokens,
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
        check_vertex_limits(report, out, options.target, "train")
        if validation_out is not None:
            check_vertex_limits(report, validation_out, options.target, "validation")
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


def check_vertex_limits(report: FormatReport, path: Path, target: str, split: str) -> None:
    """Vertex AI refuses these files; fail before the rename so no unusable file is left."""
    if target != "vertex":
        return
    counts = report.train if split == "train" else report.validation
    if counts.bytes > VERTEX_MAX_FILE_BYTES:
        raise InputError(
            f"{path}: {counts.bytes / 2**30:.2f} GiB; Vertex AI takes files up to 1 GB: write fewer examples "
            "with --subset N"
        )
    if split == "validation" and counts.examples > VERTEX_MAX_VALIDATION_EXAMPLES:
        raise InputError(
            f"{path}: {counts.examples:,} validation examples; Vertex AI takes at most "
            f"{VERTEX_MAX_VALIDATION_EXAMPLES:,}: lower --validation-fraction"
        )


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


# --- validate --------------------------------------------------------------------------------------------------


@dataclass
class ValidationReport:
    path: Path
    target: str | None
    split: str
    examples: int = 0
    tokens: int = 0
    max_tokens: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, number: int | None, problem: str) -> None:
        self.problems.append(f"{self.path}:{number}: {problem}" if number is not None else f"{self.path}: {problem}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "split": self.split,
            "target": self.target,
            "examples": self.examples,
            "tokens": self.tokens,
            "max_tokens_per_example": self.max_tokens,
            "problems": len(self.problems),
        }


def validate_tuning_file(
    path: Path, *, target: str | None, max_tokens: int, counter: TokenCounter, split: str = "train"
) -> ValidationReport:
    """Check a fine-tuning file without changing it; every problem is kept as `file:line: problem`.

    Checks: JSON on every line; the shape of the target (detected from the first line when not given): roles
    (vertex user/model alternating, model last; messages user/assistant), no empty parts; tokens per example
    within `max_tokens`; for vertex, the file under 1 GB and a validation split of at most 5,000 examples.
    """
    path = Path(path)
    report = ValidationReport(path=path, target=target, split=split)
    if not path.is_file():
        report.add(None, "no such file")
        return report
    batch: list[tuple[int, Example]] = []

    def count_batch() -> None:
        for (number, _), tokens in zip(batch, counter.count([example for _, example in batch]), strict=True):
            report.tokens += tokens
            report.max_tokens = max(report.max_tokens, tokens)
            if tokens > max_tokens:
                report.add(number, f"{tokens:,} tokens; the limit is {max_tokens:,} per example")
        batch.clear()

    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                report.add(number, "not UTF-8 text")
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                truncated = " (truncated last line?)" if not raw.endswith(b"\n") else ""
                report.add(number, f"not valid JSON ({error.msg}){truncated}")
                continue
            if report.target is None and isinstance(record, dict):
                report.target = detect_target(record)
                if report.target is None:
                    report.add(number, f"not a {'/'.join(TARGETS)} example (keys: {', '.join(sorted(record))})")
                    continue
            report.examples += 1
            problems = check(record, report.target) if report.target else ["expected a JSON object"]
            for problem in problems:
                report.add(number, problem)
            if not problems:
                batch.append((number, parse(record, report.target)))
                if len(batch) >= 256:
                    count_batch()
    count_batch()
    if report.examples == 0 and not report.problems:
        report.add(None, "no examples")
    if report.target == "vertex":
        size = path.stat().st_size
        if size > VERTEX_MAX_FILE_BYTES:
            report.add(None, f"{size / 2**30:.2f} GiB; Vertex AI takes files up to 1 GB")
        if split == "validation" and report.examples > VERTEX_MAX_VALIDATION_EXAMPLES:
            report.add(None, f"{report.examples:,} validation examples; Vertex AI takes at most "
                             f"{VERTEX_MAX_VALIDATION_EXAMPLES:,}")
    return report


def validate_tuning_files(
    paths: Sequence[Path], settings: Settings, *, validation: Path | None = None, target: str | None = None
) -> list[ValidationReport]:
    """`format --validate`: each training file, and the validation file when one is named."""
    counter = TokenCounter.from_settings(settings)
    limit = settings.crafter.format.max_tokens_per_example
    reports = [validate_tuning_file(path, target=target, max_tokens=limit, counter=counter) for path in paths]
    if validation is not None:
        reports.append(
            validate_tuning_file(validation, target=target, max_tokens=limit, counter=counter, split="validation")
        )
    return reports
