"""Progress as a person sees it: a bar on a terminal, lines in a log at least every interval, nothing with --quiet."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from teachkit.cli.main import app
from teachkit.console import Output
from teachkit.crafter.rollout import RolloutRequest, run_rollout
from teachkit.settings import load_settings


class SteppedClock:
    """A clock that moves only when told to, or by `step` on every reading."""

    def __init__(self, step: float = 0.0):
        self.now = 1000.0
        self.step = step
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.now += self.step
            return self.now


def log_output(clock: SteppedClock, interval: float = 30.0) -> tuple[Output, io.StringIO]:
    log = io.StringIO()
    stderr = Console(file=log, force_terminal=False, width=200)
    return Output(quiet=False, stderr=stderr, clock=clock, progress_interval=interval), log


def wait_for(log: io.StringIO, text: str) -> None:
    deadline = time.monotonic() + 10
    while text not in log.getvalue():
        assert time.monotonic() < deadline, f"no {text!r} in {log.getvalue()!r}"
        time.sleep(0.01)


def test_a_piped_rollout_prints_progress_lines_with_rate_and_eta(tmp_path: Path) -> None:
    # Every reading of the clock is 31 s after the last: each advance is overdue for a line.
    output, log = log_output(SteppedClock(step=31))
    settings = load_settings(None, {"crafter.rollout.teacher": "scripted", "crafter.rollout.episodes": 3,
                                    "crafter.rollout.max_steps": 20, "crafter.rollout.workers": 1})
    run_rollout(settings, RolloutRequest(out=tmp_path / "episodes.jsonl"), output)
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("rollout: 0/3 episodes") and lines[0].endswith("started")
    for done in (1, 2):
        line = next(line for line in lines if line.startswith(f"rollout: {done}/3 episodes"))
        assert "episodes/s" in line and "eta " in line and "steps/s" in line
    assert lines[-1].startswith("rollout: 3/3 episodes") and "done" in lines[-1]


def test_lines_wait_for_the_interval_between_advances() -> None:
    clock = SteppedClock()
    output, log = log_output(clock)
    with output.progress("work", total=10, unit="items") as task:
        for _ in range(6):
            task.advance(1)
        clock.now += 29
        task.advance(1, loss=0.5)
        task.update(loss=0.25)
        assert len(log.getvalue().splitlines()) == 1  # only "started": 29 s is not yet 30
        clock.now += 1  # the next check, by the timer or an advance, is due
        wait_for(log, "work: 7/10 items, 30 s elapsed, 0.233 items/s, eta 13 s, loss 0.25")
    assert log.getvalue().splitlines()[-1].startswith("work: 7/10 items") and "stopped" in log.getvalue()


def test_a_single_slow_step_still_prints_a_line() -> None:
    clock = SteppedClock()
    output, log = log_output(clock)
    with output.progress("loading", total=1, unit="models") as task:
        clock.now += 45  # one step that takes long: no advance comes, the timer reports
        wait_for(log, "loading: 0/1 models, 45 s elapsed")
        task.advance(1)
    assert log.getvalue().splitlines()[-1].startswith("loading: 1/1 models") and "done" in log.getvalue()


def test_quiet_prints_no_progress() -> None:
    clock = SteppedClock(step=31)
    output, log = log_output(clock)
    output.quiet = True
    with output.progress("work", total=3) as task:
        task.advance(3)
    assert log.getvalue() == ""


def test_a_terminal_gets_a_bar_with_rate_and_eta() -> None:
    screen = io.StringIO()
    output = Output(quiet=False, stderr=Console(file=screen, force_terminal=True, width=160))
    with output.progress("work", total=4, unit="items") as task:
        task.advance(2)
    assert "items/s" in screen.getvalue() and "eta" in screen.getvalue()


def test_the_rollout_command_reports_progress_when_piped(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["crafter", "rollout", "--teacher", "scripted", "--episodes", "2",
                                      "--max-steps", "10", "--workers", "1", "--out", str(tmp_path / "e.jsonl")])
    assert result.exit_code == 0, result.output
    assert "rollout: 0/2 episodes" in result.stderr and "rollout: 2/2 episodes" in result.stderr
