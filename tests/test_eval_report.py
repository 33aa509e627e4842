"""The shared evaluation report: its documented schema is the record's, and a file that is not a report is one
clear error. (tests/crafter/test_evaluate.py and tests/sgd/test_evaluate.py check what each eval writes.)"""

import json
from pathlib import Path

import pytest

from teachkit.errors import InputError
from teachkit.eval_report import read_eval_report, schema_json, score_summary, write_eval_report
from teachkit.records import PIPELINE_FIELDS, EvalCommand, EvalModel, EvalReport, ItemScores

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_the_documented_schema_is_the_records():
    assert (DOCS / "eval-report.schema.json").read_text() == schema_json(), (
        "docs/eval-report.schema.json is stale: python -m teachkit.eval_report > docs/eval-report.schema.json")
    page = (DOCS / "eval-report.md").read_text()
    shared = [name for name in EvalReport.model_fields if name not in PIPELINE_FIELDS]
    assert shared[:3] == ["schema_version", "pipeline", "command"]
    assert [name for name in shared if f"| `{name}` |" not in page] == []
    assert [name for name in PIPELINE_FIELDS if f"`{name}`" not in page] == []


def small_report() -> EvalReport:
    return EvalReport(
        pipeline="sgd", command=EvalCommand(name="sgd eval"), item_score="the judge's score",
        models=[EvalModel(label="base", spec="smollm2-135m")],
        items=[ItemScores(id="s1", scores={"base": 0.5}), ItemScores(id="s2", scores={"base": None})],
        summaries={"base": score_summary([0.5, None])}, samples=2,
    )


def test_a_report_leaves_the_other_pipelines_fields_out_and_reads_back(tmp_path: Path):
    path = tmp_path / "report.json"
    write_eval_report(path, small_report())
    written = json.loads(path.read_text())
    assert written["samples"] == 2 and "seeds" not in written and "policies" not in written
    assert written["summaries"]["base"] == {"items": 2, "scored": 1, "failed": 1, "mean": 0.5, "stdev": None,
                                            "min": 0.5, "max": 0.5, "statistics": {}}
    assert read_eval_report(path, where="--reuse-base") == small_report()


def test_a_file_that_is_not_a_report_names_the_field(tmp_path: Path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"schema_version": 1, "pipeline": "sgd", "base": {"model": "x"}}))
    with pytest.raises(InputError) as raised:
        read_eval_report(path, where="--reuse-base")
    assert str(raised.value).startswith(f"--reuse-base {path}: not an evaluation report (command: Field required)")
    with pytest.raises(InputError, match="cannot be read"):
        read_eval_report(tmp_path / "missing.json", where="--reuse-base")
