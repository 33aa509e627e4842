"""The trainer callbacks: progress with loss history, and the time limit."""

from __future__ import annotations

from transformers import TrainerControl, TrainerState

from teachkit.console import Output
from teachkit.students.progress import TimeLimit, TrainingProgress


class Bar:
    def __init__(self) -> None:
        self.advanced = 0
        self.stats: dict = {}

    def advance(self, amount: float = 1, **stats: object) -> None:
        self.advanced += amount
        self.stats = stats

    def update(self, **stats: object) -> None:
        self.stats = stats


def test_progress_keeps_the_loss_history_and_advances_per_step(capsys) -> None:
    bar = Bar()
    progress = TrainingProgress(bar, Output(quiet=False))
    state = TrainerState(global_step=10, max_steps=20)
    progress.on_log(None, state, TrainerControl(), logs={"loss": 1.5, "learning_rate": 1e-4, "note": "text"})
    progress.on_step_end(None, state, TrainerControl())
    assert progress.history == [{"step": 10, "loss": 1.5, "learning_rate": 1e-4}]
    assert progress.losses() == [1.5] and bar.advanced == 1 and bar.stats["loss"] == 1.5
    assert "step 10/20: loss 1.5" in capsys.readouterr().err  # no bar off a terminal: a log line instead


def test_time_limit_stops_training_cleanly() -> None:
    limit = TimeLimit(minutes=0)
    state, control = TrainerState(global_step=3, max_steps=100), TrainerControl()
    limit.on_train_begin(None, state, control)
    limit.on_step_end(None, state, control)
    assert control.should_training_stop and limit.stopped_early
    patient = TimeLimit(minutes=60)
    control = TrainerControl()
    patient.on_train_begin(None, state, control)
    patient.on_step_end(None, state, control)
    assert not control.should_training_stop
