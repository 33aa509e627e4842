"""A tuning job's record, `<data>.tuning-<ID>.json` beside the data (a `TuningJob`, with the student prompt the data
was written with, which `crafter eval --policy RECORD` plays the tuned model with), and the facts of a job as
Vertex AI reports them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from teachkit.errors import InputError
from teachkit.jsonl import atomic_write
from teachkit.manifest import now_iso
from teachkit.records import TuningJob


def state_name(job: Any) -> str:
    state = getattr(job, "state", None)
    return getattr(state, "value", None) or str(state or "JOB_STATE_UNSPECIFIED")


def job_facts(job: Any) -> dict[str, Any]:
    """What a person wants to know about a job, as plain data."""
    tuned = getattr(job, "tuned_model", None)
    error = getattr(job, "error", None)
    return {
        "name": job.name,
        "state": state_name(job),
        "display_name": getattr(job, "tuned_model_display_name", None),
        "base_model": getattr(job, "base_model", None),
        "created": iso(getattr(job, "create_time", None)),
        "updated": iso(getattr(job, "update_time", None)),
        "tuned_model": getattr(tuned, "model", None) if tuned else None,
        "endpoint": getattr(tuned, "endpoint", None) if tuned else None,
        "error": (getattr(error, "message", None) or str(error)) if error else None,
    }


def iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else (str(value) if value else None)


def record_path_for(train: Path, name: str) -> Path:
    return Path(train).with_name(f"{Path(train).stem}.tuning-{name.rsplit('/', 1)[-1]}.json")


def write_job_record(path: Path, record: TuningJob) -> None:
    with atomic_write(path) as handle:
        handle.write(record.model_dump_json(indent=2) + "\n")


def read_job_record(path: Path) -> TuningJob:
    try:
        return TuningJob.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except ValueError as error:
        raise InputError(f"{path}: not a tuning job record ({str(error).splitlines()[0]})") from None


def refresh_record(record: TuningJob, job: Any) -> TuningJob:
    facts = job_facts(job)
    return record.model_copy(update={
        "state": facts["state"], "tuned_model": facts["tuned_model"], "endpoint": facts["endpoint"],
        "error": facts["error"], "updated_at": now_iso(),
    })

