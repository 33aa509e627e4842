"""The Crafter stages from Python: rollout, filter, format, finetune, eval, dagger (see `teachkit.api`).

Each imports its stage only when called, so `from teachkit.api import crafter` stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from teachkit.api import StageSummary
from teachkit.console import Output
from teachkit.settings import Settings

if TYPE_CHECKING:  # the request classes' modules import numba, crafter or torch: only when a stage runs
    from teachkit.crafter.dagger import DaggerRequest
    from teachkit.crafter.evaluate import EvalRequest
    from teachkit.crafter.finetune import FinetuneRequest, FinetuneResult
    from teachkit.crafter.rollout import RolloutRequest
    from teachkit.vertex.tune import VertexResult


def rollout(settings: Settings, request: RolloutRequest, output: Output | None = None) -> StageSummary:
    """`teachkit crafter rollout`: play `settings.crafter.rollout` episodes into `request.out`."""
    from teachkit.crafter.rollout import run_rollout

    summary, tables = run_rollout(settings, request, output)
    return StageSummary("crafter rollout", summary, tables)


def filter(
    settings: Settings, inputs: Sequence[Path], out: Path, *, overwrite: bool = False, output: Output | None = None
) -> StageSummary:
    """`teachkit crafter filter`: keep the episodes and steps `settings.crafter.filter` asks for."""
    from teachkit.crafter.filter import filter_episodes

    report = filter_episodes(inputs, out, settings, output, overwrite=overwrite)
    return StageSummary("crafter filter", report.summary(), {"kept_and_dropped": report.rows()})


def format(
    settings: Settings,
    inputs: Sequence[Path],
    out: Path,
    *,
    validation_out: Path | None = None,
    overwrite: bool = False,
    output: Output | None = None,
) -> StageSummary:
    """`teachkit crafter format`: fine-tuning JSONL of `settings.crafter.format.target` from episodes."""
    from teachkit.crafter.tuning_data import format_examples

    report = format_examples(inputs, out, settings, output, validation_out=validation_out,
                             overwrite=overwrite)
    return StageSummary("crafter format", report.summary())


def finetune(settings: Settings, request: FinetuneRequest, output: Output | None = None) -> StageSummary:
    """`teachkit crafter finetune`: the configured backend (local TRL SFT + LoRA, or a Vertex AI tuning job)."""
    result = finetune_on_backend(settings, request, output)
    return StageSummary("crafter finetune", result.summary, result.tables)


def finetune_on_backend(settings: Settings, request: FinetuneRequest,
                        output: Output | None = None) -> FinetuneResult | VertexResult:
    """`crafter.finetune.backend`'s run, for this function and the command alike: a Vertex AI tuning job
    (`teachkit.vertex.tune`, which any pipeline's data may use; Crafter says how its data prompts the student) or
    the local trainer (`crafter.finetune`)."""
    from teachkit.crafter.finetune import run_finetune, student_prompt_of_file

    if settings.crafter.finetune.backend == "vertex":
        from teachkit.vertex.tune import finetune_on_vertex

        return finetune_on_vertex(request.train, request.validation, settings, output or Output(),
                                  prompt_of=student_prompt_of_file, wait=request.wait, dry_run=request.dry_run)
    return run_finetune(request, settings, output)


def eval(settings: Settings, request: EvalRequest, output: Output | None = None) -> StageSummary:
    """`teachkit crafter eval`: `settings.crafter.eval.policy` (and its baseline) on the same seeds."""
    from teachkit.crafter.evaluate import run_eval

    summary, tables = run_eval(settings, request, output)
    return StageSummary("crafter eval", summary, tables)


def dagger(settings: Settings, request: DaggerRequest, output: Output | None = None) -> StageSummary:
    """`teachkit crafter dagger`: rounds of play, expert labels, aggregation, training and evaluation."""
    from teachkit.crafter.dagger import run_dagger

    summary, tables = run_dagger(settings, request, output)
    return StageSummary("crafter dagger", summary, tables)
