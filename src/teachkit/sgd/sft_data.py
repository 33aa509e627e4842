"""`teachkit sgd format`: compiled samples to supervised fine-tuning data, a cheap warm start before GRPO.

Each sample becomes one example: its prompt (the system message kept as it is, then the conversation up to the user
turn; a text prompt is one user turn) and its reference system turn (`ground_truth`) as the model's reply. Folding
the system message into a template without a system role is the trainer's business (`crafter finetune` does it).
Whole dialogues go to the training or the validation file, never split. The files are what `crafter format` writes
(`sft_data.formats`), so `teachkit crafter finetune OUT --backend local|vertex` trains on them.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teachkit.console import Output
from teachkit.errors import InputError
from teachkit.jsonl import atomic_write, read_records
from teachkit.manifest import now_iso, write_manifest
from teachkit.records import Sample
from teachkit.settings import Settings
from teachkit.sft_data.formats import MODEL, USER, Example, check, render
from teachkit.sft_data.limits import limit_problems
from teachkit.sft_data.tokens import TokenCounter
from teachkit.sgd.compile import choose_eval_dialogues


def sample_example(sample: Sample) -> Example:
    """The prompt as the user/model turns before the reply, the reference system turn as the reply."""
    if isinstance(sample.prompt, str):
        return Example(system=None, turns=[(USER, sample.prompt), (MODEL, sample.ground_truth)])
    messages = list(sample.prompt)
    system = messages.pop(0).content if messages and messages[0].role == "system" else None
    turns = [(MODEL if message.role == "assistant" else message.role, message.content) for message in messages]
    return Example(system=system, turns=[*turns, (MODEL, sample.ground_truth)])


def validation_path_for(out: Path) -> Path:
    return out.with_name(f"{out.stem}.validation{out.suffix or '.jsonl'}")


@dataclass
class SplitCounts:
    examples: int = 0
    dialogues: int = 0
    tokens: int = 0
    bytes: int = 0


@dataclass
class SftDataReport:
    inputs: list[Path]
    output: Path
    target: str
    validation_output: Path | None
    token_method: str
    train: SplitCounts = field(default_factory=SplitCounts)
    validation: SplitCounts = field(default_factory=SplitCounts)

    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "input": ", ".join(str(path) for path in self.inputs),
            "output": f"{self.output} ({self.target})",
            "train_examples": self.train.examples,
            "train_dialogues": self.train.dialogues,
            "training_tokens": self.train.tokens,
            "tokens_counted_by": self.token_method,
        }
        if self.validation_output is not None:
            data.update(validation_output=str(self.validation_output), validation_examples=self.validation.examples,
                        validation_dialogues=self.validation.dialogues)
        backend = "vertex" if self.target == "vertex" else "local"
        data["next"] = f"teachkit crafter finetune {self.output} --backend {backend}"
        return data


def samples_with_lines(inputs: Sequence[Path]) -> Iterator[tuple[Path, int, Sample]]:
    for path in inputs:
        for number, sample in enumerate(read_records(path, Sample), start=1):
            yield path, number, sample


def dialogue_key(sample: Sample) -> str:
    return f"{sample.split}/{sample.dialogue_id}"


def format_samples(
    inputs: Sequence[Path],
    out: Path,
    settings: Settings,
    output: Output | None = None,
    *,
    validation_out: Path | None = None,
    overwrite: bool = False,
) -> SftDataReport:
    """Write `out` (and, with `sgd.format.validation_fraction` > 0, the validation file) and their manifests;
    nothing is renamed into place unless every sample made a good example."""
    output = output or Output()
    config = settings.sgd.format
    inputs, out = [Path(path) for path in inputs], Path(out)
    started = now_iso()
    if config.validation_fraction > 0:
        validation_out = Path(validation_out) if validation_out else validation_path_for(out)
    elif validation_out is not None:
        raise InputError("--validation-file names the file --validation-fraction writes; give a fraction too")
    for path in (out, validation_out):
        if path is None:
            continue
        if any(path.resolve() == source.resolve() for source in inputs):
            raise InputError(f"{path}: is also an input; give another output file")
        if path.exists() and not overwrite:
            raise InputError(f"{path}: already exists; pass --overwrite to replace it")
    if validation_out is not None and validation_out.resolve() == out.resolve():
        raise InputError(f"--validation-file {validation_out}: the same file as --out; give another file")

    # First pass: the dialogues, so the validation split takes whole ones.
    keys = list(dict.fromkeys(dialogue_key(sample) for _, _, sample in samples_with_lines(inputs)))
    if not keys:
        raise InputError(f"{', '.join(map(str, inputs))}: no samples; compile some with `teachkit sgd compile`")
    held_out = choose_eval_dialogues(keys, config.validation_fraction, config.seed) if validation_out else set()
    counter = TokenCounter.from_settings(settings)
    report = SftDataReport(inputs=inputs, output=out, target=config.target, validation_output=validation_out,
                           token_method=counter.method)
    report.train.dialogues, report.validation.dialogues = len(keys) - len(held_out), len(held_out)
    pending: list[tuple[SplitCounts, Example]] = []

    def count_tokens() -> None:
        for (counts, _), tokens in zip(pending, counter.count([example for _, example in pending]), strict=True):
            counts.tokens += tokens
        pending.clear()

    with contextlib.ExitStack() as stack:
        train = stack.enter_context(atomic_write(out, "wb"))
        validation = stack.enter_context(atomic_write(validation_out, "wb")) if validation_out else None
        with output.progress("formatting", total=None, unit="samples") as bar:
            for path, number, sample in samples_with_lines(inputs):
                example = sample_example(sample)
                record = render(example, config.target)
                problems = check(record, config.target)
                if problems:
                    raise InputError(f"{path}:{number}: sample {sample.id}: {problems[0]}; recompile it with "
                                     "`teachkit sgd compile`")
                line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
                if validation is not None and dialogue_key(sample) in held_out:
                    handle, counts = validation, report.validation
                else:
                    handle, counts = train, report.train
                handle.write(line)
                counts.examples += 1
                counts.bytes += len(line)
                pending.append((counts, example))
                if len(pending) >= 256:
                    count_tokens()
                bar.advance(1)
        count_tokens()
        # The tuning service would refuse these files: fail before the rename so no unusable file is left.
        for path, name, counts in ((out, "train", report.train), (validation_out, "validation", report.validation)):
            problems = limit_problems(config.target, counts.bytes, counts.examples, name) if path else []
            if problems:
                fix = "lower --validation-fraction" if name == "validation" else "compile fewer samples " \
                      "(sgd compile --sample N)"
                raise InputError(f"{path}: {problems[0][0]}: {fix}")
    options = {"target": config.target, "validation_fraction": config.validation_fraction, "seed": config.seed,
               "reply": "ground_truth"}
    for path, name, counts in ((out, "train", report.train), (validation_out, "validation", report.validation)):
        if path is not None:
            write_manifest(path, settings=settings, inputs=inputs, started_at=started,
                           counts={"split": name, "examples": counts.examples, "dialogues": counts.dialogues,
                                   "tokens": counts.tokens},
                           extra={"format": options})
    return report
