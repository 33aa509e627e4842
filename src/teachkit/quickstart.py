"""`teachkit quickstart`: both pipelines end to end, offline, with small settings.

The quickstart is a list of ordinary teachkit commands, each run in its own process, in order: what it shows a
newcomer is exactly what they
would type themselves. Each stage names the outputs it must leave behind; a stage whose outputs all exist is
skipped on `--resume`, so an interrupted quickstart continues where it stopped.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teachkit.console import Output
from teachkit.data import example_sgd_root
from teachkit.errors import InputError, TeachkitError
from teachkit.students.artifacts import TRAINING_RECORD


@dataclass(frozen=True)
class QuickstartSize:
    """How much work each stage does. `default` fits in about 15 minutes on 2 CPU cores."""

    rollout_episodes: int = 12
    rollout_steps: int = 300
    finetune_steps: int = 12
    finetune_batch: int = 4
    max_length: int = 768
    eval_episodes: int = 2
    eval_steps: int = 40
    sgd_train_steps: int = 2
    sgd_completion_tokens: int = 24
    sgd_eval_samples: int = 8


DEFAULT_SIZE = QuickstartSize()
# For tests with a tiny student: every stage runs, each on a sliver of data.
TINY_SIZE = QuickstartSize(
    rollout_episodes=4, rollout_steps=60, finetune_steps=2, finetune_batch=2, max_length=512, eval_episodes=2,
    eval_steps=6, sgd_train_steps=1, sgd_completion_tokens=6, sgd_eval_samples=2,
)


@dataclass
class Stage:
    name: str
    what: str
    args: list[str]
    outputs: list[Path]
    overwritable: bool = True  # takes --overwrite; report and replay simply rewrite their picture
    seconds: float | None = None
    skipped: bool = False

    @property
    def command(self) -> str:
        return "teachkit " + shlex.join(self.args)

    def done(self) -> bool:
        return all(path.exists() for path in self.outputs)


@dataclass
class QuickstartResult:
    directory: Path
    stages: list[Stage] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "stages_run": sum(1 for s in self.stages if not s.skipped),
            "stages_skipped": sum(1 for s in self.stages if s.skipped),
            "minutes": round(self.seconds / 60, 2),
        }

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        outputs = [
            {"stage": s.name, "output": str(p), "seconds": "skipped" if s.skipped else round(s.seconds or 0, 1)}
            for s in self.stages
            for p in s.outputs
        ]
        return {"outputs": outputs, "next_steps": [{"with": w, "command": c} for w, c in next_commands(self.directory)]}


def plan(directory: Path, student: str, size: QuickstartSize, sgd_root: Path | None = None) -> list[Stage]:
    """The stages, in order, as command lines. `student` is the model both pipelines train; the SGD corpus is the
    example one shipped in the package unless `sgd_root` names another."""
    sgd_root = sgd_root or example_sgd_root()
    c = directory / "crafter"
    s = directory / "sgd"
    episodes, kept = c / "episodes.jsonl", c / "kept.jsonl"
    vertex, messages = c / "train.vertex.jsonl", c / "train.messages.jsonl"
    student_dir, eval_json = c / "student", c / "eval.json"
    samples, held_out = s / "samples.jsonl", s / "samples.eval.jsonl"
    grpo_dir, sgd_eval = s / "grpo", s / "eval.json"
    return [
        Stage("rollout", "the scripted expert plays Crafter (compact text observations)",
              ["crafter", "rollout", "--teacher", "scripted", "--episodes", str(size.rollout_episodes),
               "--max-steps", str(size.rollout_steps), "--observation", "compact", "--seed", "0",
               "--out", str(episodes)],
              [episodes]),
        Stage("report", "Crafter score and a bar chart of achievement success rates",
              ["crafter", "report", str(episodes), "--png", str(c / "episodes.png")],
              [c / "episodes.png"], overwritable=False),
        Stage("replay", "the expert's first episode re-simulated from its seed and actions, as a GIF",
              ["crafter", "replay", str(episodes), "--episode", "seed-0", "--gif", str(c / "seed-0.gif"),
               "--size", "192", "--every", "2"],
              [c / "seed-0.gif"], overwritable=False),
        Stage("filter", "keep the better episodes, drop invalid steps and near-duplicates",
              ["crafter", "filter", str(episodes), "--out", str(kept), "--top-fraction", "0.75"],
              [kept]),
        Stage("format-vertex", "Vertex AI Gemini tuning JSONL with a validation split",
              ["crafter", "format", str(kept), "--out", str(vertex), "--target", "vertex", "--with-thoughts",
               "--add-system", "--validation-fraction", "0.25", "--seed", "0"],
              [vertex, c / "train.vertex.validation.jsonl"]),
        Stage("format-messages", "chat `messages` JSONL for the local student",
              ["crafter", "format", str(kept), "--out", str(messages), "--target", "messages", "--add-system"],
              [messages]),
        Stage("finetune", f"TRL SFT + LoRA of {student} on the expert's decisions",
              ["crafter", "finetune", str(messages), "--backend", "local", "--model", student,
               "--output-dir", str(student_dir), "--max-steps", str(size.finetune_steps),
               "--batch-size", str(size.finetune_batch), "--max-length", str(size.max_length),
               "--learning-rate", "5e-4"],
              [student_dir / TRAINING_RECORD]),
        Stage("eval", "the student against its base model, same seeds",
              ["crafter", "eval", "--policy", str(student_dir), "--baseline", student,
               "--episodes", str(size.eval_episodes), "--max-steps", str(size.eval_steps), "--out", str(eval_json)],
              [eval_json, eval_json.with_suffix(".png")]),
        Stage("sgd-compile", "SGD dialogues of the example corpus become single-step RL samples",
              ["sgd", "compile", "--sgd-root", str(sgd_root), "--split", "train", "--eval-fraction", "0.2",
               "--max-context-turns", "6", "--seed", "0", "--out", str(samples)],
              [samples, held_out]),
        Stage("sgd-train", f"GRPO of {student} against the offline `acts` judge",
              ["sgd", "train", "--train", str(samples), "--model", student, "--output-dir", str(grpo_dir),
               "--judge", "acts", "--max-steps", str(size.sgd_train_steps), "--num-generations", "2",
               "--per-device-train-batch-size", "2", "--max-completion-length", str(size.sgd_completion_tokens),
               "--max-prompt-length", "384", "--learning-rate", "1e-4"],
              [grpo_dir / TRAINING_RECORD]),
        Stage("sgd-eval", "base and trained student scored by the same judge, with a paired bootstrap interval",
              ["sgd", "eval", "--eval", str(held_out), "--base-model", student, "--trained", str(grpo_dir),
               "--n", str(size.sgd_eval_samples), "--max-new-tokens", str(size.sgd_completion_tokens),
               "--judge", "acts", "--out", str(sgd_eval)],
              [sgd_eval]),
    ]


def next_commands(directory: Path) -> list[tuple[str, str]]:
    c, s = directory / "crafter", directory / "sgd"
    return [
        ("a Gemini key (GEMINI_API_KEY)",
         f"teachkit crafter rollout --teacher gemini:gemini-2.5-flash --episodes 20 --max-steps 300 "
         f"--out {c / 'gemini.jsonl'}"),
        ("a Vertex AI project and bucket",
         f"teachkit crafter finetune {c / 'train.vertex.jsonl'} --validation {c / 'train.vertex.validation.jsonl'} "
         "--backend vertex --project PROJECT --bucket BUCKET --wait"),
        ("a Gemini judge",
         f"teachkit sgd rubric {s / 'samples.jsonl'} --out {s / 'rubrics.jsonl'} --judge-model gemini:gemini-2.5-flash"),
        ("a GPU and the real dataset",
         "teachkit sgd download --dest data/sgd && teachkit sgd compile --sgd-root data/sgd "
         "--out runs/sgd/train.jsonl && teachkit sgd train --train runs/sgd/train.jsonl --judge mix"),
    ]


def run_teachkit(args: Sequence[str], *, capture: bool) -> None:
    """Run one teachkit command line in a child process (`python -m teachkit`), as a user would type it.

    With `capture` its output is held back (the quickstart's own summary stays alone on stdout under --json) and
    the last line it wrote to stderr, the error, goes into the exception."""
    child = subprocess.run(
        [sys.executable, "-m", "teachkit", *args], capture_output=capture, text=True, check=False
    )
    if child.returncode != 0:
        lines = [line for line in (child.stderr or "").splitlines() if line.strip()]
        raise TeachkitError(f"exit code {child.returncode}" + (f": {lines[-1].strip()}" if lines else ""))


def run_quickstart(
    directory: Path,
    run_command: Callable[[Sequence[str]], None],
    out: Output,
    *,
    student: str = "smollm2-135m",
    size: QuickstartSize = DEFAULT_SIZE,
    resume: bool = False,
    overwrite: bool = False,
) -> QuickstartResult:
    """Run every stage through `run_command` (which runs one teachkit command line and raises on failure)."""
    stages = plan(directory, student, size)
    finished = [stage for stage in stages if stage.done()]
    if finished and not (resume or overwrite):
        raise InputError(
            f"{directory}: holds the outputs of an earlier quickstart; add --resume to skip the finished stages, "
            "or --overwrite to run them all again"
        )
    result = QuickstartResult(directory=directory, stages=stages)
    started = time.monotonic()
    for number, stage in enumerate(stages, start=1):
        prefix = f"[{number}/{len(stages)}] {stage.name}"
        if resume and stage.done():
            stage.skipped = True
            out.info(f"{prefix}: already done, skipped ({', '.join(str(p) for p in stage.outputs)})")
            continue
        out.info(f"\n{prefix}: {stage.what}\n$ {stage.command}")
        args = list(stage.args)
        if (overwrite or resume) and stage.overwritable:
            # A stage that did not finish may have left a partial output: this run replaces it.
            args.append("--overwrite")
        stage_started = time.monotonic()
        try:
            run_command(args)
        except TeachkitError as error:
            raise TeachkitError(f"quickstart stage {stage.name} failed: {error}") from error
        stage.seconds = time.monotonic() - stage_started
        missing = [str(p) for p in stage.outputs if not p.exists()]
        if missing:
            raise TeachkitError(f"quickstart stage {stage.name} finished without writing {', '.join(missing)}")
        out.info(f"{prefix}: done in {stage.seconds:.1f} s -> {', '.join(str(p) for p in stage.outputs)}")
    result.seconds = time.monotonic() - started
    return result
