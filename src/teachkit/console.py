"""What a command shows a person: progress bars, notices, and the closing summary (a table, or JSON for CI).

Progress and notices go to stderr so that `--json` leaves stdout holding exactly one JSON document.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
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
    """A handle on one long step's progress; `advance` also updates the free-form stats shown after it.

    This base shows nothing (--quiet); `BarTask` draws a rich bar on a terminal and `LineTask` prints plain lines
    elsewhere (CI logs, a file), so every command that reports progress is seen the same way in both.
    """

    def advance(self, amount: float = 1, **stats: Any) -> None:
        pass

    def update(self, **stats: Any) -> None:
        pass


class BarTask(ProgressTask):
    def __init__(self, progress: Progress, task_id: TaskID):
        self._progress = progress
        self._task_id = task_id

    def advance(self, amount: float = 1, **stats: Any) -> None:
        fields = {"stats": format_stats(stats)} if stats else {}
        self._progress.update(self._task_id, advance=amount, **fields)

    def update(self, **stats: Any) -> None:
        self._progress.update(self._task_id, stats=format_stats(stats))


class LineTask(ProgressTask):
    """Progress as plain lines: one at the start, then one whenever `interval` seconds have passed since the last,
    and one at the end. Checked on every advance or update, and by a timer thread, so that a single step slower
    than `interval` (a model loading, one long episode) still shows the command is alive."""

    def __init__(self, console: Console, description: str, total: float | None, unit: str, *,
                 interval: float, clock: Callable[[], float]):
        self._console = console
        self._description = description
        self._total = total
        self._unit = unit
        self._interval = interval
        self._clock = clock
        self._completed = 0.0
        self._stats = ""
        self._started = clock()
        self._last_line = self._started
        # The timer thread and the caller both print: one line at a time, each from a consistent state.
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._timer = threading.Thread(target=self._tick, name=f"progress: {description}", daemon=True)

    def start(self) -> None:
        self._print("started")
        self._timer.start()

    def stop(self) -> None:
        self._stopped.set()
        self._timer.join()
        self._print("done" if self._total is None or self._completed >= self._total else "stopped")

    def advance(self, amount: float = 1, **stats: Any) -> None:
        with self._lock:
            self._completed += amount
            if stats:
                self._stats = format_stats(stats)
        self._print_if_due()

    def update(self, **stats: Any) -> None:
        with self._lock:
            self._stats = format_stats(stats)
        self._print_if_due()

    def _tick(self) -> None:
        # Sleeps until the next line is due, but never more than a second: the clock may be another than the
        # sleep's (tests move theirs by hand).
        while not self._stopped.wait(min(1.0, max(0.1, self._last_line + self._interval - self._clock()))):
            self._print_if_due()

    def _print_if_due(self) -> None:
        self._print(only_if_due=True)

    def _print(self, state: str | None = None, *, only_if_due: bool = False) -> None:
        with self._lock:
            now = self._clock()
            if only_if_due and now - self._last_line < self._interval:
                return
            self._last_line = now
            elapsed = now - self._started
            done = f"{self._completed:,.0f}" + (f"/{self._total:,.0f}" if self._total is not None else "")
            parts = [f"{self._description}: {done} {self._unit}", f"{format_duration(elapsed)} elapsed"]
            if elapsed > 0 and self._completed > 0:
                rate = self._completed / elapsed
                parts.append(f"{rate:,.3g} {self._unit}/s")
                if self._total is not None and self._completed < self._total:
                    parts.append(f"eta {format_duration((self._total - self._completed) / rate)}")
            if state:
                parts.append(state)
            if self._stats:
                parts.append(self._stats)
            self._console.print(", ".join(parts), markup=False, highlight=False, soft_wrap=True)


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


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

    # Off a terminal, a progress line at least this often (seconds); the clock is injectable for tests.
    progress_interval: float = 30.0
    clock: Callable[[], float] = time.monotonic

    @property
    def shows_progress(self) -> bool:
        """Whether a live bar is drawn (a terminal, not --quiet); elsewhere progress comes as periodic lines."""
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
        """Progress of one long step: a bar with rate and ETA on a terminal, a line every `progress_interval`
        seconds elsewhere, nothing under --quiet."""
        if self.quiet:
            yield ProgressTask()
            return
        if not self.stderr.is_terminal:
            lines = LineTask(self.stderr, description, total, unit, interval=self.progress_interval, clock=self.clock)
            lines.start()
            try:
                yield lines
            finally:
                lines.stop()
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
            yield BarTask(progress, task_id)

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
