"""Check fine-tuning files without changing them (`crafter format --validate`, and before any fine-tune), the
limits of the vertex target included (`limits`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teachkit.console import Output
from teachkit.errors import InputError
from teachkit.settings import Settings
from teachkit.sft_data.formats import TARGETS, Example, check, detect_target, parse
from teachkit.sft_data.limits import limit_problems
from teachkit.sft_data.tokens import TokenCounter


@dataclass
class ValidationReport:
    path: Path
    target: str | None
    split: str
    examples: int = 0
    tokens: int = 0
    max_tokens: int = 0
    problems: list[str] = field(default_factory=list)
    token_method: str = ""

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
    report = ValidationReport(path=path, target=target, split=split, token_method=counter.method)
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
    for problem, _ in limit_problems(report.target, path.stat().st_size, report.examples, split):
        report.add(None, problem)
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


def check_training_files(
    train: Path, validation: Path | None, settings: Settings, output: Output, *, target: str | None = None
) -> list[ValidationReport]:
    """The checks of `format --validate` before a fine-tune; any problem stops here with exit 2, before anything
    is loaded or uploaded. `target`: the one shape the trainer takes (None: any)."""
    reports = validate_tuning_files([Path(train)], settings, validation=Path(validation) if validation else None)
    problems = [problem for report in reports for problem in report.problems]
    if problems:
        for problem in problems[:10]:
            output.warn(problem)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InputError(f"{problems[0]}{more}; `teachkit crafter format {train} --validate` lists every problem")
    found = reports[0].target
    if target is not None and found != target:
        raise InputError(f"{train}: {found} examples; this backend trains on {target} examples: "
                         f"teachkit crafter format {train} --target {target} --out FILE")
    if len(reports) > 1 and reports[1].target != found:
        raise InputError(f"{validation}: {reports[1].target} examples, but {train} holds {found} examples; "
                         "give both files in one format")
    return reports
