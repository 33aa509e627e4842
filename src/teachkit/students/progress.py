"""Training progress through teachkit's own progress bar, quiet libraries, and where a run stands on disk.

transformers prints a tqdm bar and metric dicts on stdout by default; teachkit shows one rich bar on stderr
(steps, rate, ETA, latest loss) and keeps stdout for the summary, so `--json` stays parseable. The checkpoints a
trainer left in its output folder (`resume_checkpoint`) are what `--resume` continues from.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
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


def existing_checkpoints(output_dir: Path) -> list[Path]:
    """The trainer's `checkpoint-N` folders in `output_dir`, oldest first."""
    if not Path(output_dir).is_dir():
        return []
    return sorted(
        (p for p in Path(output_dir).glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()),
        key=lambda p: int(p.name.split("-")[-1]),
    )


def is_complete(checkpoint: Path) -> bool:
    """The Trainer writes trainer_state.json last: a checkpoint without it was cut short by a kill."""
    try:
        json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def resume_checkpoint(output_dir: Path, *, resume: bool, overwrite: bool, out: Output) -> str | None:
    """The checkpoint `--resume` continues from (None: start afresh). Checkpoints left by an earlier run need
    --resume or --overwrite (which deletes them); an incomplete one is skipped with a warning."""
    from teachkit.errors import InputError

    checkpoints = existing_checkpoints(output_dir)
    if checkpoints and not resume and not overwrite:
        raise InputError(f"{output_dir}: holds checkpoints ({checkpoints[-1].name}); add --resume to continue that "
                         "run, or --overwrite to start again")
    if not resume:
        for checkpoint in checkpoints:
            shutil.rmtree(checkpoint)
        return None
    complete = [checkpoint for checkpoint in checkpoints if is_complete(checkpoint)]
    for checkpoint in checkpoints:
        if checkpoint not in complete:
            out.warn(f"{checkpoint}: incomplete (the run was stopped while saving it); not resumed from")
    if not complete:
        out.info(f"{output_dir}: no complete checkpoint yet; starting from the beginning")
        return None
    out.info(f"resuming from {complete[-1]}")
    return str(complete[-1])


def checkpoint_step(checkpoint: str | None) -> int:
    return int(Path(checkpoint).name.split("-")[-1]) if checkpoint else 0


def check_report_to(report_to: str) -> str | list[str]:
    """transformers' `report_to` from a comma-separated list, each integration known and installed (transformers
    would fail later, or inside the first logging step)."""
    from transformers.integrations.integration_utils import (
        INTEGRATION_TO_CALLBACK,
        get_available_reporting_integrations,
    )

    from teachkit.errors import InputError

    names = [name.strip() for name in report_to.split(",") if name.strip()]
    if not names or names == ["none"]:
        return "none"
    available = get_available_reporting_integrations()
    for name in names:
        if name not in INTEGRATION_TO_CALLBACK:
            raise InputError(f"--report-to {name}: not an integration transformers knows; use none or one of "
                             f"{', '.join(sorted(INTEGRATION_TO_CALLBACK))}")
        if name not in available:
            raise InputError(f"--report-to {name}: {name} is not installed; pip install {name}, or --report-to none")
    return names
