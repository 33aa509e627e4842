"""A student tuned and served by a cloud service, named by the job record its tuning wrote beside the training data
(`<data>.tuning-<ID>.json`, the `job` kind of `llm.spec`): the model spec its endpoint answers at, and the prompt
its training data taught it, so an eval plays it as it was trained. The record's file belongs to the service that
wrote it (`teachkit.vertex.job_records`); a pipeline asks here and never reads it itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from teachkit.errors import InputError
from teachkit.records import StudentPrompt


@dataclass(frozen=True)
class TunedEndpoint:
    spec: str  # PROVIDER:ENDPOINT, for `llm.open_client`
    prompt: StudentPrompt | None  # None: the record was written by a teachkit that did not keep it
    state: str


def tuned_endpoint(record_path: str | Path) -> TunedEndpoint:
    """The endpoint a tuning job record's model is served at; a job with no endpoint yet is an InputError that says
    how to follow it."""
    from teachkit.vertex.job_records import read_job_record

    record = read_job_record(Path(record_path))
    if not record.endpoint:
        raise InputError(f"{record_path}: the job has no endpoint yet ({record.state}); check it with "
                         f"`teachkit crafter finetune status {record_path}`")
    return TunedEndpoint(f"vertex:{record.endpoint}", record.prompt, record.state)


def prompt_of_job_record(record_path: str | Path, *, where: str) -> StudentPrompt:
    """How the data of a tuning job record prompted the model; a record without it names the data to read instead.
    `where` names the flag the path came from."""
    from teachkit.vertex.job_records import read_job_record

    record = read_job_record(Path(record_path))
    if record.prompt is None:
        raise InputError(f"{where}: the job record holds no prompt (written by an older teachkit); give the "
                         f"training data instead: --prompt-like {record.training_data.path}")
    return record.prompt
