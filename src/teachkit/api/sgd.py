"""The SGD stages from Python: compile, rubric, train, eval (see `teachkit.api`).

Each imports its stage only when called, so `from teachkit.api import sgd` stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from teachkit.api import StageSummary
from teachkit.console import Output
from teachkit.errors import InputError, TeachkitError
from teachkit.settings import Settings

if TYPE_CHECKING:
    from teachkit.sgd.compile import CompileOptions
    from teachkit.sgd.rubric import RubricResult


def compile(
    settings: Settings,
    options: CompileOptions,
    out: Path,
    *,
    eval_out: Path | None = None,
    overwrite: bool = False,
    tokenizer: str | None = None,
    with_rubric: bool = False,
    judge_model: str | None = None,
    max_cost: float | None = None,
    resume: bool = False,
    output: Output | None = None,
) -> StageSummary:
    """`teachkit sgd compile`: samples from the dialogues under `settings.sgd.compile.root`."""
    from teachkit.sgd.compile_stage import run_compile
    from teachkit.sgd.rubric import outcome_error

    root = settings.sgd.compile.root
    if root is None:
        raise InputError("no SGD folder: set sgd.compile.root (teachkit.data.example_sgd_root() is a small corpus)")
    run = run_compile(root, Path(out), options, settings, eval_out=eval_out, overwrite=overwrite,
                      tokenizer=tokenizer, with_rubric=with_rubric, judge_model=judge_model, max_cost=max_cost,
                      resume=resume, output=output)
    problem = outcome_error(run.rubrics, max_cost)
    if problem is not None:
        raise TeachkitError(problem)
    data, tables = run.summary()
    return StageSummary("sgd compile", data, tables)


def rubric_summary(out_path: Path, result: RubricResult, ledger: dict[str, Any]) -> StageSummary:
    """What `teachkit sgd rubric` prints: counts, the judge's ledger and the first failed samples."""
    return StageSummary("sgd rubric", {
        "output": str(out_path), **result.counts(), "stopped_by_max_cost": result.stopped_by_budget,
        "judge": ledger["model"], "requests": ledger["requests"], "cache_hits": ledger["cache_hits"],
        "cost_usd": ledger["cost_usd"],
    }, {"failed_samples": [{"id": i, "error": e} for i, e in result.failed[:20]]})


def rubric(
    settings: Settings,
    in_path: Path,
    out_path: Path,
    *,
    judge_model: str | None = None,
    max_cost: float | None = None,
    limit: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    output: Output | None = None,
) -> StageSummary:
    """`teachkit sgd rubric`: the judge model writes checkable criteria per sample (synchronous requests)."""
    from teachkit.sgd.rubric import outcome_error, rubric_file

    result, ledger = rubric_file(Path(in_path), Path(out_path), settings, judge_model=judge_model, max_cost=max_cost,
                                 resume=resume, overwrite=overwrite, limit=limit, output=output)
    problem = outcome_error([result], max_cost)
    if problem is not None:
        raise TeachkitError(problem)
    return rubric_summary(Path(out_path), result, ledger)


def train(
    settings: Settings,
    train_path: Path,
    *,
    judge_model: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    output: Output | None = None,
) -> StageSummary:
    """`teachkit sgd train`: GRPO of `settings.sgd.train.model` against the configured judge (as `--json` prints)."""
    from teachkit.sgd.train import train_grpo

    report = train_grpo(Path(train_path), settings, judge_model=judge_model, resume=resume, overwrite=overwrite,
                        out=output)
    return StageSummary("sgd train", report.as_dict())


def eval(
    settings: Settings,
    eval_path: Path,
    report_path: Path,
    *,
    base_model: str | None = None,
    trained: Path | None = None,
    responses_path: Path | None = None,
    judge_model: str | None = None,
    reuse_base: Path | None = None,
    overwrite: bool = False,
    output: Output | None = None,
) -> StageSummary:
    """`teachkit sgd eval`: base (and trained) student judged on the same samples; the report (as `--json` prints)."""
    from teachkit.sgd.evaluate import evaluate

    report = evaluate(Path(eval_path), settings, base_model=base_model, trained=trained, report_path=Path(report_path),
                      responses_path=responses_path, judge_model=judge_model, reuse_base=reuse_base,
                      overwrite=overwrite, out=output)
    return StageSummary("sgd eval", report.document)
