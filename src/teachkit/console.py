"""What a command shows a person: progress bars, notices, and the closing summary (a table, or JSON for CI).

Progress and notices go to stderr so that `--json` leaves stdout holding exactly one JSON document.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text


class RateColumn(ProgressColumn):
    """Items per second, in the unit the task names (`episodes/s`, `steps/s`, ...)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "it")
        if speed is None:
            return Text(f"-- {unit}/s", style="progress.data.speed")
        return Text(f"{speed:,.1f} {unit}/s", style="progress.data.speed")


class ProgressTask:
    """A handle on one bar; `advance` also updates the free-form stats shown after it."""

    def __init__(self, progress: Progress | None, task_id: Any):
        self._progress = progress
        self._task_id = task_id

    def advance(self, amount: float = 1, **stats: Any) -> None:
        if self._progress is None:
            return
        fields = {"stats": format_stats(stats)} if stats else {}
        self._progress.update(self._task_id, advance=amount, **fields)

    def update(self, **stats: Any) -> None:
        if self._progress is not None:
            self._progress.update(self._task_id, stats=format_stats(stats))


def format_stats(stats: dict[str, Any]) -> str:
    parts = []
    for name, value in stats.items():
        if isinstance(value, float):
            value = f"{value:,.4g}"
        parts.append(f"{name} {value}")
    return "  ".join(parts)


@dataclass
class Output:
    """How loud a command is. Core functions take one of these; the default is silent."""

    quiet: bool = True
    json: bool = False
    verbose: bool = False
    stdout: Console = field(default_factory=lambda: Console(soft_wrap=True))
    stderr: Console = field(default_factory=lambda: Console(stderr=True, soft_wrap=True))

    @property
    def shows_progress(self) -> bool:
        return not self.quiet and self.stderr.is_terminal

    def info(self, message: str) -> None:
        if not self.quiet:
            self.stderr.print(message, markup=False, highlight=False)

    def detail(self, message: str) -> None:
        if self.verbose and not self.quiet:
            self.stderr.print(message, markup=False, highlight=False, style="dim")

    def warn(self, message: str) -> None:
        # Warnings stay visible under --quiet: they are about data being dropped or retried.
        self.stderr.print(f"warning: {message}", markup=False, highlight=False, style="yellow")

    @contextlib.contextmanager
    def progress(self, description: str, total: float | None, unit: str = "it") -> Iterator[ProgressTask]:
        if not self.shows_progress:
            yield ProgressTask(None, None)
            return
        columns = [
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[stats]}"),
        ]
        with Progress(*columns, console=self.stderr, transient=False) as progress:
            task_id = progress.add_task(description, total=total, unit=unit, stats="")
            yield ProgressTask(progress, task_id)

    def summary(self, title: str, data: dict[str, Any], tables: dict[str, list[dict[str, Any]]] | None = None) -> None:
        """The closing summary: `data` as key/value rows, `tables` as extra tables; all of it as JSON with --json."""
        if self.json:
            document = dict(data)
            if tables:
                document.update(tables)
            sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
            sys.stdout.flush()
            return
        if self.quiet:
            return
        table = Table(title=title, show_header=False, title_justify="left")
        table.add_column("", style="bold")
        table.add_column("")
        for key, value in data.items():
            table.add_row(key.replace("_", " "), format_value(value))
        self.stdout.print(table)
        for name, rows in (tables or {}).items():
            if not rows:
                continue
            extra = Table(title=name.replace("_", " "), title_justify="left")
            for column in rows[0]:
                extra.add_column(str(column).replace("_", " "))
            for row in rows:
                extra.add_row(*(format_value(row.get(column)) for column in rows[0]))
            self.stdout.print(extra)


def format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={format_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v) for v in value)
    return str(value)
