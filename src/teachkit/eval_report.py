"""The evaluation report both pipelines write (`records.EvalReport`): its parts built from scores, the file written
and read, and its JSON schema (docs/eval-report.md holds the schema this module generates; a test keeps the two
equal).

    report = EvalReport(pipeline="sgd", command=eval_command("sgd eval", settings, ["sgd.eval", "judge"], started),
                        item_score="...", models=[...], items=[...], summaries={"base": score_summary(scores)})
    write_eval_report(path, report)
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from teachkit.errors import InputError
from teachkit.jsonl import atomic_write
from teachkit.manifest import now_iso, redact_argv
from teachkit.records import EvalCommand, EvalReport, PairedDifference, ScoreSummary
from teachkit.settings import Settings


def eval_command(name: str, settings: Settings, sections: Sequence[str], started_at: str) -> EvalCommand:
    """How the report was made: the command line (secrets masked) and the settings `sections` (dotted: `sgd.eval`)
    with their secrets masked."""
    masked = settings.masked_dump()
    chosen: dict[str, Any] = {}
    for section in sections:
        value: Any = masked
        for part in section.split("."):
            value = value[part]
        chosen[section] = value
    return EvalCommand(name=name, argv=redact_argv(sys.argv), settings=chosen, started_at=started_at,
                       ended_at=now_iso())


def score_summary(scores: Sequence[float | None], whole_set: dict[str, float | None] | None = None) -> ScoreSummary:
    """Mean, stdev, min and max of the item scores there are (None scores are counted as failed), with the
    `whole_set` statistics beside them."""
    values = [score for score in scores if score is not None]
    return ScoreSummary(
        items=len(scores), scored=len(values), failed=len(scores) - len(values),
        mean=statistics.fmean(values) if values else None,
        stdev=statistics.stdev(values) if len(values) > 1 else None,
        min=min(values) if values else None, max=max(values) if values else None,
        statistics=whole_set or {},
    )


def write_eval_report(path: Path, report: EvalReport) -> None:
    with atomic_write(Path(path)) as handle:
        handle.write(report.to_json())


def read_eval_report(path: Path, *, where: str) -> EvalReport:
    """An evaluation report, or an InputError naming `where` (the flag it came from) and the field at fault."""
    try:
        return EvalReport.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"{where} {path}: cannot be read ({error.strerror}); give a report of `crafter eval` or "
                         "`sgd eval`") from None
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "the file"
        raise InputError(f"{where} {path}: not an evaluation report ({field}: {first['msg']}); give a report "
                         "written by `crafter eval` or `sgd eval` of this teachkit") from None


def paired_difference(statistic: str, model: str, baseline: str, *, model_value: float | None,
                      baseline_value: float | None, bootstrap: dict[str, Any]) -> PairedDifference:
    """A difference as `students.bootstrap.paired_scores_bootstrap` returns it, in the report's shape."""
    return PairedDifference(
        statistic=statistic, model=model, baseline=baseline, model_value=model_value, baseline_value=baseline_value,
        difference=bootstrap["mean_difference"], ci95=bootstrap["ci95"], pairs=bootstrap["pairs"],
        resamples=bootstrap["resamples"], interval_above_zero=bootstrap["interval_above_zero"],
        groups=bootstrap.get("groups"), ci95_by_group=bootstrap.get("ci95_by_group"),
    )


def schema_json() -> str:
    """The JSON schema of `EvalReport`, as docs/eval-report.md shows it."""
    return json.dumps(EvalReport.model_json_schema(), indent=2) + "\n"


if __name__ == "__main__":  # python -m teachkit.eval_report > docs/eval-report.schema.json
    print(schema_json(), end="")
