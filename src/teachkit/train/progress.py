"""Training progress through teachkit's own progress bar, and quiet libraries.

transformers prints a tqdm bar and metric dicts on stdout by default; teachkit shows one rich bar on stderr
(steps, rate, ETA, latest loss) and keeps stdout for the summary, so `--json` stays parseable.
"""

from __future__ import annotations

import time
from typing import Any

from transformers import TrainerCallback

from teachkit.console import Output, ProgressTask, format_stats

SHOWN = ("loss", "learning_rate", "grad_norm", "reward", "mean_token_accuracy")


class TrainingProgress(TrainerCallback):
    """Advances `task` once per optimizer step and keeps every logged metric in `history`."""

    def __init__(self, task: ProgressTask, output: Output | None = None):
        self.task = task
        # Without a bar (not a terminal: CI, a log file), each logged step is printed as a line instead.
        self.output = output if output is not None and not output.shows_progress else None
        self.history: list[dict[str, Any]] = []
        self.latest: dict[str, Any] = {}

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not logs or not state.is_world_process_zero:
            return
        entry = {"step": state.global_step, **{k: v for k, v in logs.items() if isinstance(v, int | float)}}
        self.history.append(entry)
        self.latest = {name: entry[name] for name in SHOWN if name in entry}
        self.task.update(**self.latest)
        if self.output is not None and self.latest:
            self.output.info(f"step {state.global_step}/{state.max_steps}: {format_stats(self.latest)}")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self.task.advance(1, **self.latest)

    def losses(self) -> list[float]:
        return [entry["loss"] for entry in self.history if "loss" in entry]


class TimeLimit(TrainerCallback):
    """Stops training (cleanly: the model is saved as usual) once `minutes` have passed since training began."""

    def __init__(self, minutes: float):
        self.seconds = minutes * 60
        self.started: float | None = None
        self.stopped_early = False

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = time.monotonic()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.started is not None and time.monotonic() - self.started >= self.seconds:
            control.should_training_stop = True
            self.stopped_early = state.global_step < state.max_steps


def use_teachkit_progress(trainer: Any, task: ProgressTask, output: Output | None = None) -> TrainingProgress:
    """Replace the trainer's printing callbacks with a TrainingProgress on `task` (log lines on `output` when it
    shows no bar)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    progress = TrainingProgress(task, output)
    trainer.add_callback(progress)
    return progress


def quiet_libraries(out: Output) -> None:
    """transformers' and TRL's warnings are noise for a teachkit user; --verbose keeps them."""
    if out.verbose:
        return
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    import datasets

    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    warnings.filterwarnings("ignore", category=UserWarning, module="trl")
    warnings.filterwarnings("ignore", category=UserWarning, module="peft")
